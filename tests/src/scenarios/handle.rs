//! `JobHandle`: late await, cancel only its job, awaited after the bus closed, dropped.

use orchestrator_core::EventTag::*;
use orchestrator_core::{Bus, CancellationToken, DispatchError, JobBuilder, JobResult};

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::{Latch, settle, tags, tags_of};

/// A handle awaited long after its job ended still gets the result; awaited again, it
/// says so with a `Failure` (no panic).
pub fn handle_late_await<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    rt.run(async {
        let mut handle = dispatcher.dispatch(Work::quick(0)).unwrap();
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags_of(&events, handle.id()), [Started, Success]);
        assert!(handle.is_finished());
        assert_eq!((&mut handle).await.ok(), Some(0));
        let again = (&mut handle).await;
        assert_eq!(
            again.error().map(|e| e.message()),
            Some("job handle polled after it returned its result"),
            "{again:?}"
        );
        // `try_result` after the result was taken: nothing.
        assert!(handle.try_result().is_none());
    });
}

/// `JobHandle::cancel` cancels its own job only, even when jobs share a token, and the
/// shared token stays uncancelled.
pub fn handle_cancel_only_its_job<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut rec) = setup(rt);
    rt.run(async {
        let shared = CancellationToken::new();
        let gate = Latch::new();
        let gated = || JobBuilder::new(Work::gated(&gate)).cancel_token(shared.clone());
        let a = dispatcher.dispatch(gated()).unwrap();
        let b = dispatcher.dispatch(gated()).unwrap();
        let (a_id, b_id) = (a.id(), b.id());
        assert!(a.cancel());
        assert!(a.await.is_cancelled());
        assert!(!b.is_finished());
        gate.open();
        // `b`'s output is its attempt's call number: 0 or 1, depending on whether `a`'s
        // attempt had begun when it was cancelled.
        let result = b.await;
        assert!(result.is_success(), "{result:?}");
        assert!(!shared.is_cancelled());
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags_of(&events, a_id), [Started, Cancelled]);
        assert_eq!(tags_of(&events, b_id), [Started, Success]);
    });
}

/// The handle does not depend on the bus: awaited after the bus closed, or for a job
/// whose bus closed before it ran, it gets the real result. A closed bus takes no new
/// job: dispatch says `BusClosed` and nothing runs.
pub fn handle_after_bus_closed<R: Runtime>(rt: &R) {
    let (dispatcher, probe, _) = setup(rt);
    rt.run(async {
        // Finished, then the bus closes, then the handle is awaited.
        let first = dispatcher.dispatch(Work::quick(0)).unwrap();
        settle(rt, &dispatcher).await;
        // Dispatched on a scoped bus that closes right away, maybe before the job runs:
        // its events go nowhere, its result still comes.
        let scoped = Bus::new();
        let second = dispatcher.dispatch_on(&scoped, Work::quick(0)).unwrap();
        assert!(scoped.close());
        assert!(dispatcher.bus().close());
        assert!(matches!(first.await, JobResult::Success(0)));
        assert!(matches!(second.await, JobResult::Success(1)));

        // A closed bus, the dispatcher's own or a scoped one, takes no new job.
        let refused = dispatcher.dispatch(Work::quick(0)).map(|_| ());
        assert_eq!(refused, Err(DispatchError::BusClosed));
        let refused = dispatcher.dispatch_on(&scoped, Work::quick(0)).map(|_| ());
        assert_eq!(refused, Err(DispatchError::BusClosed));
        assert_eq!(dispatcher.stats().pending, 0);
        assert_eq!(probe.calls(), 2);
    });
}

/// Dropping a handle does not cancel its job: it runs to its end.
pub fn handle_drop_does_not_cancel<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let gate = Latch::new();
        let handle = dispatcher.dispatch(Work::gated(&gate)).unwrap();
        let id = handle.id();
        drop(handle);
        gate.open();
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Success]);
        assert!(events.iter().all(|e| e.id() == id));
        assert_eq!(probe.dropped(), 0);
    });
}
