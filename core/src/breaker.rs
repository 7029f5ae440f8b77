//! Opt-in circuit breakers: the [`CircuitBreaker`] an orchestrator's host consults before
//! it calls the hooks for an event, and the per-kind [`RateLimiter`].
//!
//! An orchestrator's loop protection is its causal depth limit (see
//! [`Host`](crate::Host), "Loop protection"), which stops feedback loops without ever
//! suppressing load. A breaker is a second, optional line, asked only for events that
//! passed the depth limit: for example a [`RateLimiter`] that bounds how often each kind of
//! event may reach the hooks. A rate limiter cannot tell a burst of legitimate results from
//! a loop, so it also suppresses load: use it where that is what you want.
//!
//! When a breaker refuses an event, the host does not call the hooks for it, but the
//! bookkeeping still happens: an own job's terminal event still ends its tracking and its
//! progress is still recorded. The breaker is configured per orchestrator
//! ([`OrchestratorBuilder::breaker`]); there are no process-wide limits. It is consulted
//! only for events that would reach a hook: other jobs' Started / Progress / Retrying
//! events, which no hook sees, do not count, and active and passive deliveries are counted
//! apart ([`Delivery`]), so a burst of other features' results cannot suppress this
//! orchestrator's own results.
//!
//! [`OrchestratorBuilder::breaker`]: crate::OrchestratorBuilder::breaker

use core::fmt;
use core::time::Duration;

use hashbrown::HashMap;

use crate::event::{Event, EventTag};
use crate::sync::MaybeSend;

/// Default limit of a [`RateLimiter`]'s hook deliveries per event kind and per window.
pub const DEFAULT_LIMIT: u32 = 50;
/// Default length of a [`RateLimiter`] window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(1);

/// Whether an event is about to reach the active hooks (an own job's event) or
/// `on_passive_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Delivery {
    /// An event of a job this orchestrator dispatched and that has not ended yet.
    Active,
    /// Anything else: other orchestrators' jobs, custom events.
    Passive,
}

/// Decides, event by event, whether an orchestrator's hooks may run.
///
/// The host calls [`admit`](Self::admit) once per event that would reach a hook, with the
/// host's clock. Returning `false` suppresses every hook for that event (the bookkeeping
/// still happens). [`trips`](Self::trips) lets the host report trips in
/// [`OrchestratorStats`](crate::OrchestratorStats) and the log.
///
/// # Example: a breaker of your own
///
/// A global budget of hook calls per second, whatever the kind:
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::breaker::{CircuitBreaker, Delivery};
/// use orchestrator_core::Event;
///
/// struct Budget { per_second: u32, window_start: Duration, used: u32, trips: u64 }
///
/// impl CircuitBreaker for Budget {
///     fn admit(&mut self, _event: &Event, _delivery: Delivery, now: Duration) -> bool {
///         if now.saturating_sub(self.window_start) >= Duration::from_secs(1) {
///             self.window_start = now;
///             self.used = 0;
///         }
///         self.used = self.used.saturating_add(1);
///         if self.used == self.per_second.saturating_add(1) {
///             self.trips += 1; // first refusal in this window
///         }
///         self.used <= self.per_second
///     }
///     fn trips(&self) -> u64 {
///         self.trips
///     }
/// }
///
/// let mut budget = Budget { per_second: 2, window_start: Duration::ZERO, used: 0, trips: 0 };
/// let e = Event::custom("tick", ());
/// let admitted: Vec<bool> = (0..3).map(|_| budget.admit(&e, Delivery::Passive, Duration::ZERO)).collect();
/// assert_eq!(admitted, [true, true, false]);
/// assert!(budget.admit(&e, Delivery::Passive, Duration::from_secs(1))); // next window
/// assert_eq!(budget.trips(), 1);
/// // OrchestratorBuilder::breaker(budget) installs it.
/// ```
pub trait CircuitBreaker: MaybeSend {
    /// Whether the hooks for `event` may run. `now` is the host's clock (see
    /// [`OrchestratorBuilder::clock`](crate::OrchestratorBuilder::clock)).
    fn admit(&mut self, event: &Event, delivery: Delivery, now: Duration) -> bool;

    /// How many times the breaker has tripped so far (a trip is the first refusal of a
    /// burst). Default: 0, for breakers that do not count.
    fn trips(&self) -> u64 {
        0
    }
}

/// A breaker that admits everything (no loop protection).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl CircuitBreaker for Unlimited {
    fn admit(&mut self, _event: &Event, _delivery: Delivery, _now: Duration) -> bool {
        true
    }
}

