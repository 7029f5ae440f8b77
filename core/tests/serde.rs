//! The `serde` feature: round trips through JSON of ids, event tags, errors, results,
//! states and policies, and the serializable view of real job events.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Harness;
use orchestrator_core::cache::CachePolicy;
use orchestrator_core::{
    AsyncState, AsyncStatus, Event, EventTag, Job, JobBuilder, JobContext, JobError, JobErrorKind, JobId, JobResult,
    ParseJobIdError, RetryBudget, RetryPolicy, executor_fn,
};
use orchestrator_core::{Backoff, Jitter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read back: {e}"))
}

#[test]
fn job_ids_print_and_parse_back_as_equal_ids() {
    for prefix in ["FetchUser", "my-job", "", "ünïcode"] {
        let id = JobId::next(prefix);
        let text = id.to_string();
        let parsed: JobId = text.parse().unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.prefix(), prefix);
        assert_eq!(parsed.to_string(), text);
        assert_eq!(serde_json::to_value(id).unwrap(), json!(text));
        assert_eq!(round_trip(&id), id);
    }
}

#[test]
fn bad_job_id_text_is_a_typed_error() {
    let cases: [(&str, ParseJobIdError); 7] = [
        ("FetchUser", ParseJobIdError::NoSeparator),
        ("FetchUser-", ParseJobIdError::InvalidSequence),
        ("FetchUser-x1", ParseJobIdError::InvalidSequence),
        ("FetchUser-+1", ParseJobIdError::InvalidSequence),
        ("FetchUser-01", ParseJobIdError::InvalidSequence),
        ("FetchUser-18446744073709551616", ParseJobIdError::InvalidSequence), // u64::MAX + 1
        ("FetchUser- 1", ParseJobIdError::InvalidSequence),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<JobId>(), Err(expected), "{text}");
    }
    let long = format!("{}-1", "p".repeat(JobId::MAX_PARSED_NAME_LEN + 1));
    assert_eq!(
        long.parse::<JobId>(),
        Err(ParseJobIdError::PrefixTooLong { len: JobId::MAX_PARSED_NAME_LEN + 1, max: JobId::MAX_PARSED_NAME_LEN })
    );
    assert_eq!("a-18446744073709551615".parse::<JobId>().map(|id| id.seq()), Ok(u64::MAX));
    let error = serde_json::from_value::<JobId>(json!("no separator")).unwrap_err();
    assert!(error.to_string().contains("no `-`"), "{error}");
    assert!(serde_json::from_value::<JobId>(json!(17)).is_err());
}

#[test]
fn parsing_the_same_prefix_again_keeps_no_new_copy() {
    let id = JobId::next("ParsedOften");
    let first: JobId = id.to_string().parse().unwrap();
    let kept = JobId::parsed_names();
    for _ in 0..1_000 {
        let again: JobId = id.to_string().parse().unwrap();
        assert!(std::ptr::eq(again.prefix(), first.prefix()));
    }
    // (Other tests of this binary may add their own names meanwhile, never this one.)
    assert!(JobId::parsed_names() >= kept);
}

#[test]
fn event_tags_round_trip() {
    let tags = [
        EventTag::Started,
        EventTag::Placeholder,
        EventTag::CacheHit,
        EventTag::Progress,
        EventTag::Retrying,
        EventTag::Success,
        EventTag::Failure,
        EventTag::Cancelled,
        EventTag::TimedOut,
        EventTag::Custom("user_logged_out"),
        EventTag::HooksSuppressed,
    ];
    for tag in tags {
        assert_eq!(round_trip(&tag), tag);
    }
    assert_eq!(serde_json::to_value(EventTag::Started).unwrap(), json!("Started"));
    assert_eq!(serde_json::to_value(EventTag::Custom("ping")).unwrap(), json!({ "Custom": "ping" }));
    assert!(serde_json::from_value::<EventTag>(json!("Exploded")).is_err());
}

#[test]
fn job_errors_keep_their_kind_message_and_cause() {
    let failed = JobError::new(std::io::Error::other("disk full"));
    assert_eq!(serde_json::to_value(&failed).unwrap(), json!({ "kind": "Failed", "message": "disk full" }));
    let back = round_trip(&failed);
    assert_eq!(back, failed);
    assert_eq!((back.kind(), back.message()), (JobErrorKind::Failed, "disk full"));
    assert!(back.source().is_none(), "the wrapped io::Error is not written");

    let panicked = round_trip(&JobError::panicked("index out of bounds"));
    assert!(panicked.is_panic());

    let refused = JobError::retry_budget_exhausted(JobError::msg("503"));
    let back = round_trip(&refused);
    assert_eq!(back.kind(), JobErrorKind::RetryBudgetExhausted);
    assert_eq!(back.cause().map(JobError::message), Some("503"));
    assert_eq!(back, refused);

    let bad = serde_json::from_value::<JobError>(json!({ "kind": "Failed", "message": "x", "extra": 1 }));
    assert!(bad.is_err(), "unknown fields are refused");
}

