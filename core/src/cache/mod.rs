//! Caching of job results: the [`CacheProvider`] trait, a job's [`CachePolicy`], the
//! [`CacheError`] type, and [`InMemoryCache`], a bounded TTL + LRU provider that works in
//! `no_std + alloc`.
//!
//! A provider is injected per dispatcher ([`DispatcherBuilder::cache`](crate::DispatcherBuilder::cache))
//! or per job ([`JobOptions::cache_provider`](crate::JobOptions::cache_provider)); there is
//! no process-wide cache.
//!
//! # How a job with a cache policy runs
//!
//! | policy | cache hit | cache miss |
//! |---|---|---|
//! | stale-while-revalidate (default: `revalidate = true`) | `CacheHit(cached)`, run the worker, `Success(fresh)`, write | run the worker, `Success`, write |
//! | cache-first (`revalidate = false`) | `CacheHit(cached)`, `Success(cached)`; the worker is not called, nothing is written | run the worker, `Success`, write |
//! | force refresh (`force_refresh = true`) | no read, no `CacheHit`: run the worker, `Success`, write | same |
//!
//! The worker's error leaves the cache untouched. Any value can be cached (a miss is `None`, never a special value), and a cache
//! read or write error never turns a good result into a failure: a read error is a miss,
//! a write error is dropped, and both are logged at
//! [`Level::Warning`](crate::log::Level::Warning) and counted in
//! [`DispatcherStats::cache_errors`](crate::DispatcherStats::cache_errors). A cached value
//! of another type than the job's output is a miss. The job's cancellation and timeout
//! race the cache read and write: a provider that hangs cannot hold a job beyond its
//! timeout (a write cut short that way is reported like a write error; the result
//! stands).

use crate::sync::Arc;
use alloc::boxed::Box;
use alloc::string::ToString;
use core::fmt;
use core::time::Duration;

use crate::event::Payload;
use crate::sync::{BoxFuture, MaybeSend, MaybeSync};

mod memory;

pub use memory::{CacheStats, DEFAULT_CAPACITY, InMemoryCache};

/// A predicate over cache keys, as given to [`CacheProvider::delete_matching`]: `Sync`
/// where [`MaybeSync`] means `Sync`.
pub use crate::sync::KeyFilter;

/// What kind of failure a [`CacheError`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheErrorKind {
    /// The storage behind the provider failed (I/O, serialisation, a type it cannot
    /// persist, ...). Made with [`CacheError::backend`].
    Backend,
    /// A cache helper was used, but neither the job nor its dispatcher has a provider.
    NoProvider,
    /// The key was empty.
    EmptyKey,
    /// A cache was asked to hold zero entries.
    ZeroCapacity,
}

/// A cache operation failed. Cheap to clone; carries a kind and a message.
///
/// ```
/// use orchestrator_core::cache::{CacheError, CacheErrorKind};
/// let e = CacheError::backend("disk full");
/// assert_eq!(e.kind(), CacheErrorKind::Backend);
/// assert_eq!(e.to_string(), "cache error: disk full");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CacheError {
    kind: CacheErrorKind,
    message: Arc<str>,
}

impl CacheError {
    /// A failure of the storage behind a provider (what a user's provider returns).
    pub fn backend(message: impl fmt::Display) -> Self {
        Self::new(CacheErrorKind::Backend, message.to_string())
    }

    /// The error of a cache helper used without a provider.
    pub fn no_provider() -> Self {
        Self::new(CacheErrorKind::NoProvider, "no cache provider: give one to the dispatcher or the job")
    }

    /// The error for an empty key.
    pub fn empty_key() -> Self {
        Self::new(CacheErrorKind::EmptyKey, "the cache key is empty")
    }

    /// The error for a cache of zero entries.
    pub fn zero_capacity() -> Self {
        Self::new(CacheErrorKind::ZeroCapacity, "a cache must be able to hold at least one entry")
    }

    fn new(kind: CacheErrorKind, message: impl Into<Arc<str>>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The kind of failure.
    pub fn kind(&self) -> CacheErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache error: {}", self.message)
    }
}

impl fmt::Debug for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheError").field("kind", &self.kind).field("message", &&*self.message).finish()
    }
}

impl core::error::Error for CacheError {}

crate::error::job_error_from!(CacheError);

