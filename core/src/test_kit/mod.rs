//! A test kit (feature `test-util`): drive a dispatcher and its orchestrators on virtual
//! time, script executors, record events and check them, test an orchestrator in one
//! expression, and replay a recorded log.
//!
//! * [`TestHarness`]: owns a [`VirtualClock`](crate::runtime::VirtualClock), a
//!   dispatcher, its runner and orchestrator hosts; phases `advance`, `run_until_idle`,
//!   `run_until`, `block_on`, `settle`. Nothing is dropped between phases, so no job is
//!   abandoned.
//! * [`Script`] / [`ScriptedExecutor`]: an outcome per call (ok, error, panic, a delay
//!   then one of those, never); [`CallLog`] records the calls (job, attempt, time), for
//!   any executor through [`Recorded`].
//! * [`EventRecorder`] and [`Expect`]: the events per job, contains / in order / exactly
//!   once / one terminal outcome per job; a [`Mismatch`] shows the timeline.
//! * [`OrchestratorTest`]: given a state, when commands and events arrive, then these
//!   states and these jobs.
//! * [`Replay`]: a recorded log fed into an orchestrator without running any executor.
//!
//! The chapter "Testing" of the book (`docs/testing.md`) walks through them.

mod calls;
mod expect;
mod harness;
mod orchestrator_test;
mod recorder;
mod replay;
mod run_error;
mod scripted;
mod timeline;

pub use calls::{Call, CallLog, Recorded};
pub use expect::{Expect, Mismatch};
pub use harness::{DEFAULT_POLL_LIMIT, DEFAULT_TIME_LIMIT, TestHarness};
pub use orchestrator_test::{OrchestratorTest, TestFailure};
pub use recorder::EventRecorder;
pub use replay::Replay;
pub use run_error::RunError;
pub use scripted::{Script, ScriptedExecutor, Step};
