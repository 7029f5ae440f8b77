//! Cooperative cancellation: [`CancellationToken`].
//!
//! # Design
//!
//! A token is an `Arc<Inner>`; clones share the same state. `Inner` holds
//!
//! * an `AtomicBool` flag, so [`CancellationToken::is_cancelled`] is one `Acquire` load;
//! * a `Mutex` (`crate::sync`) around the reason and the registered listeners, a
//!   `Listeners` list (`cancel/listeners.rs`): a slab whose entries are threaded on a
//!   doubly linked list of indices in registration order, so registering and removing a
//!   listener (or a child token) cost O(1) however many others there are, and
//!   cancellation walks them in registration order;
//! * an [`event_listener::Event`] that wakes the [`Cancelled`] / [`CancelledOwned`]
//!   futures.
//!
//! Cancelling stores the reason and sets the flag inside one critical section (so a
//! `reason()` that follows an observed `is_cancelled()` always sees the reason), takes
//! the listeners out of the lock, releases it, runs them in registration order and
//! finally notifies every waiting future. Because listeners run outside the lock, a
//! listener may call any method of any token, including the one being cancelled. With
//! the `std` feature a panicking listener is caught and the others still run.
//!
//! A child token is a listener entry on its parent that holds only a `Weak` to the
//! child; the child holds a strong reference to its parent and the `Key` of its entry,
//! so a chain keeps working when only its leaves are held. When the last handle to a
//! child (and to its own descendants) is dropped, the child removes its entry from the
//! parent by that key, in O(1), so a long-lived parent with many short-lived children
//! (every job dispatched with the same token has one) neither grows nor slows down:
//! the list gives its memory back as it empties. Cancellation of a tree is propagated,
//! and chains are dropped, iteratively (no recursion), so deep chains cannot overflow the
//! call stack.
//!
//! Removing a listener removes exactly that listener (one job's cleanup cannot wipe
//! the listeners other jobs registered on a shared token). A key is the entry's slot and
//! a stamp never reused by the token, so a stale [`ListenerId`] cannot remove the
//! listener that took its slot.

// Without `Send` listeners (wasm, `orchestrator_unsync`) the token is intentionally single-threaded.
#![cfg_attr(any(target_family = "wasm", orchestrator_unsync), allow(clippy::arc_with_non_send_sync))]

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Weak};
use alloc::boxed::Box;
use alloc::vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{Event, EventListener};

use crate::sync::{MaybeSend, Mutex};

mod drop_guard;
mod listeners;
mod run_until_cancelled;
pub use drop_guard::DropGuard;
use listeners::{Drain, Key, Listeners};
pub use run_until_cancelled::{RunUntilCancelled, RunUntilCancelledOwned};

/// A boxed cancellation callback; `Send` where [`MaybeSend`] means `Send`.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
type BoxedCallback = Box<dyn FnOnce(Option<&str>) + Send + 'static>;
/// A boxed cancellation callback; `Send` where [`MaybeSend`] means `Send`.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
type BoxedCallback = Box<dyn FnOnce(Option<&str>) + 'static>;

/// Identifies a listener registered with [`CancellationToken::on_cancel`].
///
/// Ids are allocated per token: an id is only meaningful for the token (or a clone of
/// the token) that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(Key);

/// One registered listener.
enum Listener {
    /// A user callback from [`CancellationToken::on_cancel`].
    Callback(BoxedCallback),
    /// A child token; `Weak` so the parent never keeps its children alive.
    Child(Weak<Inner>),
}

/// Everything that is only touched under the lock.
struct State {
    /// The cancellation reason; meaningful once the flag is set, never changed after.
    reason: Option<Arc<str>>,
    /// Registered listeners, in registration order. Emptied by cancellation.
    listeners: Listeners<Listener>,
}

/// Where a child token is registered on its parent. The link is strong so a chain
/// keeps working when only the leaves are held (`root.child_token().child_token()`);
/// the parent's entry for the child is weak, so there is no reference cycle.
struct ParentLink {
    parent: Arc<Inner>,
    key: Key,
}

/// Shared state of a token and all its clones.
struct Inner {
    /// Set (with `Release`, under the lock, after the reason is stored) exactly once.
    cancelled: AtomicBool,
    state: Mutex<State>,
    /// Wakes `Cancelled` / `CancelledOwned` futures after the listeners ran.
    event: Event,
    /// Set for child tokens, so dropping the child unregisters it from its parent.
    parent: Option<ParentLink>,
}

impl Inner {
    fn new(cancelled: bool, reason: Option<Arc<str>>, parent: Option<ParentLink>) -> Self {
        Self {
            cancelled: AtomicBool::new(cancelled),
            state: Mutex::new(State { reason, listeners: Listeners::new() }),
            event: Event::new(),
            parent,
        }
    }

