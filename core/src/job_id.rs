//! [`JobId`]: identifies one dispatched job, unique in the process by construction.

use core::fmt;
use core::hash::{Hash, Hasher};

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
/// ```
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
