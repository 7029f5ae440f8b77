//! [`JobId`]: identifies one dispatched job, unique in the process by construction.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::str::FromStr;

use crate::parsed_names::{self, Refused};

/// Identifies one dispatched job, unique within the process **by construction**: a
/// process-wide counter, plus a prefix (the job type's name, or one set with
/// [`JobBuilder::id_prefix`](crate::JobBuilder::id_prefix)) for readability. Two ids are
/// equal exactly when their counters are.
///
/// ```
/// use orchestrator_core::JobId;
/// let a = JobId::next("user");
/// let b = JobId::next("user");
/// assert_ne!(a, b);
/// assert!(a.to_string().starts_with("user-"));
///
/// // Its text parses back into an equal id (a typed error for bad text).
/// let parsed: JobId = a.to_string().parse().unwrap();
/// assert_eq!(parsed, a);
/// assert_eq!(parsed.to_string(), a.to_string());
/// assert!("user".parse::<JobId>().is_err());
/// ```
///
/// A parsed id's prefix must live as long as the prefixes of live ids (type names,
/// literals): each distinct prefix read from text is kept for the life of the process,
/// once. So that text from outside cannot grow that without end, at most
/// [`parsed_name_limit`](Self::parsed_name_limit) distinct names (1024 by default,
/// shared with the custom event names read by `serde`) and names of at most
/// [`MAX_PARSED_NAME_LEN`](Self::MAX_PARSED_NAME_LEN) bytes are accepted; past that,
/// parsing fails with [`ParseJobIdError::TooManyPrefixes`] or
/// [`ParseJobIdError::PrefixTooLong`], and ids with prefixes already seen still parse.
///
/// With the `serde` feature an id is (de)serialized as this text.
#[derive(Clone, Copy)]
pub struct JobId {
    prefix: &'static str,
    seq: u64,
}

impl JobId {
    /// A fresh id with the given prefix.
    pub fn next(prefix: &'static str) -> Self {
        Self { prefix, seq: counter::next() }
    }

    /// The readable prefix.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The process-unique sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The longest prefix (in bytes) that [parsing](FromStr) accepts: 256.
    pub const MAX_PARSED_NAME_LEN: usize = parsed_names::MAX_NAME_LEN;

    /// How many distinct names read from text (parsed id prefixes, deserialized custom
    /// event names) are kept at most: 1024 unless [set](Self::set_parsed_name_limit).
    pub fn parsed_name_limit() -> usize {
        parsed_names::limit()
    }

    /// Sets [`parsed_name_limit`](Self::parsed_name_limit) for the whole process. Names
    /// already kept stay and keep parsing; a lower limit only refuses new ones.
    ///
    /// ```
    /// use orchestrator_core::JobId;
    /// JobId::set_parsed_name_limit(4096); // a service that sees many job types
    /// assert_eq!(JobId::parsed_name_limit(), 4096);
    /// ```
    pub fn set_parsed_name_limit(limit: usize) {
        parsed_names::set_limit(limit);
    }

    /// How many distinct names read from text are kept now.
    pub fn parsed_names() -> usize {
        parsed_names::count()
    }
}

/// Why a text is not a [`JobId`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseJobIdError {
    /// There is no `-` between a prefix and a sequence number.
    NoSeparator,
    /// What follows the last `-` is not a sequence number as ids print it: decimal
    /// digits, no sign, no leading zero, at most `u64::MAX`.
    InvalidSequence,
    /// The prefix is longer than [`JobId::MAX_PARSED_NAME_LEN`] bytes.
    PrefixTooLong {
        /// The prefix's length in bytes.
        len: usize,
        /// [`JobId::MAX_PARSED_NAME_LEN`].
        max: usize,
    },
    /// The prefix is new and [`JobId::parsed_name_limit`] names are already kept.
    TooManyPrefixes {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for ParseJobIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSeparator => f.write_str("a job id is `<prefix>-<number>`: there is no `-`"),
            Self::InvalidSequence => f.write_str("a job id ends with `-<number>`: the number is not a valid sequence"),
            Self::PrefixTooLong { len, max } => write!(f, "the job id's prefix is {len} bytes long, above {max}"),
            Self::TooManyPrefixes { limit } => {
                write!(f, "the job id's prefix is new and {limit} parsed names are already kept (the limit)")
            }
        }
    }
}

impl core::error::Error for ParseJobIdError {}

crate::error::job_error_from!(ParseJobIdError);

impl From<Refused> for ParseJobIdError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::TooLong { len } => Self::PrefixTooLong { len, max: parsed_names::MAX_NAME_LEN },
            Refused::Full { limit } => Self::TooManyPrefixes { limit },
        }
    }
}

/// Parses what [`Display`](fmt::Display) prints, `<prefix>-<seq>`, split at the last `-`
/// (a prefix may contain `-`). The result equals the id that printed the text (ids are
/// equal when their sequence numbers are) and prints the same text.
impl FromStr for JobId {
    type Err = ParseJobIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (prefix, digits) = text.rsplit_once('-').ok_or(ParseJobIdError::NoSeparator)?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return Err(ParseJobIdError::InvalidSequence);
        }
        let seq = digits.parse::<u64>().map_err(|_| ParseJobIdError::InvalidSequence)?;
        let prefix = parsed_names::intern(prefix)?;
        Ok(Self { prefix, seq })
    }
}

impl PartialEq for JobId {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}
impl Eq for JobId {}
impl Hash for JobId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.seq.hash(state);
    }
}
impl PartialOrd for JobId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for JobId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.seq.cmp(&other.seq)
    }
}
impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.prefix, self.seq)
    }
}
impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

mod counter {
    //! The process-wide id counter. 64-bit atomics where the target has them; a tiny lock
    //! around a `u64` elsewhere (thumbv7em has only 32-bit atomics), so ids never wrap in
    //! practice on any target (2^64 ids).
    #[cfg(target_has_atomic = "64")]
    pub(super) fn next() -> u64 {
        use core::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    #[cfg(not(target_has_atomic = "64"))]
    pub(super) fn next() -> u64 {
        static NEXT: spin::Mutex<u64> = spin::Mutex::new(1);
        let mut n = NEXT.lock();
        let id = *n;
        *n = n.wrapping_add(1);
        id
    }
}