    #[inline]
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Moves the token to the cancelled state. Returns the listeners to run, or `None`
    /// when the token was already cancelled.
    fn transition(&self, reason: Option<Arc<str>>) -> Option<Drain<Listener>> {
        let mut state = self.state.lock();
        // The flag only changes under the lock, so a relaxed load is enough here.
        if self.cancelled.load(Ordering::Relaxed) {
            return None;
        }
        state.reason = reason;
        self.cancelled.store(true, Ordering::Release);
        Some(state.listeners.take())
    }

    /// Unregisters listener `key` (only if it is a user callback when `callback_only`).
    /// The listener is returned so the caller drops it after the lock is released:
    /// dropping a callback may drop tokens, and dropping a token may lock this one.
    fn remove(&self, key: Key, callback_only: bool) -> Option<Listener> {
        self.state.lock().listeners.remove_if(key, |l| !callback_only || matches!(l, Listener::Callback(_)))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Unregister from the parent; if this held the last reference to the parent,
        // continue with the parent's own link here instead of recursing, so dropping
        // the leaf of a long chain cannot overflow the stack.
        let mut link = self.parent.take();
        while let Some(ParentLink { parent, key }) = link {
            // The removed entry is dropped here, outside the parent's lock.
            drop(parent.remove(key, false));
            link = Arc::into_inner(parent).and_then(|mut parent| parent.parent.take());
        }
    }
}

/// Runs one user callback. With `std`, a panic is caught so the remaining listeners
/// still run.
fn run_callback(callback: BoxedCallback, reason: Option<&str>) {
    #[cfg(feature = "std")]
    {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || callback(reason)));
        drop(result);
    }
    #[cfg(not(feature = "std"))]
    {
        callback(reason);
    }
}

/// One token whose listeners are being run by [`cancel_tree`]. Dropping it (normally
/// after its last listener, or while unwinding from a panicking listener without `std`)
/// wakes the token's waiting futures.
struct Frame {
    inner: Arc<Inner>,
    reason: Option<Arc<str>>,
    listeners: Drain<Listener>,
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.inner.event.notify(usize::MAX);
    }
}

/// Cancels `root` and, depth first, its descendants. Returns `true` if `root` was not
/// cancelled before. Equivalent to the obvious recursion, but with an explicit stack.
fn cancel_tree(root: &Arc<Inner>, reason: Option<Arc<str>>) -> bool {
    let Some(listeners) = root.transition(reason.clone()) else {
        return false;
    };
    let mut stack = vec![Frame { inner: Arc::clone(root), reason, listeners }];
    while let Some(frame) = stack.last_mut() {
        match frame.listeners.next() {
            Some(Listener::Callback(callback)) => {
                run_callback(callback, frame.reason.as_deref());
            }
            Some(Listener::Child(child)) => {
                let reason = frame.reason.clone();
                if let Some(child) = child.upgrade() {
                    if let Some(listeners) = child.transition(reason.clone()) {
                        stack.push(Frame { inner: child, reason, listeners });
                    }
                }
            }
            None => {
                drop(stack.pop());
            }
        }
    }
    true
}

/// A cooperative cancellation signal shared by clones, with child tokens, cancellation
/// reasons, synchronous listeners and futures that resolve on cancellation.
///
/// Cloning yields a handle to the **same** token. [`child_token`](Self::child_token)
/// creates a new token that is cancelled whenever this one is (but not vice versa).
///
/// # Example
///
/// ```
/// use orchestrator_core::CancellationToken;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let token = CancellationToken::new();
/// let child = token.child_token();
///
/// let calls = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&calls);
/// child.on_cancel(move |reason| {
///     assert_eq!(reason, Some("shutting down"));
///     seen.fetch_add(1, Ordering::SeqCst);
/// });
///
/// assert!(token.cancel_with_reason("shutting down"));
/// assert!(!token.cancel()); // idempotent: only the first call cancels
/// assert!(child.is_cancelled());
/// assert_eq!(child.reason().as_deref(), Some("shutting down"));
/// assert_eq!(calls.load(Ordering::SeqCst), 1);
///
/// // Futures resolve once the token is cancelled (immediately here).
/// futures::executor::block_on(child.cancelled());
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    inner: Arc<Inner>,
}

impl Default for CancellationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken").field("is_cancelled", &self.is_cancelled()).finish()
    }
}

impl CancellationToken {
    /// Creates a new, not yet cancelled token with no parent.
    #[must_use]
    pub fn new() -> Self {
        Self { inner: Arc::new(Inner::new(false, None, None)) }
    }

    /// Cancels the token without a reason.
    ///
    /// Returns `true` if this call cancelled the token, `false` if it was already
    /// cancelled (cancelling is idempotent). The first call runs the listeners in
    /// registration order, cancels the child tokens and wakes the [`cancelled`]
    /// futures before returning.
    ///
    /// [`cancelled`]: Self::cancelled
    pub fn cancel(&self) -> bool {
        cancel_tree(&self.inner, None)
    }

    /// Cancels the token with a reason, visible through [`reason`](Self::reason), to
    /// the listeners and to child tokens.
    ///
    /// Returns `true` if this call cancelled the token; if it was already cancelled the
    /// call does nothing (the original reason is kept) and returns `false`.
    pub fn cancel_with_reason(&self, reason: impl Into<Arc<str>>) -> bool {
        cancel_tree(&self.inner, Some(reason.into()))
    }

