//! Metrics per job type: counts of what happened to the jobs of each type, and their
//! queue wait and run time percentiles ([`JobMetrics`], read with
//! [`Dispatcher::metrics`](crate::Dispatcher::metrics)).
//!
//! Each registered type with metrics on has a [`TypeMetrics`] (atomics and two
//! [`LatencyHistogram`]s), and each of its jobs a [`Probe`] in its context, through which
//! the pipeline records the job's Started and terminal events. Times come from the
//! dispatcher's [timer](crate::DispatcherBuilder::timer); without one only the counts are
//! kept. With the `metrics` feature the same records also go to the `metrics` facade
//! (see `facade`).

use crate::sync::Arc;
use crate::sync::atomic::{AtomicUsize, Ordering};

use crate::histogram::{Latency, LatencyHistogram};
use crate::runtime::Timer;

#[cfg(feature = "metrics")]
mod facade;

/// What happened to the jobs of one type since it was registered (see
/// [`Dispatcher::metrics`](crate::Dispatcher::metrics)).
///
/// Counts wrap on overflow. They are read one after the other while jobs may be ending,
/// so a snapshot taken under load can be off by the jobs ending during it (`in_flight` is
/// never negative: it is read last and saturates).
///
/// ```
/// use orchestrator_core::JobMetrics;
/// let metrics = JobMetrics::default();
/// assert_eq!(metrics.ended(), 0);
/// assert!(metrics.queue_wait.is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct JobMetrics {
    /// Accepted by the dispatcher (joined and refused dispatches are not counted).
    pub dispatched: u64,
    /// Ended with `Success`.
    pub succeeded: u64,
    /// Ended with `Failure` (a panic included).
    pub failed: u64,
    /// Ended with `Cancelled` (by a token, a drain's deadline, flow control's
    /// supersession, or abandoned by a dropped runner).
    pub cancelled: u64,
    /// Ended with `TimedOut`.
    pub timed_out: u64,
    /// Retries started (each `Retrying` event); a job retried twice counts 2.
    pub retried: u64,
    /// Dispatched and not ended yet (queued, waiting or running).
    pub in_flight: u64,
    /// From the dispatch to `Started` (time in the queue and, under flow control, waiting
    /// for its turn). `None` without a timer, or before the first job started.
    pub queue_wait: Option<Latency>,
    /// From `Started` to the terminal event (retries and back-off included). `None`
    /// without a timer, or before the first started job ended.
    pub run_time: Option<Latency>,
}

impl JobMetrics {
    /// Jobs ended, whatever their outcome.
    pub fn ended(&self) -> u64 {
        self.succeeded.wrapping_add(self.failed).wrapping_add(self.cancelled).wrapping_add(self.timed_out)
    }
}

/// How a job ended, for its type's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

/// The live metrics of one job type (shared by its jobs' probes).
pub(crate) struct TypeMetrics {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    name: &'static str,
    dispatched: AtomicUsize,
    succeeded: AtomicUsize,
    failed: AtomicUsize,
    cancelled: AtomicUsize,
    timed_out: AtomicUsize,
    retried: AtomicUsize,
    queue_wait: LatencyHistogram,
    run_time: LatencyHistogram,
}

impl TypeMetrics {
    pub(crate) fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            dispatched: AtomicUsize::new(0),
            succeeded: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            timed_out: AtomicUsize::new(0),
            retried: AtomicUsize::new(0),
            queue_wait: LatencyHistogram::new(),
            run_time: LatencyHistogram::new(),
        })
    }

    /// A snapshot. The ends are read before `dispatched`, so `in_flight` never counts a
    /// job as ended before it was dispatched.
    pub(crate) fn snapshot(&self) -> JobMetrics {
        let load = |n: &AtomicUsize| n.load(Ordering::Acquire) as u64;
        let mut metrics = JobMetrics {
            succeeded: load(&self.succeeded),
            failed: load(&self.failed),
            cancelled: load(&self.cancelled),
            timed_out: load(&self.timed_out),
            retried: load(&self.retried),
            queue_wait: self.queue_wait.latency(),
            run_time: self.run_time.latency(),
            ..JobMetrics::default()
        };
        metrics.dispatched = load(&self.dispatched);
        metrics.in_flight = metrics.dispatched.saturating_sub(metrics.ended());
        metrics
    }

    fn ended(&self, how: Ended) {
        let count = match how {
            Ended::Succeeded => &self.succeeded,
            Ended::Failed => &self.failed,
            Ended::Cancelled => &self.cancelled,
            Ended::TimedOut => &self.timed_out,
        };
        count.fetch_add(1, Ordering::Release);
        #[cfg(feature = "metrics")]
        facade::ended(self.name, how);
    }
}

