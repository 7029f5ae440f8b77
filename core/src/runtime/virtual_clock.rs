//! Deterministic virtual time for tests (feature `test-util`).
//!
//! A [`VirtualClock`] is a [`Clock`] and a [`Timer`] whose time only moves when told to
//! ([`VirtualClock::advance`], [`VirtualClock::advance_to_next`]), and [`run_virtual`]
//! drives a future to completion on the current thread, jumping straight to the next
//! sleep deadline whenever the future is idle. Tests of timeouts and retry back-offs then
//! run instantly and deterministically.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::ops::Bound;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use futures_util::task::ArcWake;

use super::{Clock, Timer};
use crate::sync::{BoxFuture, Mutex};

/// The clock's shared state.
#[derive(Default)]
struct State {
    /// Current virtual time.
    now: Duration,
    /// Sequence number of the next registered sleep (ties between equal deadlines are
    /// broken by registration order).
    next_seq: u64,
    /// Every live sleep, keyed by `(deadline, seq)`, with the waker of its last poll. A
    /// waker is taken out when the sleep is woken, so no due sleep holds a waker.
    sleeps: BTreeMap<(Duration, u64), Option<Waker>>,
}

impl State {
    /// Takes the wakers of every sleep that is due at `self.now`. "Forever" sleeps
    /// (deadline `Duration::MAX`) are never due.
    fn take_due_wakers(&mut self) -> Vec<Waker> {
        let now = self.now;
        self.sleeps
            .range_mut(..=(now, u64::MAX))
            .filter(|((deadline, _), _)| *deadline != Duration::MAX)
            .filter_map(|(_, waker)| waker.take())
            .collect()
    }

    /// The earliest finite deadline strictly after `now`, if any.
    fn next_deadline(&self) -> Option<Duration> {
        let after_now = (Bound::Excluded((self.now, u64::MAX)), Bound::Unbounded);
        self.sleeps.range(after_now).map(|((deadline, _), _)| *deadline).find(|deadline| *deadline != Duration::MAX)
    }
}

/// Wakes `wakers`; called once the clock's lock is released, so a waker may freely call
/// back into the clock.
fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// A deterministic virtual clock and timer for tests.
///
/// Time starts at zero and only moves with [`advance`](VirtualClock::advance) or
/// [`advance_to_next`](VirtualClock::advance_to_next) (or under [`run_virtual`], which
/// advances it whenever the driven future is idle). Sleeps ([`Timer::sleep`],
/// [`VirtualClock::sleep_until`]) complete exactly when the virtual time reaches their
/// deadline. A deadline of `Duration::MAX` (or one that overflows) means "never".
///
/// Clones share the same time and sleeps. The clock is `Send + Sync` (where
/// [`MaybeSend`](crate::MaybeSend) means `Send`), so it can be handed to threaded code as
/// an `Arc<dyn Timer>`.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::runtime::{run_virtual, Clock, Timer, VirtualClock};
///
/// let clock = VirtualClock::new();
/// let timer = clock.clone();
/// let out = run_virtual(&clock, async move {
///     timer.sleep(Duration::from_secs(10)).await;
///     timer.sleep(Duration::from_secs(20)).await;
///     timer.now()
/// });
/// assert_eq!(out, Ok(Duration::from_secs(30)));
/// assert_eq!(clock.now(), Duration::from_secs(30)); // instantly, in real time
/// ```
#[derive(Clone, Default)]
pub struct VirtualClock {
    inner: Arc<Mutex<State>>,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (now, pending) = {
            let state = self.inner.lock();
            (state.now, state.sleeps.len())
        };
        f.debug_struct("VirtualClock").field("now", &now).field("pending_sleeps", &pending).finish()
    }
}

impl VirtualClock {
    /// A new clock at time zero, with no sleeps.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the time forward by `d` (saturating at `Duration::MAX`) and wakes every sleep
    /// whose deadline is now reached.
    pub fn advance(&self, d: Duration) {
        let wakers = {
            let mut state = self.inner.lock();
            state.now = state.now.saturating_add(d);
            state.take_due_wakers()
        };
        wake_all(wakers);
    }

