//! # orchestrator-embassy
//!
//! [embassy](https://embassy.dev) adapters for
//! [`orchestrator-core`](orchestrator_core), `no_std`:
//!
//! * [`EmbassyTime`]: the [`Clock`](orchestrator_core::runtime::Clock) and
//!   [`Timer`](orchestrator_core::runtime::Timer) of `embassy-time` (whatever time driver
//!   the program links: a HAL's, embassy's std driver on a host, or one of its own);
//! * [`EmbassySpawner`]: a [`Spawn`](orchestrator_core::runtime::Spawn) on
//!   `embassy-executor`, whose tasks come from a static pool of [`TASK_POOL_SIZE`];
//! * [`dispatcher_builder`]: a dispatcher with both and one runner.
//!
//! It is a crate of its own, not a feature of `orchestrator-std`, because embassy programs
//! have no `std`: this crate depends on `orchestrator-core` without its `std` feature, and
//! on `embassy-time` and `embassy-executor` without choosing a time driver or an executor
//! platform (the program does, as with any embassy library).
//!
//! ```no_run
//! # // Compiled on the host (embassy's std executor and time driver); the same code runs
//! # // on a Cortex-M with `platform-cortex-m` (see examples/embedded).
//! use core::time::Duration;
//! use embassy_executor::Spawner;
//! use orchestrator_core::{Executor, Job, JobBuilder, JobContext, JobError, JobResult};
//! use orchestrator_embassy::EmbassyTime;
//! use orchestrator_core::runtime::Timer;
//!
//! struct Blink;
//! impl Job for Blink { type Output = u32; }
//!
//! struct Led;
//! impl Executor<Blink> for Led {
//!     async fn process(&self, _: &Blink, ctx: &JobContext) -> Result<u32, JobError> {
//!         for i in 1..=3 {
//!             EmbassyTime.sleep(Duration::from_millis(100)).await;
//!             ctx.step(i, 3, None)?;
//!         }
//!         Ok(3)
//!     }
//! }
//!
//! #[embassy_executor::task]
//! async fn app(spawner: Spawner) {
//!     // Its runner is spawned on this executor, from the crate's task pool.
//!     let Ok(dispatcher) = orchestrator_embassy::dispatcher_builder(spawner).build() else { return };
//!     dispatcher.register(Led);
//!     let job = JobBuilder::new(Blink).timeout(Duration::from_secs(1));
//!     if let Ok(handle) = dispatcher.dispatch(job) {
//!         assert!(matches!(handle.await, JobResult::Success(3)));
//!     }
//! }
//!
//! fn main() {
//!     let executor = Box::leak(Box::new(embassy_executor::Executor::new()));
//!     executor.run(|spawner| spawner.spawn(app(spawner).unwrap()));
//! }
//! ```
//!
//! ## The timer queue
//!
//! The core polls many jobs from one runner task, with wakers of its own: embassy's
//! *integrated* timer queue accepts only the executor's task wakers and panics on others
//! ("Found waker not created by the Embassy executor"). This crate therefore turns on
//! embassy-time's *generic* queue (default feature `generic-queue-8`: room for 8 pending
//! sleeps, the time driver of the program must use `embassy_time_queue_utils::Queue`, as
//! embassy's HALs do). A job's sleep and its timeout share one entry (one waker); when
//! more sleeps are pending than the queue holds, embassy wakes one early and it waits
//! again (no sleep ends early, but the CPU works more): size it to the jobs running at
//! once. For another size, `default-features = false` and enable one
//! `embassy-time/generic-queue-N` (16, 32, 64, 128) in the program (two at once do not
//! compile).
//!
//! Without a spawner, build the dispatcher with [`EmbassyTime`] alone and await
//! `dispatcher.runner()` in a task of your own: no pool slot is used.
//!
//! ## Features
//!
//! | feature | effect |
//! | --- | --- |
//! | `portable-atomic`, `critical-section` | forwarded to `orchestrator-core`, for cores without compare-and-swap (`thumbv6m-none-eabi`) |
//! | `generic-queue-8` (default) | embassy-time's generic timer queue, 8 entries (see above) |
//! | `task-pool-8`, `task-pool-16` | [`TASK_POOL_SIZE`] is 8 or 16 instead of 4 |
#![no_std]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod spawner;
mod time;

pub use spawner::{EmbassySpawner, TASK_POOL_SIZE};
pub use time::EmbassyTime;

use orchestrator_core::{Dispatcher, DispatcherBuilder};

/// A [`DispatcherBuilder`] with [`EmbassyTime`] as timer, an [`EmbassySpawner`] on
/// `spawner`'s executor, and one runner (it polls all the jobs; embassy executors run on
/// one thread). Add a bus, a logger or limits, then `build()` it; `build` returns
/// `SpawnError` if the task pool is full.
///
/// See the crate's example.
pub fn dispatcher_builder(spawner: embassy_executor::Spawner) -> DispatcherBuilder {
    Dispatcher::builder().timer(EmbassyTime).spawner(EmbassySpawner::new(spawner)).runners(1)
}
