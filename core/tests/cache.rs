//! Placeholder and cache (original-behaviour.md §4.3, §7.1, §7.5, §15, with the D18 fix),
//! all on the virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

mod common;

use std::future::pending;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, tags};
use orchestrator_core::EventTag::*;
use orchestrator_core::cache::{CacheError, CachePolicy, CacheProvider, InMemoryCache};
use orchestrator_core::cache::{CacheErrorKind, CacheStats, KeyFilter};
use orchestrator_core::log::{Level, Logger};
use orchestrator_core::runtime::{Clock, Timer, VirtualClock};
use orchestrator_core::{
    BoxFuture, DispatchError, Dispatcher, Executor, Job, JobBuilder, JobContext, JobError, JobResult, Payload,
};

// ---------------------------------------------------------------------------------------
// Fixtures

/// A fetch whose executor answers after `work` of virtual time.
#[derive(Clone)]
struct Fetch {
    answer: Result<&'static str, &'static str>,
    work: Duration,
}
impl Job for Fetch {
    type Output = String;
}

fn fresh() -> Fetch {
    Fetch { answer: Ok("fresh"), work: Duration::ZERO }
}

fn failing() -> Fetch {
    Fetch { answer: Err("server down"), work: Duration::ZERO }
}

struct FetchExec {
    timer: VirtualClock,
    calls: Arc<AtomicU32>,
}

impl Executor<Fetch> for FetchExec {
    async fn process(&self, job: &Fetch, _ctx: &JobContext) -> Result<String, JobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !job.work.is_zero() {
            self.timer.sleep(job.work).await;
        }
        job.answer.map(String::from).map_err(JobError::msg)
    }
}

/// Records every log line.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Level, String)>>>);
impl Logger for Capture {
    fn enabled(&self, _: Level) -> bool {
        true
    }
    fn log(&self, level: Level, message: std::fmt::Arguments<'_>) {
        self.0.lock().unwrap().push((level, message.to_string()));
    }
}
impl Capture {
    fn warnings(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().filter(|(l, _)| *l == Level::Warning).map(|(_, m)| m.clone()).collect()
    }
}

struct Setup {
    h: Harness,
    calls: Arc<AtomicU32>,
    log: Capture,
}

/// A dispatcher on `clock` with `provider` (if any) and a capturing logger.
fn setup_with(clock: VirtualClock, provider: Option<Arc<dyn CacheProvider>>) -> Setup {
    let log = Capture::default();
    let mut builder = Dispatcher::builder().timer(clock.clone()).logger(log.clone());
    if let Some(provider) = provider {
        builder = builder.cache_shared(provider);
    }
    let dispatcher = builder.build().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    dispatcher.register(FetchExec { timer: clock.clone(), calls: calls.clone() });
    let events = dispatcher.bus().subscribe().unwrap();
    Setup { h: Harness { clock, dispatcher, events }, calls, log }
}

/// A dispatcher with an in-memory cache on the same virtual clock.
fn setup() -> (Setup, Arc<InMemoryCache>) {
    let clock = VirtualClock::new();
    let cache = Arc::new(InMemoryCache::new(clock.clone()));
    (setup_with(clock, Some(cache.clone())), cache)
}

fn string_at(cache: &InMemoryCache, key: &str) -> Option<String> {
    cache.get(key).and_then(|p| p.get::<String>().cloned())
}

fn put(cache: &InMemoryCache, key: &str, value: &str, ttl: Option<Duration>) {
    cache.insert(key, Payload::new(value.to_string()), ttl);
}

const MIN: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// §7.5: the cache rows

