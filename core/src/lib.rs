//! # orchestrator-core
//!
//! Runtime-agnostic, `no_std + alloc` event-driven orchestration: keep business logic
//! (jobs with retry, timeout, cancellation, progress) apart from the state your UI or
//! service exposes, connected by a broadcast [`Bus`] of [`Event`]s.
//!
//! ```text
//!  caller ──dispatch(job)──▶ Dispatcher ──▶ Executor::process ──▶ JobHandle (typed result)
//!                                │
//!                                └──▶ Bus: Started · Placeholder · Progress · Retrying
//!                                          · Success | Failure | Cancelled | TimedOut
//! ```
//!
//! ## Example
//!
//! ```
//! use core::time::Duration;
//! use futures::StreamExt;
//! use orchestrator_core::{Dispatcher, Executor, Job, JobBuilder, JobContext, JobError, JobResult, RetryPolicy};
//! use orchestrator_core::runtime::{run_virtual, VirtualClock};
//!
//! struct FetchUser(u64);
//! impl Job for FetchUser { type Output = String; }
//!
//! struct FetchUserExecutor;
//! impl Executor<FetchUser> for FetchUserExecutor {
//!     async fn process(&self, job: &FetchUser, ctx: &JobContext) -> Result<String, JobError> {
//!         let _ = ctx.step(1, 2, Some("looking up"));
//!         if ctx.attempt() == 0 { return Err(JobError::msg("flaky network")); }
//!         Ok(format!("user #{}", job.0))
//!     }
//! }
//!
//! // A virtual clock makes this example instant and deterministic; with
//! // `orchestrator-std` you would pass a tokio/async-std/smol timer and spawner.
//! let clock = VirtualClock::new();
//! let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
//! dispatcher.register(FetchUserExecutor);
//! let mut events = dispatcher.bus().subscribe().unwrap();
//!
//! let job = JobBuilder::new(FetchUser(7))
//!     .timeout(Duration::from_secs(5))
//!     .retry(RetryPolicy::new().with_max_retries(2));
//! let handle = dispatcher.dispatch(job).unwrap();
//! dispatcher.shutdown(); // no more jobs: the runner ends when this one is done
//!
//! let result = run_virtual(&clock, async {
//!     let (result, ()) = futures::join!(handle, dispatcher.runner());
//!     result
//! }).unwrap();
//! assert_eq!(result.ok().as_deref(), Some("user #7"));
//!
//! let mut kinds = Vec::new();
//! while let Ok(event) = events.try_next() { kinds.push(event.tag()); }
//! use orchestrator_core::EventTag::*;
//! assert_eq!(kinds, [Started, Progress, Retrying, Progress, Success]);
//! ```
//!
//! ## The pieces
//!
//! * [`Job`] and [`Executor`]: a unit of work and its business logic. A [`JobBuilder`]
//!   adds a timeout, a [`RetryPolicy`], a [`CancellationToken`], a placeholder or a
//!   [`CachePolicy`](cache::CachePolicy). A [`RetryBudget`] bounds the retries of many jobs together.
//! * [`Dispatcher`]: routes each job by its type to its executor and runs it in
//!   [`Runner`]s; [`dispatch`](Dispatcher::dispatch) returns a [`JobHandle`], a future of
//!   the job's [`JobResult`] ([`abort_on_drop`](JobHandle::abort_on_drop) makes it cancel
//!   the job when dropped). [`JobError`] is a `core::error::Error`:
//!   `result.into_result()?` goes into any error type.
//! * [`Bus`] and [`Event`]: every job emits `Started`, then possibly `Placeholder`,
//!   `CacheHit`, `Progress` and `Retrying`, then exactly one of `Success`, `Failure`,
//!   `Cancelled` or `TimedOut`. Timeouts and cancellation drop the running work.
//! * [`Orchestrator`]: a state machine fed by commands and by its jobs' events, run by a
//!   [`Host`] future and driven through an [`OrchestratorHandle`]; [`AsyncState`] for
//!   "a value being loaded"; loop protection in [`breaker`].
//! * [`runtime`]: the [`Clock`](runtime::Clock), [`Timer`](runtime::Timer) and
//!   [`Spawn`](runtime::Spawn) traits, the crate's only doors to the outside world.
//!   `orchestrator-std` implements them for tokio, async-std and smol; without a spawner,
//!   await [`Dispatcher::runner`] yourself (embedded, WASM).
//!
//! The guide is the book in the repository's
//! [`docs/`](https://github.com/orchestrator-rs/orchestrator/tree/main/docs): getting
//! started, concepts, advanced patterns, runtimes, `no_std` and WASM, and migrating from
//! the Dart library `orchestrator_core`.
//!
//! ## Features
//!
//! * `std` (default): std mutexes; executor and hook panics are caught and become
//!   `Failure`s, a logger's panics are swallowed; [`log::StderrLogger`], the default
//!   logger's choice when neither `tracing` nor `log` is on (warnings and errors on stderr).
//! * `tracing`, `log`: `log::TracingLogger`, `log::LogLogger`, bridges to those
//!   facades (both build without `std`); the first one on is the default logger
//!   ([`log::DefaultLogger`]). Turn logging off with `.logger(NoopLogger)`.
//! * `test-util`: `runtime::VirtualClock` and `runtime::run_virtual` for deterministic
//!   tests of time-dependent behaviour, and the `test_kit` (a harness, scripted
//!   executors, an event recorder with matchers, orchestrator tests, replay).
//! * `serde`: `Serialize` / `Deserialize` for [`JobId`] (as its text), [`EventTag`],
//!   [`JobError`] (kind and message), [`JobResult`], [`AsyncState`], [`RetryPolicy`],
//!   [`CachePolicy`](cache::CachePolicy) and more, and `Event::to_view`, a serializable view of an event
//!   (no_std-capable).
//! * `portable-atomic`, `critical-section`: forwarded to the channel, future and lock
//!   crates for targets without compare-and-swap.
//!
//! With `RUSTFLAGS="--cfg orchestrator_unsync"` the `Send`/`Sync` bounds
//! ([`MaybeSend`], [`MaybeSync`]) disappear on every target (they already do on `wasm32`),
//! for single-threaded programs whose executors hold `Rc`s. It is a cfg, not a feature,
//! because it removes guarantees other crates rely on.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(any(target_family = "wasm", orchestrator_unsync), allow(clippy::arc_with_non_send_sync))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod box_pool;
pub mod breaker;
mod bus;
pub mod cache;
mod cancel;
pub mod channel;
mod dispatcher;
mod drain;
mod drain_signal;
mod error;
mod event;
mod executor;
mod flow;
mod flow_policy;
mod handle;
mod histogram;
mod job;
mod job_box;
mod job_env;
mod job_id;
mod job_metrics;
pub mod log;
mod orchestrator;
mod parsed_names;
mod pipeline;
mod registry;
mod result;
mod retry;
mod retry_budget;
mod route;
mod runner;
pub mod runtime;
#[cfg(feature = "serde")]
mod serialization;
mod spawned_job;
mod spawned_set;
mod state;
mod sync;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_kit;
mod unwind;
mod waker_slots;

