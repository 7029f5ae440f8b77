//! The job, executor and result printer shared by the three quickstarts (tokio, smol,
//! async-std). The executor sleeps on the dispatcher's own timer, so the same business
//! logic runs unchanged on every runtime.

use std::sync::Arc;
use std::time::Duration;

use orchestrator_std::runtime::Timer;
use orchestrator_std::{Executor, Job, JobContext, JobError, JobResult};

/// The job: which user to fetch, and how slow the (simulated) network is.
pub(crate) struct FetchUser {
    pub(crate) id: u64,
    pub(crate) latency: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) name: Arc<str>,
}

impl Job for FetchUser {
    type Output = User;
}

/// The executor: business logic only. It reports progress; retry, timeout and
/// cancellation are the pipeline's business.
pub(crate) struct UserApi {
    /// The runtime's timer (`Dispatcher::timer`), standing in for network latency.
    pub(crate) timer: Arc<dyn Timer>,
}

impl Executor<FetchUser> for UserApi {
    async fn process(&self, job: &FetchUser, ctx: &JobContext) -> Result<User, JobError> {
        ctx.step(1, 3, Some("connecting")).ok();
        self.timer.sleep(Duration::from_millis(20)).await;
        // User 1's server is flaky: the first two attempts fail.
        if job.id == 1 && ctx.attempt() < 2 {
            return Err(JobError::msg("503 service unavailable"));
        }
        ctx.step(2, 3, Some("downloading")).ok();
        self.timer.sleep(job.latency).await;
        ctx.step(3, 3, Some("decoding")).ok();
        Ok(User { id: job.id, name: format!("user #{}", job.id).into() })
    }
}

pub(crate) fn describe(label: &str, result: &JobResult<User>) {
    match result {
        JobResult::Success(user) => println!("{label}: got {} (id {})", user.name, user.id),
        JobResult::Failure(error) => println!("{label}: failed: {error}"),
        JobResult::Cancelled(reason) => println!("{label}: cancelled ({})", reason.as_deref().unwrap_or("no reason")),
        JobResult::TimedOut(after) => println!("{label}: timed out after {after:?}"),
    }
}
