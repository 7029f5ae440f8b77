//! [`Host`]: the future that owns an orchestrator and feeds it its inputs, one at a time.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};
use core::time::Duration;

use futures_core::Stream;

use super::context::{Context, Core};
use super::stats::OrchestratorStats;
use super::watch::Shared;
use super::{Orchestrator, SHUTDOWN_REASON};
use crate::breaker::{CircuitBreaker, Delivery};
use crate::bus::{Lagged, Subscription};
use crate::event::{Event, EventKind, EventTag, Suppression, SuppressionReason};
use crate::job_id::JobId;
use crate::log::{Level, log_at};
use crate::unwind;

/// How many inputs (commands or events) a host handles in one poll before it yields to
/// its executor, so a busy orchestrator cannot starve the other tasks of its thread.
const INPUTS_PER_TURN: usize = 128;

/// Events a host reads from its bus, at most, for each command it takes.
const EVENTS_PER_COMMAND: usize = 4;

/// Jobs whose terminal event may have been lost to a lag of the host's subscription.
#[derive(Default)]
struct LagRecovery {
    /// Jobs tracked when a lag was reported, not yet seen finished.
    suspects: Vec<JobId>,
    /// Suspects seen finished while the bus was drained; if they are still tracked after
    /// the bus has been drained once more, their terminal event is lost.
    candidates: Vec<JobId>,
}

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
/// * Loop protection (below), then the [`CircuitBreaker`] if one was given, are asked
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
/// # Falling behind
///
/// The host's subscription is bounded by the bus capacity. If the host falls more than
/// that many events behind, it loses events: it logs a warning and counts them in
/// [`OrchestratorStats::lagged_events`]. Lost progress and custom events are gone, but an
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
    core: Core<O::State>,
    events: Option<Subscription>,
    commands: Pin<Box<async_channel::Receiver<O::Command>>>,
    shared: Arc<Shared<O::State>>,
    breaker: Box<dyn CircuitBreaker>,
    /// Events deeper than this causal depth reach no hook (`None`: no limit).
    depth_limit: Option<u32>,
    lag: LagRecovery,
    flushed: OrchestratorStats,
    /// The clock reading of the current turn, taken when first needed.
    now: Option<Duration>,
    finished: bool,
}

/// The host never pins its fields: the orchestrator is only ever used through `&mut`.
impl<O: Orchestrator> Unpin for Host<O> {}

