//! [`InMemoryCache`]: a bounded TTL + LRU [`CacheProvider`] for `no_std + alloc`.

use crate::sync::Arc;
use crate::sync::dyn_arc;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::fmt;
use core::time::Duration;

use hashbrown::HashMap;

use super::{CacheError, CacheProvider, KeyFilter};
use crate::event::Payload;
use crate::runtime::Clock;
use crate::sync::{BoxFuture, Mutex};

/// How many entries an [`InMemoryCache`] holds unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 1_000;

/// A snapshot of an [`InMemoryCache`]'s counters.
///
/// `hits` and `misses` count reads ([`InMemoryCache::get`] and [`CacheProvider::read`]);
/// a value of another type than the reader wanted is still a hit here (the provider does
/// not know types). Counters wrap on overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Entries stored now (some may have expired and not been removed yet).
    pub entries: usize,
    /// The most entries the cache holds.
    pub capacity: usize,
    /// Reads that found a live value.
    pub hits: u64,
    /// Reads that found nothing, or an expired value.
    pub misses: u64,
    /// Entries removed to make room for a new key (least recently used first).
    pub evictions: u64,
    /// Expired entries removed (by a read or by [`InMemoryCache::evict_expired`]).
    pub expired: u64,
}

impl CacheStats {
    /// `entries / capacity`, within `0.0..=1.0`.
    #[allow(clippy::cast_precision_loss)]
    pub fn usage_ratio(&self) -> f64 {
        if self.capacity == 0 { 0.0 } else { self.entries as f64 / self.capacity as f64 }
    }
}

struct Entry {
    value: Payload,
    /// `None`: never expires. Expired when `now >= expires_at`.
    expires_at: Option<Duration>,
    /// The entry's position in the recency index.
    tick: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Arc<str>, Entry>,
    /// Recency index: tick of the last use → key. The first entry is the least recently
    /// used. Exactly one record per entry.
    recency: BTreeMap<u64, Arc<str>>,
    next_tick: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    expired: u64,
}

impl State {
    fn tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick = self.next_tick.wrapping_add(1);
        tick
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(entry) => {
                self.recency.remove(&entry.tick);
                true
            }
            None => false,
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&str, &Entry) -> bool) -> usize {
        let Self { entries, recency, .. } = self;
        let before = entries.len();
        entries.retain(|key, entry| {
            let keep = keep(key, entry);
            if !keep {
                recency.remove(&entry.tick);
            }
            keep
        });
        before - entries.len()
    }
}

fn is_expired(expires_at: Option<Duration>, now: Duration) -> bool {
    expires_at.is_some_and(|at| now >= at)
}

/// When a value written at `now` for `ttl` expires; `None` is never.
///
/// `Duration::MAX` is "never" even written at time zero, where `now + ttl` would fit:
/// that deadline is `Duration::MAX` itself, which a saturating clock does reach. An
/// expiry that does not fit in a `Duration` is "never" too.
fn expiry(now: Duration, ttl: Duration) -> Option<Duration> {
    if ttl == Duration::MAX { None } else { now.checked_add(ttl) }
}

/// An in-memory [`CacheProvider`] with per-entry TTL and a bound on the number of entries,
/// evicting the least recently **used** entry (a read counts as a use). Works in
/// `no_std + alloc`.
///
/// * **Time** is read from the [`Clock`] given at construction (the runtime's clock, or a
///   `runtime::VirtualClock` in tests).
/// * **Expiry:** an entry written at `t` with TTL `d` is served while `now < t + d`, and is
///   expired from `now == t + d` on (the original library still served it at exactly
///   `t + d`). A TTL of zero stores nothing (the key's previous value is removed, as by any
///   write); a TTL of `Duration::MAX`, as a default TTL too, never expires, whatever the
///   clock reads (even `Duration::MAX`), and neither does one too large to add to the
///   clock. Expired entries are removed lazily by reads, or all at once by
///   [`evict_expired`](Self::evict_expired).
/// * **Bound:** at most [`capacity`](Self::capacity) entries (default
///   [`DEFAULT_CAPACITY`]); writing a new key into a full cache first evicts the least
///   recently used entry (expired or not). A capacity of zero is refused
///   ([`CacheErrorKind::ZeroCapacity`](super::CacheErrorKind::ZeroCapacity)); there is no
///   unbounded mode.
/// * **Cost:** reads, writes and deletes of one key are O(log n) (a hash map plus an
///   ordered recency index); `delete_matching`, `delete_prefix` and `evict_expired` visit
///   every entry.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::cache::InMemoryCache;
/// use orchestrator_core::runtime::VirtualClock;
/// use orchestrator_core::Payload;
///
/// let clock = VirtualClock::new();
/// let cache = InMemoryCache::with_capacity(clock.clone(), 2).unwrap();
/// cache.insert("a", Payload::new(1_u32), Some(Duration::from_secs(10)));
/// cache.insert("b", Payload::new(2_u32), None);
/// assert!(cache.get("a").is_some()); // "a" is now more recently used than "b"
/// cache.insert("c", Payload::new(3_u32), None); // full: evicts "b"
/// assert!(cache.get("b").is_none());
///
/// clock.advance(Duration::from_secs(10)); // "a" expires exactly now
/// assert!(cache.get("a").is_none());
/// let stats = cache.stats();
/// assert_eq!((stats.entries, stats.evictions, stats.expired), (1, 1, 1));
/// ```
pub struct InMemoryCache {
    clock: Arc<dyn Clock>,
    capacity: usize,
    default_ttl: Option<Duration>,
    state: Mutex<State>,
}

