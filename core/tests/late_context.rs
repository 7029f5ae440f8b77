//! Nothing after the terminal event: a `JobContext` kept past its job's end (cloned, or
//! moved into another task or thread) can no longer report for that job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::{EmitError, Job, JobContext, JobError, ProgressError, executor_fn};

#[derive(Clone)]
struct Keep;
impl Job for Keep {
    type Output = ();
}

#[test]
fn a_context_kept_past_the_job_emits_nothing_and_says_why() {
    let mut h = Harness::new();
    let kept: Arc<Mutex<Option<JobContext>>> = Arc::default();
    let keep = kept.clone();
    h.dispatcher.register(executor_fn(move |_: Keep, ctx: JobContext| {
        let keep = keep.clone();
        async move {
            ctx.progress(0.5).unwrap();
            *keep.lock().unwrap() = Some(ctx.clone());
            Ok::<_, JobError>(())
        }
    }));
    let result = h.run(h.dispatcher.dispatch(Keep).unwrap());
    assert!(result.is_success());
    let late = kept.lock().unwrap().take().unwrap();
    assert_eq!(late.progress(0.9), Err(ProgressError::JobEnded));
    assert_eq!(late.progress_with(1.0, "done"), Err(ProgressError::JobEnded));
    assert_eq!(late.step(1, 2, None), Err(ProgressError::JobEnded));
    assert_eq!(late.emit("late", 1_u8), Err(EmitError::JobEnded));
    // A clone of the late context is just as late.
    assert_eq!(late.clone().emit("later", ()), Err(EmitError::JobEnded));
    assert_eq!(tags(&h.drain()), [Started, Progress, Success]);

    // The next job of the same type (which may reuse the box and, once the late context
    // is gone, the slot) reports normally.
    drop(late);
    let result = h.run(h.dispatcher.dispatch(Keep).unwrap());
    assert!(result.is_success());
    assert_eq!(tags(&h.drain()), [Started, Progress, Success]);
    assert_eq!(kept.lock().unwrap().take().unwrap().emit("late", ()), Err(EmitError::JobEnded));
}

/// A thread reports as fast as it can while the job ends: whatever it managed to emit
/// comes before the terminal event, and everything after is refused.
#[cfg(all(not(miri), not(target_family = "wasm")))]
#[test]
fn reports_from_another_thread_never_follow_the_terminal_event() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone)]
    struct Race;
    impl Job for Race {
        type Output = ();
    }

    for _ in 0..20 {
        let mut h = Harness::new();
        let threads: Arc<Mutex<Vec<std::thread::JoinHandle<usize>>>> = Arc::default();
        let spawned = threads.clone();
        h.dispatcher.register(executor_fn(move |_: Race, ctx: JobContext| {
            let spawned = spawned.clone();
            async move {
                let sent = Arc::new(AtomicUsize::new(0));
                let counter = sent.clone();
                let reporter = ctx.clone();
                spawned.lock().unwrap().push(std::thread::spawn(move || {
                    let mut refused = 0;
                    loop {
                        match reporter.progress(0.5) {
                            Ok(()) => {
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(ProgressError::JobEnded) => {
                                refused += 1;
                                if refused == 100 {
                                    return counter.load(Ordering::Relaxed);
                                }
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }));
                // End while the thread is reporting.
                while sent.load(Ordering::Relaxed) < 50 {
                    common::yield_now().await;
                }
                Ok::<_, JobError>(())
            }
        }));
        assert!(h.run(h.dispatcher.dispatch(Race).unwrap()).is_success());
        let sent = threads.lock().unwrap().pop().unwrap().join().unwrap();
        // The bus keeps its last 1 024 events: count the ones lost to the lag too.
        let (mut events, mut missed) = (Vec::new(), 0_u64);
        loop {
            match h.events.try_next() {
                Ok(event) => events.push(event.tag()),
                Err(orchestrator_core::TryNextError::Lagged(n)) => missed += n,
                Err(_) => break,
            }
        }
        assert_eq!(events.last(), Some(&Success), "the terminal event is the job's last");
        // Started, every accepted report, Success: nothing else, nothing refused emitted.
        let total = events.len() as u64 + missed;
        assert_eq!(total, sent as u64 + 2, "every accepted report was emitted, and only those");
    }
}
