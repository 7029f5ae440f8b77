//! Property tests (proptest): the retry schedule, the default circuit breaker, the
//! in-memory cache and job ids, for any input.
//!
//! * **Retry delays** never panic for any base, cap, attempt, back-off, jitter ratio and
//!   seed; never exceed the cap; the schedule without jitter is exactly
//!   `min(base * 2^attempt, max)` (exponential) or `min(base, max)` (linear), hence
//!   non-decreasing in the attempt; jitter only shortens a delay, within
//!   `[d * (1 - ratio), d]`, deterministically. `should_retry` is `attempt < max_retries`
//!   for errors, never for panics.
//! * **Breaker** (`RateLimiter`): for any sequence of events (kinds, deliveries, any
//!   timestamps, monotone or not), limits, overrides and windows, it admits exactly what
//!   its documented tumbling window admits, so never more than the limit of a kind per
//!   window, and (monotone time) never more than twice the limit in any sliding window.
//! * **Cache** (`InMemoryCache`): for any sequence of inserts (any TTL: none, zero, short,
//!   `Duration::MAX`), reads, removals, clock jumps and evictions, it behaves exactly as a
//!   reference TTL + LRU model: it never returns an expired value, never holds more than
//!   its capacity.
//! * **Job ids** never repeat, whatever the number of threads drawing them, and each
//!   thread sees them increase.
//!
//! Case counts are proptest's default (256), 32 for the threaded id test; the file runs
//! in about 3 s in a debug build. Skipped under Miri (far too slow there; the same code
//! paths run under Miri in the unit tests).
#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use orchestrator_core::breaker::{CircuitBreaker, Delivery, RateLimiter};
use orchestrator_core::cache::InMemoryCache;
use orchestrator_core::runtime::VirtualClock;
use orchestrator_core::{Backoff, Jitter};
use orchestrator_core::{Event, EventKind, EventTag, JobError, JobId, Payload, RetryPolicy};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Strategies

/// Any duration, with the edges (zero, one nanosecond, `Duration::MAX`, whole seconds)
/// drawn often.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        Just(Duration::new(u64::MAX, 0)),
        (0_u64..1_000_000_000).prop_map(Duration::from_nanos),
        (0_u64..100_000).prop_map(Duration::from_secs),
        (any::<u64>(), 0_u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// Any attempt number, with small ones and the shift edges drawn often.
fn any_attempt() -> impl Strategy<Value = u32> {
    prop_oneof![0_u32..70, Just(127), Just(128), Just(129), Just(u32::MAX - 1), Just(u32::MAX), any::<u32>()]
}

fn any_ratio() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.5),
        Just(7.0),
        0.0_f64..=1.0,
        any::<f64>(),
    ]
}

fn any_backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![Just(Backoff::Exponential), Just(Backoff::Linear)]
}

/// `min(base * 2^attempt, max)`, computed independently (u128 nanoseconds, saturating).
fn reference_exponential(base: Duration, attempt: u32, max: Duration) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let nanos = 1_u128.checked_shl(attempt).and_then(|f| base.as_nanos().checked_mul(f)).unwrap_or(u128::MAX);
    let nanos = nanos.min(max.as_nanos());
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap();
    Duration::new(secs, u32::try_from(nanos % 1_000_000_000).unwrap())
}

// ---------------------------------------------------------------------------------------
// Retry

