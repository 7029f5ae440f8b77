//! The quickstart on async-std: a "fetch user" job with retry, timeout, progress and
//! cancellation. Only the runtime differs from `quickstart.rs`: the dispatcher comes from
//! `orchestrator_std::async_std` (async-std's global executor and timers), the executor
//! sleeps with `async_std::task::sleep`.
//!
//! Run it from the repository root with
//! `cargo run -p orchestrator-std --features async-std --example quickstart_async_std`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};

/// The job: which user to fetch, and how slow the (simulated) network is.
struct FetchUser {
    id: u64,
    latency: Duration,
}

#[derive(Debug, Clone)]
struct User {
    id: u64,
    name: Arc<str>,
}

impl Job for FetchUser {
    type Output = User;
}

/// The executor: business logic only. It reports progress; retry, timeout and
/// cancellation are the pipeline's business.
struct UserApi;

impl Executor<FetchUser> for UserApi {
    async fn process(&self, job: &FetchUser, ctx: &JobContext) -> Result<User, JobError> {
        ctx.step(1, 3, Some("connecting")).ok();
        async_std::task::sleep(Duration::from_millis(20)).await;
        // User 1's server is flaky: the first two attempts fail.
        if job.id == 1 && ctx.attempt() < 2 {
            return Err(JobError::msg("503 service unavailable"));
        }
        ctx.step(2, 3, Some("downloading")).ok();
        async_std::task::sleep(job.latency).await;
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(async {
        // A dispatcher on async-std: its timer and spawner come from async-std.
        let dispatcher = orchestrator_std::async_std::dispatcher()?;
        dispatcher.register(UserApi);

        // Print every event of the bus as it happens.
        let mut events = dispatcher.bus().subscribe()?;
        let printer = async_std::task::spawn(async move {
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => println!("  event  {event}"),
                    Err(lagged) => println!("  (missed {} events)", lagged.0),
                }
            }
        });

        // 1. A flaky fetch that succeeds on its third attempt (retry with back-off).
        let flaky = JobBuilder::new(FetchUser { id: 1, latency: Duration::from_millis(10) })
            .retry(RetryPolicy::new().base_delay(Duration::from_millis(50)))
            .timeout(Duration::from_secs(5));
        let flaky = dispatcher.dispatch(flaky)?;

        // 2. A fetch that is too slow for its timeout: its work is dropped at 300 ms.
        let slow =
            JobBuilder::new(FetchUser { id: 2, latency: Duration::from_secs(10) }).timeout(Duration::from_millis(300));
        let slow = dispatcher.dispatch(slow)?;

        // 3. A fetch the user gives up on.
        let abandoned = dispatcher.dispatch(FetchUser { id: 3, latency: Duration::from_secs(10) })?;
        let token = abandoned.token().clone();
        let cancel_later = async move {
            async_std::task::sleep(Duration::from_millis(150)).await;
            token.cancel_with_reason("user left the screen");
        };

        let (flaky, slow, abandoned, ()) = futures::join!(flaky, slow, abandoned, cancel_later);

        // Closing the bus ends the printer's subscription (the printer runs on another
        // thread: let it print every event before the summary).
        dispatcher.bus().close();
        printer.await;
        println!();
        describe("flaky fetch", &flaky);
        describe("slow fetch", &slow);
        describe("abandoned fetch", &abandoned);
        dispatcher.shutdown();
        Ok(())
    })
}