impl fmt::Debug for InMemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryCache")
            .field("default_ttl", &self.default_ttl)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl InMemoryCache {
    /// A cache of [`DEFAULT_CAPACITY`] entries measuring time on `clock`.
    pub fn new(clock: impl Clock + 'static) -> Self {
        Self::build(dyn_arc!(clock), DEFAULT_CAPACITY)
    }

    /// A cache of at most `capacity` entries measuring time on `clock`.
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::ZeroCapacity`](super::CacheErrorKind::ZeroCapacity) when
    /// `capacity` is 0.
    pub fn with_capacity(clock: impl Clock + 'static, capacity: usize) -> Result<Self, CacheError> {
        Self::with_shared_clock(dyn_arc!(clock), capacity)
    }

    /// Like [`with_capacity`](Self::with_capacity), with a shared clock.
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::ZeroCapacity`](super::CacheErrorKind::ZeroCapacity) when
    /// `capacity` is 0.
    pub fn with_shared_clock(clock: Arc<dyn Clock>, capacity: usize) -> Result<Self, CacheError> {
        if capacity == 0 {
            return Err(CacheError::zero_capacity());
        }
        Ok(Self::build(clock, capacity))
    }

    fn build(clock: Arc<dyn Clock>, capacity: usize) -> Self {
        Self { clock, capacity, default_ttl: None, state: Mutex::new(State::default()) }
    }

    /// The TTL of values written without one (default: none, they never expire;
    /// `Duration::MAX` never expires either).
    #[must_use]
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// The most entries the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of entries stored (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live value under `key`, marking it as the most recently used. An expired value
    /// is removed and reported as absent.
    pub fn get(&self, key: &str) -> Option<Payload> {
        let now = self.clock.now();
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(entry) = state.entries.get_mut(key) else {
            state.misses = state.misses.wrapping_add(1);
            return None;
        };
        if is_expired(entry.expires_at, now) {
            state.remove(key);
            state.expired = state.expired.wrapping_add(1);
            state.misses = state.misses.wrapping_add(1);
            return None;
        }
        let value = entry.value.clone();
        let old = entry.tick;
        let tick = state.tick();
        if let Some(entry) = state.entries.get_mut(key) {
            entry.tick = tick;
        }
        if let Some(name) = state.recency.remove(&old) {
            state.recency.insert(tick, name);
        }
        state.hits = state.hits.wrapping_add(1);
        Some(value)
    }

    /// Stores `value` under `key` for `ttl` (or the [default TTL](Self::default_ttl)),
    /// replacing any previous value and marking it as the most recently used. A new key in
    /// a full cache first evicts the least recently used entry.
    pub fn insert(&self, key: &str, value: Payload, ttl: Option<Duration>) {
        let now = self.clock.now();
        let ttl = ttl.or(self.default_ttl);
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if ttl == Some(Duration::ZERO) {
            // Expired on arrival: nothing to store, but the write still replaces.
            state.remove(key);
            return;
        }
        let expires_at = ttl.and_then(|ttl| expiry(now, ttl));
        let tick = state.tick();
        if let Some(entry) = state.entries.get_mut(key) {
            let old = core::mem::replace(&mut entry.tick, tick);
            entry.value = value;
            entry.expires_at = expires_at;
            if let Some(name) = state.recency.remove(&old) {
                state.recency.insert(tick, name);
            }
            return;
        }
        while state.entries.len() >= self.capacity {
            let Some((_, lru)) = state.recency.pop_first() else { break };
            state.entries.remove(&*lru);
            state.evictions = state.evictions.wrapping_add(1);
        }
        let key: Arc<str> = Arc::from(key);
        state.recency.insert(tick, key.clone());
        state.entries.insert(key, Entry { value, expires_at, tick });
    }

    /// Removes `key`; returns whether it was present.
    pub fn remove(&self, key: &str) -> bool {
        self.state.lock().remove(key)
    }

    /// Removes every key for which `pred` returns `true`; returns how many.
    pub fn remove_matching(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.state.lock().retain(|key, _| !pred(key))
    }

    /// Removes everything (the counters are kept).
    pub fn remove_all(&self) {
        let mut state = self.state.lock();
        state.entries.clear();
        state.recency.clear();
    }

    /// Removes every expired entry; returns how many.
    pub fn evict_expired(&self) -> usize {
        let now = self.clock.now();
        let mut state = self.state.lock();
        let removed = state.retain(|_, entry| !is_expired(entry.expires_at, now));
        state.expired = state.expired.wrapping_add(removed as u64);
        removed
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let state = self.state.lock();
        CacheStats {
            entries: state.entries.len(),
            capacity: self.capacity,
            hits: state.hits,
            misses: state.misses,
            evictions: state.evictions,
            expired: state.expired,
        }
    }
}

impl CacheProvider for InMemoryCache {
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>> {
        Box::pin(async move { Ok(self.get(key)) })
    }

    fn write<'a>(
        &'a self,
        key: &'a str,
        value: Payload,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            self.insert(key, value, ttl);
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
        Box::pin(async move { Ok(self.remove(key)) })
    }

    fn delete_matching<'a>(&'a self, pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>> {
        Box::pin(async move { Ok(self.remove_matching(pred)) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(async move {
            self.remove_all();
            Ok(())
        })
    }
}
