//! Orchestrators: state machines that own a state, turn commands into jobs, and turn the
//! jobs' events back into states.
//!
//! ```text
//!  OrchestratorHandle ──command──▶ Host ─ Orchestrator::handle ─ ctx.dispatch(job) ──▶ Dispatcher
//!         ▲  state(), states()       │                                                     │
//!         └──────── new state ◀──── hooks (on_active_success, ...) ◀──── Bus events ◀──────┘
//! ```
//!
//! * An [`Orchestrator`] is a plain struct: `&mut self` in every method, no locks.
//! * A [`Host`] future owns it and feeds it one input at a time: commands sent through an
//!   [`OrchestratorHandle`], and events from its bus, routed to the hooks (the table is in
//!   [`Host`]'s docs).
//! * Hooks and the command handler get a [`Context`]: the state, `dispatch`, `cancel_job`,
//!   `is_job_type_running`, `job_progress`, the bus and the dispatcher.
//! * The handle gives the current state, a [`StateStream`] that starts with it, commands
//!   with back-pressure, [`OrchestratorStats`], and shutdown.
//! * Loop protection: every event carries its causal depth, and a host calls no hook for
//!   an event more than [`DEFAULT_CAUSAL_DEPTH_LIMIT`] hooks deep (configurable); an
//!   opt-in [`CircuitBreaker`](crate::breaker::CircuitBreaker) can limit rates too.
//!
//! Hooks are synchronous on purpose: asynchronous work is what jobs are for. A hook that
//! needs to wait dispatches a job and reacts to its result in another hook.

mod admission;
mod builder;
mod context;
mod continuation;
mod drain;
mod handle;
mod hook_span;
mod host;
mod inputs;
mod lag_recovery;
mod reply;
mod routing;
mod stats;
mod tracking;
mod watch;

pub use builder::{
    DEFAULT_CAUSAL_DEPTH_LIMIT, DEFAULT_COMMAND_CAPACITY, MAX_COMMAND_CAPACITY, OrchestratorBuilder, StartError,
};
pub use context::Context;
pub use drain::HostDrain;
pub use handle::{OrchestratorHandle, SendError};
pub use host::Host;
pub use reply::{AskError, Reply};
pub use stats::OrchestratorStats;
pub use watch::StateStream;

use crate::dispatcher::Dispatcher;
use crate::event::Event;
use crate::sync::{MaybeSend, MaybeSync};

/// Reason given to the jobs a host cancels when it ends.
pub const SHUTDOWN_REASON: &str = "orchestrator shut down";

/// A state machine driven by commands and by the events of the jobs it dispatches.
///
/// Implement [`handle`](Self::handle) for commands and override the hooks you need (they
/// do nothing by default). Which hook gets which event is in [`Host`]'s docs; in short:
/// events of the jobs *this* orchestrator dispatched (until they end) go to the active
/// hooks, results of everybody else's jobs and custom events to
/// [`on_passive_event`](Self::on_passive_event).
///
/// # Example
///
/// A counter whose increments are computed by a job (the round trip command → job →
/// hook → state):
///
/// ```
/// use futures::StreamExt;
/// use orchestrator_core::{AsyncState, Context, Dispatcher, Event, Job, JobError, Orchestrator, executor_fn};
///
/// #[derive(Clone)]
/// struct AddOne(u64);
/// impl Job for AddOne { type Output = u64; }
///
/// struct Counter;
/// impl Orchestrator for Counter {
///     type State = AsyncState<u64>;
///     type Command = ();
///
///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
///         let current = ctx.state().data().copied().unwrap_or(0);
///         match ctx.dispatch(AddOne(current)) {
///             Ok(_) => ctx.update_state(|s| s.set_loading()),
///             Err(e) => ctx.update_state(|s| s.set_failure(JobError::msg(e))),
///         }
///     }
///
///     fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
///         if let Some(&n) = event.data_as::<u64>() {
///             ctx.update_state(|s| s.set_success(n));
///         }
///     }
///
///     fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
///         let error = event.error().cloned().unwrap_or_else(|| JobError::msg("unknown"));
///         ctx.update_state(|s| s.set_failure(error));
///     }
/// }
///
/// let dispatcher = Dispatcher::new();
/// dispatcher.register(executor_fn(|job: AddOne, _| async move { Ok::<_, JobError>(job.0 + 1) }));
/// let (host, handle) = Counter.start(AsyncState::new(), &dispatcher).unwrap();
/// let runner = dispatcher.runner(); // no spawner here: drive the jobs in this task
///
/// futures::executor::block_on(async {
///     let script = async {
///         let mut states = handle.states();
///         for expected in 1..=3 {
///             handle.send(()).await.unwrap();
///             // Wait for the job's result to come back as a new state.
///             while let Some(s) = states.next().await {
///                 if s.data() == Some(&expected) && s.status().is_success() { break; }
///             }
///         }
///         handle.shutdown();
///         dispatcher.shutdown();
///     };
///     futures::join!(host, runner, script);
/// });
/// assert_eq!(handle.state().data(), Some(&3));
/// ```
pub trait Orchestrator: Sized + MaybeSend + 'static {
    /// What the orchestrator exposes. Cloned once per published change and for every
    /// reader: keep it cheap to clone (wrap big parts in `Arc`).
    type State: Clone + MaybeSend + MaybeSync + 'static;

    /// What callers can ask the orchestrator to do (an enum of intents, typically).
    type Command: MaybeSend + 'static;

    /// Handles one command.
    fn handle(&mut self, command: Self::Command, ctx: &mut Context<'_, Self>);

    /// An own job succeeded (its output: [`Event::data_as`]).
    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job failed (its error: [`Event::error`]).
    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job was cancelled.
    fn on_active_cancelled(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job timed out.
    fn on_active_timeout(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job reported progress ([`Event::progress`]; also in
    /// [`Context::job_progress`]).
    fn on_progress(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job started.
    fn on_job_started(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// An own job is about to retry.
    fn on_job_retrying(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// Every own event other than Started / Progress / Retrying: after the specific hook
    /// for a terminal event, and alone for Placeholder, CacheHit and custom events.
    fn on_active_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = (event, ctx);
    }

    /// Every event that is not an own job's, except other jobs' Started / Progress /
    /// Retrying: other orchestrators' results, placeholders and cache hits, custom events.
    ///
    /// An orchestrator that keeps this default (which does nothing) costs nothing per
    /// event of other jobs: after the first such event its host stops reading the whole
    /// bus and reads only its own jobs' events, which are delivered to it directly.
    fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let _ = event;
        ctx.core.passive_unused = true;
    }

    /// A builder for a host running this orchestrator, starting in `initial_state` and
    /// dispatching with `dispatcher`.
    fn builder(self, initial_state: Self::State, dispatcher: &Dispatcher) -> OrchestratorBuilder<Self> {
        OrchestratorBuilder::new(self, initial_state, dispatcher)
    }

    /// A host with the default configuration (see [`OrchestratorBuilder`]), and its
    /// handle. Await or spawn the host.
    ///
    /// # Errors
    ///
    /// [`StartError::BusClosed`] when the dispatcher's bus is closed.
    fn start(
        self,
        initial_state: Self::State,
        dispatcher: &Dispatcher,
    ) -> Result<(Host<Self>, OrchestratorHandle<Self>), StartError> {
        self.builder(initial_state, dispatcher).build()
    }
}
