//! An axum service on the orchestrator.
//!
//! Its endpoints dispatch jobs that call a flaky upstream (a second server on 127.0.0.1,
//! started here too) with retry and timeout; a job is cancelled when its client
//! disconnects; an orchestrator counts what the jobs did, and its state stream is served
//! as server-sent events; everything logs through `tracing`.
//!
//! ```text
//! cargo run --manifest-path examples/axum/Cargo.toml               # serves on 127.0.0.1:3000
//! curl -N 127.0.0.1:3000/state &                                   # the state, live
//! curl 127.0.0.1:3000/fetch/alpha                                  # retried until it succeeds
//! curl 127.0.0.1:3000/wait/500                                     # times out: 504
//! curl -m 1 127.0.0.1:3000/wait/60000                              # disconnects: cancelled
//! cargo run --manifest-path examples/axum/Cargo.toml -- --self-test  # what CI runs
//! ```

mod client;
mod jobs;
mod self_test;
mod service;
mod upstream;

use std::process::ExitCode;
use std::time::Duration;

use tokio::net::TcpListener;

/// The self-test's limit: it fails rather than hang.
const SELF_TEST_LIMIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_ansi(false).with_target(false).with_max_level(tracing::Level::INFO).init();
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    match serve(self_test).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(self_test: bool) -> Result<(), client::Error> {
    let upstream = upstream::start().await?;
    let app = service::App::start(upstream)?;
    let listener = TcpListener::bind(if self_test { "127.0.0.1:0" } else { "127.0.0.1:3000" }).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(axum::serve(listener, app.router()).into_future());
    tracing::info!(%addr, "service listening");
    if !self_test {
        return Ok(server.await??);
    }
    let result = tokio::time::timeout(SELF_TEST_LIMIT, self_test::run(addr)).await;
    server.abort();
    app.monitor.shutdown();
    app.dispatcher.shutdown();
    match result {
        Ok(Ok(passed)) => {
            println!("axum example self-test: {passed} passed, 0 failed");
            Ok(())
        }
        Ok(Err(error)) => Err(format!("self-test failed: {error}").into()),
        Err(_) => Err(format!("self-test did not finish within {SELF_TEST_LIMIT:?}").into()),
    }
}
