//! Error types: [`JobError`] (what an executor returns) and [`DispatchError`] (why a job
//! could not be dispatched).

use crate::sync::Arc;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::fmt;

pub use crate::sync::DynError;

/// What kind of failure a [`JobError`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum JobErrorKind {
    /// The executor returned an error.
    Failed,
    /// The executor panicked (caught with the `std` feature); the message is the panic's.
    Panicked,
    /// The executor returned an error that the job's [`RetryPolicy`](crate::RetryPolicy)
    /// would have retried, but the [`RetryBudget`](crate::RetryBudget) refused the retry.
    /// The message and the source are those of that last error, which
    /// [`JobError::cause`] returns.
    RetryBudgetExhausted,
}

/// The error of a failed job: cheap to clone (shared), carries a message and optionally
/// the original error, which can be downcast.
///
/// It is a [`core::error::Error`], so the outcome of a job goes into any error type with
/// `?`: `result.into_result()?` works in a function returning
/// `Result<_, Box<dyn Error + Send + Sync>>`, `anyhow::Result` or your own error enum
/// (with a `#[from] JobError` field, say). Its [`source`](core::error::Error::source)
/// chain holds what it wraps: for [`JobErrorKind::RetryBudgetExhausted`] the last
/// attempt's error (its [`cause`](Self::cause)), else the error given to
/// [`new`](Self::new), then that error's own sources. (The message of a wrapped error is
/// also the `JobError`'s message, so a printer of the whole chain shows it twice.)
///
/// Inside an executor, `?` converts the crate's own errors (a [`CacheError`](crate::cache::CacheError),
/// an [`EmitError`](crate::EmitError), a [`DispatchError`], ...), boxed errors, strings
/// and other `JobError`s. Wrap any other error with [`JobError::new`]
/// (`.map_err(JobError::new)?`), or implement `From<YourError> for JobError` once for
/// your own error type. (A blanket `From` for every error type cannot exist next to
/// `impl Error for JobError`: it would include `From<JobError> for JobError`.)
///
/// ```
/// use orchestrator_core::JobError;
///
/// #[derive(Debug)]
/// struct NotFound;
/// impl core::fmt::Display for NotFound {
///     fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result { f.write_str("not found") }
/// }
/// impl core::error::Error for NotFound {}
///
/// let e = JobError::new(NotFound);
/// assert!(e.is::<NotFound>());
/// assert_eq!(e.to_string(), "not found");
/// assert_eq!(JobError::msg("boom").to_string(), "boom");
///
/// // A job's outcome goes into any error type with `?` (`+ Send + Sync` too, where the
/// // crate's types are `Send`: everywhere but WASM).
/// fn outcome(e: JobError) -> Result<(), Box<dyn std::error::Error>> {
///     Err(e)?
/// }
/// let boxed = outcome(e).unwrap_err();
/// let back = boxed.downcast_ref::<JobError>().unwrap();
/// assert!(back.is::<NotFound>());
/// assert!(std::error::Error::source(back).is_some_and(|s| s.is::<NotFound>()));
/// ```
#[derive(Clone)]
pub struct JobError {
    inner: Arc<Inner>,
}

struct Inner {
    kind: JobErrorKind,
    message: String,
    source: Option<Box<DynError>>,
    /// The error this one stands for (see [`JobError::cause`]).
    cause: Option<JobError>,
}

