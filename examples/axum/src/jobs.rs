//! The job (a call to the upstream), its executor, and the orchestrator whose state the
//! service streams: counts of what the jobs did, read from the bus.

use std::net::SocketAddr;

use orchestrator_std::{Context, Event, EventTag, Executor, Job, JobContext, JobError, Orchestrator};

use crate::client;

/// The custom event a job emits when it calls the upstream.
pub(crate) const UPSTREAM_CALL: &str = "upstream-call";

/// `GET path` on the upstream; its output is the upstream's answer.
#[derive(Clone, Debug)]
pub(crate) struct Fetch {
    pub(crate) path: String,
}

impl Job for Fetch {
    type Output = String;
}

/// Calls the upstream. A non-2xx answer is an error (retried by the job's policy).
#[derive(Debug)]
pub(crate) struct UpstreamClient {
    pub(crate) upstream: SocketAddr,
}

impl Executor<Fetch> for UpstreamClient {
    async fn process(&self, job: &Fetch, ctx: &JobContext) -> Result<String, JobError> {
        tracing::info!(job = %ctx.id(), path = %job.path, attempt = ctx.attempt(), "calling the upstream");
        let _ = ctx.emit(UPSTREAM_CALL, job.path.clone());
        let call = UpstreamCall { job: ctx.id().to_string(), done: false };
        let (status, body) = client::get(self.upstream, &job.path).await.map_err(|e| JobError::msg(e.to_string()))?;
        call.finish();
        if status.is_success() { Ok(body) } else { Err(JobError::msg(format!("upstream answered {status}"))) }
    }
}

/// Logs an upstream call dropped before its answer: its job was cancelled (or timed out).
struct UpstreamCall {
    job: String,
    done: bool,
}

impl UpstreamCall {
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for UpstreamCall {
    fn drop(&mut self) {
        if !self.done {
            tracing::info!(job = %self.job, "upstream call dropped before its answer");
        }
    }
}

/// What the service has done so far: the state the `/state` stream sends.
#[derive(Clone, Debug, Default)]
pub(crate) struct Board {
    pub(crate) upstream_calls: u64,
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) timed_out: u64,
}

impl Board {
    /// The board as a JSON object.
    pub(crate) fn to_json(&self) -> String {
        format!(
            r#"{{"upstream_calls":{},"succeeded":{},"failed":{},"cancelled":{},"timed_out":{}}}"#,
            self.upstream_calls, self.succeeded, self.failed, self.cancelled, self.timed_out
        )
    }
}

/// Keeps the [`Board`] from the events of every job on the dispatcher's bus.
#[derive(Debug)]
pub(crate) struct Monitor;

impl Orchestrator for Monitor {
    type State = Board;
    type Command = ();

    fn handle(&mut self, (): (), _: &mut Context<'_, Self>) {}

    /// The jobs are dispatched by the HTTP handlers, not by this orchestrator: their
    /// events are passive ones here (terminal events and custom events).
    fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let count: fn(&mut Board) = match event.tag() {
            EventTag::Custom(UPSTREAM_CALL) => |b| b.upstream_calls += 1,
            EventTag::Success => |b| b.succeeded += 1,
            EventTag::Failure => |b| b.failed += 1,
            EventTag::Cancelled => |b| b.cancelled += 1,
            EventTag::TimedOut => |b| b.timed_out += 1,
            _ => return,
        };
        tracing::info!(job = %event.id(), event = ?event.tag(), "monitor");
        ctx.update_state(count);
    }
}
