//! Fixed workloads for valgrind (`BENCH_MODE=profile-<workload>`, run by
//! `benches/callgrind.sh`), all on tokio current-thread, and a quick side-by-side check.

use std::time::Duration;

use crate::fanout::{fanout_async_broadcast, fanout_ours};
use crate::harness::Routine;
use crate::orchestrator::orchestrator_routine;
use crate::peers::{jobs_inline, jobs_spawn, jobs_worker};
use crate::runtimes::{Flavor, Rt};
use crate::tower_peer::{jobs_tower, jobs_worker_tower};
use crate::work::{BATCH, Options, jobs_ours};

/// Runs workload `what` once (200 batches of 1 000 jobs, or the same number of units).
pub(crate) fn profile(what: &str) {
    let rt = Rt::new(Flavor::TokioCurrent);
    let units = 200;
    match what {
        "jobs" => drop(jobs_ours(&rt, BATCH, Options::Plain)(units)),
        "join" => drop(crate::flow::routine(&rt, crate::flow::JOIN)(units)),
        "jobs-latency" => drop(jobs_ours(&rt, 1, Options::Plain)(units * 1000)),
        "retry" => drop(jobs_ours(&rt, BATCH, Options::RetryTimeout)(units)),
        "spawn" => drop(jobs_spawn(&rt, BATCH)(units)),
        "tower" => drop(jobs_tower(&rt, BATCH)(units)),
        "worker" => drop(jobs_worker(&rt, BATCH)(units)),
        "worker-tower" => drop(jobs_worker_tower(&rt, BATCH)(units)),
        "inline" => drop(jobs_inline(&rt, BATCH)(units)),
        "fanout" => drop(fanout_ours(&rt, 16)(units * 5)),
        "fanout-async-broadcast" => drop(fanout_async_broadcast(&rt, 16)(units * 5)),
        "fanout-1" => drop(fanout_ours(&rt, 1)(units * 50)),
        "fanout-async-broadcast-1" => drop(fanout_async_broadcast(&rt, 1)(units * 50)),
        "orchestrator" => drop(orchestrator_routine(&rt, BATCH as u64, true)(units)),
        "orchestrator-unprotected" => drop(orchestrator_routine(&rt, BATCH as u64, false)(units)),
        "compare-jobs" => compare(&rt, Options::Plain, Box::new(jobs_spawn(&rt, BATCH))),
        "compare-worker" => compare(&rt, Options::Plain, Box::new(jobs_worker(&rt, BATCH))),
        "compare-retry" => compare(&rt, Options::RetryTimeout, Box::new(jobs_tower(&rt, BATCH))),
        other => panic!("unknown profile workload {other}"),
    }
}

/// `BENCH_MODE=profile-compare-jobs` (ours / spawn + oneshot), `-worker` (ours / the
/// resident worker) or `-retry` (ours with retry + timeout / spawn + tower): a quick look at
/// one goal while working on the hot path. 30 rounds of 20 batches of 1 000 jobs, ours and
/// the peer back to back; prints the medians (ns per job) and the median of the per-round
/// ratios.
fn compare(rt: &Rt, options: Options, mut peer: Routine<'_>) {
    let mut ours = jobs_ours(rt, BATCH, options);
    let (mut a, mut b, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..30 {
        let per_job = |d: Duration| d.as_nanos() as f64 / (20 * BATCH) as f64;
        let (x, y) = if round % 2 == 0 {
            let x = per_job(ours(20));
            (x, per_job(peer(20)))
        } else {
            let y = per_job(peer(20));
            (per_job(ours(20)), y)
        };
        a.push(x);
        b.push(y);
        r.push(x / y);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("ours {:.0} ns, peer {:.0} ns, ratio {:.2}", median(&mut a), median(&mut b), median(&mut r));
}
