//! The `metrics` feature: every record of a job type's metrics also goes to the
//! [`metrics`] facade, to whichever recorder the application installed (Prometheus,
//! StatsD, ...), labelled `job_type`:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `orchestrator_jobs_dispatched_total` | counter | `job_type` |
//! | `orchestrator_jobs_ended_total` | counter | `job_type`, `outcome` (`succeeded`, `failed`, `cancelled`, `timed_out`) |
//! | `orchestrator_jobs_retried_total` | counter | `job_type` |
//! | `orchestrator_jobs_in_flight` | gauge | `job_type` |
//! | `orchestrator_job_queue_wait_seconds` | histogram | `job_type` |
//! | `orchestrator_job_run_time_seconds` | histogram | `job_type` |
//!
//! The handles are looked up at each record rather than kept: a recorder installed after
//! the dispatcher was built (or a thread-local one, in tests) still gets everything.

use metrics::{counter, gauge, histogram};

use super::Ended;

/// Names of the exported metrics (docs/runtimes.md lists them too).
pub(super) const DISPATCHED: &str = "orchestrator_jobs_dispatched_total";
pub(super) const ENDED: &str = "orchestrator_jobs_ended_total";
pub(super) const RETRIED: &str = "orchestrator_jobs_retried_total";
pub(super) const IN_FLIGHT: &str = "orchestrator_jobs_in_flight";
pub(super) const QUEUE_WAIT: &str = "orchestrator_job_queue_wait_seconds";
pub(super) const RUN_TIME: &str = "orchestrator_job_run_time_seconds";

pub(super) fn dispatched(job_type: &'static str) {
    counter!(DISPATCHED, "job_type" => job_type).increment(1);
    gauge!(IN_FLIGHT, "job_type" => job_type).increment(1.0);
}

pub(super) fn ended(job_type: &'static str, how: Ended) {
    let outcome = match how {
        Ended::Succeeded => "succeeded",
        Ended::Failed => "failed",
        Ended::Cancelled => "cancelled",
        Ended::TimedOut => "timed_out",
    };
    counter!(ENDED, "job_type" => job_type, "outcome" => outcome).increment(1);
    gauge!(IN_FLIGHT, "job_type" => job_type).decrement(1.0);
}

pub(super) fn retried(job_type: &'static str) {
    counter!(RETRIED, "job_type" => job_type).increment(1);
}

pub(super) fn queue_wait(job_type: &'static str, nanos: u64) {
    histogram!(QUEUE_WAIT, "job_type" => job_type).record(seconds(nanos));
}

pub(super) fn run_time(job_type: &'static str, nanos: u64) {
    histogram!(RUN_TIME, "job_type" => job_type).record(seconds(nanos));
}

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}
