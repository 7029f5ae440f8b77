//! The panic guard around a channel given to [`Bus::with_channel`](super::Bus::with_channel).
//!
//! A bus is used from runners and orchestrator hosts, outside the guards of executors and
//! hooks: a channel that panicked there would end a runner or a host and leave its jobs
//! unfinished. So with `std` every call into a custom channel is caught. The first panic
//! breaks the channel for good: it is closed (if its `close` still works), every later
//! call answers as on a closed channel (emits fail with `BusClosed`, subscribing fails,
//! subscriptions end once they have nothing ready), and one line on standard error says
//! what happened. The closure that builds an event (`Bus::emit_with`'s) runs outside the
//! guard, between the two calls of an emit (see `BusChannel::send_with`): its panic is the
//! caller's, as on the ring.
//!
//! Without `std` nothing can be caught and the guard only forwards.

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Weak};
use alloc::boxed::Box;
use core::any::Any;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::channel::{DynChannel, DynReceiver};
use crate::channel::{BroadcastChannel, BroadcastReceiver, Closed, Lagged, TryRecvError};
use crate::event::Event;
use crate::sync::{MaybeSend, MaybeSync, Mutex, catch_panic, drop_payload};
use crate::waker_slots::{WakeBatch, WakerSlots};

/// A custom channel, its broken flag, and the watches of its close.
pub(super) struct Guarded<C> {
    channel: C,
    broken: Arc<Broken>,
    closing: Arc<CloseSignal>,
}

/// What wakes the [`CloseWatch`]es of a custom channel. A channel of the trait has no way
/// to wake somebody who does not receive from it, so the bus signals the closes it sees:
/// [`Bus::close`](super::Bus::close), its last handle dropped, the channel broken. A close
/// of the channel behind the bus's back is seen by a watch only when it is polled (its
/// subscriptions end as usual).
#[derive(Default)]
struct CloseSignal {
    closed: AtomicBool,
    watchers: Mutex<WakerSlots>,
}

/// Woken when a custom channel closes (see [`CloseSignal`]).
pub(crate) struct CloseWatch {
    signal: Arc<CloseSignal>,
    /// The channel, to ask whether it was closed behind the bus's back; not kept alive.
    channel: Weak<dyn DynChannel>,
    id: usize,
}

impl CloseSignal {
    fn fire(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut wakers = WakeBatch::new();
        self.watchers.lock().take_all(&mut wakers);
        wakers.wake_all();
    }
}

