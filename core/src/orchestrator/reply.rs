//! [`Reply`] and [`AskError`]: the answer to a request-reply command
//! ([`OrchestratorHandle::ask`](super::OrchestratorHandle::ask)).

use core::fmt;

/// Where a command handler sends the answer to a command sent with
/// [`OrchestratorHandle::ask`](super::OrchestratorHandle::ask). Put it in the command;
/// the handler calls [`send`](Self::send) once. A reply dropped without an answer (the
/// handler forgot, or panicked) makes `ask` return [`AskError::NoReply`]: the asker never
/// waits forever.
pub struct Reply<R> {
    tx: async_channel::Sender<R>,
}

impl<R> Reply<R> {
    pub(crate) fn new() -> (Self, async_channel::Receiver<R>) {
        let (tx, rx) = async_channel::bounded(1);
        (Self { tx }, rx)
    }

    /// Sends the answer. Returns `false` if nobody waits for it any more (the asker
    /// stopped waiting).
    pub fn send(self, answer: R) -> bool {
        self.tx.try_send(answer).is_ok()
    }

    /// True while the asker still waits for the answer.
    pub fn is_wanted(&self) -> bool {
        !self.tx.is_closed()
    }
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply").field("wanted", &self.is_wanted()).finish()
    }
}

/// Why [`OrchestratorHandle::ask`](super::OrchestratorHandle::ask) got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskError {
    /// The host has ended (or is shutting down): the command was not taken.
    Closed,
    /// The command was handled (or dropped) without an answer: its [`Reply`] was dropped
    /// unused.
    NoReply,
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the orchestrator has shut down"),
            Self::NoReply => f.write_str("the orchestrator handled the command without replying"),
        }
    }
}

impl core::error::Error for AskError {}

crate::error::job_error_from!(AskError);
