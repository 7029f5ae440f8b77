//! The clock and timer the program supplies to the core: a millisecond tick counter,
//! advanced by the SysTick interrupt on the device (by the test on the host), and sleeps
//! that the executor's idle loop wakes when their deadline passes.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use critical_section::Mutex;
use orchestrator_core::BoxFuture;
use orchestrator_core::runtime::{Clock, Timer};

/// Milliseconds since boot. A `u64` behind a critical section: the interrupt handler and
/// the main loop share it, and it never wraps (thumbv7em has no 64-bit atomics).
static TICKS_MS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Sleeps waiting for their deadline: `(deadline in ms, sleep id, waker)`. Only the main
/// loop touches it; the critical section makes the static `Sync`.
static SLEEPS: Mutex<RefCell<Vec<(u64, u32, Waker)>>> = Mutex::new(RefCell::new(Vec::new()));

/// Ids of sleeps, to find a sleep's entry again.
static NEXT_SLEEP_ID: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// Advances the clock by `ms` milliseconds. Call it from the SysTick interrupt.
pub fn tick(ms: u64) {
    critical_section::with(|cs| {
        let ticks = TICKS_MS.borrow(cs);
        ticks.set(ticks.get().saturating_add(ms));
    });
}

/// Milliseconds since boot.
#[must_use]
pub fn now_ms() -> u64 {
    critical_section::with(|cs| TICKS_MS.borrow(cs).get())
}

/// Wakes every sleep whose deadline has passed. The executor calls it after each
/// interrupt, before deciding whether to idle.
pub fn wake_due_sleeps() {
    let now = now_ms();
    let due: Vec<Waker> = critical_section::with(|cs| {
        let mut sleeps = SLEEPS.borrow_ref_mut(cs);
        let mut due = Vec::new();
        sleeps.retain(|(deadline, _, waker)| {
            if *deadline <= now {
                due.push(waker.clone());
                false
            } else {
                true
            }
        });
        due
    });
    // Woken outside the critical section: a waker may do anything.
    for waker in due {
        waker.wake();
    }
}

/// The number of sleeps waiting for their deadline (for the report).
#[must_use]
pub fn pending_sleeps() -> usize {
    critical_section::with(|cs| SLEEPS.borrow_ref(cs).len())
}

/// The program's [`Clock`] and [`Timer`] for the core: reads [`TICKS_MS`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TickClock;

impl Clock for TickClock {
    fn now(&self) -> Duration {
        Duration::from_millis(now_ms())
    }
}

impl Timer for TickClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // A duration too long for a u64 of milliseconds sleeps forever (never panics).
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Box::pin(Sleep { deadline: now_ms().saturating_add(ms), id: None })
    }
}

/// A sleep until `deadline` (ms since boot); `u64::MAX` never ends.
#[derive(Debug)]
struct Sleep {
    deadline: u64,
    /// Set once the sleep has registered a waker.
    id: Option<u32>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if now_ms() >= self.deadline {
            self.unregister();
            return Poll::Ready(());
        }
        if self.deadline == u64::MAX {
            return Poll::Pending; // forever: nothing to register
        }
        let deadline = self.deadline;
        let id = *self.id.get_or_insert_with(|| {
            critical_section::with(|cs| {
                let next = NEXT_SLEEP_ID.borrow(cs);
                let id = next.get();
                next.set(id.wrapping_add(1));
                id
            })
        });
        critical_section::with(|cs| {
            let mut sleeps = SLEEPS.borrow_ref_mut(cs);
            match sleeps.iter_mut().find(|(_, sid, _)| *sid == id) {
                Some(entry) => entry.2.clone_from(cx.waker()),
                None => sleeps.push((deadline, id, cx.waker().clone())),
            }
        });
        Poll::Pending
    }
}

impl Sleep {
    fn unregister(&mut self) {
        if let Some(id) = self.id.take() {
            critical_section::with(|cs| SLEEPS.borrow_ref_mut(cs).retain(|(_, sid, _)| *sid != id));
        }
    }
}

impl Drop for Sleep {
    /// A sleep dropped early (a timeout that did not fire) leaves nothing behind.
    fn drop(&mut self) {
        self.unregister();
    }
}
