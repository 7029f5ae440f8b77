//! The routing table: which hooks an event reaches, by its kind and by whether its job is
//! one of the orchestrator's own active jobs (see the table in [`Host`](super::Host)'s
//! docs, which this is).

use crate::event::EventTag;

/// One of the [`Orchestrator`](super::Orchestrator)'s event hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    JobStarted,
    Progress,
    Retrying,
    ActiveSuccess,
    ActiveFailure,
    ActiveCancelled,
    ActiveTimeout,
    ActiveEvent,
    PassiveEvent,
}

/// The hooks `tag` reaches, in order: for an own active job's event (`active`), or for
/// any other event. An empty list means the event is ignored (counted, never delivered).
pub(crate) fn hooks(tag: EventTag, active: bool) -> &'static [Hook] {
    use Hook::*;
    if !active {
        // Other jobs' lifecycle steps are not news; loop-protection reports are for
        // observers of the bus, never for hooks: a hook reacting to one could only start
        // another chain.
        return match tag {
            EventTag::Queued
            | EventTag::Joined
            | EventTag::Started
            | EventTag::Progress
            | EventTag::Retrying
            | EventTag::HooksSuppressed => &[],
            _ => &[PassiveEvent],
        };
    }
    match tag {
        EventTag::Started => &[JobStarted],
        EventTag::Progress => &[Progress],
        EventTag::Retrying => &[Retrying],
        EventTag::Success => &[ActiveSuccess, ActiveEvent],
        EventTag::Failure => &[ActiveFailure, ActiveEvent],
        EventTag::Cancelled => &[ActiveCancelled, ActiveEvent],
        EventTag::TimedOut => &[ActiveTimeout, ActiveEvent],
        // Placeholder, CacheHit, custom events (and a report about an own job, which
        // cannot happen: reports carry their own ids).
        _ => &[ActiveEvent],
    }
}

#[cfg(test)]
mod tests {
    use super::Hook::*;
    use super::*;

    #[test]
    fn started_reaches_on_job_started_when_active_and_nothing_when_passive() {
        assert_eq!(hooks(EventTag::Started, true), [JobStarted]);
        assert_eq!(hooks(EventTag::Started, false), []);
    }

    #[test]
    fn progress_reaches_on_progress_when_active_and_nothing_when_passive() {
        assert_eq!(hooks(EventTag::Progress, true), [Progress]);
        assert_eq!(hooks(EventTag::Progress, false), []);
    }

    #[test]
    fn retrying_reaches_on_job_retrying_when_active_and_nothing_when_passive() {
        assert_eq!(hooks(EventTag::Retrying, true), [Retrying]);
        assert_eq!(hooks(EventTag::Retrying, false), []);
    }

    #[test]
    fn success_reaches_its_hook_then_on_active_event_or_on_passive_event() {
        assert_eq!(hooks(EventTag::Success, true), [ActiveSuccess, ActiveEvent]);
        assert_eq!(hooks(EventTag::Success, false), [PassiveEvent]);
    }

    #[test]
    fn failure_reaches_its_hook_then_on_active_event_or_on_passive_event() {
        assert_eq!(hooks(EventTag::Failure, true), [ActiveFailure, ActiveEvent]);
        assert_eq!(hooks(EventTag::Failure, false), [PassiveEvent]);
    }

    #[test]
    fn cancelled_reaches_its_hook_then_on_active_event_or_on_passive_event() {
        assert_eq!(hooks(EventTag::Cancelled, true), [ActiveCancelled, ActiveEvent]);
        assert_eq!(hooks(EventTag::Cancelled, false), [PassiveEvent]);
    }

    #[test]
    fn timed_out_reaches_its_hook_then_on_active_event_or_on_passive_event() {
        assert_eq!(hooks(EventTag::TimedOut, true), [ActiveTimeout, ActiveEvent]);
        assert_eq!(hooks(EventTag::TimedOut, false), [PassiveEvent]);
    }

    #[test]
    fn placeholder_cache_hit_and_custom_reach_the_generic_hooks() {
        for tag in [EventTag::Placeholder, EventTag::CacheHit, EventTag::Custom("note")] {
            assert_eq!(hooks(tag, true), [ActiveEvent], "{tag:?}");
            assert_eq!(hooks(tag, false), [PassiveEvent], "{tag:?}");
        }
    }

    #[test]
    fn hooks_suppressed_reaches_no_hook() {
        assert_eq!(hooks(EventTag::HooksSuppressed, false), []);
    }
}