proptest! {
    /// Any policy, any attempt: no panic, never above the cap, the exact un-jittered
    /// schedule, non-decreasing without jitter; jitter within `[d * (1 - ratio), d]` and
    /// deterministic.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn retry_delays_are_capped_monotone_and_never_panic(
        base in any_duration(),
        max in any_duration(),
        backoff in any_backoff(),
        ratio in any_ratio(),
        seed in any::<u64>(),
        a in any_attempt(),
        b in any_attempt(),
    ) {
        let (a, b) = (a.min(b), a.max(b));
        let plain = RetryPolicy::new().with_base_delay(base).with_max_delay(max).with_backoff(backoff);
        let schedule = |attempt| match backoff {
            Backoff::Exponential => reference_exponential(base, attempt, max),
            Backoff::Linear => base.min(max),
        };
        let (da, db) = (plain.delay(a), plain.delay(b));
        prop_assert_eq!(da, schedule(a));
        prop_assert_eq!(db, schedule(b));
        prop_assert!(da <= db, "not monotone: delay({}) = {:?} > delay({}) = {:?}", a, da, b, db);
        prop_assert!(db <= max);

        let jitter = Jitter::new(ratio, seed);
        let jittered = plain.clone().with_jitter(jitter);
        let ja = jittered.delay(a);
        prop_assert_eq!(ja, jittered.clone().delay(a), "deterministic");
        prop_assert!(ja <= da && ja <= max, "jitter lengthened {:?} to {:?}", da, ja);
        prop_assert!(ja <= db, "a jittered delay never exceeds a later un-jittered one");
        let r = jitter.ratio();
        prop_assert!((0.0..=1.0).contains(&r));
        // Lower bound, with a nanosecond of float rounding per 2^52 of the delay.
        let low = da.as_secs_f64() * (1.0 - r);
        let slack = da.as_secs_f64() * 1e-12 + 1e-9;
        prop_assert!(ja.as_secs_f64() >= low - slack, "{:?} below {} (ratio {})", ja, low, r);
    }

    /// `should_retry`: `attempt < max_retries` for errors, never for panics; with a
    /// predicate, also the predicate's answer.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn should_retry_follows_the_budget(max_retries in any_attempt(), attempt in any_attempt(), veto in any::<bool>()) {
        let policy = RetryPolicy::new().with_max_retries(max_retries);
        prop_assert_eq!(policy.should_retry(&JobError::msg("e"), attempt), attempt < max_retries);
        prop_assert!(!policy.should_retry(&JobError::panicked("p"), attempt));
        let policy = policy.retry_if(move |_| !veto);
        prop_assert_eq!(policy.should_retry(&JobError::msg("e"), attempt), attempt < max_retries && !veto);
    }
}

// ---------------------------------------------------------------------------------------
// Breaker

const TAGS: [EventTag; 4] = [EventTag::Started, EventTag::Success, EventTag::Custom("a"), EventTag::Custom("b")];

fn event(tag: EventTag) -> Event {
    match tag {
        EventTag::Started => Event::new(JobId::next("p"), "P", None, EventKind::Started),
        EventTag::Success => Event::new(JobId::next("p"), "P", None, EventKind::Success(Payload::new(()))),
        EventTag::Custom(name) => Event::custom(name, ()),
        other => panic!("not drawn: {other:?}"),
    }
}

/// The documented tumbling window, as a reference.
#[derive(Default)]
struct WindowModel {
    start: Option<Duration>,
    counts: HashMap<(EventTag, Delivery), u32>,
    trips: u64,
}

impl WindowModel {
    fn admit(&mut self, key: (EventTag, Delivery), limit: u32, window: Duration, now: Duration) -> (bool, bool) {
        if window.is_zero() {
            return (true, false);
        }
        let reset = !matches!(self.start, Some(start) if now.saturating_sub(start) < window);
        if reset {
            self.start = Some(now);
            self.counts.clear();
        }
        let count = self.counts.entry(key).or_insert(0);
        *count += 1;
        if *count == limit.saturating_add(1) {
            self.trips += 1;
        }
        (*count <= limit, reset)
    }
}

fn any_step() -> impl Strategy<Value = (usize, bool, u64)> {
    // (kind, active?, time step in ms: mostly small, sometimes a jump, sometimes back)
    (0..TAGS.len(), any::<bool>(), prop_oneof![8 => 0_u64..400, 1 => Just(0), 1 => 1_000_u64..10_000_000])
}

