//! Helpers shared by the runtime adapters.

use std::time::Duration;
#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
use {orchestrator_core::BoxFuture, std::future::Future, std::num::NonZeroUsize, std::time::Instant};

/// Sleeps this long or longer never end: they are `core::future::pending()`.
///
/// About a century: far beyond any real deadline, well inside what every runtime's timer
/// and `Instant` can represent, so no adapter ever hands a timer a duration it could
/// overflow on (`Duration::MAX` included).
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The most runners [`default_runners`] suggests.
#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
const MAX_RUNNERS: usize = 4;

/// `available_parallelism`, at least 1 and at most [`MAX_RUNNERS`].
#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
pub(crate) fn default_runners() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get).clamp(1, MAX_RUNNERS)
}

/// The monotonic origin of a runtime's clock. Clones share it.
#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin(Instant);

#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
impl Origin {
    pub(crate) fn now() -> Self {
        Self(Instant::now())
    }

    /// Time elapsed since the origin (saturating at zero, so never backwards).
    pub(crate) fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.0)
    }
}

/// `make(duration)` boxed, or a future that never completes when `duration` is
/// [`FOREVER`] or longer.
#[cfg(any(feature = "tokio", feature = "async-std", feature = "smol"))]
pub(crate) fn sleep_or_forever<F>(duration: Duration, make: impl FnOnce(Duration) -> F) -> BoxFuture<'static, ()>
where
    F: Future<Output = ()> + Send + 'static,
{
    if duration >= FOREVER { Box::pin(std::future::pending()) } else { Box::pin(make(duration)) }
}
