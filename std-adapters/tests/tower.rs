//! The tower adapters: a service as an executor (with tower middleware around the work),
//! the dispatcher as a service (with tower middleware around jobs), and the layer.
//! Time is tokio's paused clock: timeouts and back-offs elapse without waiting.
#![cfg(all(feature = "tower", feature = "tokio"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrator_std::EventTag::*;
use orchestrator_std::HANDLE_DROPPED;
use orchestrator_std::tower::{DispatchLayer, DispatchService, ServiceExecutor};
use orchestrator_std::{
    DispatchError, Dispatcher, EventKind, Job, JobBuilder, JobError, JobErrorKind, JobResult, Registration,
    RetryPolicy, Subscription, executor_fn,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Clone)]
struct Lookup(u32);
impl Job for Lookup {
    type Output = String;
}

#[derive(Clone)]
struct Hang;
impl Job for Hang {
    type Output = ();
}

#[derive(Debug)]
struct Unavailable;
impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("503 from upstream")
    }
}
impl std::error::Error for Unavailable {}

fn dispatcher() -> (Dispatcher, Subscription) {
    let dispatcher = orchestrator_std::tokio::dispatcher().unwrap();
    let events = dispatcher.bus().subscribe().unwrap();
    (dispatcher, events)
}

/// The events received so far, for the job `id`.
async fn events_of(
    events: &mut Subscription,
    id: orchestrator_std::JobId,
    until: fn(&EventKind) -> bool,
) -> Vec<EventKind> {
    use futures::StreamExt;
    let mut seen = Vec::new();
    let watch = async {
        while let Some(Ok(event)) = events.next().await {
            if event.id() == id {
                let end = until(event.kind());
                seen.push(event.kind().clone());
                if end {
                    break;
                }
            }
        }
    };
    assert!(tokio::time::timeout(Duration::from_secs(60), watch).await.is_ok(), "no end event");
    seen
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_is_an_executor_whose_errors_are_retried_as_job_errors() {
    let (dispatcher, mut events) = dispatcher();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let service = service_fn(move |job: Lookup| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move { if call == 0 { Err(Unavailable) } else { Ok(format!("user #{}", job.0)) } }
    });
    assert_eq!(dispatcher.register(ServiceExecutor::new(service)), Registration::Added);

    let job = JobBuilder::new(Lookup(7))
        .retry(RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_millis(1)));
    let handle = dispatcher.dispatch(job).unwrap();
    let id = handle.id();
    assert!(matches!(handle.await, JobResult::Success(ref s) if s == "user #7"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let kinds = events_of(&mut events, id, EventKind::is_terminal).await;
    let retry_error = kinds.iter().find_map(|k| match k {
        EventKind::Retrying(r) => Some(r.error.clone()),
        _ => None,
    });
    let retry_error = retry_error.expect("the failed call was retried");
    assert!(retry_error.is::<Unavailable>(), "the service's error, wrapped: {retry_error:?}");
    dispatcher.shutdown();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn tower_middleware_around_the_work_reports_its_errors_as_the_jobs() {
    let (dispatcher, _events) = dispatcher();
    // A timeout layer inside the executor: the job fails with tower's `Elapsed`.
    let slow = ServiceBuilder::new()
        .timeout(Duration::from_millis(5))
        .service(service_fn(|_: Hang| async { futures::future::pending::<Result<(), JobError>>().await }));
    dispatcher.register(ServiceExecutor::new(slow));
    let result = dispatcher.dispatch(JobBuilder::new(Hang).no_retry()).unwrap().await;
    let error = result.error().cloned().expect("a failure");
    assert_eq!(error.kind(), JobErrorKind::Failed);
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error:?}");
    dispatcher.shutdown();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dispatch_service_answers_with_the_jobs_result_or_the_refusal() {
    let (dispatcher, _events) = dispatcher();
    dispatcher.register(executor_fn(|job: Lookup, _| async move { Ok::<_, JobError>(format!("user #{}", job.0)) }));
    let service = DispatchService::<Lookup>::new(dispatcher.clone());
    assert_eq!(service.registration(), None);

    let result = service.clone().oneshot(Lookup(1)).await.unwrap();
    assert!(matches!(result, JobResult::Success(ref s) if s == "user #1"));
    let configured = JobBuilder::new(Lookup(2)).timeout(Duration::from_secs(5));
    let result = DispatchService::new(dispatcher.clone()).oneshot(configured).await.unwrap();
    assert!(matches!(result, JobResult::Success(ref s) if s == "user #2"));

    // No executor for `Hang`: the refusal is the service's error.
    let refused = DispatchService::new(dispatcher.clone()).oneshot(Hang).await.unwrap_err();
    assert_eq!(refused, DispatchError::NoExecutor { job_type: "Hang" });

    // As a service of outputs and `JobError`s, for handlers that want a `Result`.
    let mut plain = service.clone().map_result(|r| r.map_err(JobError::new).and_then(JobResult::into_result));
    let output: String = plain.ready().await.unwrap().call(Lookup(3)).await.unwrap();
    assert_eq!(output, "user #3");
    dispatcher.shutdown();
    let refused = service.oneshot(Lookup(4)).await.unwrap_err();
    assert_eq!(refused, DispatchError::ShutDown);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_timeout_layer_around_a_job_service_cancels_the_job() {
    let (dispatcher, mut events) = dispatcher();
    dispatcher.register(executor_fn(|_: Hang, _| futures::future::pending::<Result<(), JobError>>()));
    let jobs = ServiceBuilder::new()
        .timeout(Duration::from_millis(5))
        .service(DispatchService::<Hang>::new(dispatcher.clone()));
    let error = jobs.oneshot(Hang).await.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>());

    // The dropped response future cancelled the job, with the reason saying why.
    use futures::StreamExt;
    let mut tags = Vec::new();
    let mut reason = None;
    let watch = async {
        while let Some(Ok(event)) = events.next().await {
            tags.push(event.tag());
            if let EventKind::Cancelled { reason: r } = event.kind() {
                reason = r.clone();
                break;
            }
        }
    };
    // (Paused time: the bound elapses at once if the job is never cancelled.)
    assert!(tokio::time::timeout(Duration::from_secs(60), watch).await.is_ok(), "the job was not cancelled");
    assert_eq!(tags, [Started, Cancelled]);
    assert_eq!(reason.as_deref(), Some(HANDLE_DROPPED));
    dispatcher.shutdown();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_layer_runs_the_wrapped_service_as_jobs() {
    let (dispatcher, mut events) = dispatcher();
    let inner = service_fn(|job: Lookup| async move { Ok::<_, Unavailable>(format!("user #{}", job.0)) });
    let mut jobs = DispatchLayer::<Lookup>::new(dispatcher.clone()).layer(inner);
    assert_eq!(jobs.registration(), Some(Registration::Added));
    assert!(dispatcher.is_registered::<Lookup>());

    let result = jobs.ready().await.unwrap().call(Lookup(9)).await.unwrap();
    assert!(matches!(result, JobResult::Success(ref s) if s == "user #9"));
    use futures::StreamExt;
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.tag(), Started);
    assert_eq!(first.job_type(), "Lookup");

    // Layering again replaces the executor, and says so.
    let again = DispatchLayer::<Lookup>::new(dispatcher.clone())
        .layer(service_fn(|_: Lookup| async { Ok::<_, Unavailable>(String::new()) }));
    assert_eq!(again.registration(), Some(Registration::Replaced));
    dispatcher.shutdown();
}