    /// Returns `true` once the token is cancelled. A single atomic load.
    #[inline]
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The cancellation reason: `None` if the token is not cancelled or was cancelled
    /// without a reason.
    #[must_use]
    pub fn reason(&self) -> Option<Arc<str>> {
        if !self.is_cancelled() {
            return None;
        }
        self.inner.state.lock().reason.clone()
    }

    /// A future that resolves when the token is cancelled (immediately if it already
    /// is). It borrows the token; see [`cancelled_owned`](Self::cancelled_owned) for a
    /// `'static` version.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled { inner: &self.inner, listener: None }
    }

    /// Like [`cancelled`](Self::cancelled), but the future owns a handle to the token,
    /// so it is `'static` (and `Send + Sync` on threaded targets).
    pub fn cancelled_owned(&self) -> CancelledOwned {
        CancelledOwned { token: self.clone(), listener: None }
    }

    /// Creates a child token.
    ///
    /// The child is cancelled, with this token's reason, when this token is cancelled;
    /// cancelling the child does not affect this token. A child of an already cancelled
    /// token is born cancelled.
    ///
    /// The child keeps its parent alive (so `root.child_token().child_token()` still
    /// follows `root`), never the other way round: once every handle to the child and
    /// to its own descendants is dropped, it unregisters itself from the parent, so a
    /// long-lived parent does not accumulate dead children.
    #[must_use]
    pub fn child_token(&self) -> CancellationToken {
        let mut state = self.inner.state.lock();
        if self.inner.cancelled.load(Ordering::Relaxed) {
            let reason = state.reason.clone();
            drop(state);
            return Self { inner: Arc::new(Inner::new(true, reason, None)) };
        }
        // The parent's entry needs the child's `Weak`, the child the entry's key.
        let child = Arc::new_cyclic(|weak| {
            let key = state.listeners.insert(Listener::Child(Weak::clone(weak)));
            Inner::new(false, None, Some(ParentLink { parent: Arc::clone(&self.inner), key }))
        });
        drop(state);
        Self { inner: child }
    }

    /// Registers `f` to run exactly once when the token is cancelled, with the reason.
    ///
    /// Listeners run in registration order on the thread that cancels the token,
    /// outside any lock: they may call any method of any token. With the `std` feature
    /// a panicking listener is caught and the other listeners still run.
    ///
    /// If the token is already cancelled, `f` runs immediately, before this method
    /// returns, and the returned id is not registered (removing it is a no-op).
    ///
    /// The token owns `f` until it runs or is [removed](Self::remove_listener). A
    /// callback that captures a child (or other descendant) of this same token forms a
    /// reference cycle, since children keep their parent alive; remove such a listener
    /// when it is no longer needed, as you would for any listener on a long-lived token.
    pub fn on_cancel(&self, f: impl FnOnce(Option<&str>) + MaybeSend + 'static) -> ListenerId {
        let callback: BoxedCallback = Box::new(f);
        let mut state = self.inner.state.lock();
        if self.inner.cancelled.load(Ordering::Relaxed) {
            let key = state.listeners.dead_key();
            let reason = state.reason.clone();
            drop(state);
            run_callback(callback, reason.as_deref());
            ListenerId(key)
        } else {
            ListenerId(state.listeners.insert(Listener::Callback(callback)))
        }
    }

    /// Unregisters a listener added with [`on_cancel`](Self::on_cancel).
    ///
    /// Returns `true` if it was registered and is now removed; `false` if it already
    /// ran, was already removed, or was never registered. Other listeners are kept.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        // Child tokens share the key space but are never handed out as `ListenerId`s:
        // a caller must not be able to unregister a child by a guessed id.
        // The removed callback is dropped here, after the lock was released.
        self.inner.remove(id.0, true).is_some()
    }

    /// The number of registered listeners, including live child tokens. Zero once the
    /// token is cancelled.
    #[must_use]
    pub fn listener_count(&self) -> usize {
        self.inner.state.lock().listeners.len()
    }
}

/// Polls for cancellation without missing a cancel that races with the first poll:
/// check the flag, start listening, check the flag again, then wait.
fn poll_cancelled(inner: &Inner, listener: &mut Option<EventListener>, cx: &mut Context<'_>) -> Poll<()> {
    loop {
        if inner.is_cancelled() {
            *listener = None;
            return Poll::Ready(());
        }
        match listener {
            None => *listener = Some(inner.event.listen()),
            Some(l) => match Pin::new(l).poll(cx) {
                Poll::Ready(()) => *listener = None,
                Poll::Pending => return Poll::Pending,
            },
        }
    }
}

/// Future returned by [`CancellationToken::cancelled`]; resolves when the token is
/// cancelled.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Cancelled<'a> {
    inner: &'a Inner,
    listener: Option<EventListener>,
}

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled").field("is_cancelled", &self.inner.is_cancelled()).finish_non_exhaustive()
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        poll_cancelled(this.inner, &mut this.listener, cx)
    }
}