impl<O: Orchestrator> fmt::Debug for Host<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("orchestrator", &self.core.name)
            .field("active_jobs", &self.core.tracking.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> Host<O> {
    pub(crate) fn new(
        orchestrator: O,
        core: Core<O::State>,
        events: Subscription,
        commands: async_channel::Receiver<O::Command>,
        shared: Arc<Shared<O::State>>,
        breaker: Box<dyn CircuitBreaker>,
        depth_limit: Option<u32>,
    ) -> Self {
        Self {
            orchestrator,
            core,
            events: Some(events),
            commands: Box::pin(commands),
            shared,
            breaker,
            depth_limit,
            lag: LagRecovery::default(),
            flushed: OrchestratorStats::default(),
            now: None,
            finished: false,
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
        stats.lag_suspects = self.lag.suspects.len().saturating_add(self.lag.candidates.len());
        stats
    }

    fn handle_command(&mut self, command: O::Command) {
        self.core.stats.commands = self.core.stats.commands.wrapping_add(1);
        invoke(&mut self.orchestrator, &mut self.core, "handle", command, |o, c, ctx| o.handle(c, ctx));
        self.publish_if_dirty();
    }

    fn handle_event(&mut self, event: &Event) {
        self.core.stats.events = self.core.stats.events.wrapping_add(1);
        self.route(event);
        self.publish_if_dirty();
    }

    /// Routes one event (the table in the type's docs).
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

        if !active {
            // Loop-protection reports are for observers of the bus, never for hooks: a
            // hook reacting to one could only start another chain.
            if matches!(tag, EventTag::Started | EventTag::Progress | EventTag::Retrying | EventTag::HooksSuppressed) {
                self.core.stats.ignored_events = self.core.stats.ignored_events.wrapping_add(1);
            } else if self.admit(event, Delivery::Passive) {
                self.core.stats.passive_events = self.core.stats.passive_events.wrapping_add(1);
                self.hook(event, "on_passive_event", O::on_passive_event);
            }
            return;
        }

        if self.admit(event, Delivery::Active) {
            self.core.stats.active_events = self.core.stats.active_events.wrapping_add(1);
            match tag {
                EventTag::Started => self.hook(event, "on_job_started", O::on_job_started),
                EventTag::Progress => self.hook(event, "on_progress", O::on_progress),
                EventTag::Retrying => self.hook(event, "on_job_retrying", O::on_job_retrying),
                _ => {
                    match tag {
                        EventTag::Success => self.hook(event, "on_active_success", O::on_active_success),
                        EventTag::Failure => self.hook(event, "on_active_failure", O::on_active_failure),
                        EventTag::Cancelled => self.hook(event, "on_active_cancelled", O::on_active_cancelled),
                        EventTag::TimedOut => self.hook(event, "on_active_timeout", O::on_active_timeout),
                        _ => {}
                    }
                    self.hook(event, "on_active_event", O::on_active_event);
                }
            }
        }
        // Whatever the hooks did (panicked, or were suppressed), a terminal event ends the
        // job's tracking (fixes D7 and D10).
        if tag.is_terminal() {
            self.core.tracking.remove(id);
        }
    }

    /// Calls one hook. What it emits or dispatches through its context is one step deeper
    /// in the causal chain than `event`.
    fn hook(&mut self, event: &Event, name: &'static str, hook: fn(&mut O, &Event, &mut Context<'_, O>)) {
        let cause = event.causal_depth().saturating_add(1);
        self.core.bus.set_cause(cause);
        self.core.dispatcher.set_cause(cause);
        invoke(&mut self.orchestrator, &mut self.core, name, event, hook);
        self.core.bus.set_cause(0);
        self.core.dispatcher.set_cause(0);
    }

    /// Loop protection: whether the hooks for `event` may run. Checks its causal depth
    /// against the limit, then asks the breaker; counts, logs and reports a refusal.
    fn admit(&mut self, event: &Event, delivery: Delivery) -> bool {
        if let Some(limit) = self.depth_limit {
            let depth = event.causal_depth();
            if depth > limit {
                self.core.stats.loop_suppressed = self.core.stats.loop_suppressed.wrapping_add(1);
                // A chain shows in a job's terminal event or in a custom event; its
                // Started / Progress / Retrying are only counted (one report per link).
                // The first host to stop it reports it: one report per loop, however many
                // orchestrators share the bus.
                if !matches!(
                    event.tag(),
                    EventTag::Started | EventTag::Progress | EventTag::Retrying | EventTag::HooksSuppressed
                ) && event.claim_stop_report()
                {
                    self.core.stats.loop_trips = self.core.stats.loop_trips.wrapping_add(1);
                    log_at!(
                        self.core.logger,
                        Level::Warning,
                        "orchestrator {}: loop protection stopped a chain of events: {event} is at causal depth \
                         {depth}, above the limit of {limit}; its hooks do not run (a hook that keeps dispatching or \
                         emitting what triggers it?)",
                        self.core.name
                    );
                    self.report_suppression(event, SuppressionReason::CausalDepth { depth, limit });
                }
                return false;
            }
        }
        // One clock reading per turn: a turn takes no time on a virtual clock, and a few
        // microseconds on a real one, far below any sensible breaker window.
        let now = *self.now.get_or_insert_with(|| self.core.clock.as_ref().map_or(Duration::ZERO, |clock| clock.now()));
        let breaker = &mut self.breaker;
        let admitted = match unwind::catch(|| breaker.admit(event, delivery, now)) {
            Ok(admitted) => admitted,
            Err(message) => {
                // A breaker that panics protects nothing: the event goes through.
                self.core.stats.hook_panics = self.core.stats.hook_panics.wrapping_add(1);
                log_at!(
                    self.core.logger,
                    Level::Error,
                    "orchestrator {}: its circuit breaker panicked: {message}; the event goes through",
                    self.core.name
                );
                true
            }
        };
        if admitted {
            return true;
        }
        let stats = &mut self.core.stats;
        stats.breaker_suppressed = stats.breaker_suppressed.wrapping_add(1);
        let trips = unwind::catch(|| self.breaker.trips()).unwrap_or(stats.breaker_trips);
        if trips > stats.breaker_trips {
            stats.breaker_trips = trips;
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {}: circuit breaker tripped on {:?} ({:?}) events at {:?}: their hooks are suppressed \
                 until the window resets (an event loop?)",
                self.core.name,
                event.tag(),
                delivery,
                now
            );
            if event.tag() != EventTag::HooksSuppressed {
                self.report_suppression(event, SuppressionReason::Breaker);
            }
        }
        false
    }

    /// Emits [`EventKind::HooksSuppressed`] for `event` on the host's bus. The report is
    /// one step deeper than the event, so it can never restart the chain it reports.
    fn report_suppression(&self, event: &Event, reason: SuppressionReason) {
        let name = self.core.name;
        let _ = self.core.bus.emit_with(|| {
            let suppression = Suppression { orchestrator: name, event_id: event.id(), event: event.tag(), reason };
            Event::new(JobId::next("HooksSuppressed"), name, None, EventKind::HooksSuppressed(suppression))
                .with_causal_depth(event.causal_depth().saturating_add(1))
        });
    }

    fn on_lag(&mut self, missed: u64) {
        self.core.stats.lagged_events = self.core.stats.lagged_events.saturating_add(missed);
        log_at!(
            self.core.logger,
            Level::Warning,
            "orchestrator {} fell behind its bus and lost {missed} events; own jobs that ended meanwhile will be \
             recovered from their handles",
            self.core.name
        );
        // Any job tracked now may have lost its terminal event.
        self.lag.suspects.clear();
        self.lag.suspects.extend(self.core.tracking.ids());
        self.lag.candidates.clear();
    }

    /// Called when the bus has nothing ready. Returns `true` if it did something (then
    /// the bus must be drained again before the host may wait).
    fn recover_lost_terminals(&mut self) -> bool {
        if self.lag.suspects.is_empty() && self.lag.candidates.is_empty() {
            return false;
        }
        let mut busy = false;
        // Seen finished before the last drain of the bus, and still tracked after it:
        // their terminal events were lost. (A job's handle resolves only after its
        // terminal event was emitted, so that event would have been received.)
        for id in core::mem::take(&mut self.lag.candidates) {
            let Some(job) = self.core.tracking.get_mut(id) else { continue };
            let Some(kind) = job.handle.take_outcome() else { continue };
            let event = Event::new(id, (job.job_type)(), Some(job.type_id), kind).with_causal_depth(job.depth);
            self.core.stats.recovered_jobs = self.core.stats.recovered_jobs.wrapping_add(1);
            log_at!(
                self.core.logger,
                Level::Warning,
                "orchestrator {}: the terminal event of job {id} was lost to a lag; routing it rebuilt from the \
                 job's result",
                self.core.name
            );
            self.route(&event);
            self.publish_if_dirty();
            busy = true;
        }
        let finished = self.core.tracking.take_finished(&mut self.lag.suspects);
        if !finished.is_empty() {
            self.lag.candidates = finished;
            busy = true;
        }
        busy
    }

    fn snapshot(&self) -> OrchestratorStats {
        self.stats()
    }

    fn publish_if_dirty(&mut self) {
        if self.core.dirty {
            self.core.dirty = false;
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
            let stats = self.snapshot();
            self.flushed = stats;
            self.shared.publish(state, stats);
        }
    }

    fn flush_stats(&mut self) {
        let stats = self.snapshot();
        if stats != self.flushed {
            self.flushed = stats;
            self.shared.publish_stats(stats);
        }
    }

    /// Ends the host: cancels the active jobs, closes the command queue, ends the state
    /// streams.
    fn finish(&mut self, why: &str) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.publish_if_dirty();
        let reason: Arc<str> = Arc::from(SHUTDOWN_REASON);
        let cancelled = self.core.tracking.cancel_and_clear(&reason);
        log_at!(
            self.core.logger,
            Level::Info,
            "orchestrator {} ended ({why}); cancelled {cancelled} active jobs",
            self.core.name
        );
        self.commands.close();
        self.events = None;
        self.lag = LagRecovery::default();
        self.shared.close(self.snapshot());
    }
}