proptest! {
    /// Any event sequence, limits, override, window and timestamps (monotone or jumping
    /// back): the limiter admits exactly what the tumbling window admits, at most the
    /// limit per kind and delivery between two window resets, trips once per exceeded
    /// kind and window; with monotone time, at most twice the limit in any window-long
    /// sliding interval.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_breaker_admits_at_most_its_limit_per_window(
        limit in 0_u32..6,
        override_a in proptest::option::of(0_u32..6),
        window_ms in prop_oneof![Just(0_u64), 1_u64..2_000],
        steps in proptest::collection::vec(any_step(), 0..300),
        backwards in any::<bool>(),
    ) {
        let window = Duration::from_millis(window_ms);
        let mut limiter = RateLimiter::new().limit(limit).window(window);
        if let Some(l) = override_a {
            limiter = limiter.with_limit(EventTag::Custom("a"), l);
        }
        let limit_of = |tag: EventTag| if tag == EventTag::Custom("a") { override_a.unwrap_or(limit) } else { limit };
        let mut model = WindowModel::default();
        let mut now = Duration::from_secs(1_000);
        let mut admitted_in_epoch: HashMap<(EventTag, Delivery), u32> = HashMap::new();
        let mut admitted_at: HashMap<(EventTag, Delivery), Vec<Duration>> = HashMap::new();
        for (i, (kind, active, step)) in steps.into_iter().enumerate() {
            // Every 7th step goes back in time when `backwards` (a clock that is not monotone).
            now = if backwards && i % 7 == 6 { now.saturating_sub(Duration::from_millis(step)) } else { now + Duration::from_millis(step) };
            let tag = TAGS[kind];
            let delivery = if active { Delivery::Active } else { Delivery::Passive };
            let key = (tag, delivery);
            let got = limiter.admit(&event(tag), delivery, now);
            let (want, reset) = model.admit(key, limit_of(tag), window, now);
            prop_assert_eq!(got, want, "event {} ({:?}) at {:?}", i, key, now);
            if reset {
                admitted_in_epoch.clear();
            }
            if got && !window.is_zero() {
                let n = admitted_in_epoch.entry(key).or_insert(0);
                *n += 1;
                prop_assert!(*n <= limit_of(tag), "{:?}: {} admitted in one window", key, n);
                admitted_at.entry(key).or_default().push(now);
            }
        }
        prop_assert_eq!(limiter.trips(), model.trips);
        if !backwards && !window.is_zero() {
            for (key, times) in admitted_at {
                for (i, t) in times.iter().enumerate() {
                    let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
                    prop_assert!(in_window as u32 <= 2 * limit_of(key.0), "{:?}: {} in a sliding window", key, in_window);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cache

#[derive(Debug, Clone)]
enum CacheOp {
    Insert(u8, Option<Duration>),
    Get(u8),
    Remove(u8),
    RemoveOdd,
    Clear,
    EvictExpired,
    Advance(Duration),
}

fn any_ttl() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::MAX)),
        (1_u64..100).prop_map(|ms| Some(Duration::from_millis(ms))),
    ]
}

fn any_op() -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        6 => (0_u8..10, any_ttl()).prop_map(|(k, ttl)| CacheOp::Insert(k, ttl)),
        6 => (0_u8..10).prop_map(CacheOp::Get),
        1 => (0_u8..10).prop_map(CacheOp::Remove),
        1 => Just(CacheOp::RemoveOdd),
        1 => Just(CacheOp::Clear),
        1 => Just(CacheOp::EvictExpired),
        4 => prop_oneof![
            (0_u64..60).prop_map(Duration::from_millis),
            Just(Duration::from_secs(10 * 365 * 86_400)),
            Just(Duration::MAX),
        ].prop_map(CacheOp::Advance),
    ]
}

/// The documented expiry of a value written at `now` for `ttl`: `Duration::MAX` is
/// never (even at a clock reading of `Duration::MAX`), as is a sum that overflows.
fn model_expiry(now: Duration, ttl: Duration) -> Option<Duration> {
    (ttl != Duration::MAX).then(|| now.checked_add(ttl)).flatten()
}

/// The reference: entries in recency order (least recently used first).
#[derive(Default)]
struct CacheModel {
    entries: Vec<(String, u64, Option<Duration>)>,
}

