//! The event [`Bus`]: a broadcast of [`Event`]s to every [`Subscription`].
//!
//! A bus is a cheap handle (clone it freely); "scoped" buses are just other `Bus` values
//! created with [`Bus::new`]; nothing is global. Delivery is ordered: every subscriber
//! present when an event is emitted receives it, in emit order. Memory is bounded by the
//! bus capacity: a subscriber that falls more than `capacity` events behind receives
//! `Err(Lagged(n))` with the exact number it missed, then continues, while the others are
//! unaffected.
//!
//! ```
//! use orchestrator_core::{Bus, Event};
//! use futures::StreamExt;
//!
//! let bus = Bus::new();
//! let mut sub = bus.subscribe().unwrap();
//! assert_eq!(bus.emit(Event::custom("ping", ())), Ok(1));
//! let ev = futures::executor::block_on(sub.next()).unwrap().unwrap();
//! assert_eq!(ev.job_type(), "ping");
//!
//! bus.close();
//! assert!(bus.emit(Event::custom("ping", ())).is_err()); // says so, does nothing
//! assert!(futures::executor::block_on(sub.next()).is_none()); // subscriptions end
//! ```

use crate::sync::Arc;
use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;

mod channel;
mod guarded;

use self::channel::{BusChannel, BusReceiver};
pub use crate::channel::error::{Closed as BusClosed, Lagged, TryRecvError as TryNextError};
use crate::channel::ring;
use crate::channel::{BroadcastChannel, BroadcastReceiver};
use crate::event::Event;
use crate::route::Route;
use crate::sync::{MaybeSend, MaybeSync};

/// Default number of events a bus retains for slow subscribers.
pub const DEFAULT_BUS_CAPACITY: usize = 1024;

/// The largest capacity [`Bus::with_capacity`] accepts: 2^20 (1 048 576) events.
///
/// A bus allocates its whole ring when it is created: one slot per event of capacity,
/// 24 bytes each on a 64-bit target (16 on a 32-bit one), so this maximum costs 24 MiB
/// at once, whether or not anybody ever lags. The capacity is only the slack a slow
/// subscriber gets before it loses events ([`Lagged`]); a subscriber that needs more
/// than a million events of slack should drain faster or queue the events itself.
pub const MAX_BUS_CAPACITY: usize = 1 << 20;

/// Why [`Bus::with_capacity`] refused a capacity. Either way nothing stays allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusCapacityError {
    /// The capacity is above [`MAX_BUS_CAPACITY`].
    TooLarge {
        /// The capacity asked for.
        requested: usize,
        /// [`MAX_BUS_CAPACITY`].
        max: usize,
    },
    /// The allocator could not provide the ring's slots (a small heap).
    OutOfMemory {
        /// The capacity asked for.
        requested: usize,
    },
}

impl fmt::Display for BusCapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { requested, max } => {
                write!(f, "bus capacity {requested} is above the maximum of {max} events")
            }
            Self::OutOfMemory { requested } => {
                write!(f, "could not allocate a bus of {requested} events")
            }
        }
    }
}

impl core::error::Error for BusCapacityError {}

crate::error::job_error_from!(BusCapacityError);