#[test]
fn placeholder_and_miss_runs_the_worker_and_writes() {
    let (mut s, cache) = setup();
    let job = JobBuilder::new(fresh()).placeholder("loading…".to_string()).cache("user:1", MIN);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    let events = s.h.drain();
    assert_eq!(tags(&events), [Started, Placeholder, Success]);
    assert_eq!(events[1].data_as::<String>().map(String::as_str), Some("loading…"));
    assert_eq!(events[2].data_as::<String>().map(String::as_str), Some("fresh"));
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("fresh"));
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn swr_hit_emits_the_cached_value_then_the_fresh_one_and_overwrites() {
    let (mut s, cache) = setup();
    put(&cache, "user:1", "old", None);
    let result = s.h.run(s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache("user:1", MIN)).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    let events = s.h.drain();
    assert_eq!(tags(&events), [Started, CacheHit, Success]);
    assert_eq!(events[1].data_as::<String>().map(String::as_str), Some("old"));
    assert_eq!(events[2].data_as::<String>().map(String::as_str), Some("fresh"));
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("fresh"));
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn cache_first_hit_ends_with_the_cached_value_and_does_not_call_the_worker() {
    let (mut s, cache) = setup();
    put(&cache, "user:1", "cached", Some(Duration::from_secs(10)));
    s.h.clock.advance(Duration::from_secs(5));
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("cached"));
    let events = s.h.drain();
    assert_eq!(tags(&events), [Started, CacheHit, Success]);
    assert_eq!(events[1].data_as::<String>().map(String::as_str), Some("cached"));
    assert_eq!(events[2].data_as::<String>().map(String::as_str), Some("cached"));
    assert_eq!(s.calls.load(Ordering::SeqCst), 0, "the worker is not called");
    // Nothing was written: the entry still expires on its original TTL (10 s, not 5 + 60 s).
    s.h.clock.advance(Duration::from_secs(5));
    assert_eq!(string_at(&cache, "user:1"), None);
}

#[test]
fn cache_first_miss_runs_the_worker_and_writes() {
    let (mut s, cache) = setup();
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&s.h.drain()), [Started, Success]);
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("fresh"));
    // The next cache-first job is served from the cache.
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false);
    s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(tags(&s.h.drain()), [Started, CacheHit, Success]);
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn force_refresh_does_not_read_but_still_writes() {
    let (mut s, cache) = setup();
    put(&cache, "user:1", "old", None);
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).force_refresh(true);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&s.h.drain()), [Started, Success], "no CacheHit");
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (0, 0), "the cache was not read");
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("fresh"));
    // Force refresh wins over cache-first too.
    let policy = CachePolicy::new("user:1").with_revalidate(false).with_force_refresh(true);
    s.h.run(s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache_policy(policy)).unwrap());
    assert_eq!(tags(&s.h.drain()), [Started, Success]);
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn swr_hit_then_worker_error_fails_and_leaves_the_cache_untouched() {
    let (mut s, cache) = setup();
    put(&cache, "user:1", "old", None);
    let result = s.h.run(s.h.dispatcher.dispatch(JobBuilder::new(failing()).cache("user:1", MIN)).unwrap());
    assert_eq!(result.error().map(JobError::message), Some("server down"));
    let events = s.h.drain();
    assert_eq!(tags(&events), [Started, CacheHit, Failure]);
    assert_eq!(events[1].data_as::<String>().map(String::as_str), Some("old"));
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("old"));
}

#[test]
fn the_type_default_cache_policy_applies_and_no_cache_removes_it() {
    #[derive(Clone)]
    struct Cached;
    impl Job for Cached {
        type Output = u32;
        fn configure(job: JobBuilder<Self>) -> JobBuilder<Self> {
            job.cache_policy(CachePolicy::new("cached").with_revalidate(false))
        }
    }
    let (mut s, cache) = setup();
    s.h.dispatcher.register(orchestrator_core::executor_fn(|_: Cached, _| async { Ok::<_, JobError>(7) }));
    cache.insert("cached", Payload::new(1_u32), None);
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(Cached).unwrap()).ok(), Some(1));
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(JobBuilder::new(Cached).no_cache()).unwrap()).ok(), Some(7));
    assert_eq!(tags(&s.h.drain()), [Started, CacheHit, Success, Started, Success]);
}

// ---------------------------------------------------------------------------------------
// A provider test double: failing, hanging or slow reads and writes.

#[derive(Clone, Copy)]
enum Mode {
    Pass,
    Fail,
    Hang,
    Slow(Duration),
}

struct Double {
    inner: InMemoryCache,
    timer: VirtualClock,
    read: Mode,
    write: Mode,
    reads_dropped: AtomicU32,
}

