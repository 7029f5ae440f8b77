//! Sections 2 and 3: the trivial job's round trip (dispatch → execute → typed result),
//! plain and with timeout + retry, against spawn + oneshot, a resident worker, the bare
//! executor future, and tower.

use criterion::Criterion;
use orchestrator_benches::{Table, int};

use crate::harness::{Routine, bench_set, cell, group, ratio_cell};
use crate::peers::{jobs_inline, jobs_spawn, jobs_worker};
use crate::runtimes::{Flavor, Rt};
use crate::tower_peer::{jobs_tower, jobs_worker_tower};
use crate::work::{BATCH, Options, jobs_ours};

pub(crate) const FLAVORS: [Flavor; 3] = [Flavor::TokioCurrent, Flavor::TokioMulti, Flavor::Smol];
/// The two modes of a row: *throughput* (batches of [`BATCH`]) and *latency* (one at a time).
pub(crate) const MODES: [(&str, usize); 2] = [("throughput", BATCH), ("latency", 1)];

/// Contenders of every row: ours, plain and with retry + timeout, and the peers.
pub(crate) const OURS: &str = "ours";
pub(crate) const SPAWN: &str = "spawn-oneshot";
pub(crate) const WORKER: &str = "worker-oneshot";
pub(crate) const INLINE: &str = "inline";
pub(crate) const OURS_RT: &str = "ours-retry-timeout";
pub(crate) const SPAWN_TOWER: &str = "spawn-tower";
pub(crate) const WORKER_TOWER: &str = "worker-tower";

/// The id of `contender` on `flavor` in `mode` (`throughput` or `latency`).
pub(crate) fn id(flavor: Flavor, contender: &str, mode: &str) -> String {
    format!("jobs-{}/{contender}/{mode}", flavor.label())
}

pub(crate) fn bench_jobs(c: &mut Criterion, samples: usize) {
    for flavor in FLAVORS {
        let mut g = group(c, &format!("jobs-{}", flavor.label()), samples);
        for (mode, batch) in MODES {
            let rts: Vec<Rt> = (0..7).map(|_| Rt::new(flavor)).collect();
            let mut set: Vec<(&str, Routine<'_>)> = vec![
                (OURS, Box::new(jobs_ours(&rts[0], batch, Options::Plain))),
                (SPAWN, Box::new(jobs_spawn(&rts[1], batch))),
                (WORKER, Box::new(jobs_worker(&rts[2], batch))),
                (INLINE, Box::new(jobs_inline(&rts[3], batch))),
                (OURS_RT, Box::new(jobs_ours(&rts[4], batch, Options::RetryTimeout))),
            ];
            if flavor != Flavor::Smol {
                set.push((SPAWN_TOWER, Box::new(jobs_tower(&rts[5], batch))));
                set.push((WORKER_TOWER, Box::new(jobs_worker_tower(&rts[6], batch))));
            }
            bench_set(&mut g, mode, batch as u64, set);
        }
        g.finish();
    }
}

/// Sections 2 and 3 of a profile's report.
pub(crate) fn section() -> String {
    let mut out = format!(
        "### 2. Job round trip: dispatch → execute → typed result\n\nns per job. The job's work is `x + 1`. \
         *throughput*: {batch} jobs dispatched, then their handles awaited in order; *latency*: one job \
         dispatched and awaited at a time. Ours uses the adapter's ready-made dispatcher (1 runner on \
         current-thread, 2 on the 2-worker runtime and on smol). The peers: *spawn + oneshot* spawns a task per \
         job that sends the result on a `tokio::sync::oneshot` (runtime-agnostic; on smol too); *resident \
         worker* is one task spawned once that loops over requests `(input, oneshot::Sender)` received on an \
         unbounded channel (tokio `mpsc` on tokio, `async-channel` on smol: the cheapest feed), awaits the \
         executor's future inline and replies on the oneshot; *inline* (the floor) awaits the executor's future \
         (`Executor::process` with a real `JobContext`) directly in the measuring task. Each contender has a \
         runtime of its own.\n\n",
        batch = int(BATCH as u64)
    );
    let mut t = Table::new(&[
        "runtime",
        "mode",
        "ours",
        "spawn + oneshot",
        "resident worker",
        "inline (floor)",
        "ours / spawn",
        "ours / worker",
        "ours / inline",
    ]);
    for flavor in FLAVORS {
        for (mode, _) in MODES {
            let o = id(flavor, OURS, mode);
            let (s, w, i) = (id(flavor, SPAWN, mode), id(flavor, WORKER, mode), id(flavor, INLINE, mode));
            t.row(&[
                flavor.describe().into(),
                mode.into(),
                cell(&o),
                cell(&s),
                cell(&w),
                cell(&i),
                ratio_cell(&o, &s),
                ratio_cell(&o, &w),
                ratio_cell(&o, &i),
            ]);
        }
    }
    out.push_str(&t.finish());
    out.push_str(
        "\n### 3. Job round trip with timeout + retry\n\nns per job, measured in the same samples as section 2. \
         Ours: `JobBuilder::timeout(10 s).retry(3 retries, 10 ms base)`. *spawn + tower* spawns a task per job \
         that calls `ServiceBuilder::new().timeout(10 s).retry(3 retries, 10 ms exponential back-off)\
         .service_fn(..)` (`ServiceExt::oneshot` on a clone) and sends the result on a oneshot; *worker + tower* \
         is the resident worker above owning one such service (`ready`, then `call`, for each request). \
         tower's timeout needs tokio's timer, so there is no tower row on smol. The last column is the price of \
         the options on our own job.\n\n",
    );
    let mut t = Table::new(&[
        "runtime",
        "mode",
        "ours, retry + timeout",
        "spawn + tower",
        "worker + tower",
        "ours / spawn + tower",
        "ours / worker + tower",
        "ours retry + timeout / ours plain",
    ]);
    for flavor in FLAVORS {
        for (mode, _) in MODES {
            let o = id(flavor, OURS_RT, mode);
            let (s, w, p) = (id(flavor, SPAWN_TOWER, mode), id(flavor, WORKER_TOWER, mode), id(flavor, OURS, mode));
            t.row(&[
                flavor.describe().into(),
                mode.into(),
                cell(&o),
                cell(&s),
                cell(&w),
                ratio_cell(&o, &s),
                ratio_cell(&o, &w),
                ratio_cell(&o, &p),
            ]);
        }
    }
    out.push_str(&t.finish());
    out.push('\n');
    out
}
