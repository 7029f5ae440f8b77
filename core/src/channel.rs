//! The broadcast-channel traits a [`Bus`](crate::Bus) runs on.
//!
//! A bus made with [`Bus::new`](crate::Bus::new) or
//! [`Bus::with_capacity`](crate::Bus::with_capacity) uses the crate's own ring (one shared
//! ring buffer with a cursor per receiver, built for the bus). Any other channel that
//! implements [`BroadcastChannel`] for `Arc<Event>` can carry a bus instead, through
//! [`Bus::with_channel`](crate::Bus::with_channel): `orchestrator-std` ships one over
//! tokio's `broadcast` (`orchestrator_std::tokio::TokioBroadcast`), and a bridge to a
//! message broker would be one more.
//!
//! # The contract
//!
//! The bus and the orchestrators rely on these, and the repository's bus conformance
//! suite (tests/src/bus_conformance.rs) checks them for every implementation it knows:
//!
//! * **Every receiver gets every value, in one order.** A value sent reaches every
//!   receiver subscribed before the send and none subscribed after it, and all receivers
//!   see the values in the same order.
//! * **Lag is a value, not a loss without trace.** A receiver that falls more than
//!   [`capacity`](BroadcastChannel::capacity) values behind receives [`Lagged(n)`](crate::Lagged)
//!   once, `n` being exactly the number of values it missed, then continues with the
//!   oldest value still retained. Other receivers are unaffected.
//! * **Closing drains, then ends.** After [`close`](BroadcastChannel::close) (or once every
//!   handle to the channel is dropped), sends and subscribes fail with [`BusClosed`](crate::BusClosed); every
//!   receiver still gets the values already sent to it, then its stream ends (`None`, and
//!   [`TryNextError::Closed`](crate::TryNextError::Closed) from
//!   [`try_recv`](BroadcastReceiver::try_recv)).
//! * **Nobody listening costs nothing.** A send with no receiver returns `Ok(0)` and keeps
//!   nothing; [`send_with`](BroadcastChannel::send_with) then does not build the value.
//! * **No panics.** A bus reaches its channel from runners and orchestrator hosts; an
//!   implementation must not panic (with `std` the bus catches a panic of a channel given
//!   to [`Bus::with_channel`](crate::Bus::with_channel), reports it on standard error and
//!   treats the channel as closed from then on).

pub(crate) mod error;
pub(crate) mod ring;

pub(crate) use error::{Closed, Lagged, TryRecvError};

use futures_core::Stream;

/// A bounded broadcast channel: every value sent goes to every current receiver. See the
/// [module docs](self) for the contract an implementation keeps.
///
/// A handle is shared (`&self` everywhere): a bus clones no channel, it keeps one behind
/// an `Arc`. The channel closes when [`close`](Self::close) is called or when it is
/// dropped.
///
/// A channel that counts what it carries, over a bus (any other channel is wrapped the
/// same way):
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use orchestrator_core::channel::BroadcastChannel;
/// use orchestrator_core::{Bus, BusClosed, Event, Subscription};
///
/// #[derive(Default)]
/// struct Counted { inner: Bus, sent: AtomicU64 }
///
/// impl BroadcastChannel<Arc<Event>> for Counted {
///     type Receiver = Subscription;
///
///     fn send(&self, event: Arc<Event>) -> Result<usize, BusClosed> {
///         self.sent.fetch_add(1, Ordering::Relaxed);
///         self.inner.emit_shared(event)
///     }
///     fn subscribe(&self) -> Result<Subscription, BusClosed> { self.inner.subscribe() }
///     fn close(&self) -> bool { self.inner.close() }
///     fn is_closed(&self) -> bool { self.inner.is_closed() }
///     fn receiver_count(&self) -> usize { self.inner.subscriber_count() }
///     fn capacity(&self) -> usize { self.inner.capacity() }
/// }
///
/// let counted = Arc::new(Counted::default());
/// let bus = Bus::with_channel(Arc::clone(&counted));
/// let _listener = bus.subscribe().unwrap();
/// assert_eq!(bus.emit(Event::custom("ping", ())), Ok(1));
/// assert_eq!(counted.sent.load(Ordering::Relaxed), 1);
/// ```
pub trait BroadcastChannel<T> {
    /// The receiving half, made by [`subscribe`](Self::subscribe).
    type Receiver: BroadcastReceiver<T>;

    /// Sends `value` to every current receiver and returns how many will see it. With
    /// `Ok(0)` nobody listens: the value was dropped and nothing is kept.
    ///
    /// # Errors
    ///
    /// [`BusClosed`](crate::BusClosed) when the channel is closed (the value is dropped).
    fn send(&self, value: T) -> Result<usize, Closed>;