impl JobError {
    /// An error with just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::with_kind(JobErrorKind::Failed, message.to_string(), None)
    }

    /// Wraps an error; its `Display` becomes the message and it stays downcastable
    /// ([`downcast_ref`](Self::downcast_ref), and the [`source`](core::error::Error::source)
    /// chain). A `JobError` (also a boxed one) is returned as it is, not wrapped again.
    ///
    /// ```
    /// use orchestrator_core::{JobError, JobErrorKind};
    ///
    /// let io = std::io::Error::other("disk full");
    /// let e = JobError::new(io);
    /// assert_eq!(e.message(), "disk full");
    /// assert!(e.is::<std::io::Error>());
    ///
    /// let panic = JobError::panicked("oops");
    /// assert!(JobError::new(panic.clone()).ptr_eq(&panic)); // not wrapped twice
    /// ```
    pub fn new<E>(error: E) -> Self
    where
        E: Into<Box<DynError>>,
    {
        let boxed: Box<DynError> = error.into();
        match boxed.downcast::<JobError>() {
            Ok(job_error) => *job_error,
            Err(boxed) => Self::with_kind(JobErrorKind::Failed, boxed.to_string(), Some(boxed)),
        }
    }

    /// The error for an executor that panicked with `message`.
    pub fn panicked(message: impl fmt::Display) -> Self {
        Self::with_kind(JobErrorKind::Panicked, message.to_string(), None)
    }

    /// The error of a job that gave up because its [`RetryBudget`](crate::RetryBudget)
    /// refused a retry: of kind [`JobErrorKind::RetryBudgetExhausted`], with `last`'s
    /// message and source, and `last` as its [`cause`](Self::cause).
    ///
    /// ```
    /// use orchestrator_core::{JobError, JobErrorKind};
    ///
    /// #[derive(Debug)]
    /// struct Unavailable;
    /// impl core::fmt::Display for Unavailable {
    ///     fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result { f.write_str("503") }
    /// }
    /// impl core::error::Error for Unavailable {}
    ///
    /// let last = JobError::new(Unavailable);
    /// let e = JobError::retry_budget_exhausted(last.clone());
    /// assert_eq!(e.kind(), JobErrorKind::RetryBudgetExhausted);
    /// assert_eq!(e.message(), "503");
    /// assert!(e.is::<Unavailable>()); // the last error's source, still downcastable
    /// assert!(e.cause().is_some_and(|c| c.ptr_eq(&last)));
    /// assert!(last.cause().is_none());
    /// ```
    pub fn retry_budget_exhausted(last: JobError) -> Self {
        let message = last.inner.message.clone();
        Self {
            inner: Arc::new(Inner {
                kind: JobErrorKind::RetryBudgetExhausted,
                message,
                source: None,
                cause: Some(last),
            }),
        }
    }

    /// An error rebuilt from its serialized parts (`serde`): no wrapped source.
    #[cfg(feature = "serde")]
    pub(crate) fn from_parts(kind: JobErrorKind, message: String, cause: Option<JobError>) -> Self {
        Self { inner: Arc::new(Inner { kind, message, source: None, cause }) }
    }

    fn with_kind(kind: JobErrorKind, message: String, source: Option<Box<DynError>>) -> Self {
        Self { inner: Arc::new(Inner { kind, message, source, cause: None }) }
    }

    /// The kind of failure.
    pub fn kind(&self) -> JobErrorKind {
        self.inner.kind
    }

    /// True when the executor panicked.
    pub fn is_panic(&self) -> bool {
        self.inner.kind == JobErrorKind::Panicked
    }

    /// The message (the wrapped error's `Display`, or the text given to [`JobError::msg`]).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The wrapped error, if there is one (for an error with a [`cause`](Self::cause),
    /// the cause's).
    pub fn source(&self) -> Option<&DynError> {
        match &self.inner.cause {
            Some(cause) => cause.source(),
            None => self.inner.source.as_deref(),
        }
    }

    /// The wrapped error as an `E`, if it is one.
    pub fn downcast_ref<E: core::error::Error + 'static>(&self) -> Option<&E> {
        let source: &(dyn core::error::Error + 'static) = self.source()?;
        source.downcast_ref::<E>()
    }

    /// The error this one stands for: for [`JobErrorKind::RetryBudgetExhausted`], the
    /// last attempt's error, as the executor returned it. `None` for the other kinds.
    pub fn cause(&self) -> Option<&JobError> {
        self.inner.cause.as_ref()
    }

    /// True when the wrapped error is an `E`.
    pub fn is<E: core::error::Error + 'static>(&self) -> bool {
        self.downcast_ref::<E>().is_some()
    }

    /// True when both values are clones of one error.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// The source chain: the last attempt's error for
/// [`JobErrorKind::RetryBudgetExhausted`] (its [`cause`](JobError::cause)), else the
/// wrapped error, if any.
impl core::error::Error for JobError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match &self.inner.cause {
            Some(cause) => Some(cause),
            None => self.inner.source.as_deref().map(|source| source as &(dyn core::error::Error + 'static)),
        }
    }
}

/// `?` on the crate's own errors inside an executor: implements `From<$error> for
/// JobError` (wrapping, so the error stays downcastable). Other error types go through
/// [`JobError::new`] (see [`JobError`] for why there is no blanket conversion).
macro_rules! job_error_from {
    ($($error:ty),+ $(,)?) => {
        $(
            impl From<$error> for $crate::error::JobError {
                fn from(error: $error) -> Self {
                    $crate::error::JobError::new(error)
                }
            }
        )+
    };
}
pub(crate) use job_error_from;

job_error_from!(DispatchError);

/// A boxed error (what `anyhow::Error` and tower's `BoxError` convert into) becomes the
/// wrapped error; a boxed `JobError` comes back as itself.
impl From<Box<DynError>> for JobError {
    fn from(error: Box<DynError>) -> Self {
        Self::new(error)
    }
}

/// An error with just this message, like [`JobError::msg`].
impl From<String> for JobError {
    fn from(message: String) -> Self {
        Self::with_kind(JobErrorKind::Failed, message, None)
    }
}

/// An error with just this message, like [`JobError::msg`].
impl From<&str> for JobError {
    fn from(message: &str) -> Self {
        Self::msg(message)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobError")
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("has_source", &self.source().is_some())
            .field("cause", &self.inner.cause)
            .finish()
    }
}

/// Two errors are equal when they have the same kind and the same message (wrapped
/// sources cannot be compared and are ignored). This lets states holding errors, such as
/// [`AsyncState`](crate::AsyncState), be compared and de-duplicated.
impl PartialEq for JobError {
    fn eq(&self, other: &Self) -> bool {
        self.ptr_eq(other) || (self.inner.kind == other.inner.kind && self.inner.message == other.inner.message)
    }
}

