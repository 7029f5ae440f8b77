//! Cancellation tied to scopes, as tokio-util has it: `JobHandle::abort_on_drop`,
//! `CancellationToken::drop_guard`, `run_until_cancelled` and the owned `cancelled`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use common::{Harness, tags};
use futures::task::noop_waker_ref;
use orchestrator_core::EventTag::*;
use orchestrator_core::HANDLE_DROPPED;
use orchestrator_core::runtime::run_virtual;
use orchestrator_core::{CancellationToken, EventKind, Job, JobError, JobResult, MaybeSend, executor_fn};

/// Sets its flag when dropped: shows that a future was dropped, not just abandoned.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Hang;
impl Job for Hang {
    type Output = ();
}

#[derive(Clone)]
struct Quick;
impl Job for Quick {
    type Output = u8;
}

/// A harness whose `Hang` jobs never end by themselves, and whose executor futures set
/// `dropped` when they are dropped.
fn hanging(dropped: &Arc<AtomicBool>) -> Harness {
    let h = Harness::new();
    let dropped = dropped.clone();
    h.dispatcher.register(executor_fn(move |_: Hang, _| {
        let flag = DropFlag(dropped.clone());
        async move {
            let _flag = flag;
            futures::future::pending::<Result<(), JobError>>().await
        }
    }));
    h.dispatcher.register(executor_fn(|_: Quick, _| async { Ok(5) }));
    h
}

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(noop_waker_ref()))
}

/// Runs `script` with the dispatcher's runner alongside for the whole script, then shuts
/// the dispatcher down and lets the runner finish.
fn script<F: Future>(h: &Harness, script: F) -> F::Output {
    let dispatcher = h.dispatcher.clone();
    let script = async move {
        let out = script.await;
        dispatcher.shutdown();
        out
    };
    let (out, ()) = run_virtual(&h.clock, async { futures::join!(script, h.dispatcher.runner()) }).unwrap();
    out
}

/// Lets the runner poll (a few turns of the virtual-time driver).
async fn settle() {
    for _ in 0..4 {
        common::yield_now().await;
    }
}

#[test]
fn dropping_an_abort_on_drop_handle_cancels_the_running_job_with_a_reason() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut h = hanging(&dropped);
    let id = script(&h, async {
        let guarded = h.dispatcher.dispatch(Hang).unwrap().abort_on_drop();
        settle().await; // the job starts
        assert!(!guarded.is_finished());
        let id = guarded.id();
        drop(guarded); // the caller gives up on it (a client disconnecting)
        settle().await;
        id
    });
    let events = h.drain();
    assert_eq!(tags(&events), [Started, Cancelled]);
    assert!(events.iter().all(|e| e.id() == id));
    match events.last().map(|e| e.kind()) {
        Some(EventKind::Cancelled { reason: Some(reason) }) => assert_eq!(&**reason, HANDLE_DROPPED),
        other => panic!("expected a cancellation with a reason, got {other:?}"),
    }
    assert!(dropped.load(Ordering::SeqCst), "the executor's future was dropped");
}

#[test]
fn a_plain_handle_dropped_leaves_its_job_running() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut h = hanging(&dropped);
    script(&h, async {
        let handle = h.dispatcher.dispatch(Hang).unwrap();
        let token = handle.token();
        settle().await;
        drop(handle);
        settle().await;
        assert!(!token.is_cancelled());
        assert!(!dropped.load(Ordering::SeqCst), "still running");
        token.cancel(); // end it, so the runner can finish
    });
    assert_eq!(tags(&h.drain()), [Started, Cancelled]);
}

#[test]
fn an_abort_on_drop_handle_that_returned_its_result_or_whose_job_ended_cancels_nothing() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut h = hanging(&dropped);
    script(&h, async {
        // Awaited to the end, then dropped.
        let awaited = h.dispatcher.dispatch(Quick).unwrap().abort_on_drop();
        let token = awaited.handle().token();
        assert!(matches!(awaited.await, JobResult::Success(5)));
        assert!(!token.is_cancelled());

        // The job ended but nobody took the result: dropping it is no cancellation either.
        let finished = h.dispatcher.dispatch(Quick).unwrap().abort_on_drop();
        let token = finished.handle().token();
        settle().await;
        assert!(finished.is_finished());
        drop(finished);
        assert!(!token.is_cancelled());
    });
    assert_eq!(tags(&h.drain()), [Started, Success, Started, Success]);
}