/// The event [`Bus`]: a broadcast of [`Event`]s to every [`Subscription`].
///
/// A bus is a cheap handle (clone it freely); "scoped" buses are just other `Bus` values
/// created with [`Bus::new`]; nothing is global. Delivery is ordered: every subscriber
/// present when an event is emitted receives it, in emit order. Memory is bounded by the
/// bus capacity: a subscriber that falls more than `capacity` events behind receives
/// `Err(Lagged(n))` with the exact number it missed, then continues, while the others are
/// unaffected.
///
/// ```
/// use orchestrator_core::{Bus, Event};
/// use futures::StreamExt;
///
/// let bus = Bus::new();
/// let mut sub = bus.subscribe().unwrap();
/// assert_eq!(bus.emit(Event::custom("ping", ())), Ok(1));
/// let ev = futures::executor::block_on(sub.next()).unwrap().unwrap();
/// assert_eq!(ev.job_type(), "ping");
///
/// bus.close();
/// assert!(bus.emit(Event::custom("ping", ())).is_err()); // says so, does nothing
/// assert!(futures::executor::block_on(sub.next()).is_none()); // subscriptions end
/// ```
///
/// A handle also carries a causal depth, which it stamps on what it emits (see
/// [`Event::causal_depth`]): the handle an orchestrator's hook gets from its
/// [`Context`](crate::Context) carries the depth of the hook's event plus one, and so do
/// its clones. Other handles carry 0 and leave events as they are.
#[derive(Clone)]
pub struct Bus {
    tx: BusChannel,
    /// The least causal depth of the events emitted through this handle.
    cause: u32,
    /// The orchestrator host this handle's events are also delivered to directly (the
    /// handle of a job dispatched through the host's context).
    route: Option<Arc<Route>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("capacity", &self.tx.capacity())
            .field("subscribers", &self.tx.receiver_count())
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl Bus {
    /// A new, independent bus with [`DEFAULT_BUS_CAPACITY`].
    pub fn new() -> Self {
        let ring = ring::small_ring(NonZeroUsize::new(DEFAULT_BUS_CAPACITY).unwrap_or(NonZeroUsize::MIN));
        Self { tx: BusChannel::Ring(ring), cause: 0, route: None }
    }

    /// A new, independent bus that retains up to `capacity` events for slow subscribers,
    /// at most [`MAX_BUS_CAPACITY`]. The ring of `capacity` slots is allocated here.
    ///
    /// ```
    /// use core::num::NonZeroUsize;
    /// use orchestrator_core::{Bus, BusCapacityError, MAX_BUS_CAPACITY};
    ///
    /// let bus = Bus::with_capacity(NonZeroUsize::new(32).unwrap()).unwrap();
    /// assert_eq!(bus.capacity(), 32);
    ///
    /// let err = Bus::with_capacity(NonZeroUsize::MAX).unwrap_err();
    /// assert_eq!(err, BusCapacityError::TooLarge { requested: usize::MAX, max: MAX_BUS_CAPACITY });
    /// ```
    ///
    /// # Errors
    ///
    /// [`BusCapacityError::TooLarge`] above [`MAX_BUS_CAPACITY`] (nothing is allocated),
    /// [`BusCapacityError::OutOfMemory`] when the heap cannot hold the ring.
    pub fn with_capacity(capacity: NonZeroUsize) -> Result<Self, BusCapacityError> {
        let requested = capacity.get();
        if requested > MAX_BUS_CAPACITY {
            return Err(BusCapacityError::TooLarge { requested, max: MAX_BUS_CAPACITY });
        }
        let ring = ring::ring(capacity).map_err(|_| BusCapacityError::OutOfMemory { requested })?;
        Ok(Self { tx: BusChannel::Ring(ring), cause: 0, route: None })
    }

    /// A new, independent bus over `channel` instead of the built-in ring: any
    /// [`BroadcastChannel`] of `Arc<Event>` that keeps the
    /// [channel contract](crate::channel#the-contract), such as tokio's `broadcast`
    /// through `orchestrator_std::tokio::TokioBroadcast`.
    ///
    /// The bus is used exactly as any other: dispatchers, orchestrators and job contexts
    /// take it unchanged. Each call on it is a virtual call into `channel` (the built-in
    /// ring is called directly); an emit makes two when somebody listens: it asks
    /// [`is_closed`](BroadcastChannel::is_closed) and
    /// [`receiver_count`](BroadcastChannel::receiver_count), builds the event only if
    /// needed, then [`send`](BroadcastChannel::send)s it. [`capacity`](Self::capacity),
    /// [`subscriber_count`](Self::subscriber_count) and [`close`](Self::close) are the
    /// channel's; clones of the bus share it, and [`same_bus`](Self::same_bus) is true for
    /// them only (two `with_channel` calls make two buses, even over one channel).
    ///
    /// With `std` a panic inside `channel` is caught: it is reported on standard error
    /// and the bus treats the channel as closed from then on. The channel should not
    /// panic, though: an event being sent then is lost.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use orchestrator_core::channel::BroadcastChannel;
    /// use orchestrator_core::{Bus, BusClosed, Event, Subscription};
    /// use futures::StreamExt;
    ///
    /// /// A channel that refuses events of one name and forwards the rest to a bus.
    /// struct Filtered { inner: Bus, refuse: &'static str }
    ///
    /// impl BroadcastChannel<Arc<Event>> for Filtered {
    ///     type Receiver = Subscription;
    ///     fn send(&self, event: Arc<Event>) -> Result<usize, BusClosed> {
    ///         if event.job_type() == self.refuse { return Ok(0); }
    ///         self.inner.emit_shared(event)
    ///     }
    ///     fn subscribe(&self) -> Result<Subscription, BusClosed> { self.inner.subscribe() }
    ///     fn close(&self) -> bool { self.inner.close() }
    ///     fn is_closed(&self) -> bool { self.inner.is_closed() }
    ///     fn receiver_count(&self) -> usize { self.inner.subscriber_count() }
    ///     fn capacity(&self) -> usize { self.inner.capacity() }
    /// }
    ///
    /// let bus = Bus::with_channel(Filtered { inner: Bus::new(), refuse: "noise" });
    /// let mut events = bus.subscribe().unwrap();
    /// assert_eq!(bus.emit(Event::custom("noise", ())), Ok(0));
    /// assert_eq!(bus.emit(Event::custom("signal", ())), Ok(1));
    /// bus.close();
    /// let names: Vec<_> = futures::executor::block_on(events.map(|e| e.unwrap().job_type()).collect::<Vec<_>>());
    /// assert_eq!(names, ["signal"]);
    /// ```
    pub fn with_channel<C>(channel: C) -> Self
    where
        C: BroadcastChannel<Arc<Event>> + MaybeSend + MaybeSync + 'static,
        C::Receiver: MaybeSend + MaybeSync + 'static,
    {
        Self { tx: BusChannel::custom(channel), cause: 0, route: None }
    }

    /// Sends `event` to every current subscriber.
    ///
    /// # Errors
    ///
    /// [`BusClosed`] when the bus is closed: nothing is sent.
    ///
    /// Returns the number of subscribers that will see it (0: nobody listens, the event is
    /// dropped).
    pub fn emit(&self, event: Event) -> Result<usize, BusClosed> {
        self.emit_with(|| event)
    }

    /// Like [`emit`](Self::emit), but builds the event only when somebody listens: with
    /// no subscriber (or a closed bus) `make` is not called, and the emit costs two
    /// atomic loads. (A subscriber that leaves while `make` runs gets nothing; the event is then
    /// dropped.)
    ///
    /// # Errors
    ///
    /// [`BusClosed`] when the bus is closed.
    #[inline]
    pub fn emit_with(&self, make: impl FnOnce() -> Event) -> Result<usize, BusClosed> {
        let Some(route) = &self.route else {
            return self.send_with(make);
        };
        let emitting = route.begin_emit();
        if !emitting.direct {
            // Its host reads the bus: it finds the event there.
            return self.send_with(make);
        }
        if self.tx.is_closed() {
            return Err(BusClosed);
        }
        let mut event = make();
        event.deepen(self.cause);
        event.set_route(route.id());
        let event = Arc::new(event);
        route.deliver(event.clone());
        Ok(self.tx.send_with(|| event).unwrap_or(0).saturating_add(1))
    }

    #[inline]
    fn send_with(&self, make: impl FnOnce() -> Event) -> Result<usize, BusClosed> {
        self.tx.send_with(|| {
            let mut event = make();
            event.deepen(self.cause);
            Arc::new(event)
        })
    }

    /// Sends an already shared event.
    ///
    /// # Errors
    ///
    /// [`BusClosed`] when the bus is closed.
    pub fn emit_shared(&self, event: Arc<Event>) -> Result<usize, BusClosed> {
        if self.route.is_some() {
            // A routed handle marks what it emits: a copy is a new event.
            return self.emit_with(|| Event::clone(&event));
        }
        self.tx.send_with(|| {
            if event.causal_depth() >= self.cause {
                return event;
            }
            // Shared elsewhere: the stamped copy is a new event.
            let mut copy = Event::clone(&event);
            copy.deepen(self.cause);
            Arc::new(copy)
        })
    }

    /// The causal depth this handle stamps on the events it emits (see
    /// [`Event::causal_depth`]): 0 unless the handle comes from an orchestrator hook's
    /// [`Context`](crate::Context).
    pub fn causal_depth(&self) -> u32 {
        self.cause
    }

    /// A handle to the same bus that stamps causal depth `depth` on what it emits, and
    /// delivers it to `route` too, marked for it (if given).
    pub(crate) fn with_route(&self, depth: u32, route: Option<Arc<Route>>) -> Self {
        Self { tx: self.tx.clone(), cause: depth, route }
    }

    /// Sets the depth this handle stamps.
    pub(crate) fn set_cause(&mut self, depth: u32) {
        self.cause = depth;
    }

    /// A new subscription that receives every event emitted from now on.
    ///
    /// # Errors
    ///
    /// [`BusClosed`] when the bus is closed.
    pub fn subscribe(&self) -> Result<Subscription, BusClosed> {
        Ok(Subscription { rx: self.tx.subscribe()? })
    }

    /// Closes the bus: later emits fail, and every subscription ends after the events
    /// already queued for it. Returns `true` if this call closed it.
    pub fn close(&self) -> bool {
        self.tx.close()
    }

    /// A watch woken when the bus closes, not by its events (a host that reads only its
    /// route still ends with its bus).
    pub(crate) fn watch_close(&self) -> BusCloseWatch {
        BusCloseWatch(self.tx.watch_close())
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Number of live subscriptions.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The bus capacity.
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// True when both handles refer to the same bus.
    pub fn same_bus(&self, other: &Bus) -> bool {
        self.tx.same_channel(&other.tx)
    }
}

/// Woken when its bus closes (see [`Bus::watch_close`]).
pub(crate) struct BusCloseWatch(channel::CloseWatch);

impl BusCloseWatch {
    /// `Ready` once the bus is closed.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_closed(cx)
    }
}

/// A stream of the events of one bus: `Ok(event)`, or `Err(Lagged(n))` when this
/// subscriber fell behind and `n` events were lost to it. It ends when the bus closes.
///
/// An idle subscription costs 32 bytes on a 64-bit target plus a waker slot of two words
/// in the bus; the first poll that finds more than one event waiting allocates a batch
/// of 32 events (264 bytes), so that later polls take the bus's lock once per 32 events.
pub struct Subscription {
    rx: BusReceiver,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next event if one is ready, without waiting.
    ///
    /// # Errors
    ///
    /// `Empty` when nothing is ready, `Lagged(n)` after a lag, `Closed` when the bus is
    /// closed and drained.
    pub fn try_next(&mut self) -> Result<Arc<Event>, TryNextError> {
        self.rx.try_recv()
    }
}

impl Stream for Subscription {
    type Item = Result<Arc<Event>, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// A subscription is a receiver of the channel traits, so code written against
/// [`BroadcastReceiver`] takes it, and a [`BroadcastChannel`] can forward to a bus.
impl BroadcastReceiver<Arc<Event>> for Subscription {
    fn try_recv(&mut self) -> Result<Arc<Event>, TryNextError> {
        self.rx.try_recv()
    }
}