    /// Jumps to the earliest pending sleep deadline that is after the current time, wakes
    /// the sleeps that are then due, and returns the new time.
    ///
    /// Returns `None`, leaving the time unchanged, when no pending sleep has a deadline
    /// after now: there are no sleeps, or they are all already due (woken, waiting to be
    /// polled) or sleep forever (`Duration::MAX`). Advancing could then wake nothing, so
    /// `while clock.advance_to_next().is_some() {}` always terminates.
    pub fn advance_to_next(&self) -> Option<Duration> {
        let (now, wakers) = {
            let mut state = self.inner.lock();
            let next = state.next_deadline()?;
            state.now = next;
            (next, state.take_due_wakers())
        };
        wake_all(wakers);
        Some(now)
    }

    /// The earliest pending sleep deadline after now, without moving the time (the test
    /// kit's harness stops at a time limit instead of jumping past it).
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        self.inner.lock().next_deadline()
    }

    /// The number of sleeps created and not yet completed or dropped.
    #[must_use]
    pub fn pending_sleeps(&self) -> usize {
        self.inner.lock().sleeps.len()
    }

    /// A sleep that completes once the time reaches `deadline` (immediately if it already
    /// has; never if `deadline` is `Duration::MAX`).
    pub fn sleep_until(&self, deadline: Duration) -> Sleep {
        let mut state = self.inner.lock();
        self.register(&mut state, deadline)
    }

    /// A sleep that completes once `d` has elapsed from now, as a concrete [`Sleep`]
    /// ([`Timer::sleep`] returns it boxed). A deadline past `Duration::MAX` never completes.
    pub fn sleep_virtual(&self, d: Duration) -> Sleep {
        let mut state = self.inner.lock();
        let deadline = state.now.saturating_add(d);
        self.register(&mut state, deadline)
    }

    /// Registers a new sleep with `deadline` in `state` (the locked state of `self`).
    fn register(&self, state: &mut State, deadline: Duration) -> Sleep {
        let seq = state.next_seq;
        state.next_seq = seq.wrapping_add(1);
        state.sleeps.insert((deadline, seq), None);
        Sleep { clock: self.clone(), deadline, seq: Some(seq) }
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.inner.lock().now
    }
}

impl Timer for VirtualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        alloc::boxed::Box::pin(self.sleep_virtual(duration))
    }
}

/// A sleep on a [`VirtualClock`] (re-exported as `VirtualSleep`): a future that completes
/// once the clock's time reaches its deadline.
///
/// It counts in [`VirtualClock::pending_sleeps`] from its creation until it completes or
/// is dropped. Polling it after completion returns `Ready` again.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use futures::FutureExt;
/// use orchestrator_core::runtime::VirtualClock;
///
/// let clock = VirtualClock::new();
/// let mut sleep = clock.sleep_until(Duration::from_secs(1));
/// assert_eq!((&mut sleep).now_or_never(), None);
/// clock.advance(Duration::from_millis(999));
/// assert_eq!((&mut sleep).now_or_never(), None);
/// clock.advance(Duration::from_millis(1));
/// assert_eq!(sleep.now_or_never(), Some(()));
/// assert_eq!(clock.pending_sleeps(), 0);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    clock: VirtualClock,
    deadline: Duration,
    /// The registration's sequence number; `None` once completed.
    seq: Option<u64>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("completed", &self.seq.is_none())
            .finish_non_exhaustive()
    }
}

impl Sleep {
    /// The virtual time at which this sleep completes (`Duration::MAX`: never).
    #[must_use]
    pub const fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(seq) = this.seq else {
            return Poll::Ready(());
        };
        let key = (this.deadline, seq);
        // Whatever is taken out of the map is dropped after the lock is released: dropping
        // a waker may drop a task holding other sleeps, whose `Drop` locks the clock.
        let (ready, _old_waker) = {
            let mut state = this.clock.inner.lock();
            if this.deadline != Duration::MAX && state.now >= this.deadline {
                (true, state.sleeps.remove(&key).flatten())
            } else {
                let slot = state.sleeps.entry(key).or_insert(None);
                match slot {
                    Some(waker) if waker.will_wake(cx.waker()) => (false, None),
                    _ => (false, slot.replace(cx.waker().clone())),
                }
            }
        };
        if ready {
            this.seq = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(seq) = self.seq.take() {
            let removed = self.clock.inner.lock().sleeps.remove(&(self.deadline, seq));
            // Dropped here, after the lock is released (see `poll`).
            drop(removed);
        }
    }
}

