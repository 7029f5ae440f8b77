//! The bridges to and from `tokio_util::sync::CancellationToken`: both directions
//! follow cancellation, and a dropped link keeps no token alive.
#![cfg(feature = "tokio-util")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use orchestrator_std::CancellationToken;
use orchestrator_std::tokio_util::{CANCELLED_BY_TOKIO, TokioCancellationToken, from_tokio, to_tokio};

/// Lets the current-thread runtime run its other tasks (a bounded number of turns, no
/// waiting on time) until `done` holds.
async fn turns_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    done()
}

/// A sentinel kept by a listener on `token`: it is released exactly when the token's
/// shared state is freed, i.e. when nothing holds the token any more.
fn watch_release(token: &CancellationToken) -> Arc<()> {
    let sentinel = Arc::new(());
    let kept = sentinel.clone();
    token.on_cancel(move |_| drop(kept));
    sentinel
}

#[test]
fn ours_to_tokio_follows_cancellation_and_parents() {
    let parent = CancellationToken::new();
    let ours = parent.child_token();
    let link = to_tokio(&ours);
    let theirs = link.token().clone();
    assert!(!theirs.is_cancelled());
    parent.cancel_with_reason("shutting down");
    assert!(theirs.is_cancelled(), "a parent's cancellation reaches the tokio-util token");

    let done = CancellationToken::new();
    done.cancel();
    assert!(to_tokio(&done).token().is_cancelled(), "an already cancelled token links cancelled");
}

#[test]
fn a_dropped_to_tokio_link_leaves_nothing_behind() {
    let ours = CancellationToken::new();
    let link = to_tokio(&ours);
    let theirs = link.token().clone();
    assert_eq!(ours.listener_count(), 1);
    drop(link);
    assert_eq!(ours.listener_count(), 0, "the listener (and its tokio-util handle) is gone");
    ours.cancel();
    assert!(!theirs.is_cancelled(), "the link ended with its value");

    // Many short links on one long-lived token do not pile up.
    let long_lived = CancellationToken::new();
    for _ in 0..1_000 {
        let link = to_tokio(&long_lived);
        drop(link);
    }
    assert_eq!(long_lived.listener_count(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_to_ours_follows_cancellation_with_a_reason() {
    let theirs = TokioCancellationToken::new();
    let link = from_tokio(&theirs).unwrap();
    let ours = link.token().clone();
    assert!(!ours.is_cancelled());
    theirs.cancel();
    ours.cancelled().await;
    assert_eq!(ours.reason().as_deref(), Some(CANCELLED_BY_TOKIO));

    let already = TokioCancellationToken::new();
    already.cancel();
    let link = from_tokio(&already).unwrap();
    assert!(link.token().is_cancelled(), "an already cancelled token links cancelled");
}

#[tokio::test(flavor = "current_thread")]
async fn a_dropped_from_tokio_link_ends_its_task_and_frees_our_token() {
    let theirs = TokioCancellationToken::new();
    let link = from_tokio(&theirs).unwrap();
    let ours = link.token().clone();
    let sentinel = watch_release(&ours);
    tokio::task::yield_now().await; // the task is waiting on both tokens now
    drop(link);
    drop(ours);
    assert!(
        turns_until(|| Arc::strong_count(&sentinel) == 1).await,
        "the aborted task released the last handle to our token"
    );
    theirs.cancel(); // nothing left to follow it: no panic, nothing happens

    // Our token cancelled first ends the task too, without touching the tokio-util token.
    let theirs = TokioCancellationToken::new();
    let link = from_tokio(&theirs).unwrap();
    tokio::task::yield_now().await;
    assert!(link.is_linked());
    link.token().cancel();
    assert!(turns_until(|| !link.is_linked()).await, "the task ended with the cancellation");
    assert!(!theirs.is_cancelled(), "one way only");
}

#[test]
fn from_tokio_outside_a_runtime_is_an_error_not_a_panic() {
    let theirs = TokioCancellationToken::new();
    assert!(from_tokio(&theirs).is_err());
}
