//! The `tracing` feature: a span per job (child of the span current at dispatch, with
//! job id, type, attempt and outcome), the executor's future inside it, retries,
//! timeouts and cancellations as its events, and the orchestrator's hooks in spans.
//! Checked with a small capturing subscriber.
#![cfg(feature = "tracing")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Harness;
use orchestrator_core::runtime::run_virtual;
use orchestrator_core::{
    CancellationToken, Context, Event, Job, JobBuilder, JobContext, JobError, JobResult, Orchestrator, RetryPolicy,
    executor_fn,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event as TraceEvent, Metadata, Subscriber};

#[derive(Debug, Clone, Default)]
struct SpanRec {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<&'static str, String>,
}

#[derive(Debug, Clone)]
struct EventRec {
    span: Option<u64>,
    fields: HashMap<&'static str, String>,
}

/// Records every span (its name, parent and fields) and every event (with the span it
/// happened in).
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<SpanRec>>>,
    events: Arc<Mutex<Vec<EventRec>>>,
    stack: Arc<Mutex<Vec<u64>>>,
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let parent = if attrs.is_root() {
            None
        } else if let Some(p) = attrs.parent() {
            Some(p.into_u64())
        } else {
            self.stack.lock().unwrap().last().copied()
        };
        let mut rec = SpanRec { name: attrs.metadata().name(), parent, fields: HashMap::new() };
        attrs.record(&mut Fields(&mut rec.fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push(rec);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        values.record(&mut Fields(&mut spans[span.into_u64() as usize - 1].fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &TraceEvent<'_>) {
        let span = if event.is_root() {
            None
        } else {
            event.parent().map(Id::into_u64).or_else(|| self.stack.lock().unwrap().last().copied())
        };
        let mut rec = EventRec { span, fields: HashMap::new() };
        event.record(&mut Fields(&mut rec.fields));
        self.events.lock().unwrap().push(rec);
    }
    fn enter(&self, span: &Id) {
        self.stack.lock().unwrap().push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        self.stack.lock().unwrap().pop();
    }
}

fn msg(e: &EventRec) -> &str {
    e.fields.get("message").map_or("", String::as_str)
}

impl Capture {
    fn spans_named(&self, name: &str) -> Vec<(u64, SpanRec)> {
        let spans = self.spans.lock().unwrap();
        spans.iter().enumerate().filter(|(_, s)| s.name == name).map(|(i, s)| (i as u64 + 1, s.clone())).collect()
    }
    fn events_in(&self, span: u64) -> Vec<EventRec> {
        self.events.lock().unwrap().iter().filter(|e| e.span == Some(span)).cloned().collect()
    }
}

#[derive(Clone)]
struct Flaky;
impl Job for Flaky {
    type Output = u32;
}

#[derive(Clone)]
struct Hang;
impl Job for Hang {
    type Output = ();
}

#[test]
fn a_job_runs_in_its_own_span_under_the_dispatching_span() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let h = Harness::new();
        h.dispatcher.register(executor_fn(|_: Flaky, ctx: JobContext| async move {
            tracing::info!(attempt = ctx.attempt(), "inside the executor");
            if ctx.attempt() == 0 { Err(JobError::msg("flaky")) } else { Ok(7) }
        }));
        let request = tracing::info_span!("request");
        let handle = request.in_scope(|| {
            h.dispatcher.dispatch(JobBuilder::new(Flaky).retry(RetryPolicy::new().with_max_retries(1))).unwrap()
        });
        assert_eq!(h.run(handle).ok(), Some(7));

        let (request_id, _) = capture.spans_named("request")[0];
        let jobs = capture.spans_named("job");
        assert_eq!(jobs.len(), 1);
        let (job_id, job) = &jobs[0];
        assert_eq!(job.parent, Some(request_id), "the job's span is a child of the dispatching span");
        assert!(job.fields["job_id"].starts_with("Flaky"), "{:?}", job.fields);
        assert_eq!(job.fields["job_type"], "Flaky");
        assert_eq!(job.fields["attempt"], "1");
        assert_eq!(job.fields["outcome"], "success");
        let events = capture.events_in(*job_id);
        let inside = events.iter().filter(|e| msg(e) == "inside the executor").count();
        assert_eq!(inside, 2, "the executor's logs are inside the job's span: {events:?}");
        assert!(events.iter().any(|e| msg(e) == "job retrying" && e.fields["retry"] == "1"));
    });
}

