//! [`SpawnedJobs`]: the jobs of a dispatcher spawned on their own and not ended yet, so
//! that a drain's deadline reaches them as it reaches the jobs in the runners.
//!
//! A queued job lives in the dispatcher's queue or in a runner, which a drain's deadline
//! asks to cancel it (`JobQueue::abort`). A spawned job lives in a task of the runtime,
//! which the dispatcher cannot reach: each one therefore leaves its result slot (through
//! which it is cancelled) here while it runs. Entering and leaving is a lock, and a push or
//! a pop on a free list: O(1), no allocation once the list has grown to the most jobs
//! spawned at once.

use crate::sync::Arc;
use alloc::vec::Vec;

use crate::handle::{Counters, ErasedSlot};
use crate::sync::Mutex;

/// The live spawned jobs of one dispatcher.
pub(crate) struct SpawnedJobs {
    /// The dispatcher's counters (spawned jobs count as running).
    pub(crate) counters: Arc<Counters>,
    state: Mutex<Live>,
}

struct Live {
    /// The result slots of the live jobs, by place; `None` for a free place.
    slots: Vec<Option<Arc<dyn ErasedSlot>>>,
    /// Free places in `slots`.
    free: Vec<usize>,
    /// A drain's deadline passed: jobs entering from now on are cancelled at once.
    aborted: Option<Arc<str>>,
}

/// A job's place in [`SpawnedJobs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place(usize);

impl SpawnedJobs {
    pub(crate) fn new(counters: Arc<Counters>) -> Arc<Self> {
        Arc::new(Self { counters, state: Mutex::new(Live { slots: Vec::new(), free: Vec::new(), aborted: None }) })
    }

    /// A spawned job starts: keeps its slot until it [`leave`s](Self::leave). After a
    /// drain's deadline the job is cancelled at once.
    pub(crate) fn enter(&self, slot: Arc<dyn ErasedSlot>) -> Place {
        let mut live = self.state.lock();
        let aborted = live.aborted.clone();
        let place = match live.free.pop() {
            Some(place) => {
                live.slots[place] = Some(slot.clone());
                place
            }
            None => {
                live.slots.push(Some(slot.clone()));
                live.slots.len() - 1
            }
        };
        drop(live);
        if let Some(reason) = aborted {
            cancel(&*slot, &reason);
        }
        Place(place)
    }

    /// A spawned job ended (or its task was dropped).
    pub(crate) fn leave(&self, place: Place) {
        let slot = {
            let mut live = self.state.lock();
            let slot = live.slots.get_mut(place.0).and_then(Option::take);
            if slot.is_some() {
                live.free.push(place.0);
            }
            slot
        };
        // Outside the lock: the last reference to a slot may drop its result.
        drop(slot);
    }

    /// A drain's deadline passed: cancels every live spawned job with `reason` (their
    /// tokens wake their tasks, which then end `Cancelled`), and those that enter later.
    pub(crate) fn abort(&self, reason: &Arc<str>) {
        let slots: Vec<Arc<dyn ErasedSlot>> = {
            let mut live = self.state.lock();
            live.aborted = Some(reason.clone());
            live.slots.iter().flatten().cloned().collect()
        };
        // Outside the lock: a cancellation runs the token's listeners and wakes the task.
        for slot in slots {
            cancel(&*slot, reason);
        }
    }

    /// Live spawned jobs (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let live = self.state.lock();
        live.slots.len() - live.free.len()
    }
}

fn cancel(slot: &dyn ErasedSlot, reason: &Arc<str>) {
    if !slot.is_finished() {
        slot.token().get().cancel_with_reason(reason.clone());
    }
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;

    use super::SpawnedJobs;
    use crate::handle::{self, Counters, ErasedSlot, JobHandle};
    use crate::job_id::JobId;

    fn job(counters: &Counters) -> (JobHandle<u32>, Arc<dyn ErasedSlot>) {
        let (_, handle, slot, _) = handle::pair::<u32>(JobId::next("Spawned"), None, counters, None);
        (handle, slot)
    }

    #[test]
    fn places_are_reused_and_an_abort_reaches_the_live_jobs_and_the_later_ones() {
        let counters = Arc::new(Counters::default());
        let jobs = SpawnedJobs::new(counters.clone());
        let (first, slot) = job(&counters);
        let a = jobs.enter(slot);
        let (left, slot) = job(&counters);
        let b = jobs.enter(slot);
        jobs.leave(b);
        let (second, slot) = job(&counters);
        assert_eq!(jobs.enter(slot), b, "a free place is reused");
        assert_eq!(jobs.len(), 2);

        jobs.abort(&Arc::from("deadline"));
        assert_eq!(first.token().reason().as_deref(), Some("deadline"));
        assert_eq!(second.token().reason().as_deref(), Some("deadline"));
        assert!(!left.token().is_cancelled(), "a job that left is not cancelled");

        let (late, slot) = job(&counters);
        let c = jobs.enter(slot);
        assert_eq!(late.token().reason().as_deref(), Some("deadline"), "entered after the deadline");
        for place in [a, b, c] {
            jobs.leave(place);
        }
        assert_eq!(jobs.len(), 0);
    }
}
