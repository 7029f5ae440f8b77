//! Bad input is refused at dispatch (nothing emitted, nothing run); executor panics
//! become failures.

use std::time::Duration;

use orchestrator_core::EventTag::*;
use orchestrator_core::{DispatchError, EventKind, Job, JobBuilder, JobError, JobResult, RetryPolicy, executor_fn};

use super::{Work, register_work, setup};
use crate::runtime::Runtime;
use crate::util::{Latch, Recorder, tags};

/// A job type nobody registered an executor for.
#[derive(Debug)]
pub struct Unregistered;
impl Job for Unregistered {
    type Output = ();
}

/// A zero timeout is refused (`ZeroTimeout`), `Duration::MAX` means no deadline.
pub fn zero_timeout_is_refused<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let refused = dispatcher.dispatch(JobBuilder::new(Work::quick(0)).timeout(Duration::ZERO));
        assert_eq!(refused.err(), Some(DispatchError::ZeroTimeout { job_type: "Work" }));
        let events = rec.collect(rt, &dispatcher).await;
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(probe.calls(), 0);

        let unlimited = JobBuilder::new(Work::quick(0)).timeout(Duration::MAX);
        assert!(dispatcher.dispatch(unlimited).unwrap().await.is_success());
    });
}

/// A job type without an executor is refused (`NoExecutor` naming it); so is any job
/// after `shutdown` (`ShutDown`). Nothing is emitted.
pub fn unregistered_type_is_refused<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let refused = dispatcher.dispatch(Unregistered);
        assert_eq!(refused.err(), Some(DispatchError::NoExecutor { job_type: "Unregistered" }));
        assert!(dispatcher.unregister::<Work>());
        assert_eq!(dispatcher.dispatch(Work::quick(0)).err(), Some(DispatchError::NoExecutor { job_type: "Work" }));
        register_work(rt, &dispatcher);
        assert!(dispatcher.shutdown());
        assert_eq!(dispatcher.dispatch(Work::quick(0)).err(), Some(DispatchError::ShutDown));
        let events = rec.collect(rt, &dispatcher).await;
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(probe.calls(), 0);
        assert_eq!(dispatcher.stats().pending, 0);
    });
}

/// Beyond `max_pending` unfinished jobs, dispatch is refused (`Overloaded`); once a job
/// finishes there is room again.
pub fn overload_is_refused<R: Runtime>(rt: &R) {
    let dispatcher = rt.build_dispatcher(|b| b.max_pending(1));
    let probe = register_work(rt, &dispatcher);
    rt.run(async {
        let gate = Latch::new();
        let first = dispatcher.dispatch(Work::gated(&gate)).unwrap();
        assert_eq!(dispatcher.dispatch(Work::quick(0)).err(), Some(DispatchError::Overloaded { limit: 1 }));
        gate.open();
        assert!(first.await.is_success());
        assert!(dispatcher.dispatch(Work::quick(0)).unwrap().await.is_success());
        assert_eq!(probe.calls(), 2);
    });
}

/// An executor that panics ends its job as a `Failure` carrying the panic message
/// (`&str` and `String` payloads), is not retried (a panic is a bug, not a transient
/// failure), and the dispatcher keeps working.
pub fn executor_panic_is_failure<R: Runtime>(rt: &R) {
    #[derive(Clone)]
    struct Boom(u32);
    impl Job for Boom {
        type Output = u32;
    }
    let dispatcher = rt.dispatcher();
    dispatcher.register(executor_fn(|job: Boom, _| async move {
        match job.0 {
            0 => panic!("kaboom"),
            1 => panic!("kaboom #{}", job.0),
            n => Ok::<_, JobError>(n),
        }
    }));
    let mut rec = Recorder::new(dispatcher.bus());
    rt.run(async {
        let job = JobBuilder::new(Boom(0)).retry(RetryPolicy::new().with_base_delay(Duration::from_millis(1)));
        let result = dispatcher.dispatch(job).unwrap().await;
        let JobResult::Failure(error) = result else { panic!("expected a failure, got {result:?}") };
        assert!(error.is_panic(), "{error:?}");
        assert_eq!(error.message(), "kaboom");

        let result = dispatcher.dispatch(Boom(1)).unwrap().await;
        assert_eq!(result.error().map(JobError::message), Some("kaboom #1"));
        assert!(result.error().is_some_and(JobError::is_panic));

        // The dispatcher and its runners survived.
        assert_eq!(dispatcher.dispatch(Boom(7)).unwrap().await.ok(), Some(7));

        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Failure, Started, Failure, Started, Success]);
        assert!(matches!(events[1].kind(), EventKind::Failure { retried: false, .. }));
    });
}