impl Double {
    fn new(clock: &VirtualClock, read: Mode, write: Mode) -> Arc<Self> {
        Arc::new(Self {
            inner: InMemoryCache::new(clock.clone()),
            timer: clock.clone(),
            read,
            write,
            reads_dropped: AtomicU32::new(0),
        })
    }

    async fn behave(&self, mode: Mode, what: &str) -> Result<(), CacheError> {
        match mode {
            Mode::Pass => Ok(()),
            Mode::Fail => Err(CacheError::backend(format!("{what}: connection refused"))),
            Mode::Hang => pending().await,
            Mode::Slow(d) => {
                self.timer.sleep(d).await;
                Ok(())
            }
        }
    }
}

/// Counts reads dropped before they finished.
struct ReadGuard<'a>(&'a AtomicU32, bool);
impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl CacheProvider for Double {
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>> {
        Box::pin(async move {
            let mut guard = ReadGuard(&self.reads_dropped, false);
            self.behave(self.read, "read").await?;
            guard.1 = true;
            self.inner.read(key).await
        })
    }
    fn write<'a>(
        &'a self,
        key: &'a str,
        value: Payload,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            self.behave(self.write, "write").await?;
            self.inner.write(key, value, ttl).await
        })
    }
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
        self.inner.delete(key)
    }
    fn delete_matching<'a>(&'a self, pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>> {
        self.inner.delete_matching(pred)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        self.inner.clear()
    }
}

#[test]
fn a_failing_provider_does_not_fail_the_job_and_the_errors_are_observable() {
    let clock = VirtualClock::new();
    let double = Double::new(&clock, Mode::Fail, Mode::Fail);
    let mut s = setup_with(clock, Some(double.clone()));
    let job = JobBuilder::new(fresh()).cache("user:1", MIN);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"), "the result stands");
    assert_eq!(tags(&s.h.drain()), [Started, Success]);
    // Observable: a counter in the dispatcher's stats and a warning per error.
    assert_eq!(s.h.dispatcher.stats().cache_errors, 2);
    let warnings = s.log.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("cache read of `user:1` failed") && warnings[0].contains("read: connection refused"));
    assert!(
        warnings[1].contains("cache write of `user:1` failed") && warnings[1].contains("write: connection refused")
    );
    // Cache-first falls back to the worker on a read error.
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false);
    assert!(s.h.run(s.h.dispatcher.dispatch(job).unwrap()).is_success());
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    assert_eq!(s.h.dispatcher.stats().cache_errors, 4);
}

#[test]
fn a_failing_write_after_a_hit_keeps_the_success() {
    let clock = VirtualClock::new();
    let double = Double::new(&clock, Mode::Pass, Mode::Fail);
    double.inner.insert("user:1", Payload::new("old".to_string()), None);
    let mut s = setup_with(clock, Some(double.clone()));
    let result = s.h.run(s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache("user:1", MIN)).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&s.h.drain()), [Started, CacheHit, Success]);
    assert_eq!(s.h.dispatcher.stats().cache_errors, 1);
    assert_eq!(string_at(&double.inner, "user:1").as_deref(), Some("old"));
}

#[test]
fn cancelled_during_the_cache_read() {
    let clock = VirtualClock::new();
    let double = Double::new(&clock, Mode::Slow(Duration::from_secs(5)), Mode::Pass);
    double.inner.insert("user:1", Payload::new("old".to_string()), None);
    let mut s = setup_with(clock, Some(double.clone()));
    // Cache-first and SWR alike: the cancel wins over the pending read.
    for revalidate in [false, true] {
        let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(revalidate);
        let handle = s.h.dispatcher.dispatch(job).unwrap();
        let token = handle.token();
        let timer = s.h.clock.clone();
        let result = s.h.run(async move {
            let cancel = async {
                timer.sleep(Duration::from_secs(1)).await;
                token.cancel_with_reason("left the screen");
            };
            futures::join!(handle, cancel).0
        });
        assert!(matches!(&result, JobResult::Cancelled(Some(r)) if &**r == "left the screen"));
        assert_eq!(tags(&s.h.drain()), [Started, Cancelled]);
    }
    assert_eq!(double.reads_dropped.load(Ordering::SeqCst), 2, "the reads were dropped");
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    assert_eq!(string_at(&double.inner, "user:1").as_deref(), Some("old"), "nothing written");
    assert_eq!(s.h.dispatcher.stats().cache_errors, 0, "a cancelled read is not a cache error");
}

