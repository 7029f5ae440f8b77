//! What a [`BroadcastChannel`](super::BroadcastChannel) and its receivers report instead
//! of a value: the channel is closed, or a receiver lagged and lost values. One path each,
//! at the crate root with the bus: [`Lagged`], [`BusClosed`](crate::BusClosed),
//! [`TryNextError`](crate::TryNextError).

use core::fmt;

/// A receiver fell behind and missed this many values, which were overwritten.
///
/// The receiver continues with the oldest value still retained.
///
/// ```
/// use orchestrator_core::Lagged;
///
/// assert_eq!(Lagged(3).to_string(), "receiver lagged behind and missed 3 values");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "receiver lagged behind and missed {} values", self.0)
    }
}

impl core::error::Error for Lagged {}

/// The channel is closed: nothing more can be sent or subscribed.
///
/// ```
/// use orchestrator_core::BusClosed;
///
/// assert_eq!(BusClosed.to_string(), "channel closed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl core::error::Error for Closed {}

/// Why [`BroadcastReceiver::try_recv`](super::BroadcastReceiver::try_recv) returned no
/// value.
///
/// ```
/// use orchestrator_core::TryNextError;
///
/// assert_eq!(TryNextError::Lagged(2).to_string(), "receiver lagged behind and missed 2 values");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value is available yet.
    Empty,
    /// The receiver fell behind and missed this many values; the next call continues
    /// with the oldest value still retained.
    Lagged(u64),
    /// The channel is closed and every value was received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("channel empty"),
            Self::Lagged(n) => write!(f, "receiver lagged behind and missed {n} values"),
            Self::Closed => f.write_str("channel closed"),
        }
    }
}

impl core::error::Error for TryRecvError {}

// So that `?` works on them inside an executor.
crate::error::job_error_from!(Lagged, Closed, TryRecvError);