#[test]
fn timeouts_and_cancellations_are_span_events_with_the_outcome() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let h = Harness::new();
        h.dispatcher.register(executor_fn(|_: Hang, _| std::future::pending::<Result<(), JobError>>()));
        let timed = h.dispatcher.dispatch(JobBuilder::new(Hang).timeout(Duration::from_secs(1))).unwrap();
        let token = CancellationToken::new();
        let cancelled = h.dispatcher.dispatch(JobBuilder::new(Hang).cancel_token(token.clone())).unwrap();
        let (timed, cancelled) = h.run(async {
            let cancel = async {
                common::yield_now().await;
                token.cancel_with_reason("user left");
                cancelled.await
            };
            futures::join!(timed, cancel)
        });
        assert!(matches!(timed, JobResult::TimedOut(_)));
        assert!(matches!(cancelled, JobResult::Cancelled(_)));

        let jobs = capture.spans_named("job");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].1.parent, None, "dispatched outside any span: a root span");
        assert_eq!(jobs[0].1.fields["outcome"], "timed_out");
        assert!(capture.events_in(jobs[0].0).iter().any(|e| msg(e) == "job timed out"));
        assert_eq!(jobs[1].1.fields["outcome"], "cancelled");
        let events = capture.events_in(jobs[1].0);
        assert!(events.iter().any(|e| msg(e) == "job cancelled" && e.fields["reason"] == "user left"));
    });
}

#[test]
fn the_log_bridge_carries_the_job_span() {
    // The default logger with the feature is the `TracingLogger`: the pipeline's own log
    // lines land in the job's span too.
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let h = Harness::new();
        h.dispatcher.register(executor_fn(|_: Flaky, _| async { Err::<u32, _>(JobError::msg("broken")) }));
        let handle = h.dispatcher.dispatch(Flaky).unwrap();
        assert!(matches!(h.run(handle), JobResult::Failure(_)));
        let (job_id, job) = capture.spans_named("job").remove(0);
        assert_eq!(job.fields["outcome"], "failure");
        let events = capture.events_in(job_id);
        assert!(
            events.iter().any(|e| e.fields.values().any(|v| v.contains("failed: broken"))),
            "the bridge's failure line is in the job's span: {events:?}"
        );
    });
}

struct Launcher;
impl Orchestrator for Launcher {
    type State = u32;
    type Command = ();
    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        ctx.dispatch(Flaky).unwrap();
    }
    fn on_active_success(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
        tracing::info!("hook ran");
        ctx.set_state(1);
        ctx.shutdown();
    }
}

#[test]
fn an_orchestrators_hooks_run_in_spans_and_its_jobs_are_their_children() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let h = Harness::new();
        h.dispatcher.register(executor_fn(|_: Flaky, _| async { Ok(1) }));
        let (host, handle) = Launcher.start(0, &h.dispatcher).unwrap();
        handle.try_send(()).unwrap();
        run_virtual(&h.clock, async {
            let host = async {
                host.await;
                h.dispatcher.shutdown();
            };
            futures::join!(host, h.dispatcher.runner())
        })
        .unwrap();
        assert_eq!(handle.state(), 1);

        let hooks = capture.spans_named("orchestrator_hook");
        let handler = hooks.iter().find(|(_, s)| s.fields["hook"] == "handle").expect("the command handler's span");
        assert_eq!(handler.1.fields["orchestrator"], "Launcher");
        let success = hooks.iter().find(|(_, s)| s.fields["hook"] == "on_active_success").expect("the hook's span");
        assert!(capture.events_in(success.0).iter().any(|e| msg(e) == "hook ran"));
        let (_, job) = capture.spans_named("job").remove(0);
        assert_eq!(job.parent, Some(handler.0), "a job dispatched by the handler is a child of its span");
    });
}
