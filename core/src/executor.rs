//! Executors: the business logic of one job type, and the [`JobContext`] they report
//! through.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicU32, Ordering};
use core::any::TypeId;
use core::fmt;
use core::future::Future;
use core::time::Duration;

use crate::bus::{Bus, BusClosed};
use crate::cache::{CacheError, CacheProvider, check_key};
use crate::cancel::CancellationToken;
use crate::error::JobError;
use crate::event::{Event, EventKind, Payload, Progress};
use crate::handle::ErasedSlot;
use crate::job::{Job, Metadata};
use crate::job_env::JobEnv;
use crate::job_id::JobId;
use crate::sync::{MaybeSend, MaybeSync};

/// Runs jobs of type `J`. One executor value serves every job of its type, concurrently.
///
/// The returned future may borrow the executor, the job and the context. It is dropped
/// (not merely abandoned) when the job is cancelled or times out, so `Drop` guards inside
/// it run.
///
/// ```
/// use orchestrator_core::{Executor, Job, JobContext, JobError};
///
/// struct Add(u32, u32);
/// impl Job for Add { type Output = u32; }
///
/// struct Adder;
/// impl Executor<Add> for Adder {
///     async fn process(&self, job: &Add, ctx: &JobContext) -> Result<u32, JobError> {
///         let _ = ctx.progress(0.5);
///         job.0.checked_add(job.1).ok_or_else(|| JobError::msg("overflow"))
///     }
/// }
/// ```
pub trait Executor<J: Job>: MaybeSend + MaybeSync + 'static {
    /// Does the work of one attempt. Return `Err` to fail the attempt (it is retried when
    /// the job has a retry policy that allows it).
    fn process(&self, job: &J, ctx: &JobContext) -> impl Future<Output = Result<J::Output, JobError>> + MaybeSend;
}

/// An [`Executor`] made from a closure that takes an owned clone of the job and of the
/// context. Convenient for tests and small programs.
///
/// ```
/// use orchestrator_core::{executor_fn, Job, JobError};
///
/// #[derive(Clone)]
/// struct Double(u32);
/// impl Job for Double { type Output = u32; }
///
/// let exec = executor_fn(|job: Double, _ctx| async move { Ok::<_, JobError>(job.0 * 2) });
/// # let _ = exec;
/// ```
pub fn executor_fn<J, F, Fut>(f: F) -> FnExecutor<F>
where
    J: Job + Clone + MaybeSync,
    F: Fn(J, JobContext) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Result<J::Output, JobError>> + MaybeSend,
{
    FnExecutor(f)
}

/// See [`executor_fn`].
#[derive(Clone, Copy)]
pub struct FnExecutor<F>(F);

impl<F> fmt::Debug for FnExecutor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnExecutor(..)")
    }
}

impl<J, F, Fut> Executor<J> for FnExecutor<F>
where
    J: Job + Clone + MaybeSync,
    F: Fn(J, JobContext) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Result<J::Output, JobError>> + MaybeSend,
{
    fn process(&self, job: &J, ctx: &JobContext) -> impl Future<Output = Result<J::Output, JobError>> + MaybeSend {
        (self.0)(job.clone(), ctx.clone())
    }
}

/// Bad progress input. Nothing is emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ProgressError {
    /// The progress value was NaN.
    NotANumber,
    /// `step` was greater than `total`.
    StepOutOfRange {
        /// The step given.
        step: u32,
        /// The total given.
        total: u32,
    },
    /// `total` was zero.
    ZeroTotal,
    /// The bus is closed; nobody can see the report (the job goes on).
    BusClosed,
    /// The job has already ended (its terminal event is out): a context kept past the
    /// job's end cannot report for it any more. Nothing is emitted.
    JobEnded,
}

impl fmt::Display for ProgressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber => f.write_str("progress is NaN"),
            Self::StepOutOfRange { step, total } => write!(f, "step {step} is greater than total {total}"),
            Self::ZeroTotal => f.write_str("total number of steps is zero"),
            Self::BusClosed => f.write_str("the bus is closed"),
            Self::JobEnded => f.write_str("the job has already ended"),
        }
    }
}

impl core::error::Error for ProgressError {}

crate::error::job_error_from!(ProgressError, EmitError);

impl From<BusClosed> for ProgressError {
    fn from(_: BusClosed) -> Self {
        Self::BusClosed
    }
}

