//! `JobError` is a `core::error::Error`: a job's outcome goes into `Box<dyn Error>` and
//! `anyhow::Error` with `?`, with its source chain; the crate's own errors go into a
//! `JobError` with `?` inside executors; every public error type is an `Error`.
//!
//! Threaded targets only: on `wasm32` (and with `--cfg orchestrator_unsync`) a `JobError`
//! may wrap a `!Send` error, so it is not `Send + Sync` and goes into `Box<dyn Error>`.
#![cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use core::error::Error;
use core::fmt;
use std::time::Duration;

use common::Harness;
use orchestrator_core::cache::CacheError;
use orchestrator_core::{
    AskError, BusCapacityError, DispatchError, EmitError, Job, JobBuilder, JobContext, JobError, JobErrorKind,
    JobResult, ProgressError, RetryBudget, RetryPolicy, SendError, StartError, WaitError, executor_fn,
};

/// A low-level error (the root of the chain).
#[derive(Debug)]
struct Refused;
impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused")
    }
}
impl Error for Refused {}

/// A user's error with a source.
#[derive(Debug)]
struct Upstream(Refused);
impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("upstream unavailable")
    }
}
impl Error for Upstream {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

/// `?` on it in an executor works once the user writes this.
impl From<Upstream> for JobError {
    fn from(error: Upstream) -> Self {
        JobError::new(error)
    }
}

#[derive(Clone)]
struct Call;
impl Job for Call {
    type Output = u32;
}

fn failing_call() -> Result<u32, Upstream> {
    Err(Upstream(Refused))
}

/// Runs one `Call` whose executor fails with `Upstream(Refused)` through `?`.
fn failed_result() -> JobResult<u32> {
    let h = Harness::new();
    h.dispatcher.register(executor_fn(|_: Call, _| async move {
        let n = failing_call()?; // the user's own `From<Upstream> for JobError`
        Ok(n)
    }));
    let handle = h.dispatcher.dispatch(Call).unwrap();
    h.run(handle)
}

fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

#[test]
fn into_result_goes_into_a_boxed_error_with_its_source_chain() {
    fn caller() -> Result<u32, Box<dyn Error + Send + Sync>> {
        let n = failed_result().into_result()?;
        Ok(n)
    }
    let error = caller().unwrap_err();
    assert_eq!(chain(&*error), ["upstream unavailable", "upstream unavailable", "connection refused"]);
    let job_error = error.downcast_ref::<JobError>().expect("the JobError itself");
    assert_eq!(job_error.kind(), JobErrorKind::Failed);
    assert!(job_error.is::<Upstream>());
    let upstream = Error::source(job_error).and_then(|s| s.downcast_ref::<Upstream>());
    assert!(upstream.is_some(), "the wrapped error is the first source");
}

#[test]
fn into_result_goes_into_anyhow_with_its_source_chain() {
    fn caller() -> anyhow::Result<u32> {
        let n = failed_result().into_result()?;
        Ok(n)
    }
    let error = caller().unwrap_err();
    let job_error = error.downcast_ref::<JobError>().expect("anyhow keeps the JobError");
    assert!(job_error.is::<Upstream>());
    assert!(error.chain().any(|e| e.is::<Refused>()), "the root cause is in anyhow's chain");
    assert_eq!(format!("{error:#}"), "upstream unavailable: upstream unavailable: connection refused");
}

#[test]
fn cancellation_and_timeout_go_into_errors_too() {
    fn outcome<T>(result: JobResult<T>) -> anyhow::Result<T> {
        Ok(result.into_result()?)
    }
    let cancelled = outcome(JobResult::<()>::Cancelled(Some("client went away".into()))).unwrap_err();
    assert_eq!(cancelled.to_string(), "job cancelled: client went away");
    let timed_out = outcome(JobResult::<()>::TimedOut(Duration::from_secs(2))).unwrap_err();
    assert_eq!(timed_out.to_string(), "job timed out after 2s");
    assert_eq!(outcome(JobResult::Success(5_u8)).unwrap(), 5);
}

#[test]
fn a_budget_refusal_chains_to_the_last_attempts_error() {
    let h = Harness::new();
    h.dispatcher.register(executor_fn(|_: Call, _| async move { Err(JobError::new(Upstream(Refused))) }));
    // A budget with no reserve and no successes refuses the first retry.
    let budget = RetryBudget::builder().min_retries(0).build();
    let policy = RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(1)).with_budget(budget);
    let handle = h.dispatcher.dispatch(JobBuilder::new(Call).retry(policy)).unwrap();
    let error = h.run(handle).into_result().unwrap_err();
    assert_eq!(error.kind(), JobErrorKind::RetryBudgetExhausted);

