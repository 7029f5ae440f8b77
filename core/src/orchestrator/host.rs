//! [`Host`]: the future that owns an orchestrator and feeds it its inputs, one at a time.

use crate::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};

use super::admission::Admission;
use super::context::{Context, HostCore};
use super::continuation::Continuations;
use super::drain::Draining;
use super::inputs::{End, Inputs, Next};
use super::lag_recovery::LagRecovery;
use super::routing::{Hook, hooks};
use super::stats::OrchestratorStats;
use super::watch::Shared;
use super::{Orchestrator, SHUTDOWN_REASON};
use crate::breaker::Delivery;
use crate::event::Event;
use crate::log::{Level, log_at};
use crate::unwind;

/// The future that runs an orchestrator: it owns it, and handles its inputs one at a
/// time, commands from its [`OrchestratorHandle`](crate::OrchestratorHandle)s and events
/// from its bus, calling the command handler and the hooks. Spawn it on your runtime (or
/// use [`OrchestratorBuilder::spawn`](crate::OrchestratorBuilder::spawn)), or await it in
/// the task that also drives the dispatcher's runner.
///
/// # Routing
///
/// For each event taken from the bus, "active" means its job was dispatched through this
/// orchestrator's [`Context::dispatch`] and its terminal event has not been routed yet.
///
/// | event | active | passive |
/// |---|---|---|
/// | `Started` | `on_job_started` | — |
/// | `Progress` | progress recorded, `on_progress` | — (not recorded) |
/// | `Retrying` | `on_job_retrying` | — |
/// | `Success` | `on_active_success`, `on_active_event`, tracking ends | `on_passive_event` |
/// | `Failure` | `on_active_failure`, `on_active_event`, tracking ends | `on_passive_event` |
/// | `Cancelled` | `on_active_cancelled`, `on_active_event`, tracking ends | `on_passive_event` |
/// | `TimedOut` | `on_active_timeout`, `on_active_event`, tracking ends | `on_passive_event` |
/// | `Placeholder`, `CacheHit`, custom | `on_active_event` | `on_passive_event` |
/// | `HooksSuppressed` | — | — (for observers of the bus) |
///
/// * Inside the hooks of a terminal event the job still counts as running.
/// * Loop protection (below), then the [`CircuitBreaker`](crate::breaker::CircuitBreaker) if one was given, are asked
///   before the hooks of every event that would reach a hook. When either refuses, no
///   hook runs, but the bookkeeping does: progress is recorded and a terminal event still
///   ends the job's tracking.
/// * With the `std` feature a panicking hook (or command handler, breaker, or the state's
///   `Clone`) is caught, logged at `Error` and counted in
///   [`OrchestratorStats::hook_panics`]; the other hooks for the event still run, tracking
///   still ends, and the host goes on with the next input. Without `std` (or with
///   `panic = "abort"`) a panic propagates as usual.
///
/// # Loop protection
///
/// Every event carries its [causal depth](Event::causal_depth): 0 unless a hook caused
/// it. Whatever a hook emits or dispatches through its [`Context`] (its bus, its
/// dispatcher, or clones of them made in the hook) is one level deeper than the hook's
/// event, in this orchestrator or any other on the bus. The host calls no hook for an
/// event deeper than its limit
/// ([`OrchestratorBuilder::causal_depth_limit`](crate::OrchestratorBuilder::causal_depth_limit),
/// default [`DEFAULT_CAUSAL_DEPTH_LIMIT`](super::DEFAULT_CAUSAL_DEPTH_LIMIT)), so a hook
/// that keeps re-dispatching, or emits what it listens to, stops after that many rounds.
/// The first host to stop a chain reports it: an
/// [`EventKind::HooksSuppressed`](crate::EventKind::HooksSuppressed) event on its bus,
/// [`OrchestratorStats::loop_trips`], and a warning. Load is never suppressed: any number
/// of own jobs, and any burst of unrelated events, are at depth 0 or 1.
///
/// # Where events come from
///
/// The events of the jobs an orchestrator dispatched through its [`Context`] are
/// delivered to its host directly (its route), not looked up among every event of the
/// bus. The host reads the whole bus only while its orchestrator handles other jobs'
/// events: one that keeps the default [`Orchestrator::on_passive_event`] stops reading
/// it after the first such event, and from then on costs nothing per event of other
/// jobs, however many orchestrators share the bus. It still ends when the bus closes.
///
/// # Falling behind
///
/// The host's route and its subscription are bounded by the bus capacity. If the host
/// falls more than that many events behind, it loses events: it logs a warning and
/// counts them in [`OrchestratorStats::lagged_events`]. Lost progress and custom events are gone, but an
/// own job never stays "running" forever: once the host has caught up, every tracked job
/// whose handle says it has ended, and whose terminal event did not arrive, gets that
/// event rebuilt from its result and routed as usual
/// ([`OrchestratorStats::recovered_jobs`]; a rebuilt `Failure` has `retried: false`).
///
/// # End
///
/// The host future completes when the command queue is closed
/// ([`OrchestratorHandle::shutdown`](crate::OrchestratorHandle::shutdown), after the
/// commands already queued, or every handle dropped), when a hook calls
/// [`Context::shutdown`], or when its bus is closed. It then cancels its orchestrator's
/// active jobs, publishes the final state and ends the state streams. Dropping the host
/// before that does the same. The orchestrator is dropped with the host.
///
/// See [`Orchestrator`] for a complete example.
#[must_use = "a host does nothing unless awaited or spawned"]
pub struct Host<O: Orchestrator> {
    orchestrator: O,
    core: HostCore<O::State>,
    inputs: Inputs<O::Command>,
    shared: Arc<Shared<O::State>>,
    admission: Admission,
    /// What to do with the typed results of jobs dispatched with `dispatch_then`.
    thens: Continuations<O>,
    lag: LagRecovery,
    flushed: OrchestratorStats,
    finished: bool,
    /// A graceful drain in progress (see `OrchestratorHandle::drain`).
    draining: Option<Draining>,
}

