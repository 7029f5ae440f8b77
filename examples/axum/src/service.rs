//! The service: its routes, and the dispatcher and orchestrator behind them.
//!
//! * `GET /fetch/{key}`: a job calls the flaky upstream for `key`, with retries (3, from
//!   50 ms) and a 2 s timeout; 200 with the upstream's answer, else 502 or 504.
//! * `GET /wait/{ms}`: a job calls an upstream endpoint that never answers, with a timeout
//!   of `ms`: 504 when it expires. If the client disconnects first, the job is cancelled
//!   (its handle is `abort_on_drop`, and axum drops the handler's future).
//! * `GET /state`: the orchestrator's state, as server-sent events (one per change).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::{Stream, StreamExt};
use orchestrator_std::tokio::TokioRuntime;
use orchestrator_std::{Dispatcher, JobBuilder, JobResult, Orchestrator, OrchestratorHandle, RetryPolicy};

use crate::client::Error;
use crate::jobs::{Fetch, Monitor, UpstreamClient};

/// What every handler shares.
#[derive(Clone, Debug)]
pub(crate) struct App {
    pub(crate) dispatcher: Dispatcher,
    pub(crate) monitor: OrchestratorHandle<Monitor>,
}

impl App {
    /// The dispatcher (each job its own task: `spawn_per_job`) and the monitor, on the
    /// current tokio runtime.
    pub(crate) fn start(upstream: SocketAddr) -> Result<Self, Error> {
        let runtime = TokioRuntime::new();
        let dispatcher = runtime.dispatcher_builder().spawn_per_job().build()?;
        dispatcher.register(UpstreamClient { upstream });
        let monitor = Monitor.builder(Default::default(), &dispatcher).spawn(&runtime)?;
        Ok(Self { dispatcher, monitor })
    }

    pub(crate) fn router(&self) -> Router {
        Router::new()
            .route("/fetch/{key}", get(fetch))
            .route("/wait/{ms}", get(wait))
            .route("/state", get(state))
            .with_state(self.clone())
    }

    /// Dispatches `job` and waits for its result; the job is cancelled if this future is
    /// dropped first (the client went away).
    async fn run(&self, job: JobBuilder<Fetch>) -> (StatusCode, String) {
        let handle = match self.dispatcher.dispatch(job) {
            Ok(handle) => handle.abort_on_drop(),
            Err(error) => return (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        };
        tracing::info!(job = %handle.id(), "dispatched");
        match handle.await {
            JobResult::Success(body) => (StatusCode::OK, body),
            JobResult::Failure(error) => (StatusCode::BAD_GATEWAY, error.to_string()),
            JobResult::TimedOut(after) => (StatusCode::GATEWAY_TIMEOUT, format!("timed out after {after:?}")),
            JobResult::Cancelled(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("cancelled: {reason:?}")),
        }
    }
}

#[tracing::instrument(skip(app))]
async fn fetch(State(app): State<App>, Path(key): Path<String>) -> (StatusCode, String) {
    let job = JobBuilder::new(Fetch { path: format!("/flaky/{key}") })
        .retry(RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(50)))
        .timeout(Duration::from_secs(2));
    app.run(job).await
}

#[tracing::instrument(skip(app))]
async fn wait(State(app): State<App>, Path(ms): Path<u64>) -> (StatusCode, String) {
    let job = JobBuilder::new(Fetch { path: "/stall".to_owned() }).timeout(Duration::from_millis(ms.max(1)));
    app.run(job).await
}

async fn state(State(app): State<App>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    tracing::info!("state stream opened");
    let states = app.monitor.states().map(|board| Ok(SseEvent::default().data(board.to_json())));
    Sse::new(states).keep_alive(KeepAlive::default())
}
