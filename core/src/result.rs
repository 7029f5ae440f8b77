//! [`JobResult`]: how a job ended, and waiting for it on a bus.

use crate::sync::Arc;
use core::any::Any;
use core::fmt;
use core::time::Duration;

use futures_util::StreamExt;

use crate::bus::{Lagged, Subscription};
use crate::error::JobError;
use crate::event::EventKind;
use crate::job_id::JobId;
use crate::runtime::Timer;

/// How a job ended. Exactly one per dispatched job.
///
/// ```
/// use orchestrator_core::JobResult;
/// let r: JobResult<u32> = JobResult::Success(3);
/// assert!(r.is_success());
/// assert_eq!(r.clone().ok(), Some(3));
/// let text = r.when(|v| format!("got {v}"), |e| format!("failed: {e}"));
/// assert_eq!(text, "got 3");
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum JobResult<T> {
    /// The job produced its output.
    Success(T),
    /// The job failed (after its retries, if any).
    Failure(JobError),
    /// The job was cancelled, with the token's reason if one was given.
    Cancelled(Option<Arc<str>>),
    /// The job's timeout expired.
    TimedOut(Duration),
}

impl<T> JobResult<T> {
    /// True for `Success`.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success(_))
    }
    /// True for `Failure`.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failure(_))
    }
    /// True for `Cancelled`.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled(_))
    }
    /// True for `TimedOut`.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, Self::TimedOut(_))
    }

    /// The output of a success.
    pub fn ok(self) -> Option<T> {
        match self {
            Self::Success(v) => Some(v),
            _ => None,
        }
    }

    /// The output of a success, by reference.
    pub fn as_ok(&self) -> Option<&T> {
        match self {
            Self::Success(v) => Some(v),
            _ => None,
        }
    }

    /// The error of a failure.
    pub fn error(&self) -> Option<&JobError> {
        match self {
            Self::Failure(e) => Some(e),
            _ => None,
        }
    }

    /// Maps the output of a success.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> JobResult<U> {
        match self {
            Self::Success(v) => JobResult::Success(f(v)),
            Self::Failure(e) => JobResult::Failure(e),
            Self::Cancelled(r) => JobResult::Cancelled(r),
            Self::TimedOut(d) => JobResult::TimedOut(d),
        }
    }

    /// Converts into a `Result`, with cancellation and timeout as [`JobError`]s
    /// ("job cancelled[: reason]", "job timed out after …").
    ///
    /// # Errors
    ///
    /// Every variant but `Success`.
    pub fn into_result(self) -> Result<T, JobError> {
        match self {
            Self::Success(v) => Ok(v),
            Self::Failure(e) => Err(e),
            Self::Cancelled(Some(r)) => Err(JobError::msg(format_args!("job cancelled: {r}"))),
            Self::Cancelled(None) => Err(JobError::msg("job cancelled")),
            Self::TimedOut(d) => Err(JobError::msg(format_args!("job timed out after {d:?}"))),
        }
    }

    /// Exhaustive two-way match: cancellation and timeout go to `failure` as in
    /// [`into_result`](Self::into_result).
    pub fn when<R>(self, success: impl FnOnce(T) -> R, failure: impl FnOnce(JobError) -> R) -> R {
        match self.into_result() {
            Ok(v) => success(v),
            Err(e) => failure(e),
        }
    }
}

/// Why [`wait_for_result`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The bus closed before the job's terminal event arrived.
    BusClosed,
    /// The subscription lagged and lost this many events, which may have included the
    /// job's terminal event.
    Lagged(u64),
    /// The wait's own timeout expired (the job itself may still be running).
    TimedOut(Duration),
    /// The job succeeded with a value that is not a `T`.
    TypeMismatch {
        /// The type that was expected.
        expected: &'static str,
    },
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusClosed => f.write_str("the bus closed before the job ended"),
            Self::Lagged(n) => write!(f, "the subscription lost {n} events"),
            Self::TimedOut(d) => write!(f, "no result within {d:?}"),
            Self::TypeMismatch { expected } => write!(f, "the job's output is not a `{expected}`"),
        }
    }
}

impl core::error::Error for WaitError {}

crate::error::job_error_from!(WaitError);

/// Waits on `subscription` for the terminal event of job `id` and converts it (the
/// original's `JobResult.fromBus`). Subscribe **before** dispatching, or the event may
/// already be gone. Unlike the original it never hangs: it ends with an error when the
/// bus closes, when events were lost, or after `timeout` on `timer`.
///
/// A [`JobHandle`](crate::JobHandle) is the simpler way to get a result; this is for code
/// that only sees the bus.
///
/// # Errors
///
/// See [`WaitError`].
pub async fn wait_for_result<T: Any + Clone>(
    subscription: &mut Subscription,
    id: JobId,
    timeout: Option<(&dyn Timer, Duration)>,
) -> Result<JobResult<T>, WaitError> {
    let wait = async {
        while let Some(item) = subscription.next().await {
            let event = item.map_err(|Lagged(n)| WaitError::Lagged(n))?;
            if event.id() != id {
                continue;
            }
            return match event.kind() {
                EventKind::Success(p) => match p.get::<T>() {
                    Some(v) => Ok(JobResult::Success(v.clone())),
                    None => Err(WaitError::TypeMismatch { expected: core::any::type_name::<T>() }),
                },
                EventKind::Failure { error, .. } => Ok(JobResult::Failure(error.clone())),
                EventKind::Cancelled { reason } => Ok(JobResult::Cancelled(reason.clone())),
                EventKind::TimedOut { after } => Ok(JobResult::TimedOut(*after)),
                _ => continue,
            };
        }
        Err(WaitError::BusClosed)
    };
    match timeout {
        None => wait.await,
        Some((timer, limit)) => {
            let sleep = timer.sleep(limit);
            let wait = core::pin::pin!(wait);
            match futures_util::future::select(wait, sleep).await {
                futures_util::future::Either::Left((r, _)) => r,
                futures_util::future::Either::Right(((), _)) => Err(WaitError::TimedOut(limit)),
            }
        }
    }
}
