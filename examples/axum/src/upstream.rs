//! The flaky upstream: a second HTTP server on 127.0.0.1 that the service's jobs call.
//!
//! * `GET /flaky/{key}` fails twice per key (503), then answers `"{key} (attempt 3)"`.
//! * `GET /stall` never answers (until its client goes away).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::client::Error;

/// Failed answers per key before a success.
pub(crate) const FAILURES_BEFORE_SUCCESS: u32 = 2;

type Attempts = Arc<Mutex<HashMap<String, u32>>>;

/// Starts the upstream on a free port of 127.0.0.1; returns its address.
pub(crate) async fn start() -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router =
        Router::new().route("/flaky/{key}", get(flaky)).route("/stall", get(stall)).with_state(Attempts::default());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the upstream stopped");
        }
    });
    tracing::info!(%addr, "upstream listening");
    Ok(addr)
}

async fn flaky(State(attempts): State<Attempts>, Path(key): Path<String>) -> (StatusCode, String) {
    let attempt = {
        let mut attempts = attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = attempts.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    };
    if attempt <= FAILURES_BEFORE_SUCCESS {
        tracing::info!(%key, attempt, "upstream: failing on purpose");
        (StatusCode::SERVICE_UNAVAILABLE, "try again".to_owned())
    } else {
        (StatusCode::OK, format!("{key} (attempt {attempt})"))
    }
}

async fn stall() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "too late"
}
