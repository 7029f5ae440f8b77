//! The state cell shared by a host and its handles, and [`StateStream`].
//!
//! Watch semantics (like `tokio::sync::watch`): the cell holds only the latest state and a
//! version number. A stream remembers the version it yielded last; when polled it yields
//! the current state if the version moved, else it waits. A new stream has seen nothing,
//! so it yields the current state at once (fixes D12). A slow stream skips intermediate
//! states but always ends up on the latest one. Memory does not grow with slow watchers.

use alloc::sync::Arc;
use core::fmt;
use core::future::Future as _;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{Event, EventListener};
use futures_core::{FusedStream, Stream};

use super::stats::OrchestratorStats;
use crate::sync::Mutex;

struct Slot<S> {
    state: S,
    version: u64,
    closed: bool,
    stats: OrchestratorStats,
}

/// What a host shares with its handles.
pub(crate) struct Shared<S> {
    slot: Mutex<Slot<S>>,
    changed: Event,
}

impl<S: Clone> Shared<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            slot: Mutex::new(Slot { state, version: 0, closed: false, stats: OrchestratorStats::default() }),
            changed: Event::new(),
        }
    }

    pub(crate) fn state(&self) -> S {
        self.slot.lock().state.clone()
    }

    pub(crate) fn stats(&self) -> OrchestratorStats {
        self.slot.lock().stats
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot.lock().closed
    }

    /// Stores a new state (and the stats) and wakes the watchers.
    pub(crate) fn publish(&self, state: S, stats: OrchestratorStats) {
        {
            let mut slot = self.slot.lock();
            slot.state = state;
            slot.version = slot.version.wrapping_add(1);
            slot.stats = stats;
        }
        self.changed.notify(usize::MAX);
    }

    /// Stores the stats only (nobody is woken).
    pub(crate) fn publish_stats(&self, stats: OrchestratorStats) {
        self.slot.lock().stats = stats;
    }

    /// Marks the host as ended: streams end after yielding the latest state.
    pub(crate) fn close(&self, stats: OrchestratorStats) {
        {
            let mut slot = self.slot.lock();
            slot.closed = true;
            slot.stats = stats;
        }
        self.changed.notify(usize::MAX);
    }
}

/// The states of an orchestrator, as a [`Stream`]
/// ([`OrchestratorHandle::states`](crate::OrchestratorHandle::states)).
///
/// * The first item is the current state, however late the stream was created.
/// * Then one item per change, but a stream that is polled less often than the state
///   changes skips the intermediate states: it always yields the **latest** one (watch
///   semantics; memory never grows).
/// * The stream ends when the host ends, after yielding the final state if it had not
///   seen it.
///
/// Equal states are not de-duplicated: the host publishes once per input that set or
/// updated the state.
pub struct StateStream<S> {
    shared: Arc<Shared<S>>,
    seen: Option<u64>,
    listener: Option<EventListener>,
    done: bool,
}

impl<S> fmt::Debug for StateStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStream").field("seen", &self.seen).field("done", &self.done).finish_non_exhaustive()
    }
}

impl<S> StateStream<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        Self { shared, seen: None, listener: None, done: false }
    }
}

impl<S: Clone> StateStream<S> {
    /// The state if it changed since this stream last yielded, or `Err(closed)`.
    fn check(&mut self) -> Result<Option<S>, ()> {
        let slot = self.shared.slot.lock();
        if self.seen != Some(slot.version) {
            self.seen = Some(slot.version);
            return Ok(Some(slot.state.clone()));
        }
        if slot.closed { Err(()) } else { Ok(None) }
    }
}

impl<S: Clone> Stream for StateStream<S> {
    type Item = S;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match this.check() {
                Ok(Some(state)) => {
                    this.listener = None;
                    return Poll::Ready(Some(state));
                }
                Err(()) => {
                    this.done = true;
                    this.listener = None;
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            // Register, then check again, so a change between the check and the
            // registration is not missed.
            match &mut this.listener {
                None => this.listener = Some(this.shared.changed.listen()),
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => this.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }
}

impl<S: Clone> FusedStream for StateStream<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}
