//! Cancellation: while running, before start, during a back-off, many jobs by one token.

use std::time::Duration;

use orchestrator_core::EventTag::*;
use orchestrator_core::{CancellationToken, EventKind, JobBuilder, JobResult, RetryPolicy};

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::{Recorder, tags, tags_of};

/// Cancelling a job whose attempt is running (it sleeps forever): `Cancelled` with the
/// reason, Started then Cancelled only, and the attempt future was dropped.
pub fn cancel_while_running<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let handle = dispatcher.dispatch(Work::forever()).unwrap();
        // Wait until the executor itself runs, so the cancellation interrupts it.
        probe.entered.wait().await;
        assert!(handle.cancel_with_reason("user pressed cancel"));
        assert!(!handle.cancel(), "already cancelled");
        let result = handle.await;
        assert!(matches!(&result, JobResult::Cancelled(Some(r)) if &**r == "user pressed cancel"), "{result:?}");
        assert_eq!(probe.dropped(), 1, "the running attempt was dropped before the result");
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Cancelled]);
        assert!(matches!(events[1].kind(), EventKind::Cancelled { reason: Some(r) } if &**r == "user pressed cancel"));
        assert_eq!(probe.calls(), 1);
    });
}

/// A job whose token is cancelled before it starts: Started, its Placeholder, Cancelled;
/// the executor is never called.
pub fn cancel_before_start<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let token = CancellationToken::new();
        token.cancel();
        let job = JobBuilder::new(Work::quick(0)).cancel_token(token).placeholder(99);
        let result = dispatcher.dispatch(job).unwrap().await;
        assert!(matches!(result, JobResult::Cancelled(None)), "{result:?}");
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Placeholder, Cancelled]);
        assert_eq!(probe.calls(), 0);
    });
}

/// Cancelling a job during its retry back-off (an hour long): Started, Retrying,
/// Cancelled, and no further attempt, ever (the job future is gone; on virtual time the
/// clock is also moved past the end of the back-off).
pub fn cancel_during_back_off<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    let mut watch = Recorder::new(dispatcher.bus());
    rt.run(async {
        let policy = RetryPolicy::new().with_max_retries(5).with_base_delay(Duration::from_secs(3600));
        let handle = dispatcher.dispatch(JobBuilder::new(Work::failing()).retry(policy)).unwrap();
        // The first attempt fails at once; the Retrying event comes right before the back-off.
        watch.wait_for(handle.id(), Retrying).await;
        assert!(handle.cancel());
        assert!(handle.await.is_cancelled());
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Retrying, Cancelled]);
        assert_eq!(probe.calls(), 1);
        if R::VIRTUAL_TIME {
            rt.sleep(Duration::from_secs(2 * 3600)).await;
            assert!(rec.collect_now().await.is_empty());
            assert_eq!(probe.calls(), 1);
        }
    });
}

/// One token given to several jobs cancels all of them; each ends exactly once.
pub fn shared_token_cancels_all<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let token = CancellationToken::new();
        let handles: Vec<_> = (0..3)
            .map(|_| dispatcher.dispatch(JobBuilder::new(Work::forever()).cancel_token(token.clone())).unwrap())
            .collect();
        let ids: Vec<_> = handles.iter().map(|h| h.id()).collect();
        token.cancel_with_reason("shutting down");
        for handle in handles {
            let result = handle.await;
            assert!(matches!(&result, JobResult::Cancelled(Some(r)) if &**r == "shutting down"), "{result:?}");
        }
        let events = rec.collect(rt, &dispatcher).await;
        for id in ids {
            // Started, then Cancelled (whether or not the attempt had begun).
            assert_eq!(tags_of(&events, id), [Started, Cancelled]);
        }
        assert_eq!(probe.dropped(), probe.calls(), "every attempt that began was dropped");
    });
}