/// Results have no `PartialEq` (errors compare by kind and message only): compare their
/// JSON, and check the variant.
fn result_round_trip<T: Serialize + DeserializeOwned>(result: &JobResult<T>) -> JobResult<T> {
    let back = round_trip(result);
    assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(result).unwrap());
    back
}

#[test]
fn job_results_round_trip() {
    assert!(matches!(result_round_trip(&JobResult::Success(7_u32)), JobResult::Success(7)));
    let failure: JobResult<u32> = JobResult::Failure(JobError::msg("nope"));
    assert!(matches!(result_round_trip(&failure), JobResult::Failure(e) if e.message() == "nope"));
    let cancelled: JobResult<u32> = JobResult::Cancelled(Some(Arc::from("client left")));
    assert!(matches!(result_round_trip(&cancelled), JobResult::Cancelled(Some(r)) if &*r == "client left"));
    assert!(matches!(result_round_trip(&JobResult::<u32>::Cancelled(None)), JobResult::Cancelled(None)));
    let timed_out: JobResult<String> = JobResult::TimedOut(Duration::from_millis(1500));
    assert!(matches!(result_round_trip(&timed_out), JobResult::TimedOut(d) if d == Duration::from_millis(1500)));
    assert_eq!(serde_json::to_value(JobResult::Success("ok")).unwrap(), json!({ "Success": "ok" }));
}

#[test]
fn async_states_round_trip_and_refuse_broken_invariants() {
    let states: Vec<AsyncState<u32>> = vec![
        AsyncState::new(),
        AsyncState::loading(),
        AsyncState::success(3).to_loading(),
        AsyncState::new().to_refreshing(),
        AsyncState::success(4).to_refreshing(),
        AsyncState::success(5),
        AsyncState::failure(JobError::msg("down")),
        AsyncState::success(6).to_failure(JobError::msg("stale")),
    ];
    for state in &states {
        assert_eq!(&round_trip(state), state);
    }
    assert_eq!(
        serde_json::to_value(AsyncState::<u32>::success(5)).unwrap(),
        json!({ "status": "Success", "data": 5, "error": null })
    );
    for broken in [
        json!({ "status": "Success" }),
        json!({ "status": "Failure", "data": 1 }),
        json!({ "status": "Initial", "data": 1 }),
        json!({ "status": "Loading", "error": { "kind": "Failed", "message": "x" } }),
    ] {
        let error = serde_json::from_value::<AsyncState<u32>>(broken.clone()).unwrap_err();
        assert!(error.to_string().contains("an AsyncState cannot be"), "{broken}: {error}");
    }
    assert_eq!(round_trip(&AsyncStatus::Refreshing), AsyncStatus::Refreshing);
}

#[test]
fn retry_policies_round_trip_their_settings() {
    let policy = RetryPolicy::new()
        .with_max_retries(5)
        .with_base_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_backoff(Backoff::Linear)
        .with_jitter(Jitter::new(0.5, 42));
    let back = round_trip(&policy);
    assert_eq!(back.max_retries(), 5);
    assert_eq!(back.base_delay(), Duration::from_millis(100));
    assert_eq!(back.max_delay(), Duration::from_secs(2));
    assert_eq!(back.backoff(), Backoff::Linear);
    assert_eq!(back.jitter(), Some(Jitter::new(0.5, 42)));
    let schedule = |p: &RetryPolicy| (0..6).map(|a| p.delay(a)).collect::<Vec<_>>();
    assert_eq!(schedule(&back), schedule(&policy));

    // Missing settings are the defaults; unknown ones are refused; ratios are clamped.
    let partial: RetryPolicy = serde_json::from_value(json!({ "max_retries": 1 })).unwrap();
    assert_eq!(partial.max_retries(), 1);
    assert_eq!(partial.base_delay(), RetryPolicy::new().base_delay());
    assert!(serde_json::from_value::<RetryPolicy>(json!({ "max_retry": 1 })).is_err());
    let clamped: Jitter = serde_json::from_value(json!({ "ratio": 7.0, "seed": 1 })).unwrap();
    assert!((clamped.ratio() - 1.0).abs() < f64::EPSILON);
}

#[test]
fn a_retry_policy_with_a_predicate_or_budget_refuses_to_be_written() {
    let with_predicate = RetryPolicy::new().retry_if(|e: &JobError| !e.is_panic());
    let error = serde_json::to_string(&with_predicate).unwrap_err();
    assert!(error.to_string().contains("predicate"), "{error}");
    let with_budget = RetryPolicy::new().with_budget(RetryBudget::new());
    let error = serde_json::to_string(&with_budget).unwrap_err();
    assert!(error.to_string().contains("budget"), "{error}");
}