/// A key/value store for job results. Asynchronous and object-safe, so a user can back it
/// with a database, a file or a remote service; [`InMemoryCache`] is the bundled one.
///
/// Values are [`Payload`]s: shared, type-erased values, so **any** type can be cached and
/// an absent key is `Ok(None)`, never a special value. A provider that persists values
/// downcasts the types it knows how to store ([`Payload::get`]) and refuses the others
/// with [`CacheError::backend`]; the pipeline reports such an error and the job's result
/// stands.
///
/// Expiry: a value written with `ttl = Some(d)` at time `t` may be returned by `read`
/// until (excluding) `t + d`; with `ttl = None` it does not expire (unless the provider
/// has a default TTL). `Some(Duration::MAX)` never expires, even when the clock reads
/// `Duration::MAX` (and a provider's default TTL does not replace it); nor does any
/// `ttl` too large to add to the clock. `Duration::ZERO` is already expired.
///
/// # Example: a provider of your own
///
/// A provider that persists `String` values in some key/value store (here a `BTreeMap`
/// behind a lock, standing in for a database), and refuses every other type:
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use orchestrator_core::cache::{CacheError, CacheProvider, KeyFilter};
/// use orchestrator_core::{BoxFuture, Payload};
///
/// #[derive(Default)]
/// struct StringStore(Mutex<BTreeMap<String, String>>);
///
/// impl StringStore {
///     fn db(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, String>>, CacheError> {
///         self.0.lock().map_err(|_| CacheError::backend("store poisoned"))
///     }
/// }
///
/// impl CacheProvider for StringStore {
///     fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>> {
///         Box::pin(async move { Ok(self.db()?.get(key).cloned().map(Payload::new)) })
///     }
///     fn write<'a>(&'a self, key: &'a str, value: Payload, _ttl: Option<Duration>)
///         -> BoxFuture<'a, Result<(), CacheError>> {
///         Box::pin(async move {
///             // Persist the types we know; refuse the others (the job's result stands).
///             let text = value.get::<String>().ok_or_else(|| CacheError::backend("only strings are stored"))?;
///             self.db()?.insert(key.to_owned(), text.clone());
///             Ok(())
///         })
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
///         Box::pin(async move { Ok(self.db()?.remove(key).is_some()) })
///     }
///     fn delete_matching<'a>(&'a self, pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>> {
///         Box::pin(async move {
///             let mut db = self.db()?;
///             let before = db.len();
///             db.retain(|k, _| !pred(k));
///             Ok(before - db.len())
///         })
///     }
///     fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
///         Box::pin(async move { self.db()?.clear(); Ok(()) })
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let store = StringStore::default();
/// store.write("user:1", Payload::new("Ada".to_string()), None).await.unwrap();
/// assert!(store.write("n", Payload::new(7_u32), None).await.is_err());
/// let hit = store.read("user:1").await.unwrap();
/// assert_eq!(hit.as_ref().and_then(|p| p.get::<String>()).map(String::as_str), Some("Ada"));
/// assert_eq!(store.delete_prefix("user:").await, Ok(1));
/// # });
/// ```
pub trait CacheProvider: MaybeSend + MaybeSync {
    /// The value stored under `key`, or `None` when there is none (or it expired).
    fn read<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>>;

    /// Stores `value` under `key`, replacing any previous value, for `ttl` (`None`: no
    /// expiry of its own).
    fn write<'a>(
        &'a self,
        key: &'a str,
        value: Payload,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Removes `key`; returns whether it was present.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>>;

    /// Removes every key for which `pred` returns `true`; returns how many were removed.
    fn delete_matching<'a>(&'a self, pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>>;

    /// Removes everything.
    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>>;

    /// Removes every key that starts with `prefix` (an empty prefix matches every key);
    /// returns how many were removed. The default goes through
    /// [`delete_matching`](Self::delete_matching).
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<usize, CacheError>> {
        Box::pin(async move {
            let pred = move |key: &str| key.starts_with(prefix);
            self.delete_matching(&pred).await
        })
    }
}

/// How a job uses the cache: the key, the TTL of what it writes, and the strategy.
///
/// * stale-while-revalidate (the default, `revalidate(true)`): a cached value is emitted
///   as `CacheHit`, then the worker runs and its fresh value is emitted and written;
/// * cache-first (`revalidate(false)`): a cached value ends the job (`CacheHit`, then
///   `Success` with it); the worker runs only on a miss;
/// * `force_refresh(true)`: the cache is not read at all; the fresh value is written.
///
/// An empty key or a zero TTL is refused at dispatch
/// ([`DispatchError::EmptyCacheKey`](crate::DispatchError::EmptyCacheKey),
/// [`DispatchError::ZeroCacheTtl`](crate::DispatchError::ZeroCacheTtl)); `Duration::MAX`
/// means no expiry, even once the clock reads `Duration::MAX`.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::cache::CachePolicy;
///
/// let policy = CachePolicy::new("user:7").with_ttl(Duration::from_secs(300)).with_revalidate(false);
/// assert_eq!(policy.key(), "user:7");
/// assert_eq!(policy.ttl(), Some(Duration::from_secs(300)));
/// assert!(!policy.revalidate());
/// assert!(!policy.force_refresh());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CachePolicy {
    key: Arc<str>,
    ttl: Option<Duration>,
    revalidate: bool,
    force_refresh: bool,
}

impl fmt::Debug for CachePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePolicy")
            .field("key", &&*self.key)
            .field("ttl", &self.ttl)
            .field("revalidate", &self.revalidate)
            .field("force_refresh", &self.force_refresh)
            .finish()
    }
}

impl CachePolicy {
    /// Stale-while-revalidate under `key`, with no TTL.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self { key: key.into(), ttl: None, revalidate: true, force_refresh: false }
    }

    /// How long a written value stays valid (`None`: no expiry of its own, so the
    /// provider's default TTL applies; `Duration::MAX`: never expires).
    #[must_use]
    pub fn with_ttl(mut self, ttl: impl Into<Option<Duration>>) -> Self {
        self.ttl = ttl.into();
        self
    }

    /// `true` (default): stale-while-revalidate; `false`: cache-first.
    #[must_use]
    pub fn with_revalidate(mut self, revalidate: bool) -> Self {
        self.revalidate = revalidate;
        self
    }

    /// `true`: skip the read, always run the worker (and still write). Default `false`.
    #[must_use]
    pub fn with_force_refresh(mut self, force_refresh: bool) -> Self {
        self.force_refresh = force_refresh;
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The TTL of written values.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }

    /// Whether a hit is revalidated (stale-while-revalidate) rather than final
    /// (cache-first).
    pub fn revalidate(&self) -> bool {
        self.revalidate
    }

    /// Whether the read is skipped.
    pub fn force_refresh(&self) -> bool {
        self.force_refresh
    }
}

/// The key check of the context helpers: an empty key is an error.
pub(crate) fn check_key(key: &str) -> Result<(), CacheError> {
    if key.is_empty() { Err(CacheError::empty_key()) } else { Ok(()) }
}
