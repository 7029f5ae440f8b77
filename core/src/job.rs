//! Jobs: the [`Job`] trait, process-unique [`JobId`]s, [`JobOptions`] and the fluent
//! [`JobBuilder`].

use crate::sync::Arc;
use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;
use core::time::Duration;

use crate::cache::{CachePolicy, CacheProvider};
use crate::cancel::CancellationToken;
use crate::event::Payload;
use crate::flow_policy::{FlowKey, FlowPolicy, Priority};
use crate::retry::RetryPolicy;
use crate::sync::{MaybeSend, MaybeSync};

/// A unit of work, routed by its type to the [`Executor`](crate::Executor) registered for
/// it.
///
/// ```
/// use orchestrator_core::{Job, JobBuilder, RetryPolicy};
/// use core::time::Duration;
///
/// struct FetchUser { user_id: u64 }
///
/// impl Job for FetchUser {
///     type Output = String;
///     // Optional: defaults for every FetchUser (a JobBuilder can still override them).
///     fn configure(job: JobBuilder<Self>) -> JobBuilder<Self> {
///         job.timeout(Duration::from_secs(10)).retry(RetryPolicy::new())
///     }
/// }
///
/// let job = JobBuilder::new(FetchUser { user_id: 7 });
/// assert_eq!(job.options().timeout(), Some(Duration::from_secs(10)));
/// ```
pub trait Job: MaybeSend + MaybeSync + 'static {
    /// What the job produces. It is cloned once into the Success event when the bus has
    /// subscribers (wrap large values in an `Arc`).
    type Output: Clone + MaybeSend + MaybeSync + 'static;

    /// The defaults every job of this type runs with, set on its [`JobBuilder`] (which a
    /// dispatch can still override). `job.job()` is the job itself, for defaults that
    /// depend on it. Default: none (no timeout, no retry, no token, no placeholder, no
    /// cache).
    fn configure(job: JobBuilder<Self>) -> JobBuilder<Self>
    where
        Self: Sized,
    {
        job
    }
}

/// Metadata of a job with none.
pub(crate) static EMPTY_METADATA: Metadata = Metadata::new();

/// String metadata carried with a job (never read by the library; visible to executors
/// through [`JobContext::metadata`](crate::JobContext::metadata)).
pub type Metadata = BTreeMap<String, String>;

/// A job's flow-control options: its key, its own policy, its lane.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowChoice {
    pub(crate) key: Option<FlowKey>,
    pub(crate) policy: Option<FlowPolicy>,
    pub(crate) priority: Priority,
}

/// How a job runs, as its [`JobBuilder`] set it (read-only): timeout, retry policy,
/// cancellation token, placeholder, cache policy, metadata. All are off by default.
///
/// `timeout` covers the whole job: every attempt and every back-off sleep.
pub struct JobOptions<T = ()> {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) token: Option<CancellationToken>,
    pub(crate) placeholder: Option<Payload>,
    pub(crate) cache: Option<CachePolicy>,
    pub(crate) cache_provider: Option<Arc<dyn CacheProvider>>,
    /// `None` until an entry is added: a job without metadata then has nothing to drop.
    pub(crate) metadata: Option<Arc<Metadata>>,
    pub(crate) id_prefix: Option<&'static str>,
    /// `None` until a key, a policy or a priority is set.
    pub(crate) flow: Option<FlowChoice>,
    _output: core::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for JobOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOptions")
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("token", &self.token)
            .field("has_placeholder", &self.placeholder.is_some())
            .field("cache", &self.cache)
            .field("has_cache_provider", &self.cache_provider.is_some())
            .field("metadata", self.metadata())
            .field("id_prefix", &self.id_prefix)
            .field("flow", &self.flow)
            .finish()
    }
}

impl<T> Clone for JobOptions<T> {
    fn clone(&self) -> Self {
        Self {
            timeout: self.timeout,
            retry: self.retry.clone(),
            token: self.token.clone(),
            placeholder: self.placeholder.clone(),
            cache: self.cache.clone(),
            cache_provider: self.cache_provider.clone(),
            metadata: self.metadata.clone(),
            id_prefix: self.id_prefix,
            flow: self.flow.clone(),
            _output: core::marker::PhantomData,
        }
    }
}

