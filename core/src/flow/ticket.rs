//! [`FlowTicket`]: what a job under flow control keeps from its dispatch to its end: it
//! waits for its turn before `Started` ([`FlowTicket::admit`]), holds its permits while it
//! runs, and gives everything back when it ends.

use crate::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use crate::event::EventKind;
use crate::executor::JobContext;
use crate::job_id::JobId;
use crate::log::{Level, log_at};
use crate::sync::Mutex;

use super::permits::{Permit, Permits};
use super::stats::FlowCounters;
use super::table::{FlowTable, KeyId, SharedTimer};
use crate::flow_policy::{FlowPolicy, OnBusy, Priority};

/// A job's place in flow control (see the module docs).
pub(crate) struct FlowTicket {
    pub(super) table: Arc<FlowTable>,
    pub(super) key: KeyId,
    pub(super) job: JobId,
    pub(super) policy: FlowPolicy,
    pub(super) priority: Priority,
    /// Debounce or throttle: when it may start.
    pub(super) start_at: Option<Duration>,
    pub(super) timer: SharedTimer,
    /// Its serial key's permit, its type's cap, the global cap: taken in this order by
    /// every job, so no two jobs wait for each other's.
    pub(super) gates: [Option<Arc<Permits>>; 3],
    pub(super) held: Mutex<Vec<Permit>>,
    pub(super) counters: Arc<FlowCounters>,
    pub(super) dispatched_at: Option<Duration>,
    /// Released already (the pipeline does it at the job's end, `Drop` on any other way
    /// out): only once.
    pub(super) released: bool,
}

impl FlowTicket {
    /// Waits for the job's turn: its debounce or throttle time, then its permits. The
    /// first time it has to wait it emits `Queued`. Raced by the pipeline against the
    /// job's cancellation (a superseded job is cancelled while it waits here).
    pub(crate) async fn admit(&self, ctx: &JobContext) {
        let mut waited: Option<Waiting<'_>> = None;
        if let (Some(at), Some(timer)) = (self.start_at, &self.timer) {
            let now = timer.now();
            if at > now {
                waited = Some(Waiting::begin(self, ctx));
                timer.sleep(at.saturating_sub(now)).await;
            }
        }
        if self.policy.debounce().is_some() {
            self.table.end_debounce(&self.key, self.job);
        }
        if self.policy.on_busy() == OnBusy::LatestWins {
            self.table.supersede_earlier(&self.key, self.job, &self.counters, ctx.job_type, &*ctx.env.logger);
        }
        loop {
            for gate in self.gates.iter().flatten() {
                let permit = match Permits::try_acquire(gate) {
                    Some(permit) => permit,
                    None => {
                        if waited.is_none() {
                            waited = Some(Waiting::begin(self, ctx));
                        }
                        Permits::acquire(gate, self.priority).await
                    }
                };
                self.held.lock().push(permit);
            }
            // Throttle: the period holds between the key's actual starts, claimed with the
            // permits in hand (a start claimed earlier could still wait for a permit).
            let (Some(period), Some(timer)) = (self.policy.throttle(), &self.timer) else { break };
            let now = timer.now();
            let Some(due) = self.table.claim_start(&self.key, now, period) else { break };
            // Too soon after the key's last start: give the permits back while waiting.
            drop(core::mem::take(&mut *self.held.lock()));
            if waited.is_none() {
                waited = Some(Waiting::begin(self, ctx));
            }
            timer.sleep(due.saturating_sub(now)).await;
        }
        if let Some(waited) = waited {
            waited.admitted();
        }
    }

    /// Gives back the permits and leaves the key's jobs in flight: called when the job
    /// ends, before its handles resolve (so a dispatch made on seeing the result finds
    /// the key free), and by `Drop` on any other way out.
    pub(crate) fn release(&mut self) {
        if core::mem::replace(&mut self.released, true) {
            return;
        }
        let held = core::mem::take(&mut *self.held.lock());
        drop(held);
        let now = self.timer.as_ref().map(|t| t.now());
        self.table.leave(&self.key, self.job, now);
    }
}

impl Drop for FlowTicket {
    fn drop(&mut self) {
        self.release();
    }
}

/// A job that had to wait: counted in `waiting` until it is admitted or dropped.
struct Waiting<'a> {
    ticket: &'a FlowTicket,
}

impl<'a> Waiting<'a> {
    fn begin(ticket: &'a FlowTicket, ctx: &JobContext) -> Self {
        ticket.counters.update(|s| {
            s.waiting += 1;
            s.queued = s.queued.wrapping_add(1);
        });
        log_at!(&*ctx.env.logger, Level::Debug, "job {} ({}) queued", ctx.id, ctx.job_type);
        let _ = ctx.emit_kind(|| EventKind::Queued);
        Self { ticket }
    }

    fn admitted(self) {
        let ticket = self.ticket;
        if let (Some(from), Some(timer)) = (ticket.dispatched_at, &ticket.timer) {
            ticket.counters.waited(timer.now().saturating_sub(from));
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.ticket.counters.update(|s| s.waiting = s.waiting.saturating_sub(1));
    }
}