#[test]
fn cancel_after_a_swr_hit_while_the_worker_runs() {
    let (mut s, cache) = setup();
    put(&cache, "user:1", "old", None);
    let job = JobBuilder::new(Fetch { answer: Ok("fresh"), work: Duration::from_secs(10) }).cache("user:1", MIN);
    let handle = s.h.dispatcher.dispatch(job).unwrap();
    let token = handle.token();
    let timer = s.h.clock.clone();
    let result = s.h.run(async move {
        let cancel = async {
            timer.sleep(Duration::from_secs(1)).await;
            token.cancel();
        };
        futures::join!(handle, cancel).0
    });
    assert!(result.is_cancelled());
    assert_eq!(tags(&s.h.drain()), [Started, CacheHit, Cancelled]);
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("old"));
}

#[test]
fn a_hanging_read_cannot_hold_the_job_beyond_its_timeout() {
    let clock = VirtualClock::new();
    let double = Double::new(&clock, Mode::Hang, Mode::Pass);
    let mut s = setup_with(clock, Some(double.clone()));
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).timeout(Duration::from_secs(2));
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert!(matches!(result, JobResult::TimedOut(d) if d == Duration::from_secs(2)));
    assert_eq!(tags(&s.h.drain()), [Started, TimedOut]);
    assert_eq!(s.h.clock.now(), Duration::from_secs(2));
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_hanging_write_is_cut_short_by_the_timeout_and_the_success_stands() {
    let clock = VirtualClock::new();
    let double = Double::new(&clock, Mode::Pass, Mode::Hang);
    let mut s = setup_with(clock, Some(double.clone()));
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).timeout(Duration::from_secs(2));
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&s.h.drain()), [Started, Success]);
    assert_eq!(s.h.dispatcher.stats().cache_errors, 1);
    assert!(s.log.warnings().iter().any(|w| w.contains("timed out during the write")));
}

// ---------------------------------------------------------------------------------------
// Values: any type, wrong type

#[test]
fn a_cached_value_of_another_type_is_a_miss_not_a_panic() {
    let (mut s, cache) = setup();
    cache.insert("user:1", Payload::new(42_u32), None);
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false);
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&s.h.drain()), [Started, Success], "no CacheHit");
    assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    assert_eq!(string_at(&cache, "user:1").as_deref(), Some("fresh"), "overwritten with the right type");
    assert!(s.log.warnings().iter().any(|w| w.contains("another type")));
    assert_eq!(s.h.dispatcher.stats().cache_errors, 0);
}

#[test]
fn any_value_can_be_cached_including_none_and_unit() {
    #[derive(Clone)]
    struct Lookup(Option<u32>);
    impl Job for Lookup {
        type Output = Option<u32>;
    }
    let (mut s, cache) = setup();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    s.h.dispatcher.register(orchestrator_core::executor_fn(move |job: Lookup, _| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, JobError>(job.0) }
    }));
    // "Not found" (None) is a result like any other: cached, and served.
    let job = || JobBuilder::new(Lookup(None)).cache("lookup", MIN).revalidate(false);
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(job()).unwrap()).ok(), Some(None));
    assert_eq!(cache.get("lookup").and_then(|p| p.get::<Option<u32>>().copied()), Some(None));
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(job()).unwrap()).ok(), Some(None));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second job was served from the cache");
    let events = s.h.drain();
    assert_eq!(tags(&events), [Started, Success, Started, CacheHit, Success]);
    assert_eq!(events[3].data_as::<Option<u32>>(), Some(&None));
}

// ---------------------------------------------------------------------------------------
// In-memory provider: TTL, LRU, stats

#[test]
fn ttl_expires_exactly_at_the_boundary() {
    let clock = VirtualClock::new();
    let cache = InMemoryCache::new(clock.clone());
    put(&cache, "k", "v", Some(Duration::from_secs(10)));
    clock.advance(Duration::from_secs(10) - Duration::from_nanos(1));
    assert_eq!(string_at(&cache, "k").as_deref(), Some("v"), "served until just before t + ttl");
    clock.advance(Duration::from_nanos(1));
    assert_eq!(string_at(&cache, "k"), None, "expired at exactly t + ttl");
    assert_eq!(cache.len(), 0, "the expired entry was removed by the read");
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.expired), (1, 1, 1));
}

