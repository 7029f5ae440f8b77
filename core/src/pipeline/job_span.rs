//! With the `tracing` feature, every job runs in a span of its own.
//!
//! The span (`job`, with the fields `job_id`, `job_type`, `attempt` and `outcome`) is
//! made at dispatch as a child of the span current there, so a job dispatched from a
//! request handler shows under that request. The whole job's future runs inside it: the
//! executor's logs (and those of the `TracingLogger` bridge) carry the `job_id`. Retries,
//! timeouts and cancellation are events in it, and its `outcome` is recorded at its end.
//!
//! Without the feature every function here is an empty `#[inline]` one over a zero-sized
//! [`JobSpan`]: no field in the context, no branch in the job's path.

use core::future::Future;

use crate::executor::JobContext;
use crate::result::JobResult;

/// A job's span (nothing without the `tracing` feature).
#[cfg(feature = "tracing")]
pub(crate) type JobSpan = tracing::Span;
/// A job's span: nothing without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Copy)]
pub(crate) struct JobSpan;

/// The span of a new job: a child of the span current at dispatch.
#[cfg(feature = "tracing")]
pub(crate) fn new_span(id: crate::JobId, job_type: &'static str) -> JobSpan {
    // The contextual parent: the span current here, at dispatch.
    tracing::info_span!(
        "job",
        job_id = %id,
        job_type,
        attempt = 0_u32,
        outcome = tracing::field::Empty,
    )
}

/// The job's span, for [`instrument`].
#[cfg(feature = "tracing")]
pub(crate) fn span_of(ctx: &JobContext) -> JobSpan {
    ctx.span.clone()
}

/// The job's span: nothing without the `tracing` feature.
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn span_of(_: &JobContext) -> JobSpan {
    JobSpan
}

/// The job's whole future, run inside its span.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: Future>(span: JobSpan, future: F) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, span)
}

/// The job's whole future (as it is, without the `tracing` feature).
#[cfg(not(feature = "tracing"))]
#[inline(always)]
pub(crate) fn instrument<F: Future>(_: JobSpan, future: F) -> F {
    future
}

/// A retry is about to happen: the span's `attempt` and an event.
#[inline(always)]
pub(crate) fn retrying(ctx: &JobContext, retry: u32, max: u32, error: &crate::JobError, delay: core::time::Duration) {
    #[cfg(feature = "tracing")]
    {
        ctx.span.record("attempt", retry);
        tracing::info!(parent: &ctx.span, retry, max, %error, ?delay, "job retrying");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (ctx, retry, max, error, delay);
}

/// The job ended: its `outcome`, and an event for a timeout or a cancellation.
#[inline(always)]
pub(crate) fn finished<T>(ctx: &JobContext, result: &JobResult<T>) {
    #[cfg(feature = "tracing")]
    {
        let span = &ctx.span;
        match result {
            JobResult::Success(_) => span.record("outcome", "success"),
            JobResult::Failure(error) => {
                tracing::info!(parent: span, %error, "job failed");
                span.record("outcome", "failure")
            }
            JobResult::Cancelled(reason) => {
                tracing::info!(parent: span, reason = reason.as_deref().unwrap_or(""), "job cancelled");
                span.record("outcome", "cancelled")
            }
            JobResult::TimedOut(after) => {
                tracing::info!(parent: span, ?after, "job timed out");
                span.record("outcome", "timed_out")
            }
        };
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (ctx, result);
}