/// Counts a job of the type of `metrics` as dispatched around `enqueue`, which queues or
/// spawns it: before (so a job that ends at once is never ended before it is dispatched),
/// taken back if `enqueue` refuses the job.
pub(crate) fn count_dispatch<R, E>(
    metrics: Option<&Arc<TypeMetrics>>,
    enqueue: impl FnOnce() -> Result<R, E>,
) -> Result<R, E> {
    let Some(metrics) = metrics else { return enqueue() };
    metrics.dispatched.fetch_add(1, Ordering::Release);
    let result = enqueue();
    if result.is_err() {
        metrics.dispatched.fetch_sub(1, Ordering::Release);
    } else {
        #[cfg(feature = "metrics")]
        facade::dispatched(metrics.name);
    }
    result
}

/// A point in time on the dispatcher's clock, in nanoseconds; [`Mark::NONE`] without a
/// clock (or with metrics off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark(u64);

impl Mark {
    pub(crate) const NONE: Mark = Mark(u64::MAX);

    fn now(timer: Option<&Arc<dyn Timer>>) -> Self {
        // `u64::MAX - 1` at most: 584 years of uptime.
        timer.map_or(Self::NONE, |timer| Mark(u64::try_from(timer.now().as_nanos()).unwrap_or(u64::MAX - 1)))
    }

    /// Nanoseconds from `self` to `later`, when both are known.
    fn until(self, later: Mark) -> Option<u64> {
        (self != Self::NONE && later != Self::NONE).then(|| later.0.saturating_sub(self.0))
    }
}

/// A job's link to its type's metrics, in its context: `None` when metrics are off (each
/// hook is then one branch). One pointer: the context is part of every job's future, and
/// its size shows in the cost of every job (docs/performance.md); the dispatch time
/// lives in the pipeline's future instead.
#[derive(Clone)]
pub(crate) struct Probe {
    metrics: Option<Arc<TypeMetrics>>,
}

// Each hook is split in two: the check whether metrics are on, inlined into the
// pipeline (with metrics off, the default, that is all a job pays), and the recording,
// out of line so that it does not grow the pipeline's code.
impl Probe {
    /// The probe of a job of a type whose metrics are `metrics`.
    #[inline]
    pub(crate) fn new(metrics: Option<&Arc<TypeMetrics>>) -> Self {
        Self { metrics: metrics.cloned() }
    }

    /// The job is dispatched now (its pipeline's future is made): the time, for
    /// [`started`](Self::started).
    #[inline]
    pub(crate) fn dispatched(&self, timer: Option<&Arc<dyn Timer>>) -> Mark {
        match &self.metrics {
            None => Mark::NONE,
            Some(_) => Mark::now(timer),
        }
    }

    /// The job emitted `Started`: records its queue wait since `dispatched`; returns the
    /// start, for [`ended`](Self::ended).
    #[inline]
    pub(crate) fn started(&self, dispatched: Mark, timer: Option<&Arc<dyn Timer>>) -> Mark {
        match &self.metrics {
            None => Mark::NONE,
            Some(metrics) => Self::record_start(metrics, dispatched, timer),
        }
    }

    #[inline(never)]
    fn record_start(metrics: &TypeMetrics, dispatched: Mark, timer: Option<&Arc<dyn Timer>>) -> Mark {
        let now = Mark::now(timer);
        if let Some(wait) = dispatched.until(now) {
            metrics.queue_wait.record(wait);
            #[cfg(feature = "metrics")]
            facade::queue_wait(metrics.name, wait);
        }
        now
    }

    /// The job emitted its terminal event (`how` it ended): counts it and, if it had
    /// `started`, records its run time.
    #[inline]
    pub(crate) fn ended(&self, how: impl FnOnce() -> Ended, started: Mark, timer: Option<&Arc<dyn Timer>>) {
        if let Some(metrics) = &self.metrics {
            Self::record_end(metrics, how(), started, timer);
        }
    }

    #[inline(never)]
    fn record_end(metrics: &TypeMetrics, how: Ended, started: Mark, timer: Option<&Arc<dyn Timer>>) {
        if started != Mark::NONE {
            if let Some(run) = started.until(Mark::now(timer)) {
                metrics.run_time.record(run);
                #[cfg(feature = "metrics")]
                facade::run_time(metrics.name, run);
            }
        }
        metrics.ended(how);
    }

    /// The job starts a retry.
    #[inline]
    pub(crate) fn retried(&self) {
        let Some(metrics) = &self.metrics else { return };
        metrics.retried.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        facade::retried(metrics.name);
    }
}
