//! Event sequences: success, failure, retries, timeouts, placeholder and progress.

use std::time::Duration;

use orchestrator_core::EventTag::{self, *};
use orchestrator_core::{EventKind, JobBuilder, JobContext, JobError, JobResult, RetryPolicy, executor_fn};

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::{Recorder, tags};

const MS: Duration = Duration::from_millis(1);

/// `(attempt, max, delay, error message)` of every Retrying event.
fn retrying(events: &[std::sync::Arc<orchestrator_core::Event>]) -> Vec<(u32, u32, Duration, String)> {
    events
        .iter()
        .filter_map(|e| match e.kind() {
            EventKind::Retrying(r) => Some((r.attempt, r.max, r.delay, r.error.message().to_owned())),
            _ => None,
        })
        .collect()
}

/// A job that succeeds emits Started then Success (with the output), all with its id and
/// type, and nothing else.
pub fn success_events<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let handle = dispatcher.dispatch(Work::quick(0)).unwrap();
        let id = handle.id();
        assert_eq!(handle.await.ok(), Some(0));
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Success]);
        assert!(events.iter().all(|e| e.id() == id && e.job_type() == "Work" && e.is_from::<Work>()));
        assert_eq!(events[1].data_as::<u32>(), Some(&0));
        assert_eq!(probe.calls(), 1);
    });
}

/// A job that fails (no retry policy) emits Started then one `Failure { retried: false }`.
pub fn failure_events<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let result = dispatcher.dispatch(Work::quick(1)).unwrap().await;
        assert_eq!(result.error().map(JobError::message), Some("attempt 0 failed"));
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Failure]);
        assert!(matches!(events[1].kind(), EventKind::Failure { retried: false, .. }));
        assert_eq!(probe.calls(), 1);
    });
}

/// k = 2 failures then a success, under a policy of 3 retries with a 1 ms base delay:
/// Started, Retrying ×2 (attempt 1 and 2 of 3, delays 1 ms and 2 ms, with the errors),
/// Success.
pub fn retries_then_success<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    let timer = rt.timer();
    rt.run(async {
        let start = timer.now();
        let job = JobBuilder::new(Work::quick(2)).retry(RetryPolicy::new().with_max_retries(3).with_base_delay(MS));
        assert_eq!(dispatcher.dispatch(job).unwrap().await.ok(), Some(2));
        if R::VIRTUAL_TIME {
            // The back-offs really elapsed on the clock: 1 ms + 2 ms.
            assert_eq!(timer.now() - start, 3 * MS);
        }
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Retrying, Retrying, Success]);
        assert_eq!(
            retrying(&events),
            [(1, 3, MS, "attempt 0 failed".to_owned()), (2, 3, 2 * MS, "attempt 1 failed".to_owned())]
        );
        assert_eq!(events[3].data_as::<u32>(), Some(&2));
        assert_eq!(probe.calls(), 3);
    });
}

/// A job that always fails, with 3 retries: exactly 3 Retrying, then exactly one
/// `Failure { retried: true }` with the last error, and nothing after it.
pub fn exhausted_retries<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let job = JobBuilder::new(Work::failing()).retry(RetryPolicy::new().with_max_retries(3).with_base_delay(MS));
        let handle = dispatcher.dispatch(job).unwrap();
        let id = handle.id();
        let result = handle.await;
        assert_eq!(result.error().map(JobError::message), Some("attempt 3 failed"));
        // `collect` waits until the job future is gone: anything it emitted is in `events`.
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, Retrying, Retrying, Retrying, Failure]);
        assert!(events.iter().all(|e| e.id() == id));
        assert_eq!(retrying(&events).iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), [(1, 3), (2, 3), (3, 3)]);
        assert!(matches!(events[4].kind(), EventKind::Failure { retried: true, .. }));
        assert_eq!(events[4].error().map(JobError::message), Some("attempt 3 failed"));
        assert_eq!(probe.calls(), 4);
    });
}