impl<O: Orchestrator> Future for Host<O> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(());
        }
        this.now = None;
        let mut budget = INPUTS_PER_TURN;
        loop {
            // Up to EVENTS_PER_COMMAND events, then one command: neither can starve the
            // other, and since a command's job emits at least two events (Started and its
            // end), reading events faster than commands keeps the host's subscription from
            // falling behind a burst of commands (and losing events to a lag).
            let mut busy = false;
            let mut handled = 0;
            for _ in 0..EVENTS_PER_COMMAND {
                let Some(events) = this.events.as_mut() else {
                    this.finish("its bus is closed");
                    return Poll::Ready(());
                };
                match Pin::new(events).poll_next(cx) {
                    Poll::Ready(Some(Ok(event))) => {
                        this.handle_event(&event);
                        busy = true;
                        handled += 1;
                    }
                    Poll::Ready(Some(Err(Lagged(missed)))) => {
                        this.on_lag(missed);
                        busy = true;
                    }
                    Poll::Ready(None) => {
                        log_at!(
                            this.core.logger,
                            Level::Warning,
                            "orchestrator {}: its bus was closed",
                            this.core.name
                        );
                        this.finish("its bus is closed");
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        busy |= this.recover_lost_terminals();
                        break;
                    }
                }
                if this.core.stop {
                    this.finish("shut down by the orchestrator");
                    return Poll::Ready(());
                }
            }

            match this.commands.as_mut().poll_next(cx) {
                Poll::Ready(Some(command)) => {
                    this.handle_command(command);
                    busy = true;
                    handled += 1;
                }
                Poll::Ready(None) => {
                    this.finish("shut down");
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            if this.core.stop {
                this.finish("shut down by the orchestrator");
                return Poll::Ready(());
            }

            if !busy {
                this.flush_stats();
                return Poll::Pending;
            }
            budget = budget.saturating_sub(handled.max(1));
            if budget == 0 {
                this.flush_stats();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

impl<O: Orchestrator> Drop for Host<O> {
    fn drop(&mut self) {
        self.finish("the host was dropped");
    }
}

/// Calls a command handler or hook with a fresh [`Context`]; with `std`, catches, logs and
/// counts a panic.
fn invoke<O: Orchestrator, A>(
    orchestrator: &mut O,
    core: &mut Core<O::State>,
    what: &'static str,
    arg: A,
    call: impl FnOnce(&mut O, A, &mut Context<'_, O>),
) {
    let outcome = unwind::catch(|| call(orchestrator, arg, &mut Context { core: &mut *core }));
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