#[test]
fn ttl_boundary_through_the_pipeline() {
    let (mut s, _cache) = setup();
    let cache_first = || JobBuilder::new(fresh()).cache("k", Duration::from_secs(10)).revalidate(false);
    s.h.run(s.h.dispatcher.dispatch(cache_first()).unwrap()); // miss at t = 0: written
    s.h.clock.advance(Duration::from_secs(10) - Duration::from_nanos(1));
    s.h.run(s.h.dispatcher.dispatch(cache_first()).unwrap()); // hit
    s.h.clock.advance(Duration::from_nanos(1));
    s.h.run(s.h.dispatcher.dispatch(cache_first()).unwrap()); // expired: miss
    assert_eq!(tags(&s.h.drain()), [Started, Success, Started, CacheHit, Success, Started, Success]);
    assert_eq!(s.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn evict_expired_removes_only_expired_entries() {
    let clock = VirtualClock::new();
    let cache = InMemoryCache::new(clock.clone()).default_ttl(Duration::from_secs(5));
    put(&cache, "default", "v", None); // the default TTL: 5 s
    put(&cache, "short", "v", Some(Duration::from_secs(1)));
    put(&cache, "long", "v", Some(Duration::from_secs(100)));
    clock.advance(Duration::from_secs(5));
    assert_eq!(cache.evict_expired(), 2);
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.stats().expired, 2);
    assert!(cache.get("long").is_some());
}

#[test]
fn lru_evicts_the_least_recently_used_entry_not_the_oldest() {
    let clock = VirtualClock::new();
    let cache = InMemoryCache::with_capacity(clock, 3).unwrap();
    for k in ["a", "b", "c"] {
        put(&cache, k, k, None);
    }
    assert!(cache.get("a").is_some()); // "a" was inserted first but used last
    put(&cache, "d", "d", None); // evicts "b"
    assert!(cache.get("b").is_none());
    assert!(cache.get("a").is_some() && cache.get("c").is_some() && cache.get("d").is_some());
    // Recency now: a, c, d (least → most). Overwriting "a" is a use too.
    put(&cache, "a", "a2", None);
    put(&cache, "e", "e", None); // evicts "c"
    assert!(cache.get("c").is_none());
    assert_eq!(string_at(&cache, "a").as_deref(), Some("a2"));
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.capacity, stats.evictions), (3, 3, 2));
    assert!((stats.usage_ratio() - 1.0).abs() < f64::EPSILON);
}

#[test]
#[cfg_attr(miri, ignore = "20_000 operations: too slow under Miri")]
fn the_bound_holds_in_a_long_mixed_sequence() {
    let clock = VirtualClock::new();
    let cache = InMemoryCache::with_capacity(clock.clone(), 8).unwrap();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..20_000 {
        // xorshift: a deterministic pseudo-random walk over 32 keys and 4 operations.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("k{}", x % 32);
        match (x >> 8) % 4 {
            0 | 1 => cache.insert(&key, Payload::new(x), Some(Duration::from_secs(x % 5))),
            2 => drop(cache.get(&key)),
            _ => drop(cache.remove(&key)),
        }
        if x % 97 == 0 {
            clock.advance(Duration::from_secs(1));
        }
        assert!(cache.len() <= 8);
    }
    let CacheStats { entries, capacity, .. } = cache.stats();
    assert!(entries <= capacity);
}

#[test]
#[cfg_attr(miri, ignore = "1_500 inserts into a 1_000-entry LRU: too slow under Miri")]
fn default_capacity_is_one_thousand() {
    let cache = InMemoryCache::new(VirtualClock::new());
    assert_eq!(cache.capacity(), 1_000);
    for i in 0..1_500 {
        cache.insert(&format!("k{i}"), Payload::new(i), None);
    }
    assert_eq!(cache.len(), 1_000);
    assert_eq!(cache.stats().evictions, 500);
    assert!(cache.get("k499").is_none() && cache.get("k500").is_some());
}