/// Future returned by [`CancellationToken::cancelled_owned`]; resolves when the token
/// is cancelled. Owns a handle to the token, so it is `'static`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CancelledOwned {
    token: CancellationToken,
    listener: Option<EventListener>,
}

impl fmt::Debug for CancelledOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledOwned").field("token", &self.token).finish_non_exhaustive()
    }
}

impl Future for CancelledOwned {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        poll_cancelled(&this.token.inner, &mut this.listener, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::MaybeSync;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;
    use core::sync::atomic::AtomicUsize;
    use futures::executor::block_on;
    use futures::task::{ArcWake, waker};

    /// Shared log of `(tag, reason)` pairs written by listeners.
    type Log = Arc<Mutex<Vec<(u32, Option<String>)>>>;

    fn log() -> Log {
        Arc::new(Mutex::new(Vec::new()))
    }

    fn record(log: &Log, tag: u32) -> impl FnOnce(Option<&str>) + MaybeSend + 'static {
        let log = Arc::clone(log);
        move |reason| log.lock().push((tag, reason.map(ToString::to_string)))
    }

    fn entries(log: &Log) -> Vec<(u32, Option<String>)> {
        log.lock().clone()
    }

    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl ArcWake for CountingWaker {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn thread_safety() {
        fn check<T: MaybeSend + MaybeSync>() {}
        check::<CancellationToken>();
        check::<CancelledOwned>();
        check::<Cancelled<'static>>();
        check::<ListenerId>();
        #[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
        {
            fn send_sync<T: Send + Sync + 'static>() {}
            send_sync::<CancellationToken>();
            send_sync::<CancelledOwned>();
        }
    }

    #[test]
    fn cancel_is_idempotent() {
        let token = CancellationToken::new();
        assert!(!token.is_cancelled());
        assert_eq!(token.reason(), None);
        assert!(token.cancel());
        assert!(token.is_cancelled());
        assert!(!token.cancel());
        assert!(!token.cancel_with_reason("late"));
        assert_eq!(token.reason(), None, "a later reason must not replace none");

        let clone = token.clone();
        assert!(clone.is_cancelled());
        assert!(!clone.cancel());
    }

    #[test]
    fn default_and_debug() {
        let token = CancellationToken::default();
        assert_eq!(alloc::format!("{token:?}"), "CancellationToken { is_cancelled: false }");
        token.cancel();
        assert_eq!(alloc::format!("{token:?}"), "CancellationToken { is_cancelled: true }");
        assert!(alloc::format!("{:?}", token.cancelled()).contains("Cancelled"));
        assert!(alloc::format!("{:?}", token.cancelled_owned()).contains("CancelledOwned"));
    }

    #[test]
    fn reason_is_kept() {
        let token = CancellationToken::new();
        assert!(token.clone().cancel_with_reason("stop"));
        assert_eq!(token.reason().as_deref(), Some("stop"));
        assert!(!token.cancel_with_reason("other"));
        assert_eq!(token.reason().as_deref(), Some("stop"));
        let from_string = CancellationToken::new();
        from_string.cancel_with_reason(String::from("owned"));
        assert_eq!(from_string.reason().as_deref(), Some("owned"));
    }

    #[test]
    fn listeners_run_once_in_order_with_reason() {
        let token = CancellationToken::new();
        let log = log();
        for tag in 0..5 {
            token.on_cancel(record(&log, tag));
        }
        assert_eq!(token.listener_count(), 5);
        assert!(token.cancel_with_reason("why"));
        assert!(!token.cancel());
        let expected: Vec<_> = (0..5).map(|t| (t, Some(String::from("why")))).collect();
        assert_eq!(entries(&log), expected);
        assert_eq!(token.listener_count(), 0);
    }

    #[test]
    fn on_cancel_after_cancel_runs_immediately() {
        let token = CancellationToken::new();
        token.cancel_with_reason("done");
        let log = log();
        let id = token.on_cancel(record(&log, 7));
        assert_eq!(entries(&log), [(7, Some(String::from("done")))]);
        assert_eq!(token.listener_count(), 0);
        assert!(!token.remove_listener(id));

        let plain = CancellationToken::new();
        plain.cancel();
        plain.on_cancel(record(&log, 8));
        assert_eq!(entries(&log).last(), Some(&(8, None)));
    }

    #[test]
    fn remove_listener_removes_only_that_one() {
        let token = CancellationToken::new();
        let log = log();
        let first = token.on_cancel(record(&log, 1));
        let second = token.on_cancel(record(&log, 2));
        assert_ne!(first, second);
        assert!(token.remove_listener(first));
        assert!(!token.remove_listener(first));
        assert_eq!(token.listener_count(), 1);
        token.cancel();
        assert_eq!(entries(&log), [(2, None)]);
        assert!(!token.remove_listener(second), "already ran");
    }

    #[test]
    fn remove_listener_cannot_remove_child_entries() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        assert_eq!(parent.listener_count(), 1);
        // Even the key of the child's entry, as an id, must not unregister it.
        let key = child.inner.parent.as_ref().map(|link| link.key);
        assert!(key.is_some_and(|key| !parent.remove_listener(ListenerId(key))));
        assert_eq!(parent.listener_count(), 1);
        parent.cancel();
        assert!(child.is_cancelled());
    }

