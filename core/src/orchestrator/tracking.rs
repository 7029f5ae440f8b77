//! The host's record of the jobs its orchestrator dispatched and that have not ended.
//!
//! Every entry keeps the job's [`JobHandle`](crate::JobHandle) (type-erased), so the orchestrator can really
//! cancel the job, and the host can tell a job that ended while its terminal event
//! was lost to a lag, and rebuild that event from the handle's result.
//!
//! Memory is bounded: an entry lives exactly as long as its job (it is removed when the
//! terminal event is routed, or rebuilt after a lag, or when the host ends).

use crate::sync::Arc;
use alloc::vec::Vec;
use core::any::TypeId;

use hashbrown::HashMap;

use crate::handle::ErasedHandle;
use crate::job_id::JobId;

/// One job in flight.
pub(crate) struct ActiveJob {
    pub(crate) type_id: TypeId,
    /// The job type's name, computed only when needed (rebuilding a lost event).
    pub(crate) job_type: fn() -> &'static str,
    pub(crate) progress: f64,
    /// The causal depth of the job's events, for a terminal event rebuilt after a lag.
    pub(crate) depth: u32,
    pub(crate) handle: ErasedHandle,
}

/// The active jobs of one orchestrator.
#[derive(Default)]
pub(crate) struct Tracking {
    jobs: HashMap<JobId, ActiveJob>,
}

impl Tracking {
    pub(crate) fn insert(&mut self, id: JobId, job: ActiveJob) {
        self.jobs.insert(id, job);
    }

    pub(crate) fn contains(&self, id: JobId) -> bool {
        self.jobs.contains_key(&id)
    }

    pub(crate) fn get(&self, id: JobId) -> Option<&ActiveJob> {
        self.jobs.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: JobId) -> Option<&mut ActiveJob> {
        self.jobs.get_mut(&id)
    }

    pub(crate) fn remove(&mut self, id: JobId) -> Option<ActiveJob> {
        self.jobs.remove(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub(crate) fn is_type_running(&self, type_id: TypeId) -> bool {
        self.jobs.values().any(|job| job.type_id == type_id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = JobId> + '_ {
        self.jobs.keys().copied()
    }

    /// Cancels every job (they stay tracked until their terminal events); returns how
    /// many this call cancelled.
    pub(crate) fn cancel_all(&self, reason: Option<&Arc<str>>) -> usize {
        self.jobs.values().filter(|job| job.handle.cancel(reason)).count()
    }

    /// Cancels every job and forgets them all.
    pub(crate) fn cancel_and_clear(&mut self, reason: &Arc<str>) -> usize {
        let n = self.cancel_all(Some(reason));
        self.jobs.clear();
        n
    }

    /// Of `ids`, those still tracked whose job has finished, removed from `ids`.
    pub(crate) fn take_finished(&self, ids: &mut Vec<JobId>) -> Vec<JobId> {
        let mut finished = Vec::new();
        ids.retain(|id| match self.jobs.get(id) {
            None => false,
            Some(job) if job.handle.is_finished() => {
                finished.push(*id);
                false
            }
            Some(_) => true,
        });
        finished
    }
}
