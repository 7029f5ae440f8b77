//! Events: what travels on a [`Bus`](crate::Bus).
//!
//! Every event carries the [`JobId`] it correlates with and the name of the job type that
//! produced it, plus an [`EventKind`]. Payloads are type-erased and shared ([`Payload`]),
//! never deep-cloned: a bus hands every subscriber the same `Arc<Event>`.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::dyn_arc;
use core::any::{Any, TypeId};
use core::fmt;
use core::time::Duration;

use crate::error::JobError;
use crate::job_id::JobId;

use crate::sync::AnyArc;

/// A shared, type-erased value carried by an event (a job's output, a placeholder, a
/// cached value, a custom event's data). Cloning it clones a pointer.
///
/// ```
/// use orchestrator_core::Payload;
/// let p = Payload::new(42_u32);
/// assert_eq!(p.get::<u32>(), Some(&42));
/// assert_eq!(p.get::<i64>(), None);
/// ```
#[derive(Clone)]
pub struct Payload(AnyArc);

impl Payload {
    /// Wraps a value.
    pub fn new<T: Any + crate::MaybeSend + crate::MaybeSync>(value: T) -> Self {
        Self(dyn_arc!(value))
    }

    /// The value as a `T`, if it is one.
    pub fn get<T: Any>(&self) -> Option<&T> {
        let any: &dyn Any = &*self.0;
        any.downcast_ref::<T>()
    }

    /// True when the value is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.get::<T>().is_some()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Payload(..)")
    }
}

/// A progress report, as sent by [`JobContext::progress`](crate::JobContext::progress) and
/// [`JobContext::step`](crate::JobContext::step).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Progress {
    /// Fraction done, always within `0.0..=1.0`.
    pub progress: f64,
    /// Optional human-readable message.
    pub message: Option<Arc<str>>,
    /// Current step, when reported by steps (`step <= total`).
    pub step: Option<u32>,
    /// Total number of steps, when reported by steps (`total > 0`).
    pub total: Option<u32>,
}

/// A retry is about to happen after a back-off.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Retrying {
    /// The number of this retry, 1-based (the first retry is attempt 1).
    pub attempt: u32,
    /// The policy's maximum number of retries.
    pub max: u32,
    /// The error of the attempt that failed.
    pub error: JobError,
    /// How long the job waits before the retry.
    pub delay: Duration,
}

/// An orchestrator's loop protection stopped a chain of events: the hooks for one event
/// did not run. Emitted on the orchestrator's bus as
/// [`EventKind::HooksSuppressed`] (see [`Host`](crate::Host), "Loop protection").
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Suppression {
    /// The short type name of the orchestrator whose hooks did not run.
    pub orchestrator: &'static str,
    /// The id of the event whose hooks did not run.
    pub event_id: JobId,
    /// The kind of that event.
    pub event: EventTag,
    /// Why.
    pub reason: SuppressionReason,
}

/// Why an orchestrator suppressed the hooks for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum SuppressionReason {
    /// The event's causal depth ([`Event::causal_depth`]) is above the orchestrator's
    /// limit: a chain of hooks causing events causing hooks went on too long (a feedback
    /// loop).
    CausalDepth {
        /// The event's depth.
        depth: u32,
        /// The orchestrator's limit.
        limit: u32,
    },
    /// The orchestrator's [`CircuitBreaker`](crate::breaker::CircuitBreaker) refused the event (this
    /// is emitted once per trip, not per refused event).
    Breaker,
}

