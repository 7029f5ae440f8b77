//! [`Expect`]: what a test expects of the recorded events, and [`Mismatch`], what it got.

use crate::sync::Arc;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::timeline;
use crate::event::{Event, EventTag};
use crate::job_id::JobId;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Contains(EventTag),
    InOrder(Vec<EventTag>),
    ExactlyOnce(EventTag),
    Sequence(Vec<EventTag>),
    OneTerminalPerJob,
}

/// An expectation about recorded events, checked by [`EventRecorder::check`] and
/// [`EventRecorder::assert`](super::EventRecorder::assert). By default it looks at every
/// event; [`of_job`](Self::of_job) narrows it to one job's.
///
/// ```
/// use orchestrator_core::test_kit::Expect;
/// use orchestrator_core::EventTag::*;
///
/// let retried_then_succeeded = Expect::in_order([Started, Retrying, Success]);
/// let one_outcome_each = Expect::one_terminal_per_job();
/// # let _ = (retried_then_succeeded, one_outcome_each);
/// ```
///
/// [`EventRecorder::check`]: super::EventRecorder::check
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    job: Option<JobId>,
    rule: Rule,
}

impl Expect {
    const fn new(rule: Rule) -> Self {
        Self { job: None, rule }
    }

    /// At least one event with `tag`.
    pub fn contains(tag: EventTag) -> Self {
        Self::new(Rule::Contains(tag))
    }

    /// Events with these tags, in this order, possibly with others in between.
    pub fn in_order(tags: impl IntoIterator<Item = EventTag>) -> Self {
        Self::new(Rule::InOrder(tags.into_iter().collect()))
    }

    /// Exactly one event with `tag`.
    pub fn exactly_once(tag: EventTag) -> Self {
        Self::new(Rule::ExactlyOnce(tag))
    }

    /// Exactly these tags, in this order, and nothing else (with [`of_job`](Self::of_job):
    /// the job's whole sequence).
    pub fn sequence(tags: impl IntoIterator<Item = EventTag>) -> Self {
        Self::new(Rule::Sequence(tags.into_iter().collect()))
    }

    /// Every job seen (every id with a `Started` event) has exactly one terminal event
    /// (`Success`, `Failure`, `Cancelled` or `TimedOut`), and nothing follows it.
    pub fn one_terminal_per_job() -> Self {
        Self::new(Rule::OneTerminalPerJob)
    }

    /// Only the events of job `id`.
    #[must_use]
    pub fn of_job(mut self, id: JobId) -> Self {
        self.job = Some(id);
        self
    }

    /// Checks the expectation against `events`.
    pub(crate) fn check(&self, events: &[Arc<Event>], lagged: u64) -> Result<(), Mismatch> {
        let seen: Vec<&Arc<Event>> = events.iter().filter(|e| self.job.is_none_or(|id| e.id() == id)).collect();
        let tags: Vec<EventTag> = seen.iter().map(|e| e.tag()).collect();
        let found = match &self.rule {
            Rule::Contains(tag) => (!tags.contains(tag)).then(|| format!("no {tag:?} among {tags:?}")),
            Rule::ExactlyOnce(tag) => {
                let n = tags.iter().filter(|t| *t == tag).count();
                (n != 1).then(|| format!("{n} events {tag:?}"))
            }
            Rule::InOrder(expected) => {
                let mut wanted = expected.iter().peekable();
                for tag in &tags {
                    if wanted.peek() == Some(&tag) {
                        wanted.next();
                    }
                }
                wanted.peek().map(|missing| format!("{tags:?}, where {missing:?} is missing or out of order"))
            }
            Rule::Sequence(expected) => (tags != *expected).then(|| format!("{tags:?}")),
            Rule::OneTerminalPerJob => one_terminal_each(&seen),
        };
        match found {
            None => Ok(()),
            Some(found) => {
                Err(Mismatch { expected: self.describe(), found, timeline: timeline::render(events, lagged) })
            }
        }
    }

    fn describe(&self) -> String {
        let what = match &self.rule {
            Rule::Contains(tag) => format!("an event {tag:?}"),
            Rule::InOrder(tags) => format!("events {tags:?} in this order"),
            Rule::ExactlyOnce(tag) => format!("exactly one event {tag:?}"),
            Rule::Sequence(tags) => format!("exactly the events {tags:?}"),
            Rule::OneTerminalPerJob => String::from("exactly one terminal event per job, and nothing after it"),
        };
        match self.job {
            Some(id) => format!("{what} for job {id}"),
            None => what,
        }
    }
}

/// The jobs that broke "one terminal event each, nothing after it", described.
fn one_terminal_each(events: &[&Arc<Event>]) -> Option<String> {
    let mut jobs: Vec<JobId> = Vec::new();
    for e in events {
        if e.tag() == EventTag::Started && !jobs.contains(&e.id()) {
            jobs.push(e.id());
        }
    }
    let mut problems = Vec::new();
    for id in jobs {
        let tags: Vec<EventTag> = events.iter().filter(|e| e.id() == id).map(|e| e.tag()).collect();
        let terminals = tags.iter().filter(|t| t.is_terminal()).count();
        let last_is_terminal = tags.last().is_some_and(|t| t.is_terminal());
        if terminals != 1 || !last_is_terminal {
            problems.push(format!("job {id}: {tags:?}"));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// An [`Expect`] that did not hold: what was expected, what was found, and the whole
/// recorded timeline (its `Display` shows all three).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the expectation asked for.
    pub expected: String,
    /// What the events showed instead.
    pub found: String,
    /// Every recorded event, one per line.
    pub timeline: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}\n   found {}\nrecorded timeline:\n{}", self.expected, self.found, self.timeline)
    }
}

impl core::error::Error for Mismatch {}
