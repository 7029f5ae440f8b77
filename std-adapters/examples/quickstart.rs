//! Quickstart: a "fetch user" job with retry, timeout, progress and cancellation on tokio.
//!
//! Run it from the repository root with `cargo run --example quickstart`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::{JobBuilder, RetryPolicy, tokio as rt};

#[path = "shared/fetch_user.rs"]
mod fetch_user;
use fetch_user::{FetchUser, UserApi, describe};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A dispatcher on tokio: its timer and spawner come from the runtime.
    let dispatcher = rt::dispatcher()?;
    let timer = dispatcher.timer().ok_or("the dispatcher has no timer")?;
    dispatcher.register(UserApi { timer: Arc::clone(timer) });

    // Print every event of the bus as it happens.
    let mut events = dispatcher.bus().subscribe()?;
    let printer = tokio::spawn(async move {
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
    let token = abandoned.token();
    let cancel_later = async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        token.cancel_with_reason("user left the screen");
    };

    let (flaky, slow, abandoned, ()) = tokio::join!(flaky, slow, abandoned, cancel_later);
    println!();
    describe("flaky fetch", &flaky);
    describe("slow fetch", &slow);
    describe("abandoned fetch", &abandoned);

    // Closing the bus ends the printer's subscription.
    dispatcher.bus().close();
    printer.await?;
    Ok(())
}
