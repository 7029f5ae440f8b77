//! orchestrator-core on a Cortex-M4F, without `std`: a bus, a dispatcher and an
//! orchestrator driven from the reset handler by a hand-written executor, on a millisecond
//! clock that the SysTick interrupt advances.
//!
//! What is device-specific lives here: the heap, the panic handler, SysTick, and output
//! through semihosting (so it runs in QEMU: `cargo run --release`, see
//! `.cargo/config.toml`). The rest is `embedded_app` (`src/lib.rs`).
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap as Heap;

/// The heap the core allocates jobs, events and buffers from.
#[global_allocator]
static HEAP: Heap = Heap::empty();

/// Heap size: the whole run peaks well below this.
const HEAP_SIZE: usize = 16 * 1024;

/// Core clock of the target (QEMU's mps2-an386 runs its Cortex-M4 at 25 MHz).
const CORE_CLOCK_HZ: u32 = 25_000_000;

#[entry]
fn main() -> ! {
    // SAFETY: called once, first thing, before anything allocates.
    #[allow(unsafe_code)]
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_SIZE);
    }

    let Some(mut peripherals) = cortex_m::Peripherals::take() else { fail("peripherals already taken") };
    let syst = &mut peripherals.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / 1_000 - 1); // 1 ms
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();

    // Between interrupts the core sleeps; each SysTick wakes it and advances the clock.
    let mut heap_peak = 0;
    let report = embedded_app::run(|| {
        heap_peak = heap_peak.max(HEAP.used()); // sampled whenever the program goes idle
        cortex_m::asm::wfi();
    });

    hprintln!("thermostat: {:?}", report.temperature);
    hprintln!("upload: {:?}, blink: {:?}", report.upload, report.blink);
    hprintln!("events: {:?}", report.events);
    hprintln!(
        "elapsed: {} ms, heap: {} bytes in use when idle at most, {} at the end",
        report.elapsed_ms,
        heap_peak,
        HEAP.used()
    );
    match report.check() {
        Ok(()) => {
            hprintln!("embedded example: ok");
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(what) => fail(&what),
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    embedded_app::time::tick(1);
}

fn fail(what: &str) -> ! {
    hprintln!("embedded example: FAILED: {}", what);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
