//! [`Continuations`]: what an orchestrator does with the typed result of a job it
//! dispatched with [`Context::dispatch_then`](super::Context::dispatch_then).

use alloc::boxed::Box;

use hashbrown::HashMap;

use super::Orchestrator;
use super::context::Context;
use crate::event::{Event, EventKind};
use crate::job_id::JobId;
use crate::result::JobResult;

/// A continuation, its result type erased: it rebuilds the typed result from the job's
/// terminal event. `Send` where `MaybeSend` means `Send` (see `sync`): a trait object can
/// only add auto traits.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub(crate) type Continuation<O> = Box<dyn FnOnce(&mut O, &Event, &mut Context<'_, O>) + Send>;
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub(crate) type Continuation<O> = Box<dyn FnOnce(&mut O, &Event, &mut Context<'_, O>)>;

/// The continuations of a host's active jobs, by job id.
pub(crate) struct Continuations<O: Orchestrator> {
    by_job: HashMap<JobId, Continuation<O>>,
}

impl<O: Orchestrator> Default for Continuations<O> {
    fn default() -> Self {
        Self { by_job: HashMap::new() }
    }
}

impl<O: Orchestrator> Continuations<O> {
    pub(crate) fn insert(&mut self, id: JobId, then: Continuation<O>) {
        self.by_job.insert(id, then);
    }

    pub(crate) fn remove(&mut self, id: JobId) -> Option<Continuation<O>> {
        // Most hosts have none: no hashing then.
        if self.by_job.is_empty() {
            return None;
        }
        self.by_job.remove(&id)
    }

    pub(crate) fn clear(&mut self) {
        self.by_job.clear();
    }
}

/// A job's typed result, from its terminal event. The job's output type is known to the
/// caller, so the payload of a `Success` is always a `T`; should it not be (an event built
/// by hand with the job's id), the result is a `Failure` saying so, never a panic.
pub(crate) fn result_of<T: Clone + 'static>(event: &Event) -> JobResult<T> {
    match event.kind() {
        EventKind::Success(payload) => match payload.get::<T>() {
            Some(value) => JobResult::Success(value.clone()),
            None => JobResult::Failure(crate::error::JobError::msg(
                "the job's success event does not carry a value of its output type",
            )),
        },
        EventKind::Failure { error, .. } => JobResult::Failure(error.clone()),
        EventKind::Cancelled { reason } => JobResult::Cancelled(reason.clone()),
        EventKind::TimedOut { after } => JobResult::TimedOut(*after),
        _ => JobResult::Failure(crate::error::JobError::msg("not a terminal event")),
    }
}
