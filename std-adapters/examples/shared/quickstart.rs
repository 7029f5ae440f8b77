//! The quickstart's scenario, shared by its three versions (tokio, smol, async-std): a
//! "fetch user" job with retry, timeout, progress and cancellation. Everything here runs
//! on the dispatcher alone (its executor and the cancellation sleep use the dispatcher's
//! timer), so the same business logic runs unchanged on every runtime; each
//! `quickstart*.rs` only builds the dispatcher on its runtime.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::runtime::Timer;
use orchestrator_std::{Dispatcher, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};

/// Runs the scenario on `dispatcher` (which needs a timer): three fetches, every event
/// printed as it happens, then the three results.
pub(crate) async fn run(dispatcher: &Dispatcher) -> Result<(), Box<dyn Error>> {
    let timer = Arc::clone(dispatcher.timer().ok_or("the dispatcher has no timer")?);
    dispatcher.register(UserApi { timer: Arc::clone(&timer) });

    // Print every event of the bus as it happens, until the bus is closed.
    let mut events = dispatcher.bus().subscribe()?;
    let printer = async move {
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => println!("  event  {event}"),
                Err(lagged) => println!("  (missed {} events)", lagged.0),
            }
        }
    };

    // 1. A flaky fetch that succeeds on its third attempt (retry with back-off).
    let flaky = JobBuilder::new(FetchUser { id: 1, latency: Duration::from_millis(10) })
        .retry(RetryPolicy::new().with_base_delay(Duration::from_millis(50)))
        .timeout(Duration::from_secs(5));
    let flaky = dispatcher.dispatch(flaky)?;

    // 2. A fetch that is too slow for its timeout: its work is dropped at 300 ms.
    let slow =
        JobBuilder::new(FetchUser { id: 2, latency: Duration::from_secs(10) }).timeout(Duration::from_millis(300));
    let slow = dispatcher.dispatch(slow)?;

    // 3. A fetch the user gives up on.
    let abandoned = dispatcher.dispatch(FetchUser { id: 3, latency: Duration::from_secs(10) })?;
    let token = abandoned.token();
    let cancel_later = async move {
        timer.sleep(Duration::from_millis(150)).await;
        token.cancel_with_reason("user left the screen");
    };

    let results = async {
        let (flaky, slow, abandoned, ()) = futures::join!(flaky, slow, abandoned, cancel_later);
        println!();
        describe("flaky fetch", &flaky);
        describe("slow fetch", &slow);
        describe("abandoned fetch", &abandoned);
        // Closing the bus ends the printer's subscription.
        dispatcher.bus().close();
    };
    futures::join!(printer, results);
    Ok(())
}

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

fn describe(label: &str, result: &JobResult<User>) {
    match result {
        JobResult::Success(user) => println!("{label}: got {} (id {})", user.name, user.id),
        JobResult::Failure(error) => println!("{label}: failed: {error}"),
        JobResult::Cancelled(reason) => println!("{label}: cancelled ({})", reason.as_deref().unwrap_or("no reason")),
        JobResult::TimedOut(after) => println!("{label}: timed out after {after:?}"),
    }
}