/// The host never pins its fields: the orchestrator is only ever used through `&mut`.
impl<O: Orchestrator> Unpin for Host<O> {}

impl<O: Orchestrator> fmt::Debug for Host<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("orchestrator", &self.core.name)
            .field("active_jobs", &self.core.tracking.len())
            .field("reads_bus", &self.inputs.reads_bus())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> Future for Host<O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(());
        }
        this.admission.new_turn();
        this.inputs.new_turn();
        loop {
            match this.inputs.next(cx) {
                Next::Event(event) => this.handle_event(&event),
                Next::Lagged { missed, own } => this.on_lag(missed, own),
                Next::Command(command) => this.handle_command(command),
                Next::Idle => {
                    if this.recover_lost_terminals() || this.drain_deadline(cx) {
                        continue;
                    }
                    this.flush_stats();
                    return Poll::Pending;
                }
                Next::Yield => {
                    this.flush_stats();
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Next::End(End::Shutdown) => this.shut_down(),
                Next::End(End::BusClosed) => {
                    log_at!(this.core.logger, Level::Warning, "orchestrator {}: its bus was closed", this.core.name);
                    this.core.stop_with("its bus is closed");
                }
            }
            if this.draining.is_some() && this.core.tracking.is_empty() {
                this.core.stop_with("drained");
            }
            if let Some(why) = this.core.stop_reason() {
                this.finish(why);
                return Poll::Ready(());
            }
            if core::mem::take(&mut this.core.passive_unused) {
                this.inputs.stop_reading(&this.core.bus);
            }
        }
    }
}

impl<O: Orchestrator> Drop for Host<O> {
    fn drop(&mut self) {
        self.finish("the host was dropped");
    }
}

impl<O: Orchestrator> Host<O> {
    pub(crate) fn new(
        orchestrator: O,
        core: HostCore<O::State>,
        inputs: Inputs<O::Command>,
        shared: Arc<Shared<O::State>>,
        admission: Admission,
    ) -> Self {
        shared.drain.set_has_timer(core.dispatcher.timer().is_some());
        Self {
            orchestrator,
            core,
            inputs,
            shared,
            admission,
            thens: Continuations::default(),
            lag: LagRecovery::default(),
            flushed: OrchestratorStats::default(),
            finished: false,
            draining: None,
        }
    }

    /// True once the host has ended.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The orchestrator (for inspection between polls, e.g. in tests).
    pub fn orchestrator(&self) -> &O {
        &self.orchestrator
    }

    /// A snapshot of the counters (the same as the handle's, but current to the input).
    pub fn stats(&self) -> OrchestratorStats {
        let mut stats = self.core.stats;
        stats.active_jobs = self.core.tracking.len();
        stats.lag_suspects = self.lag.len();
        stats
    }

    fn handle_command(&mut self, command: O::Command) {
        self.core.stats.commands = self.core.stats.commands.wrapping_add(1);
        invoke(&mut self.orchestrator, &mut self.core, &mut self.thens, "handle", command, |o, c, ctx| {
            o.handle(c, ctx)
        });
        self.publish_if_dirty();
    }

    fn handle_event(&mut self, event: &Event) {
        self.core.stats.events = self.core.stats.events.wrapping_add(1);
        self.route(event);
        self.publish_if_dirty();
    }

