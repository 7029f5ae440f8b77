//! A hand-written single-future executor: poll when woken, otherwise wake due sleeps, and
//! idle (`wfi` on the device) until the next interrupt.

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use crate::time;

/// Set by the waker; cleared before each poll.
#[derive(Debug)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion. `idle` is called when nothing is ready: it must return
/// after the clock may have moved (after an interrupt on the device: `cortex_m::asm::wfi`
/// with SysTick calling [`time::tick`]; on the host: `|| time::tick(1)`).
pub fn block_on<F: Future>(future: F, mut idle: impl FnMut()) -> F::Output {
    let flag = Arc::new(Flag(AtomicBool::new(true)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if flag.0.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            continue; // polling may have woken the future again
        }
        time::wake_due_sleeps();
        if !flag.0.load(Ordering::Acquire) {
            idle();
        }
    }
}
