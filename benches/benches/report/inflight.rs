//! Section 7: K jobs in flight (K dispatched, then all awaited), K = 1 to 1 M: the cost
//! per job should not grow with K.

use criterion::Criterion;
use orchestrator_benches::{Table, int, time};

use crate::harness::{Mode, Routine, bench_set, cell, group, ratio_cell, slow_rows, stats};
use crate::peers::jobs_spawn;
use crate::runtimes::{Flavor, Rt};
use crate::work::{Options, jobs_ours};

pub(crate) const KS: [usize; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
/// From this K on, a call takes tens of milliseconds or more: fewer samples, flat sampling.
const SLOW_K: usize = 100_000;
const GROUP: &str = "inflight-tokio-ct";

/// Samples of the slow rows (criterion's minimum is 10).
fn slow_samples(mode: Mode) -> usize {
    match mode {
        Mode::Quick => 10,
        Mode::Full => 20,
    }
}

pub(crate) fn bench_inflight(c: &mut Criterion, mode: Mode) {
    let mut g = group(c, GROUP, mode.samples());
    for k in KS {
        if k == SLOW_K {
            slow_rows(&mut g, slow_samples(mode));
        }
        let rts = [Rt::new(Flavor::TokioCurrent), Rt::new(Flavor::TokioCurrent)];
        let set: Vec<(&str, Routine<'_>)> = vec![
            ("ours", Box::new(jobs_ours(&rts[0], k, Options::Plain))),
            ("spawn-oneshot", Box::new(jobs_spawn(&rts[1], k))),
        ];
        bench_set(&mut g, &k.to_string(), k as u64, set);
    }
    g.finish();
}

fn id(contender: &str, k: usize) -> String {
    format!("{GROUP}/{contender}/{k}")
}

/// ns per job at the largest K measured over ns per job at K = 1 000 (`None` if either
/// was not measured): 1 for a cost linear in K.
pub(crate) fn growth(contender: &str) -> Option<(usize, f64)> {
    let base = stats(&id(contender, 1_000))?.median();
    KS.iter().rev().find_map(|&k| stats(&id(contender, k)).map(|s| (k, s.median() / base)))
}

/// Section 7 of a profile's report.
pub(crate) fn section() -> String {
    let mut out = String::from(
        "### 7. Jobs in flight\n\nns per job for K jobs in flight: K dispatched, then their handles awaited in \
         order, on tokio current-thread (ours: the adapter's dispatcher, `max_pending` raised to K where K is \
         above its default; the peer: spawn + oneshot). A cost per job that stays flat as K grows is a total \
         cost linear in K. From K = 100 000 on, each sample is one call (flat sampling) and rows have fewer \
         samples.\n\n",
    );
    let mut t = Table::new(&["K", "ours", "spawn + oneshot", "ours / spawn", "ours, K jobs in all"]);
    for k in KS {
        let (o, s) = (id("ours", k), id("spawn-oneshot", k));
        let total = stats(&o).map_or_else(|| "—".into(), |st| time(st.median() * k as f64));
        t.row(&[int(k as u64), cell(&o), cell(&s), ratio_cell(&o, &s), total]);
    }
    out.push_str(&t.finish());
    out.push('\n');
    if let (Some((k, ours)), Some((_, peer))) = (growth("ours"), growth("spawn-oneshot")) {
        out.push_str(&format!(
            "ns per job at K = {} over ns per job at K = 1 000: ours {ours:.2}, spawn + oneshot {peer:.2}.\n\n",
            int(k as u64)
        ));
    }
    out
}