    /// Routes one event (the table in the type's docs, `routing::hooks`).
    fn route(&mut self, event: &Event) {
        let id = event.id();
        let tag = event.tag();
        let active = match self.core.tracking.get_mut(id) {
            Some(job) => {
                if let Some(progress) = event.progress() {
                    job.progress = progress.progress;
                }
                true
            }
            None => false,
        };
        let hooks = hooks(tag, active);
        if hooks.is_empty() {
            self.core.stats.ignored_events = self.core.stats.ignored_events.wrapping_add(1);
        } else {
            let delivery = if active { Delivery::Active } else { Delivery::Passive };
            if self.admission.admit(event, delivery, &mut self.core) {
                let stats = &mut self.core.stats;
                if active {
                    stats.active_events = stats.active_events.wrapping_add(1);
                } else {
                    stats.passive_events = stats.passive_events.wrapping_add(1);
                }
                for hook in hooks {
                    self.call(*hook, event);
                }
                if active && tag.is_terminal() {
                    if let Some(then) = self.thens.remove(id) {
                        self.call_with_cause(event, "a dispatch_then continuation", |o, event, ctx| {
                            then(o, event, ctx)
                        });
                    }
                }
            }
        }
        // Whatever the hooks did (panicked, or were suppressed), a terminal event ends the
        // job's tracking.
        if active && tag.is_terminal() {
            self.core.tracking.remove(id);
            self.thens.remove(id);
            if let Some(draining) = &mut self.draining {
                draining.job_ended();
            }
        }
    }

    /// Calls one hook. What it emits or dispatches through its context is one step deeper
    /// in the causal chain than `event`.
    fn call(&mut self, hook: Hook, event: &Event) {
        let (name, hook): (&'static str, HookFn<O>) = match hook {
            Hook::JobStarted => ("on_job_started", O::on_job_started),
            Hook::Progress => ("on_progress", O::on_progress),
            Hook::Retrying => ("on_job_retrying", O::on_job_retrying),
            Hook::ActiveSuccess => ("on_active_success", O::on_active_success),
            Hook::ActiveFailure => ("on_active_failure", O::on_active_failure),
            Hook::ActiveCancelled => ("on_active_cancelled", O::on_active_cancelled),
            Hook::ActiveTimeout => ("on_active_timeout", O::on_active_timeout),
            Hook::ActiveEvent => ("on_active_event", O::on_active_event),
            Hook::PassiveEvent => ("on_passive_event", O::on_passive_event),
        };
        self.call_with_cause(event, name, hook);
    }

    /// Calls a reaction to `event`: what it emits or dispatches through its context is
    /// one step deeper in the causal chain than `event`.
    fn call_with_cause(
        &mut self,
        event: &Event,
        name: &'static str,
        call: impl FnOnce(&mut O, &Event, &mut Context<'_, O>),
    ) {
        let cause = event.causal_depth().saturating_add(1);
        self.core.bus.set_cause(cause);
        self.core.dispatcher.set_cause(cause);
        invoke(&mut self.orchestrator, &mut self.core, &mut self.thens, name, event, call);
        self.core.bus.set_cause(0);
        self.core.dispatcher.set_cause(0);
    }

    /// The command queue is closed and empty: the host ends, unless a handle asked for a
    /// drain, which starts now (the active jobs run on, new commands are refused).
    fn shut_down(&mut self) {
        let Some(deadline) = self.shared.drain.asked() else {
            self.core.stop_with("shut down");
            return;
        };
        let timer = self.core.dispatcher.timer();
        let sleep = deadline.and_then(|after| timer.map(|timer| timer.sleep(after)));
        self.draining = Some(Draining::new(sleep));
        self.inputs.commands_ended();
        log_at!(
            self.core.logger,
            Level::Info,
            "orchestrator {} draining: {} active jobs",
            self.core.name,
            self.core.tracking.len()
        );
    }

    /// With nothing else to do while draining: once the deadline has passed, cancels the
    /// active jobs. Returns `true` if it cancelled any (their events come next).
    fn drain_deadline(&mut self, cx: &mut TaskContext<'_>) -> bool {
        let Some(reason) = self.draining.as_mut().and_then(|draining| draining.poll_deadline(cx)) else {
            return false;
        };
        let cancelled = self.core.tracking.cancel_all(Some(&reason));
        if cancelled > 0 {
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {}: drain deadline passed; cancelled {cancelled} active jobs",
                self.core.name
            );
        }
        cancelled > 0
    }

