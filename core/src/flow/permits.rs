//! [`Permits`]: a counting semaphore with priority lanes and aging, for concurrency caps
//! and serial keys. Waiters are served highest lane first, first come first served within
//! a lane; a waiter passed over `aging` times is served next whatever its lane.

use crate::sync::Arc;
use alloc::collections::VecDeque;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::flow_policy::Priority;
use crate::sync::Mutex;

/// A counting semaphore whose waiters queue in [`Priority`] lanes.
pub(crate) struct Permits {
    state: Mutex<Lanes>,
}

struct Lanes {
    free: usize,
    /// Indexed by `lane_index`: high, normal, low.
    waiting: [VecDeque<Arc<Waiter>>; 3],
    /// How many times the front waiter of each lane was passed over: a permit went to
    /// another lane while it waited.
    passed: [u32; 3],
    aging: u32,
}

/// One queued acquisition.
struct Waiter {
    state: Mutex<WaitState>,
}

enum WaitState {
    Waiting(Option<Waker>),
    /// A permit is reserved for it.
    Granted,
    /// It took its permit.
    Done,
    /// Its acquisition was dropped before a permit came: skipped when reached.
    Gone,
}

fn lane_index(priority: Priority) -> usize {
    match priority {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

impl Permits {
    /// `permits` may be held at once; a waiter passed over `aging` times (at least 1) is
    /// served next.
    pub(crate) fn new(permits: usize, aging: u32) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Lanes {
                free: permits,
                waiting: [VecDeque::new(), VecDeque::new(), VecDeque::new()],
                passed: [0; 3],
                aging: aging.max(1),
            }),
        })
    }

    /// A permit now, if one is free and nobody waits for it.
    /// (`this`, not `self: &Arc<Self>`: portable-atomic-util's `Arc` is no method receiver.)
    pub(crate) fn try_acquire(this: &Arc<Self>) -> Option<Permit> {
        let mut lanes = this.state.lock();
        if lanes.free > 0 && lanes.waiting.iter().all(VecDeque::is_empty) {
            lanes.free -= 1;
            Some(Permit { permits: this.clone() })
        } else {
            None
        }
    }

    /// Waits for a permit in `priority`'s lane.
    pub(crate) fn acquire(this: &Arc<Self>, priority: Priority) -> Acquire {
        Acquire { permits: this.clone(), priority, waiter: None }
    }

    /// Jobs waiting now (including acquisitions dropped and not yet skipped).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiting.iter().map(VecDeque::len).sum()
    }

    /// Hands a returned permit to the next waiter, or frees it.
    fn release(&self) {
        let waker = {
            let mut lanes = self.state.lock();
            loop {
                let Some(next) = lanes.next() else {
                    lanes.free += 1;
                    break None;
                };
                let mut state = next.state.lock();
                if let WaitState::Waiting(waker) = &mut *state {
                    let waker = waker.take();
                    *state = WaitState::Granted;
                    break waker;
                }
                // Gone: skip it.
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Lanes {
    /// Takes the next waiter: a lane's front waiter passed over `aging` times (the most
    /// passed over first), else the front of the highest non-empty lane. The fronts of the
    /// other non-empty lanes count one more pass.
    fn next(&mut self) -> Option<Arc<Waiter>> {
        let aged = (0..self.waiting.len())
            .filter(|&lane| !self.waiting[lane].is_empty() && self.passed[lane] >= self.aging)
            .max_by_key(|&lane| (self.passed[lane], lane));
        let lane = aged.or_else(|| self.waiting.iter().position(|lane| !lane.is_empty()))?;
        for other in 0..self.waiting.len() {
            if other != lane && !self.waiting[other].is_empty() {
                self.passed[other] = self.passed[other].saturating_add(1);
            }
        }
        self.passed[lane] = 0;
        self.waiting[lane].pop_front()
    }
}

/// A held permit: given back (to the next waiter) when dropped.
pub(crate) struct Permit {
    permits: Arc<Permits>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.permits.release();
    }
}

/// Waiting for a [`Permit`]. Dropped before it got one, it leaves the queue; dropped
/// after one was reserved for it, it passes the permit on.
pub(crate) struct Acquire {
    permits: Arc<Permits>,
    priority: Priority,
    waiter: Option<Arc<Waiter>>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let Some(waiter) = &this.waiter else {
            let mut lanes = this.permits.state.lock();
            if lanes.free > 0 && lanes.waiting.iter().all(VecDeque::is_empty) {
                lanes.free -= 1;
                drop(lanes);
                return Poll::Ready(Permit { permits: this.permits.clone() });
            }
            let waiter = Arc::new(Waiter { state: Mutex::new(WaitState::Waiting(Some(cx.waker().clone()))) });
            lanes.waiting[lane_index(this.priority)].push_back(waiter.clone());
            drop(lanes);
            this.waiter = Some(waiter);
            return Poll::Pending;
        };
        let mut state = waiter.state.lock();
        match &mut *state {
            WaitState::Granted => {
                *state = WaitState::Done;
                Poll::Ready(Permit { permits: this.permits.clone() })
            }
            WaitState::Waiting(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            // Polled after it returned its permit: it has none to give.
            WaitState::Done | WaitState::Gone => Poll::Pending,
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else { return };
        // The lanes' lock first, as `release` takes them: a grant cannot slip in between.
        let lanes = self.permits.state.lock();
        let was = core::mem::replace(&mut *waiter.state.lock(), WaitState::Gone);
        drop(lanes);
        if let WaitState::Granted = was {
            // Reserved for us and never taken: the next waiter gets it.
            self.permits.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::task::Context;
    use futures_util::task::noop_waker;

    fn poll(acquire: &mut Acquire) -> Option<Permit> {
        let waker = noop_waker();
        match Pin::new(acquire).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(p) => Some(p),
            Poll::Pending => None,
        }
    }

    #[test]
    fn higher_lanes_first_and_aging_serves_the_low_lane() {
        let permits = Permits::new(1, 2);
        let held = Permits::try_acquire(&permits).expect("one free permit");
        let mut low = Permits::acquire(&permits, Priority::Low);
        assert!(poll(&mut low).is_none());
        let mut highs: alloc::vec::Vec<Acquire> = (0..4).map(|_| Permits::acquire(&permits, Priority::High)).collect();
        for high in &mut highs {
            assert!(poll(high).is_none());
        }
        drop(held);
        // Passed over once: a high waiter goes first.
        let first = poll(&mut highs[0]).expect("the first high waiter");
        drop(first);
        let second = poll(&mut highs[1]).expect("the second high waiter");
        // The low waiter has now been passed over twice (aging 2): it is next.
        drop(second);
        assert!(poll(&mut highs[2]).is_none());
        assert!(poll(&mut low).is_some());
    }

    #[test]
    fn a_dropped_waiter_passes_its_permit_on() {
        let permits = Permits::new(1, 8);
        let held = Permits::try_acquire(&permits).expect("free");
        let mut a = Permits::acquire(&permits, Priority::Normal);
        let mut b = Permits::acquire(&permits, Priority::Normal);
        assert!(poll(&mut a).is_none() && poll(&mut b).is_none());
        drop(held); // reserved for `a`
        drop(a); // which never takes it
        assert!(poll(&mut b).is_some());
        assert_eq!(permits.waiting(), 0);
    }
}
