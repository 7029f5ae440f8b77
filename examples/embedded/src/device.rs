//! The board support of the example, for QEMU's mps2-an386 (a Cortex-M4F at 25 MHz): the
//! heap, SysTick as embassy's time driver, output and exit through semihosting, the panic
//! handler. Both binaries (`main.rs`, `bin/minimal.rs`) use it; a real board would get
//! all but the heap from its HAL.

use core::cell::{Cell, RefCell};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use cortex_m_semihosting::{debug, hio};
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;
use embedded_alloc::LlffHeap;

/// The heap the core allocates jobs, events and buffers from.
#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

/// Heap size: the example's run peaks well below this.
const HEAP_SIZE: usize = 16 * 1024;

/// Core clock of the target (QEMU's mps2-an386 runs its Cortex-M4 at 25 MHz).
const CORE_CLOCK_HZ: u32 = 25_000_000;

/// embassy-time's ticks per millisecond (its default rate is 1 MHz; SysTick fires every ms).
const TICKS_PER_MS: u64 = embassy_time_driver::TICK_HZ / 1_000;

/// The most heap in use, sampled at every SysTick.
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

/// Gives the heap its memory and starts SysTick. Call it first, before anything
/// allocates.
pub fn init() {
    // SAFETY: called once, first thing, before anything allocates.
    #[allow(unsafe_code)]
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_SIZE);
    }
    if let Some(mut peripherals) = cortex_m::Peripherals::take() {
        let syst = &mut peripherals.SYST;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(CORE_CLOCK_HZ / 1_000 - 1); // 1 ms
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
    }
}

/// The most heap in use so far, and the heap in use now, in bytes.
pub fn heap_usage() -> (usize, usize) {
    (HEAP_PEAK.load(Ordering::Relaxed), HEAP.used())
}

/// Writes `text` to the host's stdout (semihosting), without `core::fmt`.
pub fn print(text: &str) {
    if let Ok(mut stdout) = hio::hstdout() {
        let _ = stdout.write_all(text.as_bytes());
    }
}

/// Ends the program (QEMU exits with 0 when `ok`, 1 otherwise).
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::wfi();
    }
}

/// embassy-time's driver: a millisecond counter that SysTick advances, and embassy's timer
/// queue (the generic one, which `orchestrator-embassy` turns on: jobs are polled with the
/// core's wakers, not the executor's).
struct SysTickDriver {
    /// Milliseconds since boot: a `u64` behind a critical section (no 64-bit atomics).
    ms: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
    /// When the queue's next sleep is due, in ticks (`u64::MAX`: none).
    next_alarm: Mutex<Cell<u64>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ms: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
    next_alarm: Mutex::new(Cell::new(u64::MAX)),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ms.borrow(cs).get()) * TICKS_PER_MS
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ms.borrow(cs).get() * TICKS_PER_MS;
                self.next_alarm.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ms = DRIVER.ms.borrow(cs);
        ms.set(ms.get() + 1);
        let now = ms.get() * TICKS_PER_MS;
        let next_alarm = DRIVER.next_alarm.borrow(cs);
        if now >= next_alarm.get() {
            // Wakes the due sleeps (embassy's executor then runs their tasks).
            next_alarm.set(DRIVER.queue.borrow_ref_mut(cs).next_expiration(now));
        }
    });
    // This handler is the peak's only writer: a load and a store suffice, and they exist
    // on cores without read-modify-write atomics too (Cortex-M0).
    let used = HEAP.used();
    if used > HEAP_PEAK.load(Ordering::Relaxed) {
        HEAP_PEAK.store(used, Ordering::Relaxed);
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // The message only with `core::fmt`, which the minimal program does without.
    print("panic");
    if let Some(location) = info.location() {
        print(" at ");
        print(location.file());
    }
    print("\n");
    exit(false)
}