/// [`run_virtual`] found the future pending with nothing able to wake it: it was not
/// woken and no virtual sleep can become due (a deadlock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled;

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future is pending, was not woken and no virtual sleep can complete (deadlock)")
    }
}

impl core::error::Error for Stalled {}

crate::error::job_error_from!(Stalled);

/// Records that the driven future was woken.
struct WakeFlag(AtomicBool);

impl ArcWake for WakeFlag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::Release);
    }
}

/// Runs `future` to completion on the current thread under the virtual time of `clock`.
///
/// Polls the future; whenever it is pending and was not woken, advances the clock to the
/// next sleep deadline ([`VirtualClock::advance_to_next`]) and repeats until the future
/// is woken. Time therefore only moves when the future is idle, by exactly the amounts it
/// sleeps: the run is deterministic and takes no real time.
///
/// # Errors
///
/// [`Stalled`] when the future is pending, was not woken, and no sleep can become due by
/// advancing the clock (no pending sleep, or only `Duration::MAX` ones): it would otherwise
/// wait forever.
///
/// # Limits
///
/// * Meant for single-threaded tests: a wake-up that another thread would deliver later
///   (after the future was found idle with no sleep pending) is not waited for, and ends
///   the run with [`Stalled`].
/// * There is no guard against busy loops: a future that wakes itself every time it is
///   polled and never completes makes `run_virtual` spin forever, without advancing the
///   clock.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::runtime::{run_virtual, Stalled, Timer, VirtualClock};
///
/// let clock = VirtualClock::new();
/// assert_eq!(run_virtual(&clock, clock.sleep(Duration::from_secs(5))), Ok(()));
/// assert_eq!(run_virtual(&clock, core::future::pending::<()>()), Err(Stalled));
/// ```
pub fn run_virtual<F: Future>(clock: &VirtualClock, future: F) -> Result<F::Output, Stalled> {
    let flag = Arc::new(WakeFlag(AtomicBool::new(false)));
    let waker = futures_util::task::waker(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        // Idle: advance time until something wakes the future. A wake-up racing with the
        // reset below is not lost: the future is polled again right after.
        while !flag.0.load(Ordering::Acquire) {
            if clock.advance_to_next().is_none() {
                return Err(Stalled);
            }
        }
        flag.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, clippy::indexing_slicing)]

    use super::*;
    use alloc::format;
    use alloc::rc::Rc;
    use alloc::vec;
    use core::cell::RefCell;
    use core::sync::atomic::AtomicUsize;
    use futures::FutureExt;
    use futures::future::poll_fn;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A waker counting its wake-ups.
    struct Counter(AtomicUsize);
    impl ArcWake for Counter {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        let w = futures_util::task::waker(Arc::clone(&c));
        (c, w)
    }

    fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn starts_at_zero() {
        let clock = VirtualClock::new();
        assert_eq!(clock.now(), Duration::ZERO);
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(clock.advance_to_next(), None);
        clock.advance(secs(3));
        assert_eq!(clock.now(), secs(3));
        // Clones share the time.
        let other = clock.clone();
        other.advance(secs(1));
        assert_eq!(clock.now(), secs(4));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), Duration::MAX);
    }

    #[test]
    fn sleep_completes_exactly_at_deadline() {
        let clock = VirtualClock::new();
        let (count, waker) = counter();
        let mut sleep = clock.sleep_virtual(secs(1));
        assert_eq!(sleep.deadline(), secs(1));
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(poll_once(&mut sleep, &waker), Poll::Pending);
        clock.advance(millis(999));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(poll_once(&mut sleep, &waker), Poll::Pending);
        clock.advance(millis(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(clock.pending_sleeps(), 1); // woken, not yet polled
        assert_eq!(poll_once(&mut sleep, &waker), Poll::Ready(()));
        assert_eq!(clock.pending_sleeps(), 0);
        // Fused.
        assert_eq!(poll_once(&mut sleep, &waker), Poll::Ready(()));
        drop(sleep);
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn latest_waker_is_woken() {
        let clock = VirtualClock::new();
        let (first, w1) = counter();
        let (second, w2) = counter();
        let mut sleep = clock.sleep_virtual(secs(1));
        assert!(poll_once(&mut sleep, &w1).is_pending());
        assert!(poll_once(&mut sleep, &w2).is_pending());
        clock.advance(secs(1));
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        // A second advance does not wake it again.
        clock.advance(secs(1));
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn elapsed_deadline_is_ready_immediately() {
        let clock = VirtualClock::new();
        clock.advance(secs(5));
        assert_eq!(clock.sleep_until(secs(2)).now_or_never(), Some(()));
        assert_eq!(clock.sleep_until(secs(5)).now_or_never(), Some(()));
        assert_eq!(clock.sleep_virtual(Duration::ZERO).now_or_never(), Some(()));
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn advance_to_next_in_deadline_order() {
        let clock = VirtualClock::new();
        let (count, waker) = counter();
        let mut s3 = clock.sleep_until(secs(3));
        let mut s1 = clock.sleep_until(secs(1));
        let mut s2a = clock.sleep_until(secs(2));
        let mut s2b = clock.sleep_until(secs(2));
        for s in [&mut s3, &mut s1, &mut s2a, &mut s2b] {
            assert!(poll_once(s, &waker).is_pending());
        }
        assert_eq!(clock.pending_sleeps(), 4);

        assert_eq!(clock.advance_to_next(), Some(secs(1)));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll_once(&mut s1, &waker).is_ready());
        assert!(poll_once(&mut s2a, &waker).is_pending());

        assert_eq!(clock.advance_to_next(), Some(secs(2)));
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert!(poll_once(&mut s2a, &waker).is_ready());
        assert!(poll_once(&mut s3, &waker).is_pending());
        // s2b is due but not polled: advancing goes on to the next future deadline.
        assert_eq!(clock.pending_sleeps(), 2);

        assert_eq!(clock.advance_to_next(), Some(secs(3)));
        assert_eq!(count.0.load(Ordering::SeqCst), 4);
        // Everything left is due: nothing to advance to.
        assert_eq!(clock.advance_to_next(), None);
        assert_eq!(clock.now(), secs(3));
        assert!(poll_once(&mut s3, &waker).is_ready());
        assert!(poll_once(&mut s2b, &waker).is_ready());
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(clock.advance_to_next(), None);
    }

    #[test]
    fn advance_to_next_considers_unpolled_sleeps() {
        let clock = VirtualClock::new();
        let sleep = clock.sleep_virtual(secs(7));
        assert_eq!(clock.advance_to_next(), Some(secs(7)));
        assert_eq!(sleep.now_or_never(), Some(()));
    }

    #[test]
    fn dropped_sleep_is_deregistered() {
        let clock = VirtualClock::new();
        let (count, waker) = counter();
        let mut a = clock.sleep_virtual(secs(1));
        let b = clock.sleep_virtual(secs(2));
        assert!(poll_once(&mut a, &waker).is_pending());
        assert_eq!(clock.pending_sleeps(), 2);
        drop(a);
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(clock.advance_to_next(), Some(secs(2)));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        drop(b);
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(clock.advance_to_next(), None);
    }

    #[test]
    fn run_virtual_sequential_sleeps() {
        let clock = VirtualClock::new();
        let timer = clock.clone();
        let out = run_virtual(&clock, async move {
            timer.sleep(secs(10)).await;
            let mid = timer.now();
            timer.sleep(secs(20)).await;
            (mid, timer.now())
        });
        assert_eq!(out, Ok((secs(10), secs(30))));
        assert_eq!(clock.now(), secs(30));
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn run_virtual_ready_future_does_not_advance() {
        let clock = VirtualClock::new();
        let _other = clock.sleep_virtual(secs(5));
        assert_eq!(run_virtual(&clock, async { 7 }), Ok(7));
        assert_eq!(clock.now(), Duration::ZERO);
    }

    #[test]
    fn run_virtual_pending_is_stalled() {
        let clock = VirtualClock::new();
        assert_eq!(run_virtual(&clock, core::future::pending::<()>()), Err(Stalled));
        assert_eq!(clock.now(), Duration::ZERO);
    }

    #[test]
    fn run_virtual_unrelated_sleeps_then_stalled() {
        // Sleeps nobody waits on are advanced through, then the run stalls.
        let clock = VirtualClock::new();
        let _a = clock.sleep_virtual(secs(1));
        let _b = clock.sleep_virtual(secs(2));
        assert_eq!(run_virtual(&clock, core::future::pending::<()>()), Err(Stalled));
        assert_eq!(clock.now(), secs(2));
    }

    #[test]
    fn run_virtual_abandoned_sleep_does_not_hang() {
        // A sleep polled once, then never again: once it is due, the run stalls.
        let clock = VirtualClock::new();
        let mut sleep = clock.sleep_virtual(secs(1));
        let fut = poll_fn(move |cx| {
            let _ = Pin::new(&mut sleep).poll(cx);
            Poll::<()>::Pending
        });
        let mut polls = 0u32;
        let counted = poll_fn({
            let mut fut = fut;
            move |cx| {
                polls += 1;
                assert!(polls < 100);
                Pin::new(&mut fut).poll(cx)
            }
        });
        assert_eq!(run_virtual(&clock, counted), Err(Stalled));
        assert_eq!(clock.now(), secs(1));
    }

    #[test]
    fn run_virtual_repolls_self_woken_future() {
        let clock = VirtualClock::new();
        let mut yielded = false;
        let fut = poll_fn(move |cx| {
            if yielded {
                Poll::Ready(1)
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        });
        let _far = clock.sleep_virtual(secs(100));
        assert_eq!(run_virtual(&clock, fut), Ok(1));
        assert_eq!(clock.now(), Duration::ZERO);
    }

    #[test]
    fn join_completes_in_deadline_order() {
        let clock = VirtualClock::new();
        let log = Rc::new(RefCell::new(vec![]));
        let slow = {
            let (clock, log) = (clock.clone(), Rc::clone(&log));
            async move {
                clock.sleep(secs(20)).await;
                log.borrow_mut().push(("slow", clock.now()));
            }
        };
        let fast = {
            let (clock, log) = (clock.clone(), Rc::clone(&log));
            async move {
                clock.sleep(secs(10)).await;
                log.borrow_mut().push(("fast", clock.now()));
            }
        };
        assert_eq!(run_virtual(&clock, futures::future::join(slow, fast)), Ok(((), ())));
        assert_eq!(*log.borrow(), [("fast", secs(10)), ("slow", secs(20))]);
        assert_eq!(clock.now(), secs(20));
    }

    #[test]
    fn max_sleep_never_completes() {
        let clock = VirtualClock::new();
        let (count, waker) = counter();
        let mut sleep = clock.sleep_virtual(Duration::MAX);
        assert_eq!(sleep.deadline(), Duration::MAX);
        assert!(poll_once(&mut sleep, &waker).is_pending());
        assert_eq!(clock.advance_to_next(), None);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), Duration::MAX);
        assert!(poll_once(&mut sleep, &waker).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(clock.pending_sleeps(), 1);
        drop(sleep);
        assert_eq!(clock.pending_sleeps(), 0);

        // Overflowing deadlines saturate to "never".
        let clock = VirtualClock::new();
        clock.advance(secs(1));
        let overflow = clock.sleep_virtual(Duration::MAX);
        assert_eq!(overflow.deadline(), Duration::MAX);
        drop(overflow);

        let clock = VirtualClock::new();
        assert_eq!(run_virtual(&clock, clock.sleep(Duration::MAX)), Err(Stalled));
        assert_eq!(clock.pending_sleeps(), 0);
        assert_eq!(clock.now(), Duration::ZERO);
        let timer = clock.clone();
        let out = run_virtual(&clock, async move {
            timer.sleep(secs(1)).await;
            timer.sleep(Duration::MAX).await;
        });
        assert_eq!(out, Err(Stalled));
        assert_eq!(clock.now(), secs(1));
    }

    #[test]
    fn wakers_may_call_back_into_the_clock() {
        struct Reentrant(VirtualClock, AtomicUsize);
        impl ArcWake for Reentrant {
            fn wake_by_ref(arc_self: &Arc<Self>) {
                // Would deadlock if the clock woke wakers under its lock.
                let _ = arc_self.0.pending_sleeps();
                let _ = arc_self.0.now();
                arc_self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let clock = VirtualClock::new();
        let r = Arc::new(Reentrant(clock.clone(), AtomicUsize::new(0)));
        let waker = futures_util::task::waker(Arc::clone(&r));
        let mut sleep = clock.sleep_virtual(secs(1));
        assert!(poll_once(&mut sleep, &waker).is_pending());
        drop(waker);
        assert_eq!(clock.advance_to_next(), Some(secs(1)));
        assert_eq!(r.1.load(Ordering::SeqCst), 1);
        assert!(sleep.now_or_never().is_some());
    }

    #[test]
    fn dropping_last_waker_holding_sleeps_does_not_deadlock() {
        // The waker owns another sleep: dropping the waker (when replaced or removed)
        // drops that sleep, which locks the clock.
        struct Owner {
            _sleep: Mutex<Option<Sleep>>,
        }
        impl ArcWake for Owner {
            fn wake_by_ref(_: &Arc<Self>) {}
        }
        let clock = VirtualClock::new();
        let owner = Arc::new(Owner { _sleep: Mutex::new(Some(clock.sleep_virtual(secs(9)))) });
        let waker = futures_util::task::waker(owner);
        let mut sleep = clock.sleep_virtual(secs(1));
        assert!(poll_once(&mut sleep, &waker).is_pending());
        drop(waker); // the clock now holds the only reference
        assert_eq!(clock.pending_sleeps(), 2);
        let (_c, other) = counter();
        assert!(poll_once(&mut sleep, &other).is_pending()); // replaces (drops) the old waker
        assert_eq!(clock.pending_sleeps(), 1);
    }

    #[test]
    fn timer_trait_object_and_thread_safety() {
        let clock = VirtualClock::new();
        let timer: Arc<dyn Timer> = Arc::new(clock.clone());
        let fut = timer.sleep(secs(2));
        assert_eq!(clock.pending_sleeps(), 1);
        assert_eq!(run_virtual(&clock, fut), Ok(()));
        assert_eq!(timer.now(), secs(2));

        #[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
        {
            fn assert_send_sync<T: Send + Sync>() {}
            assert_send_sync::<VirtualClock>();
            assert_send_sync::<Sleep>();
        }
    }

    #[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
    #[test]
    fn advanced_from_another_thread() {
        extern crate std;
        let clock = VirtualClock::new();
        let sleep = clock.sleep(secs(5));
        let advancer = clock.clone();
        let thread = std::thread::spawn(move || {
            while advancer.advance_to_next().is_none() {
                std::thread::yield_now();
            }
        });
        futures::executor::block_on(sleep);
        thread.join().unwrap();
        assert_eq!(clock.now(), secs(5));
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[test]
    fn debug_and_display() {
        let clock = VirtualClock::new();
        let sleep = clock.sleep_virtual(secs(1));
        let s = format!("{clock:?}");
        assert!(s.contains("pending_sleeps: 1"), "{s}");
        let s = format!("{sleep:?}");
        assert!(s.contains("completed: false"), "{s}");
        assert!(format!("{Stalled}").contains("deadlock"));
        let _: &dyn core::error::Error = &Stalled;
    }
}