#[test]
fn cache_policies_round_trip() {
    let policy =
        CachePolicy::new("user:7").with_ttl(Duration::from_secs(300)).with_revalidate(false).with_force_refresh(true);
    assert_eq!(round_trip(&policy), policy);
    let minimal: CachePolicy = serde_json::from_value(json!({ "key": "k" })).unwrap();
    assert_eq!(minimal, CachePolicy::new("k"));
    assert!(serde_json::from_value::<CachePolicy>(json!({ "ttl": null })).is_err(), "the key is required");
}

#[derive(Clone)]
struct Fetch {
    fail_first: bool,
    fail_always: bool,
}
impl Job for Fetch {
    type Output = String;
}

#[test]
fn event_views_of_a_real_job_write_what_each_event_says() {
    let mut h = Harness::new();
    h.dispatcher.register(executor_fn(|job: Fetch, ctx: JobContext| async move {
        ctx.step(1, 2, Some("downloading"))?;
        if job.fail_always || (job.fail_first && ctx.attempt() == 0) {
            return Err(JobError::msg("flaky"));
        }
        Ok(String::from("user #7"))
    }));
    let policy = RetryPolicy::new().with_max_retries(1).with_base_delay(Duration::from_secs(1));
    let ok =
        h.dispatcher.dispatch(JobBuilder::new(Fetch { fail_first: true, fail_always: false }).retry(policy.clone()));
    h.run(ok.unwrap());
    let failed = h.dispatcher.dispatch(JobBuilder::new(Fetch { fail_first: false, fail_always: true }).retry(policy));
    h.run(failed.unwrap());

    let views: Vec<Value> = h.drain().iter().map(|e| serde_json::to_value(e.to_view::<String>()).unwrap()).collect();
    let kinds: Vec<&Value> = views.iter().map(|v| &v["kind"]).collect();
    assert_eq!(
        kinds,
        [
            "Started", "Progress", "Retrying", "Progress", "Success", "Started", "Progress", "Retrying", "Progress",
            "Failure"
        ]
    );
    let first = &views[0];
    assert_eq!(first["job_type"], "Fetch");
    assert!(first["id"].as_str().unwrap().starts_with("Fetch-"));
    let id: JobId = serde_json::from_value(first["id"].clone()).unwrap();
    assert!(views[..5].iter().all(|v| v["id"] == json!(id.to_string())));

    assert_eq!(views[1]["progress"], json!({ "progress": 0.5, "message": "downloading", "step": 1, "total": 2 }));
    // The retry came a second (the back-off) after the first attempt, on the virtual clock.
    assert_eq!(views[3]["time"]["secs"].as_u64(), views[2]["time"]["secs"].as_u64().map(|s| s + 1));
    assert_eq!(views[2]["retrying"]["attempt"], 1);
    assert_eq!(views[2]["retrying"]["error"], json!({ "kind": "Failed", "message": "flaky" }));
    assert_eq!(views[2]["retrying"]["delay"], json!({ "secs": 1, "nanos": 0 }));
    assert_eq!(views[4]["data"], "user #7");
    assert_eq!(views[9]["error"]["message"], "flaky");
    assert_eq!(views[9]["retried"], true);
    for view in &views {
        assert!(view.get("payload_not_shown").is_none(), "{view}");
    }

    // A payload of another type is left out, and says so.
    let custom = Event::custom("temperature", 21.5_f64);
    let view = custom.to_view::<String>();
    assert!(view.payload_not_shown() && view.data().is_none());
    assert_eq!(serde_json::to_value(&view).unwrap()["payload_not_shown"], true);
    assert_eq!(serde_json::to_value(custom.to_view::<f64>()).unwrap()["data"], 21.5);
}

#[test]
fn cancelled_and_timed_out_events_write_their_reason_and_timeout() {
    let mut h = Harness::new();
    h.dispatcher.register(executor_fn(|_: Fetch, _| futures::future::pending::<Result<String, JobError>>()));
    let slow = h
        .dispatcher
        .dispatch(JobBuilder::new(Fetch { fail_first: false, fail_always: false }).timeout(Duration::from_secs(3)));
    h.run(slow.unwrap());
    let stopped = h.dispatcher.dispatch(Fetch { fail_first: false, fail_always: false }).unwrap();
    stopped.cancel_with_reason("user left");
    h.run(stopped);
    let views: Vec<Value> = h.drain().iter().map(|e| serde_json::to_value(e.to_view::<()>()).unwrap()).collect();
    let ends: Vec<&Value> = views.iter().filter(|v| v["kind"] == "TimedOut" || v["kind"] == "Cancelled").collect();
    assert_eq!(ends.len(), 2);
    assert_eq!(ends[0]["timed_out_after"], json!({ "secs": 3, "nanos": 0 }));
    assert_eq!(ends[1]["reason"], "user left");
}
