//! Names read back from text (the prefix of a parsed [`JobId`](crate::JobId), the name of
//! a deserialized custom [`EventTag`](crate::EventTag)) as the `&'static str` the live
//! values hold.
//!
//! A name read from text has to outlive everything, like the type names and literals it
//! stands for, so each distinct name is kept for the life of the process, once: parsing
//! the same id a million times keeps one copy of its prefix. Text from outside (an HTTP
//! path, a message) could still bring endless new names, so the table is bounded: past
//! [`limit`] distinct names, new ones are refused with a typed error (names already
//! known still parse), and a name longer than [`MAX_NAME_LEN`] bytes is refused outright.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::string::String;

use crate::sync::Mutex;

/// The longest name (in bytes) read from text.
pub(crate) const MAX_NAME_LEN: usize = 256;

/// The default bound on the distinct names read from text.
pub(crate) const DEFAULT_LIMIT: usize = 1024;

struct Table {
    names: BTreeSet<&'static str>,
    limit: usize,
}

static TABLE: Mutex<Table> = Mutex::new(Table { names: BTreeSet::new(), limit: DEFAULT_LIMIT });

/// Why a name read from text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Longer than [`MAX_NAME_LEN`] bytes.
    TooLong { len: usize },
    /// The table already holds `limit` other names.
    Full { limit: usize },
}

/// `name` as a `&'static str`: the copy already kept, or a new one if the table has room.
pub(crate) fn intern(name: &str) -> Result<&'static str, Refused> {
    if name.len() > MAX_NAME_LEN {
        return Err(Refused::TooLong { len: name.len() });
    }
    let mut table = TABLE.lock();
    if let Some(kept) = table.names.get(name) {
        return Ok(kept);
    }
    if table.names.len() >= table.limit {
        return Err(Refused::Full { limit: table.limit });
    }
    let kept: &'static str = Box::leak(String::from(name).into_boxed_str());
    table.names.insert(kept);
    Ok(kept)
}

/// The bound on distinct names (see the module docs).
pub(crate) fn limit() -> usize {
    TABLE.lock().limit
}

/// Sets the bound on distinct names. Names already kept stay (a lower bound only stops
/// new ones).
pub(crate) fn set_limit(limit: usize) {
    TABLE.lock().limit = limit;
}

/// How many distinct names are kept.
pub(crate) fn count() -> usize {
    TABLE.lock().names.len()
}