/// Why [`JobContext::emit`] emitted nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The bus is closed; nobody can see the event (the job goes on).
    BusClosed,
    /// The job has already ended (its terminal event is out): a context kept past the
    /// job's end cannot emit for it any more.
    JobEnded,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusClosed => f.write_str("the bus is closed"),
            Self::JobEnded => f.write_str("the job has already ended"),
        }
    }
}

impl core::error::Error for EmitError {}

impl From<BusClosed> for EmitError {
    fn from(_: BusClosed) -> Self {
        Self::BusClosed
    }
}

/// What an executor knows about the job it runs, and how it reports: progress, steps,
/// custom events, the cancellation token, the cache.
pub struct JobContext {
    pub(crate) id: JobId,
    pub(crate) job_type: &'static str,
    pub(crate) job_type_id: TypeId,
    /// What every job of the dispatcher shares (its bus, timer, logger, counters, cache).
    pub(crate) env: Arc<JobEnv>,
    /// A scoped bus the job's events go to instead of the dispatcher's.
    pub(crate) bus: Option<Bus>,
    /// The job's slot, for its (lazily created) cancellation token.
    pub(crate) cancel: Arc<dyn ErasedSlot>,
    /// What few jobs have: metadata, a cache provider of their own. One pointer, so that
    /// the context (part of every job's future) stays small.
    pub(crate) extras: Option<Arc<ContextExtras>>,
    pub(crate) attempt: AtomicU32,
    /// Its type's metrics, when they are on.
    pub(crate) probe: crate::job_metrics::Probe,
    /// The job's span (see `pipeline::job_span`).
    #[cfg(feature = "tracing")]
    pub(crate) span: tracing::Span,
}

/// The parts of a [`JobContext`] that few jobs have.
pub(crate) struct ContextExtras {
    pub(crate) metadata: Option<Arc<Metadata>>,
    /// The job's own cache provider (else the dispatcher's).
    pub(crate) cache: Option<Arc<dyn CacheProvider>>,
}

impl ContextExtras {
    /// `None` when the job has neither.
    pub(crate) fn new(metadata: Option<Arc<Metadata>>, cache: Option<Arc<dyn CacheProvider>>) -> Option<Arc<Self>> {
        (metadata.is_some() || cache.is_some()).then(|| Arc::new(Self { metadata, cache }))
    }
}

