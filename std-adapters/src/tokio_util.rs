//! Bridges between [`CancellationToken`] and [`tokio_util::sync::CancellationToken`], in
//! both directions (feature `tokio-util`).
//!
//! Each bridge is a link value: the tokens follow each other for as long as it lives, and
//! dropping it ends the link, so a bridge never keeps a token alive beyond its own life.
//! (A long-lived token, such as a server's shutdown token, bridged once per request would
//! otherwise collect one link per request.)
//!
//! * [`to_tokio`]: a new tokio-util token cancelled when ours is (a listener on ours,
//!   removed when the link is dropped). Nothing to spawn.
//! * [`from_tokio`]: a new token of ours cancelled when the tokio-util one is, with the
//!   reason [`CANCELLED_BY_TOKIO`]. tokio-util tokens only tell futures, so the link is a
//!   small task on the current tokio runtime, aborted when the link is dropped (and ended
//!   as soon as either token is cancelled).
//!
//! ```
//! use orchestrator_std::CancellationToken;
//! use orchestrator_std::tokio_util::{from_tokio, to_tokio};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     // Jobs dispatched with ours stop when a tokio-util shutdown token fires.
//!     let shutdown = tokio_util::sync::CancellationToken::new();
//!     let link = from_tokio(&shutdown).expect("inside a tokio runtime");
//!     let jobs_token: CancellationToken = link.token().clone();
//!     shutdown.cancel();
//!     jobs_token.cancelled().await;
//!
//!     // A tokio-util API follows a token of ours.
//!     let ours = CancellationToken::new();
//!     let link = to_tokio(&ours);
//!     let theirs = link.token().clone();
//!     ours.cancel();
//!     assert!(theirs.is_cancelled());
//! }
//! ```

use std::fmt;

use ::tokio::runtime::Handle;
use ::tokio::task::AbortHandle;
use orchestrator_core::CancellationToken;
use orchestrator_core::ListenerId;
use orchestrator_core::runtime::SpawnError;

/// tokio-util's token.
pub type TokioCancellationToken = ::tokio_util::sync::CancellationToken;

/// The cancellation reason of a token of ours cancelled through [`from_tokio`].
pub const CANCELLED_BY_TOKIO: &str = "cancelled through a tokio-util CancellationToken";

/// A new tokio-util token that is cancelled when `token` is (or already is), for as long
/// as the returned link lives.
pub fn to_tokio(token: &CancellationToken) -> ToTokio {
    let theirs = TokioCancellationToken::new();
    let follower = theirs.clone();
    let listener = token.on_cancel(move |_reason| follower.cancel());
    ToTokio { ours: token.clone(), theirs, listener }
}

/// The link made by [`to_tokio`]: cancelling our token cancels
/// [`token`](Self::token) while it lives. Dropping it unregisters the listener it put on
/// our token (and with it, its handle to the tokio-util token).
#[must_use = "the link ends when it is dropped"]
pub struct ToTokio {
    ours: CancellationToken,
    theirs: TokioCancellationToken,
    listener: ListenerId,
}

impl ToTokio {
    /// The tokio-util token that follows ours.
    pub fn token(&self) -> &TokioCancellationToken {
        &self.theirs
    }
}

impl Drop for ToTokio {
    fn drop(&mut self) {
        self.ours.remove_listener(self.listener);
    }
}

impl fmt::Debug for ToTokio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToTokio").field("ours", &self.ours).field("theirs", &self.theirs).finish()
    }
}

/// A new token of ours that is cancelled, with the reason [`CANCELLED_BY_TOKIO`], when
/// `token` is (or already is), for as long as the returned link lives. The link is a task
/// on the current tokio runtime; see [`from_tokio_on`] to name the runtime.
///
/// # Errors
///
/// [`SpawnError`] outside a tokio runtime (it does not panic).
pub fn from_tokio(token: &TokioCancellationToken) -> Result<FromTokio, SpawnError> {
    let handle = Handle::try_current().map_err(|_| SpawnError)?;
    Ok(from_tokio_on(token, &handle))
}

/// [`from_tokio`], with its task on the runtime of `handle`.
pub fn from_tokio_on(token: &TokioCancellationToken, handle: &Handle) -> FromTokio {
    let ours = CancellationToken::new();
    if token.is_cancelled() {
        ours.cancel_with_reason(CANCELLED_BY_TOKIO);
    }
    let follower = ours.clone();
    let theirs = token.clone().cancelled_owned();
    // Ends when either token is cancelled, or when the link aborts it.
    let task = handle.spawn(async move {
        if follower.clone().run_until_cancelled_owned(theirs).await.is_some() {
            follower.cancel_with_reason(CANCELLED_BY_TOKIO);
        }
    });
    FromTokio { ours, task: task.abort_handle() }
}

/// The link made by [`from_tokio`]: cancelling the tokio-util token cancels
/// [`token`](Self::token) while it lives. Dropping it aborts its task, which holds the
/// two tokens.
#[must_use = "the link ends when it is dropped"]
pub struct FromTokio {
    ours: CancellationToken,
    task: AbortHandle,
}

impl FromTokio {
    /// Our token, which follows the tokio-util one.
    pub fn token(&self) -> &CancellationToken {
        &self.ours
    }

    /// True while the link's task runs: until either token is cancelled (and a moment
    /// after, until the task has run), or the runtime shuts down.
    pub fn is_linked(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for FromTokio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for FromTokio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromTokio").field("ours", &self.ours).field("linked", &self.is_linked()).finish()
    }
}