/// What happened. The four terminal kinds (see [`EventKind::is_terminal`]) are emitted
/// exactly once per dispatched job, and nothing of that job follows them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventKind {
    /// The job waits before it starts (flow control: debounce, throttle, a serial key, a
    /// concurrency cap). `Started` follows when its turn comes, or only its terminal event
    /// if it is cancelled or superseded while it waits.
    Queued,
    /// A dispatch joined this job (flow control's join) instead of running: its handle
    /// gets this job's result.
    Joined,
    /// The job has begun.
    Started,
    /// A placeholder value to show while the job runs.
    Placeholder(Payload),
    /// A cached value was found.
    CacheHit(Payload),
    /// Progress report.
    Progress(Progress),
    /// An attempt failed and the job will retry after a delay.
    Retrying(Retrying),
    /// Terminal: the job produced its output.
    Success(Payload),
    /// Terminal: the job failed.
    Failure {
        /// The last attempt's error.
        error: JobError,
        /// Whether at least one retry happened before giving up.
        retried: bool,
    },
    /// Terminal: the job was cancelled; its work was dropped.
    Cancelled {
        /// The reason given to the cancellation token, if any.
        reason: Option<Arc<str>>,
    },
    /// Terminal: the job's timeout expired; its work was dropped.
    TimedOut {
        /// The job's configured timeout.
        after: Duration,
    },
    /// A user event, emitted from a job's context or directly on a bus.
    Custom {
        /// The event's name (also its key for the circuit breaker).
        name: &'static str,
        /// The event's data.
        data: Payload,
    },
    /// An orchestrator's loop protection suppressed the hooks for an event. (It has an id
    /// of its own, prefixed `HooksSuppressed`; the suppressed event's id is inside.)
    HooksSuppressed(Suppression),
}

/// A field-less tag for an [`EventKind`]: cheap to compare, hash and count (the circuit
/// breaker keys its counters by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventTag {
    /// [`EventKind::Queued`]
    Queued,
    /// [`EventKind::Joined`]
    Joined,
    /// [`EventKind::Started`]
    Started,
    /// [`EventKind::Placeholder`]
    Placeholder,
    /// [`EventKind::CacheHit`]
    CacheHit,
    /// [`EventKind::Progress`]
    Progress,
    /// [`EventKind::Retrying`]
    Retrying,
    /// [`EventKind::Success`]
    Success,
    /// [`EventKind::Failure`]
    Failure,
    /// [`EventKind::Cancelled`]
    Cancelled,
    /// [`EventKind::TimedOut`]
    TimedOut,
    /// [`EventKind::Custom`], by name.
    Custom(&'static str),
    /// [`EventKind::HooksSuppressed`]
    HooksSuppressed,
}

impl EventKind {
    /// The kind's tag.
    pub fn tag(&self) -> EventTag {
        match self {
            Self::Queued => EventTag::Queued,
            Self::Joined => EventTag::Joined,
            Self::Started => EventTag::Started,
            Self::Placeholder(_) => EventTag::Placeholder,
            Self::CacheHit(_) => EventTag::CacheHit,
            Self::Progress(_) => EventTag::Progress,
            Self::Retrying(_) => EventTag::Retrying,
            Self::Success(_) => EventTag::Success,
            Self::Failure { .. } => EventTag::Failure,
            Self::Cancelled { .. } => EventTag::Cancelled,
            Self::TimedOut { .. } => EventTag::TimedOut,
            Self::Custom { name, .. } => EventTag::Custom(name),
            Self::HooksSuppressed(_) => EventTag::HooksSuppressed,
        }
    }

    /// Success, Failure, Cancelled and TimedOut end a job.
    pub fn is_terminal(&self) -> bool {
        self.tag().is_terminal()
    }
}

impl EventTag {
    /// Success, Failure, Cancelled and TimedOut end a job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Cancelled | Self::TimedOut)
    }
}

/// One event on a bus.
///
/// ```
/// use orchestrator_core::{Event, EventKind};
/// let e = Event::custom("user_logged_out", 7_u64);
/// assert_eq!(e.data_as::<u64>(), Some(&7));
/// assert_eq!(*e.data_or(&0_u64), 7);
/// assert!(!e.is_terminal());
/// assert_eq!(e.causal_depth(), 0); // not caused by an orchestrator's hook
/// ```
#[derive(Debug)]
pub struct Event {
    id: JobId,
    job_type: &'static str,
    job_type_id: Option<TypeId>,
    /// How many orchestrator hooks lie between this event and a command or an outside
    /// cause (see [`causal_depth`](Self::causal_depth)).
    depth: u32,
    /// Set by the first orchestrator host that stopped a chain at this event, so that a
    /// loop is reported once, not once per host on the bus. (Every subscriber shares the
    /// same `Arc<Event>`.) A plain load and store: a rare double report is harmless, and
    /// targets without compare-and-swap have them.
    stop_reported: AtomicBool,
    /// The [`Route`](crate::route::Route) this event was delivered to directly (0: none):
    /// that route's host skips it on the bus.
    route: usize,
    /// When it happened, on its dispatcher's clock (see [`time`](Self::time)).
    at: Duration,
    kind: EventKind,
}