/// A rate-based breaker (opt-in: [`OrchestratorBuilder::breaker`](crate::OrchestratorBuilder::breaker)):
/// at most `limit` hook deliveries per event kind in each window (default
/// [`DEFAULT_LIMIT`] = 50 per [`DEFAULT_WINDOW`] = 1 s), with per-kind overrides.
///
/// * The key is the event's [`EventTag`] (custom events by name) **and** its
///   [`Delivery`]: own and foreign events are counted apart.
/// * The window is tumbling, as in the original: it starts at the first event after the
///   previous window expired, and all counts reset when it expires. A burst that
///   straddles two windows can therefore get up to twice the limit through.
/// * A trip is the first refusal of a key in a window: it is counted in
///   [`trips`](CircuitBreaker::trips), and the host logs it at `Warning`.
/// * A limit of 0 mutes a kind entirely; a zero window disables limiting.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::breaker::{CircuitBreaker, Delivery, RateLimiter};
/// use orchestrator_core::{Event, EventTag};
///
/// let mut limiter = RateLimiter::new()
///     .limit(2)                                  // every kind: 2 per window
///     .with_limit(EventTag::Custom("mouse"), 500) // except this one
///     .window(Duration::from_millis(100));
/// let e = Event::custom("tick", ());
/// let t0 = Duration::ZERO;
/// assert!(limiter.admit(&e, Delivery::Passive, t0));
/// assert!(limiter.admit(&e, Delivery::Passive, t0));
/// assert!(!limiter.admit(&e, Delivery::Passive, t0)); // trips
/// assert!(limiter.admit(&Event::custom("mouse", ()), Delivery::Passive, t0)); // other kind
/// assert!(limiter.admit(&e, Delivery::Passive, Duration::from_millis(100))); // window reset
/// assert_eq!(limiter.trips(), 1);
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    overrides: HashMap<EventTag, u32>,
    window_start: Option<Duration>,
    counts: HashMap<(EventTag, Delivery), u32>,
    trips: u64,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .field("overrides", &self.overrides)
            .field("trips", &self.trips)
            .finish_non_exhaustive()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    /// 50 per kind per second, no overrides.
    pub fn new() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            window: DEFAULT_WINDOW,
            overrides: HashMap::new(),
            window_start: None,
            counts: HashMap::new(),
            trips: 0,
        }
    }

    /// The limit for kinds without an override.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// The limit for one kind (for example `EventTag::Progress`, or
    /// `EventTag::Custom("mouse_moved")` for a custom event).
    #[must_use]
    pub fn with_limit(mut self, tag: EventTag, limit: u32) -> Self {
        self.overrides.insert(tag, limit);
        self
    }

    /// The window length. `Duration::ZERO` disables limiting.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The limit that applies to `tag`.
    pub fn limit_for(&self, tag: EventTag) -> u32 {
        self.overrides.get(&tag).copied().unwrap_or(self.limit)
    }
}

impl CircuitBreaker for RateLimiter {
    fn admit(&mut self, event: &Event, delivery: Delivery, now: Duration) -> bool {
        if self.window.is_zero() {
            return true;
        }
        match self.window_start {
            Some(start) if now.saturating_sub(start) < self.window => {}
            _ => {
                self.window_start = Some(now);
                self.counts.clear();
            }
        }
        let tag = event.tag();
        let limit = self.limit_for(tag);
        let count = self.counts.entry((tag, delivery)).or_insert(0);
        *count = count.saturating_add(1);
        if *count <= limit {
            return true;
        }
        if *count == limit.saturating_add(1) {
            self.trips = self.trips.saturating_add(1);
        }
        false
    }

    fn trips(&self) -> u64 {
        self.trips
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::job_id::JobId;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ev(kind: EventKind) -> Event {
        Event::new(JobId::next("t"), "T", None, kind)
    }

    #[test]
    fn fifty_per_kind_per_second_by_default() {
        let mut l = RateLimiter::new();
        let success = ev(EventKind::Success(crate::Payload::new(())));
        for i in 0..50 {
            assert!(l.admit(&success, Delivery::Active, ms(i)), "event {i}");
        }
        assert!(!l.admit(&success, Delivery::Active, ms(999)));
        assert!(!l.admit(&success, Delivery::Active, ms(999)));
        assert_eq!(l.trips(), 1, "one trip per burst");
        // Other kinds and passive deliveries have their own counts.
        assert!(l.admit(&ev(EventKind::Started), Delivery::Active, ms(999)));
        assert!(l.admit(&success, Delivery::Passive, ms(999)));
        // The window started at 0 ms: it resets at 1 s.
        assert!(l.admit(&success, Delivery::Active, ms(1000)));
    }

    #[test]
    fn overrides_zero_limits_and_zero_window() {
        let mut l = RateLimiter::new().limit(1).with_limit(EventTag::Custom("a"), 3).with_limit(EventTag::Started, 0);
        assert_eq!(l.limit_for(EventTag::Custom("a")), 3);
        assert_eq!(l.limit_for(EventTag::Custom("b")), 1);
        let a = Event::custom("a", ());
        assert!((0..3).all(|_| l.admit(&a, Delivery::Passive, ms(0))));
        assert!(!l.admit(&a, Delivery::Passive, ms(0)));
        assert!(!l.admit(&ev(EventKind::Started), Delivery::Active, ms(0)), "limit 0 mutes the kind");

        let mut off = RateLimiter::new().limit(0).window(Duration::ZERO);
        assert!(off.admit(&a, Delivery::Passive, ms(0)));
        assert_eq!(off.trips(), 0);
        assert!(Unlimited.admit(&a, Delivery::Active, ms(0)));
        assert_eq!(Unlimited.trips(), 0);
    }

    #[test]
    fn window_is_tumbling_from_first_event() {
        let mut l = RateLimiter::new().limit(1).window(ms(100));
        let a = Event::custom("a", ());
        assert!(l.admit(&a, Delivery::Passive, ms(50))); // window [50, 150)
        assert!(!l.admit(&a, Delivery::Passive, ms(149)));
        assert!(l.admit(&a, Delivery::Passive, ms(150)));
        assert!(!l.admit(&a, Delivery::Passive, ms(151)));
        assert_eq!(l.trips(), 2);
    }
}