impl<T> Default for JobOptions<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> JobOptions<T> {
    /// No timeout, no retry, no token, no placeholder, no cache, no metadata.
    pub fn new() -> Self {
        Self {
            timeout: None,
            retry: None,
            token: None,
            placeholder: None,
            cache: None,
            cache_provider: None,
            metadata: None,
            id_prefix: None,
            flow: None,
            _output: core::marker::PhantomData,
        }
    }

    /// The deadline of the whole job (all attempts and back-offs), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The retry policy, if any.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The parent cancellation token, if any.
    pub fn cancel_token(&self) -> Option<&CancellationToken> {
        self.token.as_ref()
    }

    /// True when a placeholder is emitted right after `Started`.
    pub fn has_placeholder(&self) -> bool {
        self.placeholder.is_some()
    }

    /// The cache policy, if any.
    pub fn cache(&self) -> Option<&CachePolicy> {
        self.cache.as_ref()
    }

    /// The job's own cache provider, if it has one (else its dispatcher's is used).
    pub fn cache_provider(&self) -> Option<&Arc<dyn CacheProvider>> {
        self.cache_provider.as_ref()
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        self.metadata.as_deref().unwrap_or(&EMPTY_METADATA)
    }

    /// The prefix of the job's [`JobId`](crate::JobId), if set (default: the job type's name).
    pub fn id_prefix(&self) -> Option<&'static str> {
        self.id_prefix
    }

    /// The job's flow-control key, if it has one (else it shares its type's one keyless
    /// key).
    pub fn key(&self) -> Option<&FlowKey> {
        self.flow.as_ref().and_then(|flow| flow.key.as_ref())
    }

    /// The job's own flow policy, if set (else its type's applies, if any).
    pub fn flow(&self) -> Option<&FlowPolicy> {
        self.flow.as_ref().and_then(|flow| flow.policy.as_ref())
    }

    /// The job's lane when it waits for a concurrency permit.
    pub fn priority(&self) -> Priority {
        self.flow.as_ref().map_or(Priority::Normal, |flow| flow.priority)
    }

    /// True when the job has none of the options that change how it runs (timeout,
    /// retry, placeholder, cache): it runs the dispatcher's plain pipeline.
    pub(crate) fn is_plain(&self) -> bool {
        self.timeout.is_none() && self.retry.is_none() && self.placeholder.is_none() && self.cache.is_none()
    }
}

/// A job and the options it runs with: the one way to configure a job. Starts from the
/// job type's own defaults ([`Job::configure`]) and overrides what you set. Dispatch it
/// as it is (it is an [`IntoJob`]): it routes to the executor of the job type `J`.
///
/// ```
/// use orchestrator_core::{Job, JobBuilder, RetryPolicy, CancellationToken};
/// use core::time::Duration;
///
/// struct FetchUser(u64);
/// impl Job for FetchUser { type Output = String; }
///
/// let token = CancellationToken::new();
/// let job = JobBuilder::new(FetchUser(7))
///     .timeout(Duration::from_secs(30))
///     .retry(RetryPolicy::new().with_max_retries(3))
///     .cancel_token(token.clone())
///     .placeholder("loading…".to_string())
///     .metadata([("screen", "profile")]);
/// assert_eq!(job.options().timeout(), Some(Duration::from_secs(30)));
/// assert_eq!(job.options().metadata()["screen"], "profile");
/// // dispatcher.dispatch(job) runs it on FetchUser's executor.
/// ```
#[must_use]
pub struct JobBuilder<J: Job> {
    job: J,
    options: JobOptions<J::Output>,
}

impl<J: Job> fmt::Debug for JobBuilder<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobBuilder").field("job", &short_type_name::<J>()).field("options", &self.options).finish()
    }
}