impl Clone for Event {
    /// A copy is a new event: nobody has reported it.
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            job_type: self.job_type,
            job_type_id: self.job_type_id,
            depth: self.depth,
            stop_reported: AtomicBool::new(false),
            route: self.route,
            at: self.at,
            kind: self.kind.clone(),
        }
    }
}

impl Event {
    /// An event of a job.
    pub fn new(id: JobId, job_type: &'static str, job_type_id: Option<TypeId>, kind: EventKind) -> Self {
        Self {
            id,
            job_type,
            job_type_id,
            depth: 0,
            stop_reported: AtomicBool::new(false),
            route: 0,
            at: Duration::ZERO,
            kind,
        }
    }

    /// The event stamped with the time it happened (see [`time`](Self::time)).
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::Event;
    ///
    /// let event = Event::custom("tick", ()).at(Duration::from_millis(1500));
    /// assert_eq!(event.time(), Duration::from_millis(1500));
    /// ```
    #[must_use]
    pub fn at(mut self, time: Duration) -> Self {
        self.at = time;
        self
    }

    /// When the event happened: for a job's events, the time on its dispatcher's clock
    /// (the clock of its timer: monotonic, from an arbitrary origin; virtual in tests) when
    /// the event was built. `Duration::ZERO` for an event built without a clock (a
    /// dispatcher without a timer, or [`Event::new`] without [`at`](Self::at)). Meant for
    /// timelines, metrics and devtools.
    ///
    /// ```
    /// use core::time::Duration;
    /// use futures::StreamExt;
    /// use orchestrator_core::runtime::VirtualClock;
    /// use orchestrator_core::{Dispatcher, Job, JobError, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Ping;
    /// impl Job for Ping { type Output = (); }
    ///
    /// let clock = VirtualClock::new();
    /// clock.advance(Duration::from_secs(3));
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    /// dispatcher.register(executor_fn(|_: Ping, _| async { Ok::<_, JobError>(()) }));
    /// let mut events = dispatcher.bus().subscribe().unwrap();
    /// let handle = dispatcher.dispatch(Ping).unwrap();
    /// futures::executor::block_on(async {
    ///     dispatcher.shutdown();
    ///     futures::join!(dispatcher.runner(), handle);
    ///     let started = events.next().await.unwrap().unwrap();
    ///     assert_eq!(started.time(), Duration::from_secs(3));
    /// });
    /// ```
    pub fn time(&self) -> Duration {
        self.at
    }

    /// The id of the route this event was delivered to directly (0: none).
    pub(crate) fn route(&self) -> usize {
        self.route
    }

    /// Marks the event as delivered directly to route `id`.
    pub(crate) fn set_route(&mut self, id: usize) {
        self.route = id;
    }

    /// The event with causal depth `depth` (see [`causal_depth`](Self::causal_depth)).
    /// Buses stamp it for you; set it by hand only to carry a chain across something the
    /// library does not see (a channel of yours between a hook and an emit).
    #[must_use]
    pub fn with_causal_depth(mut self, depth: u32) -> Self {
        self.depth = depth;
        self
    }

    /// How many orchestrator hooks lie between this event and its root cause.
    ///
    /// 0 for events not caused by a hook: those of jobs dispatched by a command handler or
    /// by code outside any orchestrator, and events emitted there. An event emitted, or a
    /// job dispatched, from inside a hook (through the [`Bus`](crate::Bus) or
    /// [`Dispatcher`](crate::Dispatcher) of its [`Context`](crate::Context), or clones of
    /// them made there) gets the depth of the event that triggered the hook, plus one.
    /// An orchestrator's loop protection stops a chain that gets deeper than its limit
    /// ([`OrchestratorBuilder::causal_depth_limit`](crate::OrchestratorBuilder::causal_depth_limit)).
    pub fn causal_depth(&self) -> u32 {
        self.depth
    }