// ---------------------------------------------------------------------------------------
// Context helpers and invalidation

#[derive(Clone)]
struct Admin(fn(JobContext) -> BoxFuture<'static, Result<Vec<usize>, JobError>>);
impl Job for Admin {
    type Output = Vec<usize>;
}

fn admin(s: &Setup) {
    s.h.dispatcher.register(orchestrator_core::executor_fn(|job: Admin, ctx| (job.0)(ctx)));
}

#[test]
#[cfg_attr(miri, ignore = "20_000 keys: too slow under Miri")]
fn prefix_invalidation_over_ten_thousand_keys() {
    let clock = VirtualClock::new();
    let cache = Arc::new(InMemoryCache::with_capacity(clock.clone(), 20_001).unwrap());
    let s = setup_with(clock, Some(cache.clone()));
    admin(&s);
    for i in 0..10_000 {
        cache.insert(&format!("user:{i}"), Payload::new(i), None);
        cache.insert(&format!("post:{i}"), Payload::new(i), None);
    }
    cache.insert("user", Payload::new(0), None); // no colon: not under the prefix
    let job = Admin(|ctx| {
        Box::pin(async move {
            let by_prefix = ctx.invalidate_prefix("user:").await?;
            let by_pred = ctx.invalidate_matching(|k| k.starts_with("post:") && k.ends_with('7')).await?;
            let by_key = usize::from(ctx.invalidate("post:0").await?);
            let again = usize::from(ctx.invalidate("post:0").await?);
            Ok(vec![by_prefix, by_pred, by_key, again])
        })
    });
    let result = s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(result.ok(), Some(vec![10_000, 1_000, 1, 0]));
    assert_eq!(cache.len(), 20_001 - 10_000 - 1_000 - 1);
    assert!(cache.get("user").is_some() && cache.get("user:5").is_none() && cache.get("post:5").is_some());
}

#[test]
fn typed_read_and_write_from_the_context() {
    let (s, cache) = setup();
    admin(&s);
    let job = Admin(|ctx| {
        Box::pin(async move {
            ctx.write_cache("n", 7_u64, None).await?;
            let as_u64 = ctx.read_cache::<u64>("n").await?;
            let as_string = ctx.read_cache::<String>("n").await?; // another type: None
            let missing = ctx.read_cache::<u64>("nothing").await?;
            ctx.write_cache("short", (), Some(Duration::from_secs(1))).await?;
            let empty = ctx.read_cache::<u64>("").await.unwrap_err();
            assert_eq!(empty.kind(), CacheErrorKind::EmptyKey);
            Ok(vec![usize::from(as_u64 == Some(7)), usize::from(as_string.is_none()), usize::from(missing.is_none())])
        })
    });
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(job).unwrap()).ok(), Some(vec![1, 1, 1]));
    assert_eq!(cache.get("n").and_then(|p| p.get::<u64>().copied()), Some(7));
    s.h.clock.advance(Duration::from_secs(1));
    assert!(cache.get("short").is_none());
}

#[test]
fn context_helpers_without_a_provider_return_a_typed_error() {
    let s = setup_with(VirtualClock::new(), None);
    admin(&s);
    let job = Admin(|ctx| {
        Box::pin(async move {
            assert!(ctx.cache().is_none());
            let errors = [
                ctx.invalidate("k").await.unwrap_err(),
                ctx.invalidate_prefix("k").await.unwrap_err(),
                ctx.invalidate_matching(|_| true).await.unwrap_err(),
                ctx.read_cache::<u32>("k").await.unwrap_err(),
                ctx.write_cache("k", 1_u32, None).await.unwrap_err(),
            ];
            assert!(errors.iter().all(|e| e.kind() == CacheErrorKind::NoProvider));
            Ok(vec![errors.len()])
        })
    });
    assert_eq!(s.h.run(s.h.dispatcher.dispatch(job).unwrap()).ok(), Some(vec![5]));
}

