//! [`DropGuard`]: cancels a token when a scope ends, however it ends.

use core::fmt;

use super::CancellationToken;

/// Cancels its token when dropped, unless [disarmed](Self::disarm). Made by
/// [`CancellationToken::drop_guard`].
///
/// It ties a token to a scope: an early `return`, a `?`, a panic or a future dropped
/// half-way through all cancel what the token reaches (the jobs dispatched with it, their
/// child tokens).
///
/// ```
/// use orchestrator_core::CancellationToken;
///
/// let token = CancellationToken::new();
/// {
///     let _guard = token.clone().drop_guard();
///     // ... work that must be stopped if this scope is left ...
/// }
/// assert!(token.is_cancelled());
///
/// let kept = CancellationToken::new();
/// let guard = kept.clone().drop_guard();
/// let token = guard.disarm(); // the scope finished its work: nothing is cancelled
/// assert!(!token.is_cancelled() && !kept.is_cancelled());
/// ```
#[must_use = "the token is cancelled as soon as the guard is dropped"]
pub struct DropGuard {
    token: CancellationToken,
    /// Cleared by [`disarm`](DropGuard::disarm).
    armed: bool,
}

impl CancellationToken {
    /// A guard that cancels this token when it is dropped (see [`DropGuard`]). It takes
    /// this handle; clone the token first to keep one.
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: self, armed: true }
    }
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancellationToken {
        self.armed = false;
        self.token.clone()
    }

    /// The token the guard will cancel.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.armed {
            self.token.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard").field("token", &self.token).field("armed", &self.armed).finish()
    }
}