impl CloseWatch {
    /// `Ready` once the channel is closed; else registers the waker for the close.
    pub(super) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let closed = || {
            self.signal.closed.load(Ordering::Acquire)
                || self.channel.upgrade().is_none_or(|channel| channel.is_closed())
        };
        if closed() {
            return Poll::Ready(());
        }
        self.signal.watchers.lock().register(self.id, cx.waker());
        // A close between the check and the registration took the wakers without this one.
        if closed() { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for CloseWatch {
    fn drop(&mut self) {
        self.signal.watchers.lock().remove(self.id);
    }
}

impl<C> Drop for Guarded<C> {
    fn drop(&mut self) {
        // The bus's last handle is gone, and the channel with it (as far as the bus knows).
        self.closing.fire();
    }
}

/// A receiver of a [`Guarded`] channel.
struct GuardedReceiver<R> {
    receiver: R,
    broken: Arc<Broken>,
    /// The stream ended: it is not polled again (a stream polled after its end may panic).
    ended: bool,
}

/// Set by the first panic inside a channel or one of its receivers.
#[derive(Default)]
struct Broken(AtomicBool);

impl Broken {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the channel broken; reports the first panic on standard error.
    fn set(&self, payload: Box<dyn Any + Send>) {
        let first = !self.0.swap(true, Ordering::AcqRel);
        if first {
            report(&payload);
        }
        drop_payload(payload);
    }
}

#[cfg(feature = "std")]
fn report(payload: &Box<dyn Any + Send>) {
    let message = crate::error::panic_message(&**payload);
    std::eprintln!(
        "[ERROR] orchestrator: the bus's channel panicked ({message}); the bus treats it as closed from now on: \
         emits fail with BusClosed and subscriptions end"
    );
}

#[cfg(not(feature = "std"))]
fn report(_payload: &Box<dyn Any + Send>) {}

impl<C: BroadcastChannel<Arc<Event>>> Guarded<C> {
    pub(super) fn new(channel: C) -> Self {
        Self { channel, broken: Arc::default(), closing: Arc::default() }
    }

    /// Runs `call` on the channel; `None` when it panicked, which breaks the channel.
    fn guard<R>(&self, call: impl FnOnce(&C) -> R) -> Option<R> {
        if self.broken.is_set() {
            return None;
        }
        match catch_panic(|| call(&self.channel)) {
            Ok(value) => Some(value),
            Err(payload) => {
                self.broken.set(payload);
                // Ends the receivers that are waiting, if the channel can still close.
                let _ = catch_panic(|| self.channel.close()).map_err(drop_payload);
                self.closing.fire();
                None
            }
        }
    }
}

impl<C> DynChannel for Guarded<C>
where
    C: BroadcastChannel<Arc<Event>> + MaybeSend + MaybeSync + 'static,
    C::Receiver: MaybeSend + MaybeSync + 'static,
{
    fn listening(&self) -> Result<bool, Closed> {
        match self.guard(|channel| (channel.is_closed(), channel.receiver_count())) {
            Some((false, receivers)) => Ok(receivers > 0),
            Some((true, _)) | None => Err(Closed),
        }
    }

    fn send(&self, event: Arc<Event>) -> Result<usize, Closed> {
        self.guard(|channel| channel.send(event)).unwrap_or(Err(Closed))
    }

    fn subscribe(&self) -> Result<Box<dyn DynReceiver>, Closed> {
        let receiver = self.guard(BroadcastChannel::subscribe).unwrap_or(Err(Closed))?;
        Ok(Box::new(GuardedReceiver { receiver, broken: Arc::clone(&self.broken), ended: false }))
    }

    fn close(&self) -> bool {
        let closed = self.guard(BroadcastChannel::close).unwrap_or(false);
        self.closing.fire();
        closed
    }

    fn is_closed(&self) -> bool {
        self.guard(BroadcastChannel::is_closed).unwrap_or(true)
    }

    fn receiver_count(&self) -> usize {
        self.guard(BroadcastChannel::receiver_count).unwrap_or(0)
    }

    fn capacity(&self) -> usize {
        self.guard(BroadcastChannel::capacity).unwrap_or(0)
    }

    fn watch_close(&self, this: &Arc<dyn DynChannel>) -> CloseWatch {
        let id = self.closing.watchers.lock().add();
        let signal = Arc::clone(&self.closing);
        CloseWatch { signal, channel: Arc::downgrade(this), id }
    }
}

impl<R: BroadcastReceiver<Arc<Event>>> GuardedReceiver<R> {
    /// Runs `call` on the receiver and ends the stream if it panicked; a receiver of a
    /// broken channel also ends once it has nothing ready.
    fn guard<V>(&mut self, call: impl FnOnce(&mut R) -> V, nothing_ready: impl Fn(&V) -> bool) -> Option<V> {
        if self.ended {
            return None;
        }
        match catch_panic(|| call(&mut self.receiver)) {
            Ok(value) if nothing_ready(&value) && self.broken.is_set() => {
                self.ended = true;
                None
            }
            Ok(value) => Some(value),
            Err(payload) => {
                self.broken.set(payload);
                self.ended = true;
                None
            }
        }
    }
}

impl<R> DynReceiver for GuardedReceiver<R>
where
    R: BroadcastReceiver<Arc<Event>> + MaybeSend + MaybeSync,
{
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Arc<Event>, Lagged>>> {
        let polled = self.guard(|receiver| Pin::new(receiver).poll_next(cx), Poll::is_pending);
        match polled {
            Some(Poll::Ready(None)) | None => {
                self.ended = true;
                Poll::Ready(None)
            }
            Some(poll) => poll,
        }
    }

    fn try_recv(&mut self) -> Result<Arc<Event>, TryRecvError> {
        let received = self.guard(BroadcastReceiver::try_recv, |r| matches!(r, Err(TryRecvError::Empty)));
        match received {
            Some(Err(TryRecvError::Closed)) | None => {
                self.ended = true;
                Err(TryRecvError::Closed)
            }
            Some(received) => received,
        }
    }
}

#[cfg(all(test, feature = "std", panic = "unwind"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use alloc::vec::Vec;
    use core::sync::atomic::AtomicBool;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use futures_core::Stream;
    use futures_util::StreamExt;

    use super::*;
    use crate::{Bus, Subscription};

    /// Where a [`Faulty`] channel panics.
    #[derive(Default)]
    struct Faults {
        send: AtomicBool,
        poll: AtomicBool,
    }

    /// A channel over a ring bus that panics where its [`Faults`] say.
    struct Faulty {
        inner: Bus,
        faults: Arc<Faults>,
    }

    struct FaultyReceiver {
        inner: Subscription,
        faults: Arc<Faults>,
    }

    impl BroadcastChannel<Arc<Event>> for Faulty {
        type Receiver = FaultyReceiver;

        fn send(&self, event: Arc<Event>) -> Result<usize, Closed> {
            assert!(!self.faults.send.load(Ordering::SeqCst), "send fault");
            self.inner.emit_shared(event)
        }
        fn subscribe(&self) -> Result<FaultyReceiver, Closed> {
            Ok(FaultyReceiver { inner: self.inner.subscribe()?, faults: Arc::clone(&self.faults) })
        }
        fn close(&self) -> bool {
            self.inner.close()
        }
        fn is_closed(&self) -> bool {
            self.inner.is_closed()
        }
        fn receiver_count(&self) -> usize {
            self.inner.subscriber_count()
        }
        fn capacity(&self) -> usize {
            self.inner.capacity()
        }
    }

    impl Stream for FaultyReceiver {
        type Item = Result<Arc<Event>, Lagged>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            assert!(!self.faults.poll.load(Ordering::SeqCst), "poll fault");
            self.inner.poll_next_unpin(cx)
        }
    }

