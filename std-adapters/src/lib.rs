//! # orchestrator-std
//!
//! The `std` companion of [`orchestrator-core`](orchestrator_core): ready-made
//! [`Clock`](runtime::Clock) + [`Timer`](runtime::Timer) + [`Spawn`](runtime::Spawn)
//! implementations for the common async runtimes, loggers for `tracing` and `log`, and an
//! optional process-wide [`global_bus`]. The whole core is re-exported, so this crate is
//! the only one a `std` application needs.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # mod example {
//! use std::time::Duration;
//! use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};
//!
//! struct FetchUser(u64);
//! impl Job for FetchUser { type Output = String; }
//!
//! struct FetchUserExecutor;
//! impl Executor<FetchUser> for FetchUserExecutor {
//!     async fn process(&self, job: &FetchUser, ctx: &JobContext) -> Result<String, JobError> {
//!         if ctx.attempt() == 0 { return Err(JobError::msg("flaky network")); }
//!         Ok(format!("user #{}", job.0))
//!     }
//! }
//!
//! #[tokio::main]
//! pub async fn main() {
//!     // A dispatcher on the current tokio runtime: its timer, its spawner, and a few
//!     // runners already started.
//!     let dispatcher = orchestrator_std::tokio::dispatcher().expect("inside a tokio runtime");
//!     dispatcher.register(FetchUserExecutor);
//!
//!     let job = JobBuilder::new(FetchUser(7))
//!         .timeout(Duration::from_secs(5))
//!         .retry(RetryPolicy::new().with_max_retries(2).with_base_delay(Duration::from_millis(10)));
//!     let result = dispatcher.dispatch(job).expect("an executor is registered").await;
//!     assert_eq!(result.ok().as_deref(), Some("user #7"));
//!
//!     dispatcher.shutdown();
//! }
//! # }
//! # fn main() {
//! #     #[cfg(feature = "tokio")]
//! #     example::main();
//! # }
//! ```
//!
//! ## Features
//!
//! Pick the runtime you use; any combination (including none) compiles.
//!
//! | feature | module | gives |
//! | --- | --- | --- |
//! | `tokio` (default) | `orchestrator_std::tokio` | `TokioRuntime`, `dispatcher()`, `dispatcher_builder()`, `TokioBroadcast` (a bus on tokio's `broadcast`) |
//! | `smol` | `orchestrator_std::smol` | `SmolRuntime`, `dispatcher()`, `dispatcher_builder()` |
//! | `async-std` | `orchestrator_std::async_std` | `AsyncStdRuntime`, `dispatcher()`, `dispatcher_builder()` (async-std is discontinued upstream: prefer smol) |
//! | `tokio-util` | `orchestrator_std::tokio_util` | links to and from `tokio_util::sync::CancellationToken` (turns on `tokio`) |
//! | `tower` | `orchestrator_std::tower` | `ServiceExecutor`, `DispatchService`, `DispatchLayer` |
//! | `serde` | the re-exported core | `Serialize` / `Deserialize` (`orchestrator-core/serde`), `Event::to_view` |
//! | `browser` (`wasm32` only) | `orchestrator_std::browser` | `BrowserRuntime` (`performance.now`, `setTimeout`, `spawn_local`), `ConsoleLogger`, `dispatcher()`, `dispatcher_builder()` |
//! | `tracing` | `orchestrator_std::logging` | `TracingLogger` (from `orchestrator-core/tracing`), the default logger |
//! | `log` | `orchestrator_std::logging` | `LogLogger` (from `orchestrator-core/log`), the default logger unless `tracing` is on |
//!
//! A runtime is compiled only when its feature is on: the default features compile tokio
//! and no other runtime. async-std's maintainers have discontinued it and recommend smol;
//! the `async-std` adapter stays supported (and tested) for applications already on it.
//!
//! Each runtime type implements [`Clock`](runtime::Clock), [`Timer`](runtime::Timer) and
//! [`Spawn`](runtime::Spawn); `dispatcher()` builds a [`Dispatcher`] on that runtime with
//! its runners started, and `dispatcher_builder()` returns the same setup as a
//! [`DispatcherBuilder`] to add a bus, a logger or limits. The runtime types are also
//! re-exported at the crate root.
//!
//! Without `tracing` and `log`, dispatchers log warnings and errors to stderr
//! ([`StderrLogger`] at `Warning`) unless given another logger;
//! `.logger(log::NoopLogger)` turns logging off.
//!
//! Without a runtime feature the crate still offers [`logging::StderrLogger`],
//! [`global_bus`] and the re-exported core: enable `tokio`, `async-std` or `smol` to get
//! a timer and a spawner, or implement [`runtime::Timer`] and [`runtime::Spawn`] yourself.
//!
//! Executor panics are caught by the core (its `std` feature, always on here): a job whose
//! executor panics ends as [`JobResult::Failure`] with [`JobError::is_panic`], and the
//! dispatcher keeps running.
//!
//! The tokio, async-std and smol adapters spawn `Send` futures: they are not available on
//! `wasm32` nor with `--cfg orchestrator_unsync` (where the core drops its `Send` bounds),
//! and enabling one of their features there is a compile error. The loggers and
//! [`global_bus`] are. In the browser, use the `browser` feature
//! (`default-features = false, features = ["browser"]`): its executors and tasks need not
//! be `Send`. On other targets that feature compiles to nothing, so `--all-features`
//! builds everywhere.
//!
//! ## Guide
//!
//! The book is in the repository's
//! [`docs/`](https://github.com/orchestrator-rs/orchestrator/tree/main/docs): getting
//! started, concepts (bus, jobs, executors, dispatcher, results, orchestrators, state),
//! advanced patterns (cancellation, timeout, retry, progress, logging, scoped buses, loop
//! protection, cache and placeholder), runtimes, `no_std` and WASM, and migrating from the
//! Dart library `orchestrator_core`. The examples are in `std-adapters/examples`
//! (`cargo run --example quickstart`, `upload`, `scoped_modules`, `cache_placeholder`,
//! `counter`; `quickstart_smol` and `quickstart_async_std` with their features).
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use orchestrator_core::*;

#[cfg(all(
    any(feature = "tokio", feature = "async-std", feature = "smol"),
    any(target_family = "wasm", orchestrator_unsync)
))]
compile_error!(
    "orchestrator-std: the `tokio`, `async-std` and `smol` features spawn `Send` futures; they cannot be \
     used on wasm32 or with `--cfg orchestrator_unsync` (disable them: `default-features = false`)"
);

mod global;
pub mod logging;
#[cfg(any(
    feature = "tokio",
    feature = "async-std",
    feature = "smol",
    all(feature = "browser", target_arch = "wasm32")
))]
mod time;

#[cfg(all(feature = "browser", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "browser", target_arch = "wasm32"))))]
pub mod browser;

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub mod async_std;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub mod smol;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
#[cfg(feature = "tokio-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-util")))]
pub mod tokio_util;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use global::global_bus;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use logging::LogLogger;
pub use logging::StderrLogger;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use logging::TracingLogger;

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub use crate::async_std::AsyncStdRuntime;
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "browser", target_arch = "wasm32"))))]
pub use crate::browser::BrowserRuntime;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub use crate::smol::SmolRuntime;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use crate::tokio::TokioRuntime;

/// The README's example, compiled and run as a doctest so it cannot rot.
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