impl<J: Job> JobBuilder<J> {
    /// Starts from `job` and its type's defaults ([`Job::configure`]).
    pub fn new(job: J) -> Self {
        J::configure(Self { job, options: JobOptions::new() })
    }

    /// The job.
    pub fn job(&self) -> &J {
        &self.job
    }

    /// The options it will run with.
    pub fn options(&self) -> &JobOptions<J::Output> {
        &self.options
    }

    /// Splits into the job and its options.
    pub fn into_parts(self) -> (J, JobOptions<J::Output>) {
        (self.job, self.options)
    }

    /// A deadline for the whole job (all attempts and back-offs). `Duration::ZERO` is
    /// refused at dispatch ([`DispatchError::ZeroTimeout`](crate::DispatchError::ZeroTimeout));
    /// `Duration::MAX` means no deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }
    /// Removes any timeout.
    pub fn no_timeout(mut self) -> Self {
        self.options.timeout = None;
        self
    }
    /// Retries failed attempts with this policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }
    /// Removes any retry policy.
    pub fn no_retry(mut self) -> Self {
        self.options.retry = None;
        self
    }
    /// Cancels the job when this token is cancelled (the job gets a child of it). The
    /// token may be shared by many jobs.
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.options.token = Some(token);
        self
    }
    /// Attaches a new token and returns it with the builder.
    pub fn new_cancel_token(self) -> (Self, CancellationToken) {
        let token = CancellationToken::new();
        (self.cancel_token(token.clone()), token)
    }
    /// Emits this value as a `Placeholder` event right after `Started`.
    pub fn placeholder(mut self, value: J::Output) -> Self {
        self.options.placeholder = Some(Payload::new(value));
        self
    }
    /// Caches the job's result under `key`, written values valid for `ttl` (a
    /// [`Duration`], `Duration::MAX` for ever, or `None` for no expiry of their own),
    /// stale-while-revalidate unless [`revalidate(false)`](Self::revalidate). Replaces
    /// any previous cache policy. The job needs a provider: its own
    /// ([`cache_provider`](Self::cache_provider)) or its dispatcher's; without one,
    /// dispatch fails with [`DispatchError::NoCacheProvider`](crate::DispatchError::NoCacheProvider).
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::{Job, JobBuilder};
    ///
    /// struct FetchUser(u64);
    /// impl Job for FetchUser { type Output = String; }
    ///
    /// let job = JobBuilder::new(FetchUser(7))
    ///     .cache("user:7", Duration::from_secs(300))
    ///     .revalidate(false) // cache-first
    ///     .placeholder("loading…".to_string());
    /// let policy = job.options().cache().unwrap();
    /// assert_eq!((policy.key(), policy.revalidate()), ("user:7", false));
    /// ```
    pub fn cache(self, key: impl Into<Arc<str>>, ttl: impl Into<Option<Duration>>) -> Self {
        self.cache_policy(CachePolicy::new(key).with_ttl(ttl))
    }
    /// Caches the job's result with this policy (see [`CachePolicy`] for the strategies).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.options.cache = Some(policy);
        self
    }
    /// `true`: stale-while-revalidate (the default); `false`: cache-first. Changes the cache
    /// policy set before (by [`cache`](Self::cache) or the job type's defaults); without
    /// one it does nothing.
    pub fn revalidate(mut self, revalidate: bool) -> Self {
        self.options.cache = self.options.cache.map(|p| p.with_revalidate(revalidate));
        self
    }
    /// `true`: skip the cache read, always run the worker, still write. Changes the cache
    /// policy set before; without one it does nothing.
    pub fn force_refresh(mut self, force_refresh: bool) -> Self {
        self.options.cache = self.options.cache.map(|p| p.with_force_refresh(force_refresh));
        self
    }
    /// Removes any cache policy.
    pub fn no_cache(mut self) -> Self {
        self.options.cache = None;
        self
    }
    /// The cache provider of this job, instead of its dispatcher's (used by its cache
    /// policy and its context's cache helpers).
    pub fn cache_provider(mut self, provider: Arc<dyn CacheProvider>) -> Self {
        self.options.cache_provider = Some(provider);
        self
    }
    /// Adds metadata entries (later keys win).
    pub fn metadata<K: Into<String>, V: Into<String>>(mut self, entries: impl IntoIterator<Item = (K, V)>) -> Self {
        let metadata = Arc::make_mut(self.options.metadata.get_or_insert_with(Default::default));
        metadata.extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        if metadata.is_empty() {
            self.options.metadata = None;
        }
        self
    }
    /// The prefix of the job's [`JobId`](crate::JobId) (default: the job type's name).
    pub fn id_prefix(mut self, prefix: &'static str) -> Self {
        self.options.id_prefix = Some(prefix);
        self
    }
    /// The key that identifies "the same job" for flow control (see [`FlowPolicy`]): a
    /// string or a number. Without one, the job shares one key with every keyless job of
    /// its type.
    ///
    /// ```
    /// use orchestrator_core::{FlowPolicy, Job, JobBuilder};
    ///
    /// struct FetchUser(u64);
    /// impl Job for FetchUser {
    ///     type Output = String;
    ///     // Every FetchUser of one user joins the one in flight.
    ///     fn configure(job: JobBuilder<Self>) -> JobBuilder<Self> {
    ///         let user = job.job().0;
    ///         job.key(user).flow(FlowPolicy::join())
    ///     }
    /// }
    /// let job = JobBuilder::new(FetchUser(7));
    /// assert_eq!(job.options().key().map(ToString::to_string).as_deref(), Some("7"));
    /// ```
    pub fn key(mut self, key: impl Into<FlowKey>) -> Self {
        self.options.flow.get_or_insert_with(Default::default).key = Some(key.into());
        self
    }
    /// The flow policy of this dispatch (replacing its type's, if any): what happens when
    /// a job with its key is in flight, and any debounce or throttle. A combination that
    /// is not allowed is refused at dispatch with
    /// [`DispatchError::FlowConflict`](crate::DispatchError::FlowConflict).
    pub fn flow(mut self, policy: FlowPolicy) -> Self {
        self.options.flow.get_or_insert_with(Default::default).policy = Some(policy);
        self
    }
    /// The job's lane when it waits for a concurrency permit (default
    /// [`Priority::Normal`]).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.options.flow.get_or_insert_with(Default::default).priority = priority;
        self
    }
}

