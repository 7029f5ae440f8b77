//! [`FlowStats`]: what flow control did to one job type's dispatches.

use core::time::Duration;

use crate::sync::Mutex;

/// A snapshot of what flow control did to the dispatches of one job type
/// ([`Dispatcher::flow_stats`](crate::Dispatcher::flow_stats)). Counts wrap on overflow.
///
/// ```
/// use orchestrator_core::FlowStats;
/// let stats = FlowStats::default();
/// assert_eq!((stats.waiting, stats.joined, stats.superseded, stats.dropped), (0, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FlowStats {
    /// Jobs waiting now before they start (debounce, throttle, a serial key, a cap): the
    /// type's queue depth.
    pub waiting: usize,
    /// Jobs that had to wait before they started (each emitted `Queued`).
    pub queued: usize,
    /// Dispatches that joined a job in flight instead of running.
    pub joined: usize,
    /// Jobs cancelled because a later dispatch superseded them (latest-wins, debounce).
    pub superseded: usize,
    /// Dispatches refused: drop-while-busy, or a full serial queue.
    pub dropped: usize,
    /// The total time jobs waited before they started (with the dispatcher's timer;
    /// zero without one).
    pub total_wait: Duration,
    /// The longest such wait.
    pub max_wait: Duration,
}

impl FlowStats {
    /// The mean wait of the jobs that waited, if any did.
    pub fn mean_wait(&self) -> Option<Duration> {
        u32::try_from(self.queued).ok().filter(|&n| n > 0).map(|n| self.total_wait / n)
    }
}

/// The live counters behind a [`FlowStats`].
#[derive(Default)]
pub(crate) struct FlowCounters {
    stats: Mutex<FlowStats>,
}

impl FlowCounters {
    pub(crate) fn snapshot(&self) -> FlowStats {
        *self.stats.lock()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut FlowStats)) {
        change(&mut self.stats.lock());
    }

    pub(crate) fn waited(&self, wait: Duration) {
        self.update(|s| {
            s.total_wait = s.total_wait.saturating_add(wait);
            s.max_wait = s.max_wait.max(wait);
        });
    }
}
