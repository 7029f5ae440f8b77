//! The quickstart on smol. Only the runtime differs from `quickstart.rs`: the dispatcher
//! comes from `orchestrator_std::smol` (smol's global executor and async-io timers); the
//! scenario is shared (`shared/quickstart.rs`).
//!
//! Run it from the repository root with
//! `cargo run -p orchestrator-std --features smol --example quickstart_smol`.

#[path = "shared/quickstart.rs"]
mod quickstart;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        // A dispatcher on smol's global executor: its timer and spawner come from smol.
        let dispatcher = orchestrator_std::smol::dispatcher()?;
        quickstart::run(&dispatcher).await
    })
}
