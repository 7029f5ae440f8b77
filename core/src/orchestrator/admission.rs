//! [`Admission`]: loop protection and the circuit breaker, asked before the hooks of
//! every event that would reach one.

use alloc::boxed::Box;
use core::time::Duration;

use super::context::HostCore;
use crate::breaker::{CircuitBreaker, Delivery};
use crate::event::{Event, EventKind, EventTag, Suppression, SuppressionReason};
use crate::job_id::JobId;
use crate::log::{Level, log_at};
use crate::unwind;

/// Whether an event's hooks may run: its causal depth against the host's limit, then the
/// breaker. A refusal is counted, logged and reported (see [`Host`](super::Host)).
pub(crate) struct Admission {
    breaker: Box<dyn CircuitBreaker>,
    /// Events deeper than this causal depth reach no hook (`None`: no limit).
    depth_limit: Option<u32>,
    /// The clock reading of the current turn, taken when first needed: a turn takes no
    /// time on a virtual clock, and a few microseconds on a real one, far below any
    /// sensible breaker window.
    now: Option<Duration>,
}

impl Admission {
    pub(crate) fn new(breaker: Box<dyn CircuitBreaker>, depth_limit: Option<u32>) -> Self {
        Self { breaker, depth_limit, now: None }
    }

    /// A new poll of the host: the clock is read again when needed.
    pub(crate) fn new_turn(&mut self) {
        self.now = None;
    }

    /// Whether the hooks for `event` may run.
    pub(crate) fn admit<S>(&mut self, event: &Event, delivery: Delivery, core: &mut HostCore<S>) -> bool {
        if let Some(limit) = self.depth_limit {
            let depth = event.causal_depth();
            if depth > limit {
                core.stats.loop_suppressed = core.stats.loop_suppressed.wrapping_add(1);
                // A chain shows in a job's terminal event or in a custom event; its
                // Started / Progress / Retrying are only counted (one report per link).
                // The first host to stop it reports it: one report per loop, however many
                // orchestrators share the bus.
                if !matches!(
                    event.tag(),
                    EventTag::Queued
                        | EventTag::Joined
                        | EventTag::Started
                        | EventTag::Progress
                        | EventTag::Retrying
                        | EventTag::HooksSuppressed
                ) && event.claim_stop_report()
                {
                    core.stats.loop_trips = core.stats.loop_trips.wrapping_add(1);
                    log_at!(
                        core.logger,
                        Level::Warning,
                        "orchestrator {}: loop protection stopped a chain of events: {event} is at causal depth \
                         {depth}, above the limit of {limit}; its hooks do not run (a hook that keeps dispatching or \
                         emitting what triggers it?)",
                        core.name
                    );
                    report_suppression(core, event, SuppressionReason::CausalDepth { depth, limit });
                }
                return false;
            }
        }
        let now = *self.now.get_or_insert_with(|| core.now_or_zero());
        let breaker = &mut self.breaker;
        let admitted = match unwind::catch(|| breaker.admit(event, delivery, now)) {
            Ok(admitted) => admitted,
            Err(message) => {
                // A breaker that panics protects nothing: the event goes through.
                core.stats.hook_panics = core.stats.hook_panics.wrapping_add(1);
                log_at!(
                    core.logger,
                    Level::Error,
                    "orchestrator {}: its circuit breaker panicked: {message}; the event goes through",
                    core.name
                );
                true
            }
        };
        if admitted {
            return true;
        }
        let stats = &mut core.stats;
        stats.breaker_suppressed = stats.breaker_suppressed.wrapping_add(1);
        let trips = unwind::catch(|| self.breaker.trips()).unwrap_or(stats.breaker_trips);
        if trips > stats.breaker_trips {
            stats.breaker_trips = trips;
            log_at!(
                core.logger,
                Level::Warning,
                "orchestrator {}: circuit breaker tripped on {:?} ({:?}) events at {:?}: their hooks are suppressed \
                 until the window resets (an event loop?)",
                core.name,
                event.tag(),
                delivery,
                now
            );
            if event.tag() != EventTag::HooksSuppressed {
                report_suppression(core, event, SuppressionReason::Breaker);
            }
        }
        false
    }
}

/// Emits [`EventKind::HooksSuppressed`] for `event` on the host's bus. The report is one
/// step deeper than the event, so it can never restart the chain it reports.
fn report_suppression<S>(core: &HostCore<S>, event: &Event, reason: SuppressionReason) {
    let name = core.name;
    let _ = core.bus.emit_with(|| {
        let suppression = Suppression { orchestrator: name, event_id: event.id(), event: event.tag(), reason };
        Event::new(JobId::next("HooksSuppressed"), name, None, EventKind::HooksSuppressed(suppression))
            .with_causal_depth(event.causal_depth().saturating_add(1))
            .at(core.now_or_zero())
    });
}
