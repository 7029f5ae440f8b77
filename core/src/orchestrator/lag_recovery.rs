//! [`LagRecovery`]: an own job never stays "running" because its terminal event was lost.
//!
//! A host that falls more than its capacity behind loses events. Lost progress and custom
//! events are gone, but a lost terminal event would leave its job tracked forever. So
//! after a lag every tracked job is a *suspect*. Once the host has drained its events, a
//! suspect whose handle says it has ended becomes a *candidate*: its terminal event may
//! still be queued. If it is still tracked after the events have been drained once more,
//! its terminal event is lost (a job's handle resolves only after its terminal event was
//! emitted, so that event would have been received), and it is rebuilt from the job's
//! result.

use alloc::vec::Vec;

use super::tracking::Tracking;
use crate::event::Event;
use crate::job_id::JobId;

/// Jobs whose terminal event may have been lost to a lag.
#[derive(Default)]
pub(crate) struct LagRecovery {
    /// Jobs tracked when a lag was reported, not yet seen finished.
    suspects: Vec<JobId>,
    /// Suspects seen finished at the last drain; if they are still tracked at the next
    /// one, their terminal event is lost.
    candidates: Vec<JobId>,
}

impl LagRecovery {
    /// Own events were lost: any job tracked now may have lost its terminal event.
    pub(crate) fn on_lag(&mut self, tracking: &Tracking) {
        self.suspects.clear();
        self.suspects.extend(tracking.ids());
        self.candidates.clear();
    }

    /// Jobs still under suspicion (for the stats).
    pub(crate) fn len(&self) -> usize {
        self.suspects.len().saturating_add(self.candidates.len())
    }

    /// Called when the host's events are drained. Returns the terminal events known lost,
    /// rebuilt from their jobs' results (empty if none), and whether it did anything (then
    /// the events must be drained again before the host may wait).
    pub(crate) fn on_drained(&mut self, tracking: &mut Tracking) -> (Vec<Event>, bool) {
        if self.suspects.is_empty() && self.candidates.is_empty() {
            return (Vec::new(), false);
        }
        let mut rebuilt = Vec::new();
        for id in core::mem::take(&mut self.candidates) {
            let Some(job) = tracking.get_mut(id) else { continue };
            let Some(kind) = job.handle.take_outcome() else { continue };
            rebuilt.push(Event::new(id, (job.job_type)(), Some(job.type_id), kind).with_causal_depth(job.depth));
        }
        let finished = tracking.take_finished(&mut self.suspects);
        let busy = !rebuilt.is_empty() || !finished.is_empty();
        self.candidates = finished;
        (rebuilt, busy)
    }
}
