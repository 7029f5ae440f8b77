//! The state cell shared by a host and its handles, and [`StateStream`].
//!
//! Watch semantics (like `tokio::sync::watch`): the cell holds only the latest state and a
//! version number. A stream remembers the version it yielded last; when polled it yields
//! the current state if the version moved, else it waits. A new stream has seen nothing,
//! so it yields the current state at once. A slow stream skips intermediate
//! states but always ends up on the latest one. Memory does not grow with slow watchers.
//!
//! Each stream owns one waker slot in the cell, registered under the same lock that found
//! nothing new (so no wake-up is lost) and reused from poll to poll: waiting for a state
//! allocates nothing. A publish takes the registered wakers out under the lock and wakes
//! them after releasing it.

use crate::sync::Arc;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use super::stats::OrchestratorStats;
use crate::sync::Mutex;
use crate::waker_slots::{WakeBatch, WakerSlots};

struct StateCell<S> {
    state: S,
    version: u64,
    closed: bool,
    watchers: WakerSlots,
}

/// What a host shares with its handles: the state cell, and the stats beside it (read
/// and written on their own, without waking the state's watchers).
pub(crate) struct Shared<S> {
    slot: Mutex<StateCell<S>>,
    stats: Mutex<OrchestratorStats>,
    /// A graceful drain asked for by a handle, and its report.
    pub(crate) drain: super::drain::DrainCell,
    /// Every published state, once the test kit asked for them (a stream skips states).
    #[cfg(feature = "test-util")]
    history: Mutex<Option<alloc::vec::Vec<S>>>,
}

impl<S: Clone> Shared<S> {
    pub(crate) fn new(state: S) -> Self {
        Self {
            slot: Mutex::new(StateCell { state, version: 0, closed: false, watchers: WakerSlots::new() }),
            stats: Mutex::new(OrchestratorStats::default()),
            drain: super::drain::DrainCell::default(),
            #[cfg(feature = "test-util")]
            history: Mutex::new(None),
        }
    }

    /// Keeps every state published from now on (see [`take_history`](Self::take_history)).
    #[cfg(feature = "test-util")]
    pub(crate) fn keep_history(&self) {
        self.history.lock().get_or_insert_with(alloc::vec::Vec::new);
    }

    /// The states published since [`keep_history`](Self::keep_history) or the last call.
    #[cfg(feature = "test-util")]
    pub(crate) fn take_history(&self) -> alloc::vec::Vec<S> {
        self.history.lock().as_mut().map(core::mem::take).unwrap_or_default()
    }

    pub(crate) fn state(&self) -> S {
        self.slot.lock().state.clone()
    }

    pub(crate) fn stats(&self) -> OrchestratorStats {
        *self.stats.lock()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.slot.lock().closed
    }

    /// Stores a new state (and the stats) and wakes the watchers. The stats go first: a
    /// watcher woken by the state reads stats at least as new.
    pub(crate) fn publish(&self, state: S, stats: OrchestratorStats) {
        self.publish_stats(stats);
        #[cfg(feature = "test-util")]
        if let Some(history) = self.history.lock().as_mut() {
            history.push(state.clone());
        }
        let mut wakers = WakeBatch::new();
        {
            let mut slot = self.slot.lock();
            slot.state = state;
            slot.version = slot.version.wrapping_add(1);
            slot.watchers.take_all(&mut wakers);
        }
        wakers.wake_all();
    }

    /// Stores the stats only (nobody is woken).
    pub(crate) fn publish_stats(&self, stats: OrchestratorStats) {
        *self.stats.lock() = stats;
    }

    /// Marks the host as ended: streams end after yielding the latest state.
    pub(crate) fn close(&self, stats: OrchestratorStats) {
        self.publish_stats(stats);
        let mut wakers = WakeBatch::new();
        {
            let mut slot = self.slot.lock();
            slot.closed = true;
            slot.watchers.take_all(&mut wakers);
        }
        wakers.wake_all();
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
///
/// ```
/// use futures::{FutureExt, StreamExt};
/// use orchestrator_core::{Context, Dispatcher, Orchestrator};
///
/// struct Echo;
/// impl Orchestrator for Echo {
///     type State = &'static str;
///     type Command = &'static str;
///     fn handle(&mut self, word: &'static str, ctx: &mut Context<'_, Self>) {
///         ctx.set_state(word);
///     }
/// }
///
/// let (mut host, handle) = Echo.start("hello", &Dispatcher::new()).unwrap();
/// let mut states = handle.states();
/// assert_eq!(states.next().now_or_never(), Some(Some("hello"))); // the current state
/// assert_eq!(states.next().now_or_never(), None); // nothing new yet
///
/// handle.try_send("a").unwrap();
/// handle.try_send("b").unwrap();
/// let _ = (&mut host).now_or_never(); // the host handles both commands
/// assert_eq!(states.next().now_or_never(), Some(Some("b"))); // "a" was skipped
/// ```
pub struct StateStream<S> {
    shared: Arc<Shared<S>>,
    /// This stream's waker slot in the cell.
    index: usize,
    seen: Option<u64>,
    done: bool,
}

impl<S> fmt::Debug for StateStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStream").field("seen", &self.seen).field("done", &self.done).finish_non_exhaustive()
    }
}

impl<S> StateStream<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> Self {
        let index = shared.slot.lock().watchers.add();
        Self { shared, index, seen: None, done: false }
    }
}

impl<S> Drop for StateStream<S> {
    fn drop(&mut self) {
        self.shared.slot.lock().watchers.remove(self.index);
    }
}

impl<S: Clone> Stream for StateStream<S> {
    type Item = S;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut slot = this.shared.slot.lock();
        if this.seen != Some(slot.version) {
            this.seen = Some(slot.version);
            return Poll::Ready(Some(slot.state.clone()));
        }
        if slot.closed {
            drop(slot);
            this.done = true;
            return Poll::Ready(None);
        }
        slot.watchers.register(this.index, cx.waker());
        Poll::Pending
    }
}

impl<S: Clone> FusedStream for StateStream<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}
