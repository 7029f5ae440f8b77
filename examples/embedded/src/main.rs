//! orchestrator-core on a Cortex-M4F, without `std`, on embassy: a bus, a dispatcher and an
//! orchestrator whose runner and host are embassy tasks, on embassy-time driven by SysTick.
//!
//! The board support is `embedded_app::device`; the program is `embedded_app::run`, which
//! the host test runs too. Output goes through semihosting, so it runs in QEMU:
//! `cargo run --release` (see `.cargo/config.toml`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::fmt::Write;

use embassy_executor::Spawner;
use embedded_app::device;

#[allow(unsafe_code)] // embassy's main macro: the executor's static memory
#[embassy_executor::main]
async fn main(spawner: Spawner) {
    device::init();
    let report = embedded_app::run(spawner).await;

    let mut out = String::new();
    let _ = writeln!(out, "thermostat: {:?}", report.temperature);
    let _ = writeln!(out, "upload: {:?}, blink: {:?}", report.upload, report.blink);
    let _ = writeln!(out, "events: {:?}", report.events);
    let (peak, now) = device::heap_usage();
    let _ = writeln!(
        out,
        "elapsed: {} ms, heap: {peak} bytes in use at most (sampled every ms), {now} at the end",
        report.elapsed_ms
    );
    device::print(&out);
    match report.check() {
        Ok(()) => {
            device::print("embedded example: ok\n");
            device::exit(true)
        }
        Err(what) => {
            device::print("embedded example: FAILED: ");
            device::print(&what);
            device::print("\n");
            device::exit(false)
        }
    }
}