    let cause = Error::source(&error).and_then(|s| s.downcast_ref::<JobError>()).expect("the cause first");
    assert!(error.cause().is_some_and(|c| c.ptr_eq(cause)));
    assert_eq!(cause.kind(), JobErrorKind::Failed);
    let boxed: Box<dyn Error + Send + Sync> = error.into();
    assert_eq!(
        chain(&*boxed),
        ["upstream unavailable", "upstream unavailable", "upstream unavailable", "connection refused"]
    );
}

#[test]
fn the_crates_own_errors_convert_with_question_mark_inside_executors() {
    #[derive(Clone)]
    struct Report(u8);
    impl Job for Report {
        type Output = ();
    }
    let h = Harness::new();
    h.dispatcher.register(executor_fn(|job: Report, ctx: JobContext| async move {
        match job.0 {
            0 => ctx.step(3, 2, None)?,                                    // ProgressError
            1 => ctx.read_cache::<u8>("").await.map(drop)?,                // CacheError
            2 => Err(Box::<dyn Error + Send + Sync>::from("boxed text"))?, // a boxed error
            3 => Err(String::from("a string"))?,
            _ => Err(JobError::panicked("as it is"))?, // a JobError passes unchanged
        }
        Ok(())
    }));
    let messages: Vec<(JobErrorKind, String)> = (0..5)
        .map(|n| {
            let handle = h.dispatcher.dispatch(Report(n)).unwrap();
            let error = h.run(handle).into_result().unwrap_err();
            (error.kind(), error.to_string())
        })
        .collect();
    assert_eq!(
        messages,
        [
            (JobErrorKind::Failed, ProgressError::StepOutOfRange { step: 3, total: 2 }.to_string()),
            (JobErrorKind::Failed, CacheError::empty_key().to_string()),
            (JobErrorKind::Failed, "boxed text".to_string()),
            (JobErrorKind::Failed, "a string".to_string()),
            (JobErrorKind::Panicked, "as it is".to_string()),
        ]
    );
    let step = JobError::from(ProgressError::ZeroTotal);
    assert_eq!(step.downcast_ref::<ProgressError>(), Some(&ProgressError::ZeroTotal));
}

#[test]
fn a_job_error_is_never_wrapped_in_another() {
    let original = JobError::msg("once");
    assert!(JobError::new(original.clone()).ptr_eq(&original));
    let boxed: Box<dyn Error + Send + Sync> = Box::new(original.clone());
    assert!(JobError::from(boxed).ptr_eq(&original));
    assert!(Error::source(&original).is_none());
}

#[test]
fn every_public_error_type_is_an_error_and_converts_into_a_job_error() {
    fn check<E: Error + fmt::Display + Send + Sync + 'static>(error: E) -> JobError
    where
        JobError: From<E>,
    {
        let text = error.to_string();
        assert!(!text.is_empty());
        let job_error = JobError::from(error);
        assert_eq!(job_error.message(), text);
        assert!(job_error.is::<E>(), "{text}: stays downcastable");
        job_error
    }
    check(DispatchError::ShutDown);
    check(EmitError::JobEnded);
    check(ProgressError::NotANumber);
    check(WaitError::BusClosed);
    check(StartError::BusClosed);
    check(AskError::NoReply);
    check(BusCapacityError::OutOfMemory { requested: 9 });
    check(orchestrator_core::BusClosed);
    check(orchestrator_core::Lagged(3));
    check(orchestrator_core::TryNextError::Empty);
    check(orchestrator_core::runtime::SpawnError);
    check(orchestrator_core::runtime::Stalled);
    check(SendError::Closed(7_u8));
    check("x".parse::<orchestrator_core::JobId>().unwrap_err());
    let cache = CacheError::no_provider();
    check(cache);
    // And `JobError` itself (converted by identity).
    fn is_error<E: Error + Send + Sync + 'static>() {}
    is_error::<JobError>();
}
