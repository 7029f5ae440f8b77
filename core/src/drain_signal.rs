//! [`DrainSignal`]: how a job's end wakes a dispatcher's drain (see `drain`).

use crate::sync::atomic::{AtomicBool, Ordering};

use event_listener::{Event, EventListener};

/// Wakes drains when jobs end: part of a dispatcher's `Counters`.
#[derive(Debug, Default)]
pub(crate) struct DrainSignal {
    /// Set once somebody drains: only then do job ends notify.
    watching: AtomicBool,
    ended: Event,
}

impl DrainSignal {
    /// A job ended (after `Counters::finished` was incremented, `SeqCst`).
    #[inline]
    pub(crate) fn job_ended(&self) {
        if self.watching.load(Ordering::SeqCst) {
            self.ended.notify(usize::MAX);
        }
    }
}

impl DrainSignal {
    /// A drain starts: from now on job ends notify (`SeqCst`, paired with the job's
    /// increment of `finished` before its `job_ended`).
    pub(crate) fn watch(&self) {
        self.watching.store(true, Ordering::SeqCst);
    }

    /// A listener for the next job end.
    pub(crate) fn listen(&self) -> EventListener {
        self.ended.listen()
    }
}
