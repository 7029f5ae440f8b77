//! The quickstart on async-std. Only the runtime differs from `quickstart.rs`: the
//! dispatcher comes from `orchestrator_std::async_std` (async-std's global executor and
//! timers); the scenario is shared (`shared/quickstart.rs`).
//!
//! Run it from the repository root with
//! `cargo run -p orchestrator-std --features async-std --example quickstart_async_std`.

#[path = "shared/quickstart.rs"]
mod quickstart;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(async {
        // A dispatcher on async-std: its timer and spawner come from async-std.
        let dispatcher = orchestrator_std::async_std::dispatcher()?;
        quickstart::run(&dispatcher).await
    })
}