impl CacheModel {
    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _, _)| k == key)
    }

    fn insert(&mut self, key: &str, value: u64, ttl: Option<Duration>, now: Duration, capacity: usize) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
            if ttl == Some(Duration::ZERO) {
                return;
            }
        } else {
            if ttl == Some(Duration::ZERO) {
                return;
            }
            while self.entries.len() >= capacity {
                self.entries.remove(0);
            }
        }
        self.entries.push((key.to_owned(), value, ttl.and_then(|t| model_expiry(now, t))));
    }

    fn get(&mut self, key: &str, now: Duration) -> Option<u64> {
        let i = self.position(key)?;
        let entry = self.entries.remove(i);
        if entry.2.is_some_and(|at| now >= at) {
            return None;
        }
        let value = entry.1;
        self.entries.push(entry);
        Some(value)
    }
}

proptest! {
    /// Any sequence of operations, any capacity: the cache agrees with the reference TTL +
    /// LRU model on every read and its size; it never returns an expired value (checked
    /// on its own, against the write's expiry), never holds more than its capacity.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_cache_never_serves_expired_values_nor_exceeds_its_bound(
        capacity in 1_usize..8,
        ops in proptest::collection::vec(any_op(), 0..200),
    ) {
        use orchestrator_core::runtime::Clock as _;
        let clock = VirtualClock::new();
        let cache = InMemoryCache::with_capacity(clock.clone(), capacity).unwrap();
        let mut model = CacheModel::default();
        // Every write's expiry, by value (values are unique).
        let mut expiry: HashMap<u64, Option<Duration>> = HashMap::new();
        for (n, op) in ops.into_iter().enumerate() {
            let now = clock.now();
            let value = n as u64;
            match op {
                CacheOp::Insert(k, ttl) => {
                    let key = format!("k{k}");
                    cache.insert(&key, Payload::new(value), ttl);
                    model.insert(&key, value, ttl, now, capacity);
                    expiry.insert(value, ttl.and_then(|t| model_expiry(now, t)));
                }
                CacheOp::Get(k) => {
                    let key = format!("k{k}");
                    let got = cache.get(&key).map(|p| *p.get::<u64>().expect("a u64"));
                    if let Some(v) = got {
                        let at = expiry[&v];
                        prop_assert!(at.is_none_or(|at| now < at), "{} served at {:?}, expired at {:?}", key, now, at);
                    }
                    prop_assert_eq!(got, model.get(&key, now), "get {}", key);
                }
                CacheOp::Remove(k) => {
                    let key = format!("k{k}");
                    let was = model.position(&key).map(|i| model.entries.remove(i)).is_some();
                    prop_assert_eq!(cache.remove(&key), was);
                }
                CacheOp::RemoveOdd => {
                    let odd = |k: &str| k.ends_with(['1', '3', '5', '7', '9']);
                    let before = model.entries.len();
                    model.entries.retain(|(k, _, _)| !odd(k));
                    prop_assert_eq!(cache.remove_matching(odd), before - model.entries.len());
                }
                CacheOp::Clear => {
                    cache.remove_all();
                    model.entries.clear();
                }
                CacheOp::EvictExpired => {
                    let before = model.entries.len();
                    model.entries.retain(|(_, _, at)| !at.is_some_and(|at| now >= at));
                    prop_assert_eq!(cache.evict_expired(), before - model.entries.len());
                }
                CacheOp::Advance(d) => clock.advance(d),
            }
            prop_assert!(cache.len() <= capacity, "{} entries, capacity {}", cache.len(), capacity);
            prop_assert_eq!(cache.len(), model.entries.len());
            prop_assert_eq!(cache.stats().entries, cache.len());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Job ids

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Ids drawn concurrently by up to 8 threads never repeat, and each thread sees its
    /// ids increase.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn job_ids_never_repeat(threads in 1_usize..8, per_thread in 1_usize..3_000) {
        let drawn: Vec<Vec<JobId>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| s.spawn(move || (0..per_thread).map(|_| JobId::next("p")).collect::<Vec<_>>()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut all = HashSet::new();
        for ids in &drawn {
            prop_assert!(ids.windows(2).all(|w| w[0].seq() < w[1].seq() && w[0] < w[1] && w[0] != w[1]));
            for id in ids {
                prop_assert!(all.insert(id.seq()), "{} drawn twice", id);
            }
        }
        prop_assert_eq!(all.len(), threads * per_thread);
    }
}
