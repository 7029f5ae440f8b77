//! What a job reports of itself: `Started` when its pipeline begins, and at its end
//! exactly one terminal event (Success, Failure, Cancelled or TimedOut) and its result.

use core::time::Duration;

use crate::error::JobError;
use crate::event::{EventKind, Payload};
use crate::executor::JobContext;
use crate::job_metrics::{Ended, Mark};
use crate::log::{Level, Logger, log_at};
use crate::result::JobResult;
use crate::sync::{MaybeSend, MaybeSync};

/// How the race between the work and its stop signal ended.
pub(super) enum Outcome<T> {
    /// `cached`: the result is a cache-first hit (nothing to write).
    Finished {
        result: Result<T, JobError>,
        retried: bool,
        cached: bool,
    },
    Cancelled,
    TimedOut(Duration),
}

impl<T> From<Result<T, JobError>> for Outcome<T> {
    /// The result of a single attempt, not from the cache.
    fn from(result: Result<T, JobError>) -> Self {
        Outcome::Finished { result, retried: false, cached: false }
    }
}

/// Logs and emits `Started`, and records the job's queue wait since `dispatched` in its
/// type's metrics; returns when it started. (If the job is dropped before its terminal
/// event, its [`JobCore`](super::JobCore) emits one.)
pub(super) fn started(ctx: &JobContext, logger: &dyn Logger, dispatched: Mark) -> Mark {
    log_at!(logger, Level::Debug, "job {} ({}) started", ctx.id, ctx.job_type);
    let _ = ctx.emit_kind(|| EventKind::Started);
    ctx.probe.started(dispatched, ctx.env.timer.as_ref())
}

/// Logs and emits the job's terminal event, and counts it in its type's metrics (with
/// its run time from `since`, when it started); returns its result.
pub(super) fn report<T: Clone + MaybeSend + MaybeSync + 'static>(
    ctx: &JobContext,
    logger: &dyn Logger,
    outcome: Outcome<T>,
    since: Mark,
) -> JobResult<T> {
    let ended = || match &outcome {
        Outcome::Finished { result: Ok(_), .. } => Ended::Succeeded,
        Outcome::Finished { result: Err(_), .. } => Ended::Failed,
        Outcome::Cancelled => Ended::Cancelled,
        Outcome::TimedOut(_) => Ended::TimedOut,
    };
    ctx.probe.ended(ended, since, ctx.env.timer.as_ref());
    match outcome {
        Outcome::Finished { result: Ok(value), .. } => {
            log_at!(logger, Level::Debug, "job {} ({}) succeeded", ctx.id, ctx.job_type);
            ctx.emit_terminal(|| EventKind::Success(Payload::new(value.clone())));
            JobResult::Success(value)
        }
        Outcome::Finished { result: Err(error), retried, .. } => {
            log_at!(logger, Level::Error, "job {} ({}) failed: {}", ctx.id, ctx.job_type, error);
            ctx.emit_terminal(|| EventKind::Failure { error: error.clone(), retried });
            JobResult::Failure(error)
        }
        Outcome::Cancelled => {
            let reason = ctx.cancel.token().reason();
            log_at!(logger, Level::Info, "job {} ({}) cancelled", ctx.id, ctx.job_type);
            ctx.emit_terminal(|| EventKind::Cancelled { reason: reason.clone() });
            JobResult::Cancelled(reason)
        }
        Outcome::TimedOut(after) => {
            log_at!(logger, Level::Warning, "job {} ({}) timed out after {:?}", ctx.id, ctx.job_type, after);
            ctx.emit_terminal(|| EventKind::TimedOut { after });
            JobResult::TimedOut(after)
        }
    }
}