impl Eq for JobError {}

/// Extracts a readable message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn core::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "executor panicked with a non-string payload".to_string()
    }
}

/// Why a job could not be dispatched. Nothing was emitted and nothing runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// No executor is registered for the job type.
    NoExecutor {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job's timeout is zero, which could never let it run.
    ZeroTimeout {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job needs time (a timeout or a retry back-off) but the dispatcher has no timer.
    NoTimer {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job has a [`CachePolicy`](crate::cache::CachePolicy) with an empty key.
    EmptyCacheKey {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job has a [`CachePolicy`](crate::cache::CachePolicy) with a zero TTL: nothing it wrote
    /// could ever be read.
    ZeroCacheTtl {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job has a [`CachePolicy`](crate::cache::CachePolicy) but neither the job nor the
    /// dispatcher has a [`CacheProvider`](crate::cache::CacheProvider).
    NoCacheProvider {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The dispatcher has been shut down; it accepts no more jobs.
    ShutDown,
    /// The dispatcher already has `limit` jobs dispatched and not finished.
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
    /// The dispatcher started its runners on a spawner
    /// ([`DispatcherBuilder::spawner`](crate::DispatcherBuilder::spawner)) and none of them
    /// is alive any more (typically: their runtime was shut down), so the job would never
    /// run. Jobs already queued stay queued; a runner awaited by hand
    /// ([`Dispatcher::runner`](crate::Dispatcher::runner)) counts as alive.
    NoRunners,
    /// The bus the job would report on (the dispatcher's own, or the scoped one given to
    /// [`dispatch_on`](crate::Dispatcher::dispatch_on)) is closed: nobody could ever see
    /// its events, as [`StartError::BusClosed`](crate::StartError::BusClosed) refuses an
    /// orchestrator that could never hear any.
    BusClosed,
    /// The job's [`FlowPolicy`](crate::FlowPolicy) is drop-while-busy and a job with its
    /// key is in flight: the dispatch was dropped.
    Busy {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job's [`FlowPolicy`](crate::FlowPolicy) is serial and `limit` jobs with its
    /// key are queued already.
    KeyQueueFull {
        /// The job type's name.
        job_type: &'static str,
        /// The policy's queue bound.
        limit: usize,
    },
    /// The job's [`FlowPolicy`](crate::FlowPolicy) combines policies that do not go
    /// together (see its table).
    FlowConflict {
        /// The job type's name.
        job_type: &'static str,
        /// What is not allowed.
        conflict: crate::flow_policy::FlowConflict,
    },
    /// The job is to be spawned on its own ([`DispatcherBuilder::spawn_per_job`](crate::DispatcherBuilder::spawn_per_job),
    /// [`Dispatcher::spawn_per_job`](crate::Dispatcher::spawn_per_job)) but the dispatcher
    /// has no spawner ([`DispatcherBuilder::spawner`](crate::DispatcherBuilder::spawner)).
    NoSpawner {
        /// The job type's name.
        job_type: &'static str,
    },
    /// The job was to be spawned on its own and the spawner refused it (typically: its
    /// runtime is gone).
    SpawnRefused,
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoExecutor { job_type } => write!(f, "no executor registered for job type `{job_type}`"),
            Self::ZeroTimeout { job_type } => write!(f, "job `{job_type}` has a zero timeout"),
            Self::NoTimer { job_type } => {
                write!(
                    f,
                    "job `{job_type}` needs a timer (timeout, retry back-off, debounce or throttle) but the dispatcher has none"
                )
            }
            Self::EmptyCacheKey { job_type } => write!(f, "job `{job_type}` has a cache policy with an empty key"),
            Self::ZeroCacheTtl { job_type } => write!(f, "job `{job_type}` has a cache policy with a zero TTL"),
            Self::NoCacheProvider { job_type } => {
                write!(f, "job `{job_type}` has a cache policy but there is no cache provider")
            }
            Self::ShutDown => f.write_str("the dispatcher has been shut down"),
            Self::Overloaded { limit } => write!(f, "the dispatcher already has {limit} unfinished jobs"),
            Self::NoRunners => f.write_str(
                "none of the dispatcher's runners is alive (was their runtime shut down?): the job would never run",
            ),
            Self::BusClosed => f.write_str("the job's bus is closed: nobody could see its events"),
            Self::Busy { job_type } => write!(f, "job `{job_type}` dropped: a job with its key is in flight"),
            Self::KeyQueueFull { job_type, limit } => {
                write!(f, "job `{job_type}` dropped: {limit} jobs with its key are queued already")
            }
            Self::FlowConflict { job_type, conflict } => {
                write!(f, "job `{job_type}` has a flow policy where {conflict}")
            }
            Self::NoSpawner { job_type } => {
                write!(f, "job `{job_type}` is to be spawned on its own but the dispatcher has no spawner")
            }
            Self::SpawnRefused => f.write_str("the runtime refused to spawn the job"),
        }
    }
}

impl core::error::Error for DispatchError {}
