//! [`FlowPolicy`]: what a dispatch does when a job with the same [`FlowKey`] is already in
//! flight, and whether it waits (debounce, throttle) before it starts.

use crate::sync::Arc;
use core::fmt;
use core::time::Duration;

/// What identifies "the same job" for a [`FlowPolicy`]: a string or a number, compared by
/// value (an O(1) hash lookup per dispatch). A job without a key shares one key with
/// every other keyless job of its type.
///
/// ```
/// use orchestrator_core::FlowKey;
/// assert_eq!(FlowKey::from("user:7"), FlowKey::from(String::from("user:7")));
/// assert_ne!(FlowKey::from(7_u64), FlowKey::from("7"));
/// assert_eq!(FlowKey::from(7_u64).to_string(), "7");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FlowKey(KeyRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyRepr {
    Text(Arc<str>),
    Number(u64),
}

impl From<&str> for FlowKey {
    fn from(key: &str) -> Self {
        Self(KeyRepr::Text(Arc::from(key)))
    }
}

impl From<alloc::string::String> for FlowKey {
    fn from(key: alloc::string::String) -> Self {
        Self(KeyRepr::Text(Arc::from(key)))
    }
}

impl From<Arc<str>> for FlowKey {
    fn from(key: Arc<str>) -> Self {
        Self(KeyRepr::Text(key))
    }
}

impl From<u64> for FlowKey {
    fn from(key: u64) -> Self {
        Self(KeyRepr::Number(key))
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyRepr::Text(text) => f.write_str(text),
            KeyRepr::Number(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyRepr::Text(text) => write!(f, "FlowKey({text:?})"),
            KeyRepr::Number(n) => write!(f, "FlowKey({n})"),
        }
    }
}

/// What a dispatch does while another job with its key is in flight (dispatched and not
/// yet ended, whether it waits or runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum OnBusy {
    /// Run anyway, side by side (the default: no key policy).
    #[default]
    Concurrent,
    /// Join it: the dispatch returns a handle to the job in flight, whose single
    /// execution and events serve every handle (each gets a clone of its result).
    Join,
    /// Supersede it: the job in flight is cancelled with the reason
    /// [`SUPERSEDED`](crate::SUPERSEDED), and the new one runs.
    LatestWins,
    /// Refuse the new dispatch with
    /// [`DispatchError::Busy`](crate::DispatchError::Busy): nothing runs, nothing is
    /// emitted.
    DropWhileBusy,
    /// Queue the new job behind it: the key's jobs run one at a time, first in first out.
    /// More than `max_queued` waiting are refused with
    /// [`DispatchError::KeyQueueFull`](crate::DispatchError::KeyQueueFull).
    Serial {
        /// How many jobs of one key may wait (besides the one running).
        max_queued: usize,
    },
}

/// How jobs with the same [`FlowKey`] share the dispatcher: a key policy ([`OnBusy`]),
/// and optionally a debounce or a throttle. Set it per dispatch
/// ([`JobBuilder::flow`](crate::JobBuilder::flow)), per job type
/// ([`Job::configure`](crate::Job::configure) or
/// [`Dispatcher::set_flow`](crate::Dispatcher::set_flow)).
///
/// Which combinations are allowed (others are refused at dispatch with
/// [`DispatchError::FlowConflict`](crate::DispatchError::FlowConflict)):
///
/// | key policy | + debounce | + throttle |
/// |---|---|---|
/// | concurrent | yes | yes |
/// | join | no: a debounced dispatch has no running job to join yet | yes |
/// | latest-wins | yes: the survivor of the debounce supersedes the running job | yes |
/// | drop-while-busy | no: the refusal would come after the dispatch returned | yes |
/// | serial | yes: the survivor of the debounce queues | yes |
///
/// Debounce and throttle together are refused too (a debounce already spaces starts).
/// Priorities ([`JobBuilder::priority`](crate::JobBuilder::priority)) and concurrency caps
/// ([`DispatcherBuilder::max_concurrent`](crate::DispatcherBuilder::max_concurrent),
/// [`Dispatcher::set_max_concurrent`](crate::Dispatcher::set_max_concurrent)) combine with
/// all of them.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::{FlowPolicy, OnBusy};
///
/// let search = FlowPolicy::latest_wins().with_debounce(Duration::from_millis(300));
/// assert_eq!(search.on_busy(), OnBusy::LatestWins);
/// assert!(search.check().is_ok());
/// assert!(FlowPolicy::join().with_debounce(Duration::from_millis(300)).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlowPolicy {
    on_busy: OnBusy,
    debounce: Option<Duration>,
    throttle: Option<Duration>,
}

impl FlowPolicy {
    /// Default of [`serial`](Self::serial)'s queue bound per key.
    pub const DEFAULT_MAX_QUEUED: usize = 1024;

    /// No key policy, no debounce, no throttle: jobs run side by side.
    pub const fn concurrent() -> Self {
        Self { on_busy: OnBusy::Concurrent, debounce: None, throttle: None }
    }

