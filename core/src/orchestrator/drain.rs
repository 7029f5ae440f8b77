//! A host's graceful drain: stop taking commands, let the orchestrator's active jobs end
//! (their events still reach the hooks), cancel those left at a deadline, then end.

use crate::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::drain::{DRAIN_DEADLINE_REASON, DrainError, DrainReport};
use crate::sync::{BoxFuture, Mutex};

/// What a host and its handles share about a drain.
#[derive(Debug, Default)]
pub(crate) struct DrainCell(Mutex<Request>);

#[derive(Debug, Default)]
struct Request {
    /// `Some(deadline)` once a handle asked for a drain.
    asked: Option<Option<Duration>>,
    /// The host's dispatcher has a timer (a deadline needs one).
    has_timer: bool,
    /// Written by the host when it ends, if a drain was asked for.
    report: Option<DrainReport>,
}

impl DrainCell {
    pub(crate) fn set_has_timer(&self, has_timer: bool) {
        self.0.lock().has_timer = has_timer;
    }

    /// Records a drain request (the first one's deadline wins).
    fn ask(&self, deadline: Option<Duration>) -> Result<(), DrainError> {
        let mut request = self.0.lock();
        if deadline.is_some() && !request.has_timer {
            return Err(DrainError::NoTimer);
        }
        request.asked.get_or_insert(deadline);
        Ok(())
    }

    /// The deadline of the drain asked for, if one was.
    pub(crate) fn asked(&self) -> Option<Option<Duration>> {
        self.0.lock().asked
    }

    pub(crate) fn set_report(&self, report: DrainReport) {
        self.0.lock().report = Some(report);
    }

    fn report(&self) -> DrainReport {
        self.0.lock().report.unwrap_or_default()
    }
}

/// The host's side of a drain in progress.
pub(crate) struct Draining {
    deadline: Option<BoxFuture<'static, ()>>,
    past_deadline: bool,
    pub(crate) report: DrainReport,
}

impl Draining {
    pub(crate) fn new(deadline: Option<BoxFuture<'static, ()>>) -> Self {
        Self { deadline, past_deadline: false, report: DrainReport::default() }
    }

    /// One of the orchestrator's jobs ended.
    pub(crate) fn job_ended(&mut self) {
        let r = &mut self.report;
        if self.past_deadline {
            r.cancelled = r.cancelled.saturating_add(1);
        } else {
            r.finished = r.finished.saturating_add(1);
        }
    }

    /// The reason to cancel the active jobs with, once the deadline has passed (and
    /// then on every call, for the jobs the hooks dispatch after it).
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Option<Arc<str>> {
        if !self.past_deadline {
            let sleep = self.deadline.as_mut()?;
            if sleep.as_mut().poll(cx).is_pending() {
                return None;
            }
            self.deadline = None;
            self.past_deadline = true;
        }
        Some(Arc::from(DRAIN_DEADLINE_REASON))
    }
}

/// The future of [`OrchestratorHandle::drain`](crate::OrchestratorHandle::drain).
#[must_use = "a drain does nothing unless awaited"]
pub struct HostDrain(pub(crate) BoxFuture<'static, Result<DrainReport, DrainError>>);

impl fmt::Debug for HostDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostDrain(..)")
    }
}

impl Future for HostDrain {
    type Output = Result<DrainReport, DrainError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// Asks for the drain, closes the command queue, and waits for the host to end.
pub(crate) fn start<S: Clone + crate::MaybeSend + crate::MaybeSync + 'static>(
    shared: Arc<super::watch::Shared<S>>,
    close_commands: impl FnOnce(),
    deadline: Option<Duration>,
) -> HostDrain {
    if let Err(error) = shared.drain.ask(deadline) {
        return HostDrain(alloc::boxed::Box::pin(async move { Err(error) }));
    }
    close_commands();
    let mut states = super::watch::StateStream::new(shared.clone());
    HostDrain(alloc::boxed::Box::pin(async move {
        use futures_util::StreamExt;
        while states.next().await.is_some() {}
        Ok(shared.drain.report())
    }))
}
