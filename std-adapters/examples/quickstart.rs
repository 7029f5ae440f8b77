//! Quickstart: a "fetch user" job with retry, timeout, progress and cancellation on tokio.
//! The scenario (the job, its executor, the three fetches) is in `shared/quickstart.rs`,
//! shared with the smol and async-std versions; only the dispatcher is made here.
//!
//! Run it from the repository root with `cargo run --example quickstart`.

#[path = "shared/quickstart.rs"]
mod quickstart;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A dispatcher on tokio: its timer and spawner come from the runtime.
    let dispatcher = orchestrator_std::tokio::dispatcher()?;
    quickstart::run(&dispatcher).await
}
