//! `--self-test`: the service called over HTTP on 127.0.0.1, and what came back checked.

use std::net::SocketAddr;

use hyper::StatusCode;

use crate::client::{self, Error, EventStream};
use crate::upstream::FAILURES_BEFORE_SUCCESS;

/// A number field of the board's JSON (0 if absent).
fn field(json: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    json.split_once(&key)
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Reads states until one satisfies `done`; returns it.
async fn wait_for(events: &mut EventStream, done: impl Fn(&str) -> bool) -> Result<String, Error> {
    loop {
        let state = events.next_data().await?;
        tracing::info!(%state, "self-test: state");
        if done(&state) {
            return Ok(state);
        }
    }
}

fn check(ok: bool, what: String) -> Result<(), Error> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(what.into())
    }
}

/// Runs the checks; each one that fails ends the test with its error.
pub(crate) async fn run(service: SocketAddr) -> Result<usize, Error> {
    let mut events = EventStream::open(service, "/state").await?;
    let initial = events.next_data().await?;
    check(field(&initial, "succeeded") == 0, format!("the state stream starts with the initial state: {initial}"))?;

    // A retried success: the upstream fails twice, the third attempt succeeds.
    let (status, body) = client::get(service, "/fetch/alpha").await?;
    let expected = format!("alpha (attempt {})", FAILURES_BEFORE_SUCCESS + 1);
    check(status == StatusCode::OK && body == expected, format!("GET /fetch/alpha after retries: {status} {body:?}"))?;

    // A timeout: the upstream never answers, the job's timeout answers 504.
    let (status, body) = client::get(service, "/wait/200").await?;
    check(status == StatusCode::GATEWAY_TIMEOUT, format!("GET /wait/200 times out: {status} {body:?}"))?;

    // Both show in the state stream.
    let state = wait_for(&mut events, |s| field(s, "succeeded") >= 1 && field(s, "timed_out") >= 1).await?;
    check(field(&state, "upstream_calls") == 4, format!("the state stream counted the upstream calls: {state}"))?;

    // A client that disconnects: once its job is calling the upstream, the request is
    // dropped (its connection closed); the job must end cancelled, seen in the stream.
    let request = tokio::spawn(client::get(service, "/wait/60000"));
    wait_for(&mut events, |s| field(s, "upstream_calls") >= 5).await?;
    request.abort();
    let _ = request.await;
    let state = wait_for(&mut events, |s| field(s, "cancelled") >= 1).await?;
    check(field(&state, "cancelled") == 1, format!("the disconnected client's job was cancelled: {state}"))?;
    Ok(5)
}