    /// [`OnBusy::Join`].
    pub const fn join() -> Self {
        Self { on_busy: OnBusy::Join, ..Self::concurrent() }
    }

    /// [`OnBusy::LatestWins`].
    pub const fn latest_wins() -> Self {
        Self { on_busy: OnBusy::LatestWins, ..Self::concurrent() }
    }

    /// [`OnBusy::DropWhileBusy`].
    pub const fn drop_while_busy() -> Self {
        Self { on_busy: OnBusy::DropWhileBusy, ..Self::concurrent() }
    }

    /// [`OnBusy::Serial`] with [`FlowPolicy::DEFAULT_MAX_QUEUED`] (change it with
    /// [`with_max_queued`](Self::with_max_queued)).
    pub const fn serial() -> Self {
        Self { on_busy: OnBusy::Serial { max_queued: Self::DEFAULT_MAX_QUEUED }, ..Self::concurrent() }
    }

    /// The bound of a serial queue per key (0: refuse any job while one runs). Does
    /// nothing to another key policy.
    pub const fn with_max_queued(mut self, max_queued: usize) -> Self {
        if let OnBusy::Serial { .. } = self.on_busy {
            self.on_busy = OnBusy::Serial { max_queued };
        }
        self
    }

    /// Debounce: a job waits `period` before it starts, and a later dispatch with its key
    /// within that time supersedes it (its handle resolves `Cancelled` with the reason
    /// [`SUPERSEDED`](crate::SUPERSEDED), having emitted `Queued` and `Cancelled`). Only
    /// the last of a burst runs. Needs the dispatcher's timer.
    pub const fn with_debounce(mut self, period: Duration) -> Self {
        self.debounce = Some(period);
        self
    }

    /// Throttle: jobs with one key start at most once per `period`; a job dispatched
    /// sooner waits for its turn (emitting `Queued`). Needs the dispatcher's timer.
    pub const fn with_throttle(mut self, period: Duration) -> Self {
        self.throttle = Some(period);
        self
    }

    /// The key policy.
    pub const fn on_busy(&self) -> OnBusy {
        self.on_busy
    }

    /// The debounce period, if any.
    pub const fn debounce(&self) -> Option<Duration> {
        self.debounce
    }

    /// The throttle period, if any.
    pub const fn throttle(&self) -> Option<Duration> {
        self.throttle
    }

    /// True when the policy changes nothing (concurrent, no debounce, no throttle).
    pub const fn is_concurrent(&self) -> bool {
        matches!(self.on_busy, OnBusy::Concurrent) && self.debounce.is_none() && self.throttle.is_none()
    }

    /// Checks the combination (see the table above).
    ///
    /// # Errors
    ///
    /// A [`FlowConflict`] naming what is not allowed.
    pub const fn check(&self) -> Result<(), FlowConflict> {
        if let (Some(_), Some(_)) = (self.debounce, self.throttle) {
            return Err(FlowConflict::DebounceWithThrottle);
        }
        if let Some(d) = self.debounce {
            if d.is_zero() {
                return Err(FlowConflict::ZeroPeriod);
            }
            match self.on_busy {
                OnBusy::Join => return Err(FlowConflict::DebounceWithJoin),
                OnBusy::DropWhileBusy => return Err(FlowConflict::DebounceWithDropWhileBusy),
                _ => {}
            }
        }
        if let Some(t) = self.throttle {
            if t.is_zero() {
                return Err(FlowConflict::ZeroPeriod);
            }
        }
        Ok(())
    }
}

/// A [`FlowPolicy`] combination that is not allowed (see its table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowConflict {
    /// Debounce with join: a debounced dispatch has no running job to join yet.
    DebounceWithJoin,
    /// Debounce with drop-while-busy: the refusal would come after the dispatch returned.
    DebounceWithDropWhileBusy,
    /// Debounce with throttle: a debounce already spaces the starts.
    DebounceWithThrottle,
    /// A zero debounce or throttle period, which would do nothing.
    ZeroPeriod,
}

impl fmt::Display for FlowConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DebounceWithJoin => "debounce cannot be combined with join",
            Self::DebounceWithDropWhileBusy => "debounce cannot be combined with drop-while-busy",
            Self::DebounceWithThrottle => "debounce cannot be combined with throttle",
            Self::ZeroPeriod => "a debounce or throttle period must not be zero",
        })
    }
}

impl core::error::Error for FlowConflict {}

/// Which lane a job waits in when it has to wait for a concurrency permit (a cap, or its
/// turn in a serial key): higher lanes are served first, and a waiter passed over
/// [`DispatcherBuilder::priority_aging`](crate::DispatcherBuilder::priority_aging) times
/// is served next whatever its lane, so low lanes never starve. Without a cap or a serial
/// key nothing waits and the priority changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Priority {
    /// Served after the others.
    Low,
    /// The default lane.
    #[default]
    Normal,
    /// Served first.
    High,
}