    #[test]
    fn dropping_removed_listener_that_owns_a_child_does_not_deadlock() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        // The callback owns the only handle to `child`; removing it drops the child,
        // whose `Drop` unregisters itself from `parent`.
        let id = parent.on_cancel(move |_| drop(child));
        assert_eq!(parent.listener_count(), 2);
        assert!(parent.remove_listener(id));
        assert_eq!(parent.listener_count(), 0);
    }

    #[test]
    fn reentrant_listener_does_not_deadlock() {
        let token = CancellationToken::new();
        let log = log();
        let inner_log = Arc::clone(&log);
        let handle = token.clone();
        token.on_cancel(move |reason| {
            assert!(handle.is_cancelled());
            assert_eq!(handle.reason().as_deref(), reason);
            assert!(!handle.cancel());
            assert_eq!(handle.listener_count(), 0);
            let nested = handle.on_cancel(record(&inner_log, 2));
            assert!(!handle.remove_listener(nested));
            let _child = handle.child_token();
            inner_log.lock().push((1, reason.map(ToString::to_string)));
        });
        let log2 = Arc::clone(&log);
        token.on_cancel(move |_| log2.lock().push((3, None)));
        assert!(token.cancel_with_reason("r"));
        assert_eq!(entries(&log), [(2, Some(String::from("r"))), (1, Some(String::from("r"))), (3, None)]);
    }

    #[test]
    fn listener_cancelling_other_token_does_not_deadlock() {
        let a = CancellationToken::new();
        let b = CancellationToken::new();
        let (a2, b2) = (a.clone(), b.clone());
        a.on_cancel(move |_| {
            b2.cancel();
        });
        b.on_cancel(move |_| {
            a2.cancel();
        });
        assert!(a.cancel());
        assert!(b.is_cancelled());
    }

    // Needs unwinding: on panic=abort targets (wasm32) the panic ends the process.
    #[cfg(all(feature = "std", panic = "unwind"))]
    #[test]
    #[allow(clippy::panic)]
    fn panicking_listener_does_not_stop_the_others() {
        let token = CancellationToken::new();
        let log = log();
        token.on_cancel(record(&log, 1));
        token.on_cancel(|_| std::panic::panic_any("listener panic (expected in test)"));
        token.on_cancel(record(&log, 3));
        let child = token.child_token();
        assert!(token.cancel());
        assert_eq!(entries(&log), [(1, None), (3, None)]);
        assert!(child.is_cancelled());
        block_on(token.cancelled());
        // Running immediately on a cancelled token also catches the panic.
        token.on_cancel(|_| std::panic::panic_any("immediate panic (expected in test)"));
    }

    #[test]
    fn cancelled_resolves_immediately_if_already_cancelled() {
        let token = CancellationToken::new();
        token.cancel();
        block_on(token.cancelled());
        block_on(token.cancelled_owned());
        block_on(token.child_token().cancelled_owned());
    }

    #[test]
    fn pending_cancelled_future_is_woken() {
        let token = CancellationToken::new();
        let counter = Arc::new(CountingWaker::default());
        let waker = waker(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);

        let mut borrowed = token.cancelled();
        let mut owned = token.cancelled_owned();
        assert_eq!(Pin::new(&mut borrowed).poll(&mut cx), Poll::Pending);
        assert_eq!(Pin::new(&mut owned).poll(&mut cx), Poll::Pending);
        assert_eq!(Pin::new(&mut owned).poll(&mut cx), Poll::Pending);
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);

        token.cancel();
        assert!(counter.0.load(Ordering::SeqCst) >= 2);
        assert_eq!(Pin::new(&mut borrowed).poll(&mut cx), Poll::Ready(()));
        assert_eq!(Pin::new(&mut owned).poll(&mut cx), Poll::Ready(()));
        // Polling again after completion stays ready.
        assert_eq!(Pin::new(&mut owned).poll(&mut cx), Poll::Ready(()));
    }

    #[test]
    fn child_future_is_woken_by_parent_cancel() {
        let parent = CancellationToken::new();
        let grandchild = parent.child_token().child_token();
        let counter = Arc::new(CountingWaker::default());
        let waker = waker(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        let mut fut = grandchild.cancelled_owned();
        assert_eq!(Pin::new(&mut fut).poll(&mut cx), Poll::Pending);
        parent.cancel();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(Pin::new(&mut fut).poll(&mut cx), Poll::Ready(()));
    }

    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    #[test]
    fn cancelled_resolves_after_cancel_from_another_thread() {
        for _ in 0..100 {
            let token = CancellationToken::new();
            let remote = token.clone();
            let handle = std::thread::spawn(move || {
                std::thread::yield_now();
                assert!(remote.cancel_with_reason("remote"));
            });
            block_on(token.cancelled());
            assert!(token.is_cancelled());
            assert_eq!(token.reason().as_deref(), Some("remote"));
            assert!(handle.join().is_ok());
        }
        // The owned future can itself move to another thread.
        let token = CancellationToken::new();
        let fut = token.cancelled_owned();
        let waiter = std::thread::spawn(move || block_on(fut));
        token.cancel();
        assert!(waiter.join().is_ok());
    }

    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    #[test]
    fn concurrent_registration_and_cancel_runs_every_listener_once() {
        // Fewer rounds under Miri, which interprets every step.
        let (rounds, per_thread) = if cfg!(miri) { (1, 20) } else { (20, 200) };
        for _ in 0..rounds {
            let token = CancellationToken::new();
            let calls = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let token = token.clone();
                    let calls = Arc::clone(&calls);
                    std::thread::spawn(move || {
                        let mut children = Vec::new();
                        for i in 0..per_thread {
                            let calls = Arc::clone(&calls);
                            token.on_cancel(move |_| {
                                calls.fetch_add(1, Ordering::SeqCst);
                            });
                            let child = token.child_token();
                            if i % 2 == 0 {
                                children.push(child);
                            }
                        }
                        children
                    })
                })
                .collect();
            std::thread::yield_now();
            token.cancel();
            for thread in threads {
                let children = thread.join().unwrap_or_default();
                assert!(children.iter().all(CancellationToken::is_cancelled));
            }
            assert_eq!(calls.load(Ordering::SeqCst), 4 * per_thread);
            assert_eq!(token.listener_count(), 0);
        }
    }

    /// Counts its drops: a listener that ran or was dropped unrun drops it once.
    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    struct DropCount(Arc<AtomicUsize>);

    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Children created and dropped (in and out of order, some kept alive only by a
    /// grandchild) on four threads while another cancels their parent: every listener
    /// either runs once or is dropped unrun, none is lost or kept, every token still held
    /// afterwards is cancelled with the parent's reason, and the parent's list is empty.
    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    #[test]
    fn dropping_children_races_parent_cancel() {
        const THREADS: usize = 4;
        let (rounds, per_thread) = if cfg!(miri) { (2, 24) } else { (40, 600) };
        for round in 0..rounds {
            let parent = CancellationToken::new();
            let (created, ran, dropped) =
                (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let start = Arc::new(std::sync::Barrier::new(THREADS + 1));
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (parent, start) = (parent.clone(), Arc::clone(&start));
                    let (created, ran, dropped) = (Arc::clone(&created), Arc::clone(&ran), Arc::clone(&dropped));
                    std::thread::spawn(move || {
                        start.wait();
                        let mut kept: Vec<CancellationToken> = Vec::new();
                        for i in 0..per_thread {
                            let child = parent.child_token();
                            let (guard, ran) = (DropCount(Arc::clone(&dropped)), Arc::clone(&ran));
                            created.fetch_add(1, Ordering::SeqCst);
                            child.on_cancel(move |_| {
                                ran.fetch_add(1, Ordering::SeqCst);
                                drop(guard);
                            });
                            match (i + t) % 3 {
                                0 => drop(child),
                                1 => kept.push(child),
                                _ => kept.push(child.child_token()),
                            }
                            // Drop an older one now and then, out of registration order.
                            if i % 4 == 0 && !kept.is_empty() {
                                drop(kept.swap_remove((i * 7 + t) % kept.len()));
                            }
                        }
                        kept
                    })
                })
                .collect();
            start.wait();
            for _ in 0..round % 8 {
                std::thread::yield_now();
            }
            assert!(parent.cancel_with_reason("race"));
            let mut held = 0;
            for thread in threads {
                let kept = thread.join().expect("a test thread panicked");
                for token in &kept {
                    assert!(token.is_cancelled());
                    assert_eq!(token.reason().as_deref(), Some("race"));
                }
                held += kept.len();
            }
            assert!(held > 0);
            assert_eq!(parent.listener_count(), 0);
            let (created, ran) = (created.load(Ordering::SeqCst), ran.load(Ordering::SeqCst));
            assert_eq!(created, THREADS * per_thread);
            // Each held token's own listener, or its parent's, ran.
            assert!(ran >= held && ran <= created, "ran {ran}, held {held}, created {created}");
            assert_eq!(dropped.load(Ordering::SeqCst), created, "every listener run or dropped, once");
        }
    }

    /// Four threads registering and removing listeners and children on one token, with
    /// no cancel until they are done: the count is exact afterwards, and cancelling runs
    /// what each thread kept, in that thread's registration order.
    #[cfg(all(feature = "std", not(any(target_family = "wasm", orchestrator_unsync))))]
    #[test]
    fn concurrent_churn_keeps_the_list_intact_and_ordered() {
        const THREADS: u32 = 4;
        let per_thread: u32 = if cfg!(miri) { 40 } else { 2_000 };
        let token = CancellationToken::new();
        let log = log();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (token, log) = (token.clone(), Arc::clone(&log));
                std::thread::spawn(move || {
                    let (mut kept, mut children, mut ids) = (Vec::new(), Vec::new(), Vec::new());
                    for i in 0..per_thread {
                        let tag = t * per_thread + i;
                        let id = token.on_cancel(record(&log, tag));
                        match i % 4 {
                            0 => {
                                assert!(token.remove_listener(id));
                            }
                            1 => ids.push(id),
                            _ => kept.push(tag),
                        }
                        let child = token.child_token();
                        if i % 3 == 0 {
                            children.push(child);
                        }
                        if i % 5 == 0 {
                            if let Some(id) = ids.pop() {
                                assert!(token.remove_listener(id));
                            }
                        }
                    }
                    (kept, ids, children)
                })
            })
            .collect();
        let (mut kept_by_thread, mut ids, mut children) = (Vec::new(), Vec::new(), Vec::new());
        for thread in threads {
            let (kept, more_ids, more_children) = thread.join().expect("a test thread panicked");
            kept_by_thread.push(kept);
            ids.extend(more_ids);
            children.extend(more_children);
        }
        let kept: usize = kept_by_thread.iter().map(Vec::len).sum();
        assert_eq!(token.listener_count(), kept + ids.len() + children.len());
        // Remove the listeners still held by id, so what runs is known exactly.
        for id in ids {
            assert!(token.remove_listener(id));
        }
        assert_eq!(token.listener_count(), kept + children.len());
        token.cancel();
        assert!(children.iter().all(CancellationToken::is_cancelled));
        let ran: Vec<u32> = entries(&log).into_iter().map(|(tag, _)| tag).collect();
        assert_eq!(ran.len(), kept);
        for (t, kept) in kept_by_thread.iter().enumerate() {
            let mine: Vec<u32> = ran.iter().copied().filter(|tag| tag / per_thread == t as u32).collect();
            assert_eq!(&mine, kept, "thread {t}: its listeners, once each, in its registration order");
        }
        assert_eq!(token.listener_count(), 0);
    }

    #[test]
    fn child_semantics() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        let sibling = parent.child_token();
        let log = log();
        child.on_cancel(record(&log, 1));

        assert!(sibling.cancel_with_reason("sibling only"));
        assert!(sibling.is_cancelled());
        assert!(!parent.is_cancelled());
        assert!(!child.is_cancelled());
        // The cancelled sibling's entry is still registered until it is dropped.
        assert_eq!(parent.listener_count(), 2);
        drop(sibling);
        assert_eq!(parent.listener_count(), 1);

        assert!(parent.cancel_with_reason("parent"));
        assert!(child.is_cancelled());
        assert_eq!(child.reason().as_deref(), Some("parent"));
        assert_eq!(entries(&log), [(1, Some(String::from("parent")))]);
        assert!(!child.cancel(), "child already cancelled by parent");
    }

    #[test]
    fn child_cancelled_before_parent_keeps_own_reason() {
        let parent = CancellationToken::new();
        let child = parent.child_token();
        child.cancel_with_reason("own");
        parent.cancel_with_reason("parent");
        assert_eq!(child.reason().as_deref(), Some("own"));
    }

    #[test]
    fn child_of_cancelled_parent_is_born_cancelled() {
        let parent = CancellationToken::new();
        parent.cancel_with_reason("gone");
        let child = parent.child_token();
        assert!(child.is_cancelled());
        assert_eq!(child.reason().as_deref(), Some("gone"));
        assert!(!child.cancel());
        let grandchild = child.child_token();
        assert!(grandchild.is_cancelled());
        assert_eq!(grandchild.reason().as_deref(), Some("gone"));
        assert_eq!(parent.listener_count(), 0);
    }

    #[test]
    fn dropped_children_do_not_accumulate() {
        const N: usize = if cfg!(miri) { 300 } else { 10_000 }; // Miri interprets every step
        let parent = CancellationToken::new();
        for _ in 0..N {
            let child = parent.child_token();
            let clone = child.clone();
            drop(child);
            assert_eq!(parent.listener_count(), 1, "a clone keeps the child alive");
            drop(clone);
        }
        assert_eq!(parent.listener_count(), 0);

        // Many live children, then all dropped: storage shrinks back.
        let children: Vec<_> = (0..N).map(|_| parent.child_token()).collect();
        assert_eq!(parent.listener_count(), N);
        drop(children);
        assert_eq!(parent.listener_count(), 0);
        assert!(parent.inner.state.lock().listeners.capacity() <= 64);

        // Dropped newest first, and interleaved with a long-lived listener registered
        // first: the storage shrinks back too.
        let id = parent.on_cancel(|_| {});
        let mut children: Vec<_> = (0..N).map(|_| parent.child_token()).collect();
        while let Some(child) = children.pop() {
            drop(child);
        }
        assert_eq!(parent.listener_count(), 1);
        assert!(parent.inner.state.lock().listeners.capacity() <= 64);
        assert!(parent.remove_listener(id));
        assert_eq!(parent.listener_count(), 0);
    }

    #[test]
    fn registration_order_survives_removals_and_slot_reuse() {
        let parent = CancellationToken::new();
        let log = log();
        parent.on_cancel(record(&log, 1));
        let first_child = parent.child_token();
        first_child.on_cancel(record(&log, 100));
        let removed = parent.on_cancel(record(&log, 2));
        let second_child = parent.child_token();
        second_child.on_cancel(record(&log, 200));
        parent.on_cancel(record(&log, 3));
        assert!(parent.remove_listener(removed));
        drop(first_child);
        // These take the two freed slots, yet run after everything registered before.
        parent.on_cancel(record(&log, 4));
        let third_child = parent.child_token();
        third_child.on_cancel(record(&log, 300));
        assert!(!parent.remove_listener(removed), "a stale id does not match the slot's new listener");
        assert_eq!(parent.listener_count(), 5);
        parent.cancel();
        let tags: Vec<_> = entries(&log).into_iter().map(|(tag, _)| tag).collect();
        assert_eq!(tags, [1, 200, 3, 4, 300]);
    }

    #[test]
    fn dropped_child_leaves_other_listeners() {
        let parent = CancellationToken::new();
        let log = log();
        parent.on_cancel(record(&log, 1));
        drop(parent.child_token());
        parent.on_cancel(record(&log, 2));
        assert_eq!(parent.listener_count(), 2);
        parent.cancel();
        assert_eq!(entries(&log), [(1, None), (2, None)]);
    }

    #[test]
    fn grandchild_chain() {
        let root = CancellationToken::new();
        let child = root.child_token();
        let grandchild = child.child_token();
        let log = log();
        root.on_cancel(record(&log, 0));
        grandchild.on_cancel(record(&log, 2));
        child.on_cancel(record(&log, 1));

        // Cancelling the middle cancels only downwards.
        let other_root = CancellationToken::new();
        let mid = other_root.child_token();
        let leaf = mid.child_token();
        mid.cancel();
        assert!(leaf.is_cancelled());
        assert!(!other_root.is_cancelled());

        // Dropping the middle token keeps the chain working (it holds the grandchild's
        // entry; the grandchild only holds a weak link upwards).
        assert!(root.cancel_with_reason("root"));
        assert!(child.is_cancelled());
        assert!(grandchild.is_cancelled());
        assert_eq!(grandchild.reason().as_deref(), Some("root"));
        // Depth first: the root's listeners and its children in registration order.
        assert_eq!(
            entries(&log),
            [(2, Some(String::from("root"))), (1, Some(String::from("root"))), (0, Some(String::from("root"))),]
        );
    }

    #[test]
    fn chain_works_when_only_the_leaf_is_held() {
        let root = CancellationToken::new();
        let leaf = root.child_token().child_token();
        assert_eq!(root.listener_count(), 1, "the middle token is kept alive");
        root.cancel_with_reason("root");
        assert!(leaf.is_cancelled());
        assert_eq!(leaf.reason().as_deref(), Some("root"));

        // Dropping the leaf releases the whole unreachable chain.
        let root = CancellationToken::new();
        let leaf = root.child_token().child_token().child_token();
        assert_eq!(root.listener_count(), 1);
        drop(leaf);
        assert_eq!(root.listener_count(), 0);
    }

    fn deep_chain(len: usize) -> (CancellationToken, Vec<CancellationToken>) {
        let root = CancellationToken::new();
        let mut tokens = Vec::with_capacity(len);
        let mut last = root.clone();
        for _ in 0..len {
            let next = last.child_token();
            tokens.push(last);
            last = next;
        }
        tokens.push(last);
        (root, tokens)
    }

    #[test]
    #[cfg_attr(miri, ignore = "100_000-deep chains: too slow under Miri")]
    fn deep_chain_does_not_overflow() {
        const DEPTH: usize = 100_000;
        let (root, tokens) = deep_chain(DEPTH);
        root.cancel_with_reason("deep");
        let last = tokens.last().map(CancellationToken::reason);
        assert_eq!(last.flatten().as_deref(), Some("deep"));
        drop(tokens);

        // Uncancelled chains, dropped from either end, release everything without
        // recursing once per level.
        let (root, tokens) = deep_chain(DEPTH);
        drop(tokens);
        assert_eq!(root.listener_count(), 0, "the whole chain below root is gone");
        drop(root);

        let (root, mut tokens) = deep_chain(DEPTH);
        let leaf = tokens.pop();
        drop(tokens);
        assert_eq!(root.listener_count(), 1, "the leaf keeps the chain alive");
        drop(leaf);
        assert_eq!(root.listener_count(), 0);

        let (root, mut tokens) = deep_chain(DEPTH);
        while let Some(token) = tokens.pop() {
            drop(token);
        }
        assert_eq!(root.listener_count(), 0);
    }
}
