//! The panic boundary: a panic in user code ends the job it belongs to, never the runner
//! or host that called it.
//!
//! Every call into user code happens inside a poll of a job's future (the executor's
//! `process`, even its synchronous part, a retry predicate, a cache provider, the output's
//! `Clone`) or inside a host's turn (command handlers, hooks, breakers, the state's
//! `Clone`). With `std`, [`poll_job`] wraps the first kind, [`catch`] the second.
//!
//! A job's future that panics cannot be resumed, and unwinding drops what it held, the
//! job's [`JobCore`](crate::pipeline) among it: the drop hands the job to this module as an
//! [`Orphan`] instead of reporting it as abandoned, and once the panic is caught
//! [`poll_job`] ends it with a `Failure` carrying the panic's message (its terminal event
//! first, if none went out yet, then its handle). Only panics caught here are handled so:
//! a job dropped while its thread unwinds for another reason (its runner dropped during a
//! panic elsewhere) is reported as abandoned, as always.
//!
//! Without `std` nothing can be caught. With `panic = "abort"` (the usual choice on
//! embedded targets) a panic in user code aborts the program; with unwinding it
//! propagates out of the runner's or host's `poll`, like any panic in a future.

#[cfg(feature = "std")]
use alloc::vec::Vec;
use core::task::Poll;

use crate::executor::JobContext;

/// A job whose future was dropped by a panic this module will catch: it still owes its
/// terminal event (unless one went out) and its handle's result.
// Without `std` nothing is caught, so no orphan is ever settled.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) struct Orphan {
    pub(crate) ctx: JobContext,
}

#[cfg(feature = "std")]
std::thread_local! {
    /// How many [`poll_job`] calls are on this thread's stack.
    static DEPTH: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// Jobs dropped by the panic being unwound, waiting for the innermost [`poll_job`].
    static ORPHANS: core::cell::RefCell<Vec<Orphan>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// Hands the job of a dropped future (`orphan()`) to the [`poll_job`] of this thread if
/// one is unwinding, which will settle it; `false` otherwise: the caller reports it as
/// abandoned.
#[cfg(feature = "std")]
pub(crate) fn adopt(orphan: impl FnOnce() -> Orphan) -> bool {
    if !std::thread::panicking() || DEPTH.with(core::cell::Cell::get) == 0 {
        return false;
    }
    // Fails only while the thread's locals are torn down: then nobody settles it here.
    ORPHANS.try_with(|orphans| orphans.borrow_mut().push(orphan())).is_ok()
}

/// Without `std` nothing is caught: every orphan is reported as abandoned.
#[cfg(not(feature = "std"))]
pub(crate) fn adopt(_orphan: impl FnOnce() -> Orphan) -> bool {
    false
}

/// Polls one job's future (`poll`); with `std`, a panic inside it ends that job with a
/// `Failure` and this returns `Ready` (the future is poisoned: its caller must drop it).
#[cfg(feature = "std")]
pub(crate) fn poll_job(poll: impl FnOnce() -> Poll<()>) -> Poll<()> {
    DEPTH.with(|depth| depth.set(depth.get().saturating_add(1)));
    let outcome = crate::sync::catch_panic(poll);
    DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    match outcome {
        Ok(poll) => poll,
        Err(payload) => {
            let message = crate::error::panic_message(&*payload);
            crate::sync::drop_payload(payload);
            // Every orphan listed was dropped by this panic: orphans are listed only while
            // a panic unwinds towards its nearest boundary, which is this one (an inner one
            // would have caught it), and each boundary takes them all.
            let orphans: Vec<Orphan> = ORPHANS.with(|orphans| core::mem::take(&mut *orphans.borrow_mut()));
            for orphan in orphans {
                settle(orphan, &message);
            }
            Poll::Ready(())
        }
    }
}

/// Without `std`, a plain poll.
#[cfg(not(feature = "std"))]
pub(crate) fn poll_job(poll: impl FnOnce() -> Poll<()>) -> Poll<()> {
    poll()
}

/// Ends an orphaned job with a `Failure` carrying `message`.
#[cfg(feature = "std")]
fn settle(orphan: Orphan, message: &str) {
    use crate::error::JobError;
    use crate::event::EventKind;
    use crate::log::{Level, log_at};

    let ctx = orphan.ctx;
    let error = JobError::panicked(message);
    log_at!(ctx.env.logger, Level::Error, "job {} ({}) failed: panicked: {}", ctx.id, ctx.job_type, message);
    if !ctx.cancel.gate().terminal_sent() {
        ctx.emit_terminal(|| EventKind::Failure { error: error.clone(), retried: ctx.attempt() > 0 });
        ctx.probe.ended(|| crate::job_metrics::Ended::Failed, crate::job_metrics::Mark::NONE, None);
    }
    ctx.cancel.fail(error, &ctx.env.counters);
}

/// Runs `f`; with `std`, a panic inside it is caught and returned as its message.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, alloc::string::String> {
    crate::sync::catch_panic(f).map_err(|payload| {
        let message = crate::error::panic_message(&*payload);
        crate::sync::drop_payload(payload);
        message
    })
}