#[test]
fn a_detached_handle_no_longer_cancels_and_an_early_cancel_still_works() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut h = hanging(&dropped);
    script(&h, async {
        let detached = h.dispatcher.dispatch(Hang).unwrap().abort_on_drop().detach();
        let token = detached.token();
        settle().await;
        drop(detached);
        settle().await;
        assert!(!token.is_cancelled());

        let guarded = h.dispatcher.dispatch(Hang).unwrap().abort_on_drop();
        assert!(guarded.cancel_with_reason("user pressed stop"));
        let result = guarded.await;
        assert!(matches!(result, JobResult::Cancelled(Some(ref r)) if &**r == "user pressed stop"));
        token.cancel();
    });
    assert_eq!(tags(&h.drain()), [Started, Started, Cancelled, Cancelled]);
}

#[test]
fn a_drop_guard_cancels_its_token_and_children_when_dropped_and_not_when_disarmed() {
    let token = CancellationToken::new();
    let child = token.child_token();
    let guard = token.clone().drop_guard();
    assert!(!token.is_cancelled());
    drop(guard);
    assert!(token.is_cancelled() && child.is_cancelled());

    let kept = CancellationToken::new();
    let back = kept.clone().drop_guard().disarm();
    assert!(!kept.is_cancelled());
    back.cancel();
    assert!(kept.is_cancelled(), "disarm gives back a handle to the same token");
}

#[test]
fn a_drop_guard_cancels_on_early_return_and_on_panic() {
    fn early(token: &CancellationToken, fail: bool) -> Result<(), &'static str> {
        let guard = token.clone().drop_guard();
        if fail {
            return Err("early");
        }
        guard.disarm();
        Ok(())
    }
    let ok = CancellationToken::new();
    assert!(early(&ok, false).is_ok());
    assert!(!ok.is_cancelled());
    let failed = CancellationToken::new();
    assert!(early(&failed, true).is_err());
    assert!(failed.is_cancelled());

    #[cfg(panic = "unwind")]
    {
        let panicked = CancellationToken::new();
        let inside = panicked.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = inside.drop_guard();
            panic!("the scope panicked");
        }));
        assert!(result.is_err());
        assert!(panicked.is_cancelled());
    }
}

#[test]
fn run_until_cancelled_returns_the_output_or_none_and_drops_the_future() {
    let token = CancellationToken::new();
    assert_eq!(futures::executor::block_on(token.run_until_cancelled(async { 1 })), Some(1));

    // Cancelled while the future waits: `None`, and the future is dropped with it.
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let mut raced = Box::pin(token.run_until_cancelled(async move {
        let _flag = flag;
        futures::future::pending::<u8>().await
    }));
    assert!(poll_once(raced.as_mut()).is_pending());
    token.cancel();
    assert_eq!(poll_once(raced.as_mut()), Poll::Ready(None));
    drop(raced);
    assert!(dropped.load(Ordering::SeqCst));

    // Cancellation wins a tie: a future ready at once is not even polled.
    let polls = AtomicUsize::new(0);
    let counted = std::future::poll_fn(|_| {
        polls.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(2)
    });
    assert_eq!(poll_once(token.run_until_cancelled(counted)), Poll::Ready(None));
    assert_eq!(polls.load(Ordering::SeqCst), 0);
}

#[test]
fn the_owned_futures_are_static_and_send_so_they_can_be_spawned() {
    // `Send` on threaded targets (`MaybeSend` is empty on wasm).
    fn spawnable<F: Future + MaybeSend + 'static>(_: &F) {}
    let token = CancellationToken::new();
    let owned = token.clone().run_until_cancelled_owned(async { 3_u8 });
    spawnable(&owned);
    let cancelled = token.cancelled_owned();
    spawnable(&cancelled);

    let mut cancelled = Box::pin(cancelled);
    let mut owned_pending = Box::pin(token.clone().run_until_cancelled_owned(futures::future::pending::<()>()));
    assert!(poll_once(cancelled.as_mut()).is_pending());
    assert!(poll_once(owned_pending.as_mut()).is_pending());
    drop(token.clone()); // the futures hold their own handles
    token.cancel();
    assert!(poll_once(cancelled.as_mut()).is_ready());
    assert_eq!(poll_once(owned_pending.as_mut()), Poll::Ready(None));
    assert_eq!(futures::executor::block_on(owned), None);
}
