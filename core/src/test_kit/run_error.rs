//! [`RunError`]: why a phase of the [`TestHarness`](super::TestHarness) stopped before its
//! goal.

use alloc::string::String;
use core::fmt;
use core::time::Duration;

/// Why [`TestHarness::run_until`](super::TestHarness::run_until) (or another phase of the
/// harness) stopped before its goal. Its `Display` ends with the recorded timeline.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::test_kit::{RunError, TestHarness};
///
/// let mut harness = TestHarness::new();
/// let err = harness.run_until(Duration::from_secs(1), |_| false).unwrap_err();
/// assert!(matches!(err, RunError::Stalled { .. }));
/// assert!(err.to_string().contains("no events recorded"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// The virtual-time limit passed before the condition held.
    TimeLimit {
        /// The limit, counted from the start of the phase.
        limit: Duration,
        /// The virtual time when the phase stopped.
        now: Duration,
        /// The recorded events, one per line.
        timeline: String,
    },
    /// Nothing can happen any more: no task was woken and no virtual sleep is pending
    /// (or only ones that never end), yet the condition does not hold.
    Stalled {
        /// The virtual time when the phase stopped.
        now: Duration,
        /// The recorded events, one per line.
        timeline: String,
    },
    /// The tasks kept waking themselves without the time moving, more rounds than the
    /// [poll limit](super::TestHarness::poll_limit) allows: a busy loop.
    Busy {
        /// The rounds of polls made.
        rounds: usize,
        /// The virtual time when the phase stopped.
        now: Duration,
        /// The recorded events, one per line.
        timeline: String,
    },
}

impl RunError {
    /// The recorded timeline carried by the error.
    pub fn timeline(&self) -> &str {
        match self {
            Self::TimeLimit { timeline, .. } | Self::Stalled { timeline, .. } | Self::Busy { timeline, .. } => timeline,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimeLimit { limit, now, .. } => {
                write!(f, "the condition did not hold within {limit:?} of virtual time (now {now:?})")?;
            }
            Self::Stalled { now, .. } => write!(
                f,
                "stalled at {now:?}: nothing is running and no virtual sleep can end, yet the condition does not hold"
            )?,
            Self::Busy { rounds, now, .. } => {
                write!(f, "busy loop at {now:?}: the tasks woke themselves for {rounds} rounds without time moving")?;
            }
        }
        write!(f, "\nrecorded timeline:\n{}", self.timeline())
    }
}

impl core::error::Error for RunError {}
