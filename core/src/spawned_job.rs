//! Spawn per job: a job run as its own task on the dispatcher's spawner, instead of in
//! the queue that a few resident [`Runner`](crate::Runner)s poll together.
//!
//! Resident runners poll many jobs inside one task: an executor that blocks its thread
//! (a synchronous call, a long computation) holds up every job sharing its runner. A job
//! spawned on its own is a task of the runtime like any other, so a multi-threaded
//! runtime moves the others to its free workers. It costs one spawn (the runtime's task
//! allocation and scheduling) per job.
//!
//! A spawned job keeps every promise of a queued one: it counts as `running` from its
//! dispatch until its future is dropped, emits exactly one terminal event (a runtime that
//! drops it unfinished, at its shutdown, ends it as abandoned, as a dropped runner does),
//! and a spawn the runtime refuses is the dispatch's error, the job emitting nothing.
//! While it runs it is in its dispatcher's [`SpawnedJobs`], so a drain's deadline cancels
//! it as it cancels the jobs of the runners.

use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::DispatchError;
use crate::handle::{Counters, ErasedSlot};
use crate::job_box::Task;
use crate::runtime::Spawn;
use crate::spawned_set::{Place, SpawnedJobs};
use crate::sync::Mutex;

/// How a dispatcher runs its jobs: in its runners' queue, or each spawned on its own.
pub(crate) struct SpawnMode {
    /// The dispatcher's spawner, if it has one.
    spawner: Option<Arc<dyn Spawn>>,
    /// Every job is spawned on its own ([`DispatcherBuilder::spawn_per_job`](crate::DispatcherBuilder::spawn_per_job)).
    every_job: bool,
    /// The spawned jobs not ended yet.
    jobs: Arc<SpawnedJobs>,
}

impl SpawnMode {
    pub(crate) fn new(spawner: Option<Arc<dyn Spawn>>, every_job: bool, counters: Arc<Counters>) -> Self {
        Self { spawner, every_job, jobs: SpawnedJobs::new(counters) }
    }

    /// The spawned jobs not ended yet.
    pub(crate) fn jobs(&self) -> &Arc<SpawnedJobs> {
        &self.jobs
    }

    pub(crate) fn has_spawner(&self) -> bool {
        self.spawner.is_some()
    }

    /// The spawner a job of type `job_type` is spawned on, or `None` when it goes to the
    /// runners' queue. `type_spawns` is its type's own setting.
    pub(crate) fn spawner_for(
        &self,
        job_type: &'static str,
        type_spawns: bool,
    ) -> Result<Option<&Arc<dyn Spawn>>, DispatchError> {
        if !(self.every_job || type_spawns) {
            return Ok(None);
        }
        self.spawner.as_ref().map(Some).ok_or(DispatchError::NoSpawner { job_type })
    }
}

/// Spawns `task` (of the job whose result slot is `slot`) on `spawner`, and keeps it in
/// `jobs` while it runs. If the spawner refuses it, the job is refused (its gate) and
/// dropped here: it emits nothing and the caller returns the error.
pub(crate) fn spawn(
    spawner: &Arc<dyn Spawn>,
    jobs: &Arc<SpawnedJobs>,
    task: Task,
    slot: Arc<dyn ErasedSlot>,
) -> Result<(), DispatchError> {
    // The task goes through a hand-off rather than inside the spawned future: a spawner
    // that refuses the future may drop it before it returns, and the job must not end
    // (emit its terminal event) before it is known to be refused.
    let handoff = Arc::new(Mutex::new(Some(task)));
    let gate_slot = slot.clone();
    let job = SpawnedJob::new(handoff.clone(), jobs.clone(), slot);
    match spawner.spawn(Box::pin(job)) {
        // If the runtime dropped the job unpolled (it is shutting down), the job was
        // accepted: dropping the hand-off below ends it as abandoned.
        Ok(()) => Ok(()),
        Err(_) => {
            let refused = handoff.lock().take();
            match refused {
                Some(task) => {
                    gate_slot.gate().refuse();
                    drop(task);
                    Err(DispatchError::SpawnRefused)
                }
                // The spawner started the job after all: it runs and reports as usual.
                None => Ok(()),
            }
        }
    }
}

/// The task of one spawned job: takes the job out of its hand-off on its first poll,
/// polls it to its end, then gives its box back.
struct SpawnedJob {
    handoff: Option<Arc<Mutex<Option<Task>>>>,
    task: Option<Task>,
    jobs: Arc<SpawnedJobs>,
    /// Its place in `jobs` until it ends.
    place: Option<Place>,
}

impl SpawnedJob {
    /// Counts the job as running, and keeps its `slot` in `jobs`, until it ends (or this
    /// future is dropped).
    fn new(handoff: Arc<Mutex<Option<Task>>>, jobs: Arc<SpawnedJobs>, slot: Arc<dyn ErasedSlot>) -> Self {
        jobs.counters.running.fetch_add(1, Ordering::AcqRel);
        let place = Some(jobs.enter(slot));
        Self { handoff: Some(handoff), task: None, jobs, place }
    }
}

impl Future for SpawnedJob {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(handoff) = this.handoff.take() {
            this.task = handoff.lock().take();
        }
        let Some(task) = this.task.as_mut() else { return Poll::Ready(()) };
        // The task polls the job inside the panic boundary, and empties its box when the
        // job ends (see `Task`).
        core::task::ready!(task.as_mut().poll(cx));
        // Out of the set before the box goes back: the next job of the box may then reuse
        // the result slot (it must be its only holder).
        if let Some(place) = this.place.take() {
            this.jobs.leave(place);
        }
        if let Some(task) = this.task.take() {
            task.recycle();
        }
        Poll::Ready(())
    }
}

impl Drop for SpawnedJob {
    fn drop(&mut self) {
        // A job dropped unfinished (its runtime shut down) ends as abandoned here.
        drop(self.task.take());
        drop(self.handoff.take());
        if let Some(place) = self.place.take() {
            self.jobs.leave(place);
        }
        self.jobs.counters.running.fetch_sub(1, Ordering::AcqRel);
    }
}