/// A job that would sleep forever, with a 20 ms timeout: `TimedOut(20 ms)`, Started then
/// TimedOut only, and the attempt future was dropped (its drop guard ran) before the
/// handle resolved.
pub fn timeout_drops_work<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    let timer = rt.timer();
    rt.run(async {
        let job = JobBuilder::new(Work::forever()).timeout(20 * MS);
        let result = dispatcher.dispatch(job).unwrap().await;
        assert!(matches!(result, JobResult::TimedOut(after) if after == 20 * MS), "{result:?}");
        assert_eq!(probe.dropped(), 1, "the running attempt was dropped before the result");
        if R::VIRTUAL_TIME {
            assert_eq!(timer.now(), 20 * MS);
        }
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, TimedOut]);
        assert!(matches!(events[1].kind(), EventKind::TimedOut { after } if *after == 20 * MS));
        assert_eq!(probe.calls(), 1);
    });
}

/// The timeout covers the whole job, back-offs included: a job that always fails, with
/// many retries, ends `TimedOut` during a back-off, one Retrying per attempt made.
pub fn timeout_covers_back_off<R: Runtime>(rt: &R) {
    let (dispatcher, probe, mut rec) = setup(rt);
    rt.run(async {
        let policy = RetryPolicy::new().with_max_retries(1_000).with_base_delay(MS).with_max_delay(4 * MS);
        let job = JobBuilder::new(Work::failing()).retry(policy).timeout(20 * MS);
        let result = dispatcher.dispatch(job).unwrap().await;
        assert!(result.is_timed_out(), "{result:?}");
        let events = rec.collect(rt, &dispatcher).await;
        let tags = tags(&events);
        let retries = tags.iter().filter(|t| **t == Retrying).count();
        // The first attempt fails at once, so at least one back-off always starts.
        assert!(retries >= 1);
        let mut expected = vec![Started];
        expected.extend(std::iter::repeat_n(Retrying, retries));
        expected.push(TimedOut);
        assert_eq!(tags, expected);
        // Attempts never block, so the timeout always interrupts a back-off.
        assert_eq!(probe.calls() as usize, retries);
        assert_eq!(probe.dropped(), 0);
        if R::VIRTUAL_TIME {
            // Attempts at 0, 1, 3, 7, 11, 15 and 19 ms; the back-off to 23 ms is cut at 20.
            assert_eq!(retries, 7);
        }
    });
}

/// A placeholder comes right after Started; progress, steps and custom events come in
/// the order the executor reported them, before the terminal event.
pub fn placeholder_and_progress<R: Runtime>(rt: &R) {
    #[derive(Clone)]
    struct Upload;
    impl orchestrator_core::Job for Upload {
        type Output = u32;
    }
    let dispatcher = rt.dispatcher();
    dispatcher.register(executor_fn(|_: Upload, ctx: JobContext| async move {
        ctx.progress(0.25).unwrap();
        ctx.progress_with(0.5, "half").unwrap();
        ctx.step(3, 4, Some("chunk 3")).unwrap();
        ctx.emit("chunk_uploaded", 3_u32).unwrap();
        Ok(4)
    }));
    let mut rec = Recorder::new(dispatcher.bus());
    rt.run(async {
        let job = JobBuilder::new(Upload).placeholder(42);
        assert_eq!(dispatcher.dispatch(job).unwrap().await.ok(), Some(4));
        let events = rec.collect(rt, &dispatcher).await;
        let expected: [EventTag; 7] =
            [Started, Placeholder, Progress, Progress, Progress, Custom("chunk_uploaded"), Success];
        assert_eq!(tags(&events), expected);
        assert_eq!(events[1].data_as::<u32>(), Some(&42));
        let p: Vec<_> = events.iter().filter_map(|e| e.progress().map(|p| (p.progress, p.step, p.total))).collect();
        assert_eq!(p, [(0.25, None, None), (0.5, None, None), (0.75, Some(3), Some(4))]);
        assert_eq!(events[3].progress().and_then(|p| p.message.as_deref()), Some("half"));
        assert_eq!(events[5].data_as::<u32>(), Some(&3));
    });
}
