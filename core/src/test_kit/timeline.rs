//! The text of a recorded timeline: one line per event, shown by every failure message of
//! the kit so that a failing test says what did happen, not only what did not.

use crate::sync::Arc;
use alloc::string::String;
use core::fmt::Write;

use crate::event::{Event, EventKind};

/// One line per event: virtual time, job id, kind, and the detail that explains it (an
/// error, a retry's delay, a cancellation's reason, a progress value, a custom name).
pub(crate) fn render(events: &[Arc<Event>], lagged: u64) -> String {
    let mut out = String::new();
    if events.is_empty() {
        out.push_str("  (no events recorded)\n");
    }
    for event in events {
        let _ = write!(out, "  {:>10.3?}  {:<24}  {:?}", event.time(), event.id(), event.tag());
        let _ = match event.kind() {
            EventKind::Failure { error, retried } => write!(out, " ({error}; retried: {retried})"),
            EventKind::Retrying(r) => write!(out, " (#{} after {:?}: {})", r.attempt, r.delay, r.error),
            EventKind::Cancelled { reason: Some(reason) } => write!(out, " ({reason})"),
            EventKind::TimedOut { after } => write!(out, " (after {after:?})"),
            EventKind::Progress(p) => write!(out, " ({:.2})", p.progress),
            _ => Ok(()),
        };
        out.push('\n');
    }
    if lagged > 0 {
        let _ = writeln!(out, "  (and {lagged} events lost: the recorder lagged behind the bus)");
    }
    out
}