    /// Marks the event as the one where a host stopped a chain; `true` if nobody had.
    pub(crate) fn claim_stop_report(&self) -> bool {
        if self.stop_reported.load(Ordering::Relaxed) {
            return false;
        }
        self.stop_reported.store(true, Ordering::Relaxed);
        true
    }

    /// Raises the causal depth to at least `depth` (a bus stamping what it emits).
    pub(crate) fn deepen(&mut self, depth: u32) {
        self.depth = self.depth.max(depth);
    }

    /// A custom event that belongs to no job: it gets a fresh id with the prefix `name`,
    /// and its job type is `name` too.
    pub fn custom<T: Any + crate::MaybeSend + crate::MaybeSync>(name: &'static str, data: T) -> Self {
        Self::new(JobId::next(name), name, None, EventKind::Custom { name, data: Payload::new(data) })
    }

    /// The id of the job this event correlates with.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The name of the job type that produced the event.
    pub fn job_type(&self) -> &'static str {
        self.job_type
    }

    /// True when the event comes from a job of type `J` (by type, not by name).
    pub fn is_from<J: 'static>(&self) -> bool {
        self.job_type_id == Some(TypeId::of::<J>())
    }

    /// What happened.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// The kind's tag.
    pub fn tag(&self) -> EventTag {
        self.kind.tag()
    }

    /// Success, Failure, Cancelled and TimedOut end a job.
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }

    /// The payload of a Success, Placeholder, CacheHit or Custom event.
    pub fn payload(&self) -> Option<&Payload> {
        match &self.kind {
            EventKind::Success(p) | EventKind::Placeholder(p) | EventKind::CacheHit(p) => Some(p),
            EventKind::Custom { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The payload as a `T`, if the event has one of that type.
    pub fn data_as<T: Any>(&self) -> Option<&T> {
        self.payload()?.get::<T>()
    }

    /// The payload as a `T`, or `default`.
    pub fn data_or<'a, T: Any>(&'a self, default: &'a T) -> &'a T {
        self.data_as::<T>().unwrap_or(default)
    }

    /// The error of a Failure (or of the failed attempt of a Retrying) event.
    pub fn error(&self) -> Option<&JobError> {
        match &self.kind {
            EventKind::Failure { error, .. } => Some(error),
            EventKind::Retrying(r) => Some(&r.error),
            _ => None,
        }
    }

    /// The progress report of a Progress event.
    pub fn progress(&self) -> Option<&Progress> {
        match &self.kind {
            EventKind::Progress(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    /// `FetchUser-7 retrying 1/3 in 1s after: timeout` (the job type is added in
    /// parentheses when the id has another prefix).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if self.id.prefix() != self.job_type {
            write!(f, " ({})", self.job_type)?;
        }
        match &self.kind {
            EventKind::Queued => f.write_str(" queued"),
            EventKind::Joined => f.write_str(" joined"),
            EventKind::Started => f.write_str(" started"),
            EventKind::Placeholder(_) => f.write_str(" placeholder"),
            EventKind::CacheHit(_) => f.write_str(" cache hit"),
            EventKind::Progress(p) => {
                write!(f, " progress {:.1}%", p.progress * 100.0)?;
                if let (Some(s), Some(t)) = (p.step, p.total) {
                    write!(f, " (step {s}/{t})")?;
                }
                if let Some(m) = &p.message {
                    write!(f, " {m}")?;
                }
                Ok(())
            }
            EventKind::Retrying(r) => {
                write!(f, " retrying {}/{} in {:?} after: {}", r.attempt, r.max, r.delay, r.error)
            }
            EventKind::Success(_) => f.write_str(" succeeded"),
            EventKind::Failure { error, retried } => {
                write!(f, " failed{}: {error}", if *retried { " after retries" } else { "" })
            }
            EventKind::Cancelled { reason: Some(r) } => write!(f, " cancelled: {r}"),
            EventKind::Cancelled { reason: None } => f.write_str(" cancelled"),
            EventKind::TimedOut { after } => write!(f, " timed out after {after:?}"),
            EventKind::Custom { name, .. } => write!(f, " `{name}`"),
            EventKind::HooksSuppressed(s) => write!(
                f,
                " orchestrator {} suppressed the hooks for {} ({:?}): {:?}",
                s.orchestrator, s.event_id, s.event, s.reason
            ),
        }
    }
}