#[test]
fn a_job_can_bring_its_own_provider() {
    let (mut s, dispatcher_cache) = setup();
    let own = Arc::new(InMemoryCache::new(s.h.clock.clone()));
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).cache_provider(own.clone());
    s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    assert_eq!(string_at(&own, "user:1").as_deref(), Some("fresh"));
    assert!(dispatcher_cache.is_empty());
    // Even on a dispatcher without one.
    let mut bare = setup_with(s.h.clock.clone(), None);
    let job = JobBuilder::new(fresh()).cache("user:1", MIN).revalidate(false).cache_provider(own.clone());
    assert_eq!(bare.h.run(bare.h.dispatcher.dispatch(job).unwrap()).ok().as_deref(), Some("fresh"));
    assert_eq!(tags(&bare.h.drain()), [Started, CacheHit, Success]);
    let _ = s.h.drain();
}

// ---------------------------------------------------------------------------------------
// Bad input

#[test]
fn empty_key_is_refused_at_dispatch() {
    let (mut s, _) = setup();
    let err = s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache("", MIN)).unwrap_err();
    assert_eq!(err, DispatchError::EmptyCacheKey { job_type: "Fetch" });
    assert_eq!(err.to_string(), "job `Fetch` has a cache policy with an empty key");
    assert!(s.h.drain().is_empty());
    assert_eq!(s.h.dispatcher.stats().pending, 0);
}

#[test]
fn zero_ttl_is_refused_at_dispatch_and_stores_nothing_in_the_provider() {
    let (mut s, cache) = setup();
    let err = s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache("k", Duration::ZERO)).unwrap_err();
    assert_eq!(err, DispatchError::ZeroCacheTtl { job_type: "Fetch" });
    assert!(s.h.drain().is_empty());
    // Given straight to the provider, a zero TTL is "already expired": nothing is served,
    // and the key's previous value is gone (a write replaces it).
    put(&cache, "k", "old", None);
    put(&cache, "k", "new", Some(Duration::ZERO));
    assert_eq!(string_at(&cache, "k"), None);
    assert!(cache.is_empty());
}

#[test]
fn max_ttl_never_expires_and_does_not_overflow() {
    let (mut s, cache) = setup();
    s.h.clock.advance(Duration::from_secs(1)); // now + MAX overflows
    let job = JobBuilder::new(fresh()).cache("k", Duration::MAX).revalidate(false);
    s.h.run(s.h.dispatcher.dispatch(job).unwrap());
    s.h.clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(string_at(&cache, "k").as_deref(), Some("fresh"));
    s.h.clock.advance(Duration::MAX); // saturates at the end of time
    assert_eq!(string_at(&cache, "k").as_deref(), Some("fresh"));
    assert_eq!(cache.evict_expired(), 0);
    let _ = s.h.drain();
}

#[test]
fn zero_capacity_is_an_error() {
    let err = InMemoryCache::with_capacity(VirtualClock::new(), 0).unwrap_err();
    assert_eq!(err.kind(), CacheErrorKind::ZeroCapacity);
    let clock: Arc<dyn Clock> = Arc::new(VirtualClock::new());
    assert_eq!(InMemoryCache::with_shared_clock(clock.clone(), 0).unwrap_err().kind(), CacheErrorKind::ZeroCapacity);
    assert_eq!(InMemoryCache::with_shared_clock(clock, 1).unwrap().capacity(), 1);
}

#[test]
fn a_cache_policy_without_a_provider_is_refused_at_dispatch() {
    let mut s = setup_with(VirtualClock::new(), None);
    let err = s.h.dispatcher.dispatch(JobBuilder::new(fresh()).cache("k", MIN)).unwrap_err();
    assert_eq!(err, DispatchError::NoCacheProvider { job_type: "Fetch" });
    assert!(s.h.drain().is_empty());
    // Without a policy, nothing changes.
    assert!(s.h.run(s.h.dispatcher.dispatch(fresh()).unwrap()).is_success());
}

#[test]
fn revalidate_and_force_refresh_without_a_policy_do_nothing() {
    let configured = JobBuilder::new(fresh()).revalidate(false).force_refresh(true);
    assert!(configured.options().cache().is_none());
    let configured = JobBuilder::new(fresh()).cache("k", None).force_refresh(true);
    let policy = configured.options().cache().unwrap();
    assert_eq!((policy.ttl(), policy.revalidate(), policy.force_refresh()), (None, true, true));
}