/// Anything a dispatcher accepts: a plain [`Job`] (run with its type's defaults,
/// [`Job::configure`]) or a [`JobBuilder`]. Both route to the executor of the job type.
pub trait IntoJob {
    /// The job type, which selects the executor.
    type Job: Job;
    /// The job and the options it runs with.
    fn into_job(self) -> (Self::Job, JobOptions<<Self::Job as Job>::Output>);
}

impl<J: Job> IntoJob for J {
    type Job = J;
    fn into_job(self) -> (J, JobOptions<J::Output>) {
        JobBuilder::new(self).into_parts()
    }
}

impl<J: Job> IntoJob for JobBuilder<J> {
    type Job = J;
    fn into_job(self) -> (J, JobOptions<J::Output>) {
        self.into_parts()
    }
}

/// The short name of a type: `my_app::jobs::FetchUser<T>` → `FetchUser`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = core::any::type_name::<T>();
    // Single-character searches: a `&str` pattern pulls in a substring searcher (about a
    // kilobyte of flash on a microcontroller) for one call per job type.
    let base = full.find('<').and_then(|generics| full.get(..generics)).unwrap_or(full);
    base.rfind(':').and_then(|colon| base.get(colon + 1..)).unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_names_drop_paths_and_generics() {
        assert_eq!(short_type_name::<u8>(), "u8");
        assert_eq!(short_type_name::<alloc::vec::Vec<alloc::string::String>>(), "Vec");
        assert_eq!(short_type_name::<core::time::Duration>(), "Duration");
        assert_eq!(short_type_name::<[u8]>(), "[u8]");
    }
}