pub use bus::{
    Bus, BusCapacityError, BusClosed, DEFAULT_BUS_CAPACITY, Lagged, MAX_BUS_CAPACITY, Subscription, TryNextError,
};
pub use cancel::{
    CancellationToken, Cancelled, CancelledOwned, DropGuard, ListenerId, RunUntilCancelled, RunUntilCancelledOwned,
};
pub use dispatcher::{Dispatcher, DispatcherBuilder, DispatcherStats, Registration};
pub use drain::{DRAIN_DEADLINE_REASON, Drain, DrainError, DrainReport};
pub use error::{DispatchError, DynError, JobError, JobErrorKind};
pub use event::{Event, EventKind, EventTag, Payload, Progress, Retrying, Suppression, SuppressionReason};
pub use executor::{EmitError, Executor, FnExecutor, JobContext, ProgressError, executor_fn};
pub use flow::{FlowStats, SUPERSEDED};
pub use flow_policy::{FlowConflict, FlowKey, FlowPolicy, OnBusy, Priority};
pub use handle::{ABANDONED, AbortOnDropHandle, HANDLE_DROPPED, JobHandle};
pub use histogram::Latency;
pub use job::{IntoJob, Job, JobBuilder, JobOptions, Metadata};
pub use job_id::{JobId, ParseJobIdError};
pub use job_metrics::JobMetrics;
pub use orchestrator::{
    AskError, Context, DEFAULT_CAUSAL_DEPTH_LIMIT, DEFAULT_COMMAND_CAPACITY, Host, HostDrain, MAX_COMMAND_CAPACITY,
    Orchestrator, OrchestratorBuilder, OrchestratorHandle, OrchestratorStats, Reply, SHUTDOWN_REASON, SendError,
    StartError, StateStream,
};
pub use result::{JobResult, WaitError, wait_for_result};
pub use retry::{Backoff, Jitter, RetryPolicy};
pub use retry_budget::{RetryBudget, RetryBudgetBuilder};
pub use runner::Runner;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use serialization::EventView;
pub use state::{AsyncState, AsyncStatus};
pub use sync::{BoxFuture, MaybeSend, MaybeSync};