    /// Like [`send`](Self::send), but builds the value only when somebody listens: on a
    /// closed channel or one without receivers, `make` is not called.
    ///
    /// The default asks [`is_closed`](Self::is_closed) and
    /// [`receiver_count`](Self::receiver_count) first; a channel that can answer both in
    /// one step overrides it. (A [`Bus`](crate::Bus) over a custom channel does the same
    /// by itself: it asks those two, builds the event, then calls [`send`](Self::send).)
    ///
    /// ```
    /// use orchestrator_core::BusClosed;
    /// use orchestrator_core::channel::BroadcastChannel;
    ///
    /// /// Sends a report that is expensive to build, only to an audience.
    /// fn report<C: BroadcastChannel<String>>(channel: &C) -> Result<usize, BusClosed> {
    ///     channel.send_with(|| format!("{} listeners", channel.receiver_count()))
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`BusClosed`](crate::BusClosed) when the channel is closed (`make` is not called
    /// then either).
    fn send_with(&self, make: impl FnOnce() -> T) -> Result<usize, Closed>
    where
        Self: Sized,
    {
        if self.is_closed() {
            return Err(Closed);
        }
        if self.receiver_count() == 0 {
            return Ok(0);
        }
        self.send(make())
    }

    /// A new receiver that sees every value sent after this call.
    ///
    /// # Errors
    ///
    /// [`BusClosed`](crate::BusClosed) when the channel is closed.
    fn subscribe(&self) -> Result<Self::Receiver, Closed>;

    /// Closes the channel: later sends and subscribes fail, and every receiver ends after
    /// the values already sent to it. Returns `true` if this call closed it, `false` if it
    /// was closed already.
    fn close(&self) -> bool;

    /// Whether the channel is closed.
    fn is_closed(&self) -> bool;

    /// The number of live receivers.
    fn receiver_count(&self) -> usize;

    /// How many values the channel retains for a slow receiver before it lags.
    fn capacity(&self) -> usize;
}

/// The receiving half of a [`BroadcastChannel`]: a [`Stream`] of `Ok(value)` and
/// `Err(Lagged(n))` that ends once the channel is closed and this receiver has received
/// every value sent to it.
///
/// ```
/// use futures::StreamExt;
/// use orchestrator_core::channel::BroadcastReceiver;
/// use orchestrator_core::TryNextError;
///
/// /// Everything ready now, and how many values were lost.
/// fn drain<T, R: BroadcastReceiver<T>>(receiver: &mut R) -> (Vec<T>, u64) {
///     let (mut values, mut lost) = (Vec::new(), 0);
///     loop {
///         match receiver.try_recv() {
///             Ok(value) => values.push(value),
///             Err(TryNextError::Lagged(n)) => lost += n,
///             Err(TryNextError::Empty | TryNextError::Closed) => return (values, lost),
///         }
///     }
/// }
///
/// let bus = orchestrator_core::Bus::new();
/// let mut sub = bus.subscribe().unwrap();
/// bus.emit(orchestrator_core::Event::custom("ping", ())).unwrap();
/// let (events, lost) = drain(&mut sub);
/// assert_eq!((events.len(), lost), (1, 0));
/// ```
pub trait BroadcastReceiver<T>: Stream<Item = Result<T, Lagged>> + Unpin {
    /// The next value if one is ready, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryNextError::Empty`](crate::TryNextError::Empty) when nothing is ready,
    /// [`TryNextError::Lagged`](crate::TryNextError::Lagged) once after this receiver missed
    /// values, [`TryNextError::Closed`](crate::TryNextError::Closed) once the channel is closed
    /// and every value sent to this receiver was received.
    fn try_recv(&mut self) -> Result<T, TryRecvError>;
}

/// A shared channel is a channel: keep one handle to look at it, give another to
/// [`Bus::with_channel`](crate::Bus::with_channel) (see the [`BroadcastChannel`] example).
impl<T, C: BroadcastChannel<T>> BroadcastChannel<T> for crate::sync::Arc<C> {
    type Receiver = C::Receiver;

    fn send(&self, value: T) -> Result<usize, Closed> {
        C::send(self, value)
    }

    fn send_with(&self, make: impl FnOnce() -> T) -> Result<usize, Closed> {
        C::send_with(self, make)
    }

    fn subscribe(&self) -> Result<C::Receiver, Closed> {
        C::subscribe(self)
    }

    fn close(&self) -> bool {
        C::close(self)
    }

    fn is_closed(&self) -> bool {
        C::is_closed(self)
    }

    fn receiver_count(&self) -> usize {
        C::receiver_count(self)
    }

    fn capacity(&self) -> usize {
        C::capacity(self)
    }
}