    impl BroadcastReceiver<Arc<Event>> for FaultyReceiver {
        fn try_recv(&mut self) -> Result<Arc<Event>, TryRecvError> {
            assert!(!self.faults.poll.load(Ordering::SeqCst), "poll fault");
            self.inner.try_next()
        }
    }

    fn faulty() -> (Bus, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        (Bus::with_channel(Faulty { inner: Bus::new(), faults: Arc::clone(&faults) }), faults)
    }

    fn names(sub: &mut Subscription) -> Vec<&'static str> {
        core::iter::from_fn(|| sub.try_next().ok()).map(|e| e.job_type()).collect()
    }

    #[test]
    fn a_channel_that_panics_on_send_is_closed_from_then_on() {
        let (bus, faults) = faulty();
        let mut sub = bus.subscribe().unwrap();
        assert_eq!(bus.emit(Event::custom("before", ())), Ok(1));
        faults.send.store(true, Ordering::SeqCst);
        assert_eq!(bus.emit(Event::custom("lost", ())), Err(Closed), "the emit says it failed");
        faults.send.store(false, Ordering::SeqCst);
        assert!(bus.is_closed());
        assert_eq!(bus.emit(Event::custom("after", ())), Err(Closed), "still broken");
        assert!(bus.subscribe().is_err());
        assert_eq!(names(&mut sub), ["before"], "what was sent is still delivered");
        assert!(futures::executor::block_on(sub.next()).is_none(), "then the subscription ends");
    }

    #[test]
    fn a_panic_of_the_event_builder_is_the_callers() {
        let (bus, _faults) = faulty();
        let mut sub = bus.subscribe().unwrap();
        let caught = catch_unwind(AssertUnwindSafe(|| bus.emit_with(|| panic!("the caller's own"))));
        let message = crate::error::panic_message(&*caught.unwrap_err());
        assert_eq!(message, "the caller's own");
        assert!(!bus.is_closed(), "the channel did not panic");
        assert_eq!(bus.emit(Event::custom("next", ())), Ok(1));
        assert_eq!(names(&mut sub), ["next"]);
    }

    #[test]
    fn a_receiver_that_panics_ends_and_breaks_the_channel() {
        let (bus, faults) = faulty();
        let mut sub = bus.subscribe().unwrap();
        let mut other = bus.subscribe().unwrap();
        assert_eq!(bus.emit(Event::custom("first", ())), Ok(2));
        faults.poll.store(true, Ordering::SeqCst);
        assert!(futures::executor::block_on(sub.next()).is_none(), "the panic ends the stream");
        faults.poll.store(false, Ordering::SeqCst);
        assert!(futures::executor::block_on(sub.next()).is_none(), "for good");
        assert_eq!(sub.try_next().unwrap_err(), TryRecvError::Closed);
        assert!(bus.is_closed());
        assert_eq!(names(&mut other), ["first"], "the others drain, then end");
        assert_eq!(other.try_next().unwrap_err(), TryRecvError::Closed);
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountWaker(core::sync::atomic::AtomicUsize);

    impl alloc::task::Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_close_watch_is_woken_by_the_close_the_last_handle_and_a_break() {
        let count = Arc::new(CountWaker::default());
        let waker = core::task::Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let woken = || count.0.load(Ordering::SeqCst);

        let (bus, _faults) = faulty();
        let watch = bus.watch_close();
        assert!(watch.poll_closed(&mut cx).is_pending());
        assert_eq!(bus.emit(Event::custom("x", ())), Ok(0));
        assert_eq!(woken(), 0, "an event does not wake it");
        assert!(bus.close());
        assert_eq!(woken(), 1, "the close does");
        assert!(watch.poll_closed(&mut cx).is_ready());

        let (bus, _faults) = faulty();
        let watch = bus.watch_close();
        assert!(watch.poll_closed(&mut cx).is_pending());
        drop(bus);
        assert_eq!(woken(), 2, "so does dropping the bus's last handle");
        assert!(watch.poll_closed(&mut cx).is_ready());

        let (bus, faults) = faulty();
        let _listener = bus.subscribe().unwrap();
        let watch = bus.watch_close();
        assert!(watch.poll_closed(&mut cx).is_pending());
        faults.send.store(true, Ordering::SeqCst);
        assert_eq!(bus.emit(Event::custom("x", ())), Err(Closed));
        assert_eq!(woken(), 3, "and the channel breaking");
        assert!(watch.poll_closed(&mut cx).is_ready());
    }
}