    fn on_lag(&mut self, missed: u64, own: bool) {
        self.core.stats.lagged_events = self.core.stats.lagged_events.saturating_add(missed);
        if own {
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {} fell behind and lost {missed} events of its own jobs; those that ended meanwhile \
                 will be recovered from their handles",
                self.core.name
            );
            self.lag.on_lag(&self.core.tracking);
        } else {
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {} fell behind its bus and lost {missed} events (of other jobs, or of its own jobs, which \
                 came to it directly too)",
                self.core.name
            );
        }
    }

    /// Called when no input is ready. Returns `true` if it did something (then the inputs
    /// must be drained again before the host may wait).
    fn recover_lost_terminals(&mut self) -> bool {
        let (rebuilt, busy) = self.lag.on_drained(&mut self.core.tracking);
        for event in rebuilt {
            let event = event.at(self.core.now_or_zero());
            self.core.stats.recovered_jobs = self.core.stats.recovered_jobs.wrapping_add(1);
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {}: the terminal event of job {} was lost to a lag; routing it rebuilt from the \
                 job's result",
                self.core.name,
                event.id()
            );
            self.route(&event);
            self.publish_if_dirty();
        }
        busy
    }

    fn publish_if_dirty(&mut self) {
        if !core::mem::take(&mut self.core.dirty) {
            return;
        }
        // The state's `Clone` is user code.
        let state = &self.core.state;
        let state = match unwind::catch(|| state.clone()) {
            Ok(state) => state,
            Err(message) => {
                self.core.stats.hook_panics = self.core.stats.hook_panics.wrapping_add(1);
                log_at!(
                    self.core.logger,
                    Level::Error,
                    "orchestrator {}: cloning its state panicked: {message}; this change is not published",
                    self.core.name
                );
                return;
            }
        };
        self.core.stats.states_published = self.core.stats.states_published.wrapping_add(1);
        let stats = self.stats();
        self.flushed = stats;
        self.shared.publish(state, stats);
    }

    fn flush_stats(&mut self) {
        let stats = self.stats();
        if stats != self.flushed {
            self.flushed = stats;
            self.shared.publish_stats(stats);
        }
    }

    /// Ends the host: cancels the active jobs, closes the inputs, ends the state streams.
    fn finish(&mut self, why: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.publish_if_dirty();
        let reason: Arc<str> = Arc::from(SHUTDOWN_REASON);
        let cancelled = self.core.tracking.cancel_and_clear(&reason);
        self.thens.clear();
        if self.shared.drain.asked().is_some() {
            let mut report = self.draining.take().map(|d| d.report).unwrap_or_default();
            report.cancelled = report.cancelled.saturating_add(cancelled);
            self.shared.drain.set_report(report);
        }
        log_at!(
            self.core.logger,
            Level::Info,
            "orchestrator {} ended ({why}); cancelled {cancelled} active jobs",
            self.core.name
        );
        self.inputs.close();
        self.lag = LagRecovery::default();
        self.shared.close(self.stats());
    }
}

/// Inputs handed to the host directly, outside any poll: the test kit's replay feeds a
/// recorded log this way, without a bus, a runner or an executor.
#[cfg(feature = "test-util")]
impl<O: Orchestrator> Host<O> {
    /// Handles one command now. Returns `false` (and drops it) once the host has ended.
    pub(crate) fn feed_command(&mut self, command: O::Command) -> bool {
        if self.finished {
            return false;
        }
        self.handle_command(command);
        self.end_if_stopped()
    }

    /// Routes one event now, as if it came from the bus. Returns `false` once the host
    /// has ended.
    pub(crate) fn feed_event(&mut self, event: &Event) -> bool {
        if self.finished {
            return false;
        }
        self.handle_event(event);
        self.end_if_stopped()
    }

    fn end_if_stopped(&mut self) -> bool {
        if let Some(why) = self.core.stop_reason() {
            self.finish(why);
        }
        !self.finished
    }

    /// The orchestrator's active jobs: id, job type id and job type name.
    pub(crate) fn active_jobs(&self) -> alloc::vec::Vec<(crate::JobId, core::any::TypeId, &'static str)> {
        self.core
            .tracking
            .ids()
            .filter_map(|id| self.core.tracking.get(id).map(|job| (id, job.type_id, (job.job_type)())))
            .collect()
    }
}

/// An [`Orchestrator`] event hook.
type HookFn<O> = fn(&mut O, &Event, &mut Context<'_, O>);

/// Calls a command handler or hook with a fresh [`Context`]; with `std`, catches, logs and
/// counts a panic.
fn invoke<O: Orchestrator, A>(
    orchestrator: &mut O,
    core: &mut HostCore<O::State>,
    thens: &mut Continuations<O>,
    what: &'static str,
    arg: A,
    call: impl FnOnce(&mut O, A, &mut Context<'_, O>),
) {
    #[allow(clippy::let_unit_value)] // a `()` without the `tracing` feature; a guard with it
    let _span = super::hook_span::enter(core.name, what);
    let outcome = unwind::catch(|| call(orchestrator, arg, &mut Context { core: &mut *core, thens: &mut *thens }));
    if let Err(message) = outcome {
        core.stats.hook_panics = core.stats.hook_panics.wrapping_add(1);
        log_at!(
            core.logger,
            Level::Error,
            "orchestrator {}: {what} panicked: {message}; the orchestrator keeps running",
            core.name
        );
    }
}
