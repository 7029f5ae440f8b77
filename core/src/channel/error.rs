//! What a [`BroadcastChannel`](super::BroadcastChannel) and its receivers report instead
//! of a value: the channel is closed, or a receiver lagged and lost values.

use core::fmt;

/// A receiver fell behind and missed this many values, which were overwritten.
///
/// The receiver continues with the oldest value still retained.
///
/// ```
/// use orchestrator_core::channel::Lagged;
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
/// use orchestrator_core::channel::Closed;
///
/// assert_eq!(Closed.to_string(), "channel closed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl core::error::Error for Closed {}

/// [`BroadcastChannel::send`](super::BroadcastChannel::send) failed because the channel
/// is closed; holds the unsent value.
///
/// ```
/// use orchestrator_core::channel::SendError;
///
/// let err = SendError(7_u32);
/// assert_eq!(err.to_string(), "channel closed");
/// assert_eq!(err.0, 7, "the value comes back");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> core::error::Error for SendError<T> {}

/// Why [`BroadcastReceiver::try_recv`](super::BroadcastReceiver::try_recv) returned no
/// value.
///
/// ```
/// use orchestrator_core::channel::TryRecvError;
///
/// assert_eq!(TryRecvError::Lagged(2).to_string(), "receiver lagged behind and missed 2 values");
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

impl<T: crate::MaybeSend + crate::MaybeSync + 'static> From<SendError<T>> for crate::error::JobError {
    fn from(error: SendError<T>) -> Self {
        Self::new(error)
    }
}
