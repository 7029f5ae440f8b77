//! What a [`Bus`](super::Bus) sends through: its own ring, called directly, or any
//! [`BroadcastChannel`] of events behind a trait object.
//!
//! An enum rather than a type parameter, so that `Bus` stays one concrete type for the
//! dispatcher, the orchestrators and every job context: the ring arm is a direct call
//! behind a branch that is always taken the same way, and a custom channel costs a
//! virtual call per operation, two for an emit that somebody listens to (its panics are
//! caught there, see [`guarded`](super::guarded)).

use crate::sync::Arc;
use crate::sync::dyn_arc;
use alloc::boxed::Box;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;

use super::guarded::{self, Guarded};
use crate::channel::ring::{self, RingReceiver, RingSender};
use crate::channel::{BroadcastChannel, Closed, Lagged, TryRecvError};
use crate::event::Event;
use crate::sync::{MaybeSend, MaybeSync};

/// The sending side of a bus.
#[derive(Clone)]
pub(super) enum BusChannel {
    Ring(RingSender<Arc<Event>>),
    Custom(Arc<dyn DynChannel>),
}

/// The receiving side of one subscription.
pub(super) enum BusReceiver {
    Ring(RingReceiver<Arc<Event>>),
    Custom(Box<dyn DynReceiver>),
}

/// Woken when a bus closes, not by its events.
pub(super) enum CloseWatch {
    Ring(ring::CloseWatch<Arc<Event>>),
    Custom(guarded::CloseWatch),
}

/// [`BroadcastChannel`] of events, callable through a trait object.
pub(super) trait DynChannel: MaybeSend + MaybeSync {
    /// `Ok(true)` when a send now would reach a receiver, `Err` when the channel is
    /// closed ([`BroadcastChannel::is_closed`], [`BroadcastChannel::receiver_count`]).
    fn listening(&self) -> Result<bool, Closed>;
    /// [`BroadcastChannel::send`].
    fn send(&self, event: Arc<Event>) -> Result<usize, Closed>;
    fn subscribe(&self) -> Result<Box<dyn DynReceiver>, Closed>;
    fn close(&self) -> bool;
    fn is_closed(&self) -> bool;
    fn receiver_count(&self) -> usize;
    fn capacity(&self) -> usize;
    /// A watch woken when the channel is closed through the bus (or the bus's last
    /// handle is dropped, or the channel breaks). `this` is the `Arc` that holds `self`
    /// (a method on `self: Arc<Self>` would not build with portable-atomic-util's `Arc`).
    fn watch_close(&self, this: &Arc<dyn DynChannel>) -> guarded::CloseWatch;
}

/// [`BroadcastReceiver`] of events, callable through a trait object.
pub(super) trait DynReceiver: MaybeSend + MaybeSync {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Arc<Event>, Lagged>>>;
    fn try_recv(&mut self) -> Result<Arc<Event>, TryRecvError>;
}

impl BusChannel {
    /// `channel`, behind the panic guard.
    pub(super) fn custom<C>(channel: C) -> Self
    where
        C: BroadcastChannel<Arc<Event>> + MaybeSend + MaybeSync + 'static,
        C::Receiver: MaybeSend + MaybeSync + 'static,
    {
        Self::Custom(dyn_arc!(Guarded::new(channel)))
    }

    /// Sends the event `make` builds, if anybody listens. The event is built at one place
    /// for both kinds of channel: a copy of `make` per kind would double the code of every
    /// emit site (`make` is inlined). So a custom channel is asked
    /// ([`DynChannel::listening`]) and then given the event ([`DynChannel::send`]): two
    /// virtual calls when somebody listens, one when nobody does.
    ///
    /// Not inlined into the emit sites: one out-of-line copy per event builder keeps the
    /// code of the job pipeline (which emits at several places) as small as over the
    /// ring alone.
    #[inline(never)]
    pub(super) fn send_with(&self, make: impl FnOnce() -> Arc<Event>) -> Result<usize, Closed> {
        let listening = match self {
            Self::Ring(tx) => tx.listening(),
            Self::Custom(channel) => channel.listening(),
        };
        if !listening? {
            return Ok(0);
        }
        let event = make();
        match self {
            Self::Ring(tx) => tx.send(event),
            Self::Custom(channel) => channel.send(event),
        }
    }

    pub(super) fn subscribe(&self) -> Result<BusReceiver, Closed> {
        match self {
            Self::Ring(tx) => tx.subscribe().map(BusReceiver::Ring),
            Self::Custom(channel) => channel.subscribe().map(BusReceiver::Custom),
        }
    }

    pub(super) fn close(&self) -> bool {
        match self {
            Self::Ring(tx) => tx.close(),
            Self::Custom(channel) => channel.close(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        match self {
            Self::Ring(tx) => tx.is_closed(),
            Self::Custom(channel) => channel.is_closed(),
        }
    }

    pub(super) fn receiver_count(&self) -> usize {
        match self {
            Self::Ring(tx) => tx.receiver_count(),
            Self::Custom(channel) => channel.receiver_count(),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        match self {
            Self::Ring(tx) => tx.capacity(),
            Self::Custom(channel) => channel.capacity(),
        }
    }

    pub(super) fn watch_close(&self) -> CloseWatch {
        match self {
            Self::Ring(tx) => CloseWatch::Ring(tx.watch_close()),
            Self::Custom(channel) => CloseWatch::Custom(channel.watch_close(channel)),
        }
    }

    /// Whether both send to the same channel: for a custom one, whether both come from
    /// the same [`Bus::with_channel`](super::Bus::with_channel).
    pub(super) fn same_channel(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Ring(a), Self::Ring(b)) => a.same_channel(b),
            (Self::Custom(a), Self::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl CloseWatch {
    /// `Ready` once the bus is closed; else registers the waker for the close.
    pub(super) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Self::Ring(watch) => watch.poll_closed(cx),
            Self::Custom(watch) => watch.poll_closed(cx),
        }
    }
}

impl BusReceiver {
    pub(super) fn try_recv(&mut self) -> Result<Arc<Event>, TryRecvError> {
        match self {
            Self::Ring(rx) => rx.try_recv(),
            Self::Custom(rx) => rx.try_recv(),
        }
    }

    #[inline]
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Arc<Event>, Lagged>>> {
        match self {
            Self::Ring(rx) => Pin::new(rx).poll_next(cx),
            Self::Custom(rx) => rx.poll_recv(cx),
        }
    }
}