impl Clone for JobContext {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            job_type: self.job_type,
            job_type_id: self.job_type_id,
            env: self.env.clone(),
            bus: self.bus.clone(),
            cancel: self.cancel.clone(),
            extras: self.extras.clone(),
            attempt: AtomicU32::new(self.attempt()),
            probe: self.probe.clone(),
            #[cfg(feature = "tracing")]
            span: self.span.clone(),
        }
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id)
            .field("job_type", &self.job_type)
            .field("attempt", &self.attempt())
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// The job's `tracing` span (`job`, with `job_id`, `job_type`, `attempt` and
    /// `outcome`): a child of the span current at dispatch, entered whenever the job's
    /// future is polled. Enter it (or use it as a parent) in work the executor hands
    /// elsewhere, such as a spawned task.
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher, Job, JobContext, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Ping;
    /// impl Job for Ping { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|_: Ping, ctx: JobContext| async move {
    ///     // Work moved off the job's future keeps its job_id by entering the span.
    ///     let span = ctx.span().clone();
    ///     std::thread::spawn(move || span.in_scope(|| tracing::info!("off the job's task"))).join().ok();
    ///     Ok(())
    /// }));
    /// let handle = dispatcher.dispatch(Ping).unwrap();
    /// dispatcher.shutdown();
    /// let (result, ()) = futures::executor::block_on(async { futures::join!(handle, dispatcher.runner()) });
    /// assert!(result.is_success());
    /// ```
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// The job type's name.
    pub fn job_type(&self) -> &'static str {
        self.job_type
    }

    /// The bus the job's events go to.
    pub fn bus(&self) -> &Bus {
        self.bus.as_ref().unwrap_or(&self.env.bus)
    }

    /// The job's cancellation token (a child of the token given in its options, if any;
    /// a clone: tokens are shared handles). Long synchronous work can poll
    /// [`is_cancelled`](Self::is_cancelled); async work is dropped on cancellation anyway.
    /// A job without a parent token creates its token on first use.
    pub fn token(&self) -> CancellationToken {
        self.cancel.token().get()
    }

    /// True once the job is cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.token().is_cancelled()
    }

    /// The job's metadata.
    pub fn metadata(&self) -> &Metadata {
        self.extras.as_ref().and_then(|e| e.metadata.as_deref()).unwrap_or(&crate::job::EMPTY_METADATA)
    }

    /// The current attempt, 0-based (0 is the first try, 1 the first retry, ...).
    pub fn attempt(&self) -> u32 {
        self.attempt.load(Ordering::Relaxed)
    }

    /// An event of this job, stamped with the time on the dispatcher's clock.
    fn event(&self, kind: EventKind) -> Event {
        let now = self.env.timer.as_ref().map_or(Duration::ZERO, |timer| timer.now());
        Event::new(self.id, self.job_type, Some(self.job_type_id), kind).at(now)
    }

    pub(crate) fn emit_kind(&self, make: impl FnOnce() -> EventKind) -> Result<usize, BusClosed> {
        self.bus().emit_with(|| self.event(make()))
    }

    /// Emits the job's one terminal event: closes its reports first (a late report can no
    /// longer follow it), and records that it went out even if the bus was closed.
    #[inline]
    pub(crate) fn emit_terminal(&self, make: impl FnOnce() -> EventKind) {
        let gate = self.cancel.gate();
        gate.close();
        let _ = self.emit_kind(make);
        gate.set_terminal_sent();
    }

    /// Emits a report of the executor's (progress, a custom event) unless the job ended.
    fn emit_report(&self, make: impl FnOnce() -> EventKind) -> Result<usize, EmitError> {
        let _in_flight = self.cancel.gate().enter().ok_or(EmitError::JobEnded)?;
        Ok(self.emit_kind(make)?)
    }

    /// Reports progress. Values below 0 or above 1 are clamped into `0.0..=1.0`.
    ///
    /// # Errors
    ///
    /// [`ProgressError::NotANumber`] for NaN (nothing is emitted);
    /// [`ProgressError::BusClosed`] when nobody can receive it;
    /// [`ProgressError::JobEnded`] once the job's terminal event is out (a context kept
    /// past the job's end): nothing is emitted.
    pub fn progress(&self, progress: f64) -> Result<(), ProgressError> {
        self.report(progress, None, None, None)
    }

    /// Reports progress with a message. See [`progress`](Self::progress).
    ///
    /// # Errors
    ///
    /// As [`progress`](Self::progress).
    pub fn progress_with(&self, progress: f64, message: impl Into<Arc<str>>) -> Result<(), ProgressError> {
        self.report(progress, Some(message.into()), None, None)
    }

    /// Reports step `step` of `total` (progress `step / total`).
    ///
    /// # Errors
    ///
    /// [`ProgressError::ZeroTotal`] when `total == 0`, [`ProgressError::StepOutOfRange`]
    /// when `step > total` (nothing is emitted), [`ProgressError::BusClosed`].
    pub fn step(&self, step: u32, total: u32, message: Option<&str>) -> Result<(), ProgressError> {
        if total == 0 {
            return Err(ProgressError::ZeroTotal);
        }
        if step > total {
            return Err(ProgressError::StepOutOfRange { step, total });
        }
        let fraction = f64::from(step) / f64::from(total);
        self.report(fraction, message.map(Arc::from), Some(step), Some(total))
    }

    fn report(
        &self,
        progress: f64,
        message: Option<Arc<str>>,
        step: Option<u32>,
        total: Option<u32>,
    ) -> Result<(), ProgressError> {
        if progress.is_nan() {
            return Err(ProgressError::NotANumber);
        }
        let progress = progress.clamp(0.0, 1.0);
        match self.emit_report(|| EventKind::Progress(Progress { progress, message, step, total })) {
            Ok(_) => Ok(()),
            Err(EmitError::JobEnded) => Err(ProgressError::JobEnded),
            Err(EmitError::BusClosed) => Err(ProgressError::BusClosed),
        }
    }

    /// Emits a custom event correlated with this job. Returns the number of subscribers
    /// reached.
    ///
    /// ```
    /// use orchestrator_core::{executor_fn, Dispatcher, EmitError, Job, JobContext, JobError};
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone)]
    /// struct Work;
    /// impl Job for Work { type Output = (); }
    ///
    /// let kept: Arc<Mutex<Option<JobContext>>> = Arc::default();
    /// let keep = kept.clone();
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(move |_: Work, ctx: JobContext| {
    ///     let keep = keep.clone();
    ///     async move {
    ///         ctx.emit("halfway", 50_u8)?;            // reported with the job's id
    ///         *keep.lock().unwrap() = Some(ctx);      // kept past the job's end
    ///         Ok::<_, JobError>(())
    ///     }
    /// }));
    /// let handle = dispatcher.dispatch(Work).unwrap();
    /// dispatcher.shutdown();
    /// futures::executor::block_on(async { futures::join!(handle, dispatcher.runner()) });
    /// let late = kept.lock().unwrap().take().unwrap();
    /// assert_eq!(late.emit("too late", ()), Err(EmitError::JobEnded)); // nothing emitted
    /// ```
    ///
    /// # Errors
    ///
    /// [`EmitError::BusClosed`] when the bus is closed, [`EmitError::JobEnded`] once the
    /// job's terminal event is out. Nothing is emitted then.
    pub fn emit<T: core::any::Any + MaybeSend + MaybeSync>(
        &self,
        name: &'static str,
        data: T,
    ) -> Result<usize, EmitError> {
        self.emit_report(|| EventKind::Custom { name, data: Payload::new(data) })
    }

    /// The cache provider the job uses (its own, else its dispatcher's), if any.
    pub fn cache(&self) -> Option<&Arc<dyn CacheProvider>> {
        self.extras.as_ref().and_then(|e| e.cache.as_ref()).or(self.env.cache.as_ref())
    }

    fn provider(&self) -> Result<&dyn CacheProvider, CacheError> {
        self.cache().map(|c| &**c).ok_or_else(CacheError::no_provider)
    }

    /// Removes `key` from the cache; returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::NoProvider`](crate::cache::CacheErrorKind::NoProvider),
    /// [`CacheErrorKind::EmptyKey`](crate::cache::CacheErrorKind::EmptyKey), or the
    /// provider's error.
    pub async fn invalidate(&self, key: &str) -> Result<bool, CacheError> {
        check_key(key)?;
        self.provider()?.delete(key).await
    }

    /// Removes every key starting with `prefix` (an empty prefix removes everything);
    /// returns how many.
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::NoProvider`](crate::cache::CacheErrorKind::NoProvider), or the
    /// provider's error.
    pub async fn invalidate_prefix(&self, prefix: &str) -> Result<usize, CacheError> {
        self.provider()?.delete_prefix(prefix).await
    }

    /// Removes every key for which `pred` returns `true`; returns how many.
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::NoProvider`](crate::cache::CacheErrorKind::NoProvider), or the
    /// provider's error.
    pub async fn invalidate_matching(
        &self,
        pred: impl Fn(&str) -> bool + MaybeSend + MaybeSync,
    ) -> Result<usize, CacheError> {
        let provider = self.provider()?;
        provider.delete_matching(&pred).await
    }

    /// The value cached under `key`, if there is one **of type `T`** (a value of another
    /// type is `Ok(None)`, like a miss).
    ///
    /// ```
    /// use orchestrator_core::{Executor, Job, JobContext, JobError};
    ///
    /// struct Profile(u64);
    /// impl Job for Profile { type Output = String; }
    ///
    /// struct ProfileExec;
    /// impl Executor<Profile> for ProfileExec {
    ///     async fn process(&self, job: &Profile, ctx: &JobContext) -> Result<String, JobError> {
    ///         let key = format!("name:{}", job.0);
    ///         if let Some(name) = ctx.read_cache::<String>(&key).await? {
    ///             return Ok(name);
    ///         }
    ///         let name = format!("user #{}", job.0); // the expensive part
    ///         ctx.write_cache(&key, name.clone(), None).await?;
    ///         ctx.invalidate_prefix("search:").await?; // derived data is stale now
    ///         Ok(name)
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::NoProvider`](crate::cache::CacheErrorKind::NoProvider),
    /// [`CacheErrorKind::EmptyKey`](crate::cache::CacheErrorKind::EmptyKey), or the
    /// provider's error.
    pub async fn read_cache<T: Clone + core::any::Any>(&self, key: &str) -> Result<Option<T>, CacheError> {
        check_key(key)?;
        let value = self.provider()?.read(key).await?;
        Ok(value.and_then(|p| p.get::<T>().cloned()))
    }

    /// Writes `value` under `key` for `ttl` (`None`: no expiry of its own;
    /// `Some(Duration::MAX)`: never expires; see the provider for a zero TTL).
    ///
    /// # Errors
    ///
    /// [`CacheErrorKind::NoProvider`](crate::cache::CacheErrorKind::NoProvider),
    /// [`CacheErrorKind::EmptyKey`](crate::cache::CacheErrorKind::EmptyKey), or the
    /// provider's error.
    pub async fn write_cache<T: core::any::Any + MaybeSend + MaybeSync>(
        &self,
        key: &str,
        value: T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        check_key(key)?;
        self.provider()?.write(key, Payload::new(value), ttl).await
    }
}
