//! The report: one section per build profile (its machine and run, its goals, its
//! tables), and `docs/performance.md` stitched from the sections of the profiles run.

use std::time::Duration;

use orchestrator_benches::{GoalRow, Machine, at_least, at_most, bytes, int, loadavg, profile_table, summary_table};

use crate::build_profile::Build;
use crate::callgrind::{self, Counts, Missing};
use crate::harness::{Mode, ratio, stats};
use crate::jobs::{self, OURS, OURS_RT, SPAWN, SPAWN_TOWER, WORKER};
use crate::memory::{self, IDLE_SUBSCRIBER_GOAL, IN_FLIGHT, IN_FLIGHT_JOB_GOAL, Memory};
use crate::runtimes::Flavor;
use crate::tokens::{self, SHARED, shared_growth};
use crate::{fanout, flow, inflight, orchestrator, spawn_mode};

/// A goal on the sample-by-sample ratio of two contenders of one row.
fn ratio_goal(goal: String, ours: &str, peer: &str, max: f64) -> GoalRow {
    let target = format!("≤ {max:.2}×");
    match (stats(ours), stats(peer), ratio(ours, peer)) {
        (Some(o), Some(p), Some(r)) => GoalRow {
            goal,
            target,
            ours: o.cell(),
            peer: p.cell(),
            measured: format!("{:.2} ({:.2}–{:.2})", r.median(), r.p25(), r.p75()),
            verdict: at_most(r.median(), max),
        },
        _ => GoalRow::not_measured(goal, target),
    }
}

/// The goals of issue #14, in its order.
fn issue_goals(mem: &Memory, counts: &Result<Counts, Missing>) -> Vec<GoalRow> {
    let job = |f: Flavor, c: &str, mode: &str| jobs::id(f, c, mode);
    let (ct, mt, smol) = (Flavor::TokioCurrent, Flavor::TokioMulti, Flavor::Smol);
    let mut g = vec![
        ratio_goal(
            "trivial job round trip, batches of 1 000, tokio current-thread, vs spawn + oneshot (ns per job)".into(),
            &job(ct, OURS, "throughput"),
            &job(ct, SPAWN, "throughput"),
            0.6,
        ),
        ratio_goal(
            "the same, vs the resident worker + oneshot".into(),
            &job(ct, OURS, "throughput"),
            &job(ct, WORKER, "throughput"),
            1.5,
        ),
        ratio_goal(
            "trivial job round trip, batches of 1 000, tokio multi-thread (2), vs spawn + oneshot".into(),
            &job(mt, OURS, "throughput"),
            &job(mt, SPAWN, "throughput"),
            0.8,
        ),
        ratio_goal(
            "trivial job round trip, batches of 1 000, smol, vs spawn + oneshot".into(),
            &job(smol, OURS, "throughput"),
            &job(smol, SPAWN, "throughput"),
            0.8,
        ),
    ];
    for f in [ct, mt, smol] {
        g.push(ratio_goal(
            format!("one job at a time, {}, vs spawn + oneshot", f.describe()),
            &job(f, OURS, "latency"),
            &job(f, SPAWN, "latency"),
            1.0,
        ));
    }
    g.push(ratio_goal(
        "timeout + retry, batches of 1 000, tokio current-thread, vs spawn + tower".into(),
        &job(ct, OURS_RT, "throughput"),
        &job(ct, SPAWN_TOWER, "throughput"),
        0.6,
    ));
    g.push(ratio_goal(
        "timeout + retry vs our own plain job (the same samples)".into(),
        &job(ct, OURS_RT, "throughput"),
        &job(ct, OURS, "throughput"),
        1.3,
    ));
    g.push(GoalRow {
        goal: format!("memory per in-flight plain job ({} in flight), vs spawn + oneshot", int(IN_FLIGHT as u64)),
        target: format!("≤ {}", bytes(IN_FLIGHT_JOB_GOAL)),
        ours: bytes(mem.job_ours),
        peer: bytes(mem.job_spawn),
        measured: bytes(mem.job_ours),
        verdict: at_most(mem.job_ours, IN_FLIGHT_JOB_GOAL),
    });
    g.push(GoalRow {
        goal: format!(
            "memory per idle subscriber ({} subscribed, never polled), vs tokio broadcast",
            int(IN_FLIGHT as u64)
        ),
        target: format!("≤ {}", bytes(IDLE_SUBSCRIBER_GOAL)),
        ours: bytes(mem.sub_ours),
        peer: bytes(mem.sub_tokio),
        measured: bytes(mem.sub_ours),
        verdict: at_most(mem.sub_ours, IDLE_SUBSCRIBER_GOAL),
    });
    g.push(ratio_goal(
        "create + drop a child token beside 100 000 live siblings, vs tokio-util (ns)".into(),
        "tokens-child/ours/100000",
        "tokens-child/tokio-util/100000",
        1.5,
    ));
    let shared_goal = format!(
        "K jobs sharing one parent token, linear in K: (ours / spawn + oneshot) at K = {} over the same at K = {}",
        int(SHARED[2] as u64),
        int(SHARED[0] as u64)
    );
    g.push(match shared_growth() {
        Some((small, large)) => GoalRow {
            goal: shared_goal,
            target: "≤ 1.50".into(),
            ours: format!("{large:.2}×"),
            peer: format!("{small:.2}×"),
            measured: format!("{:.2}", large / small),
            verdict: at_most(large / small, 1.5),
        },
        None => GoalRow::not_measured(shared_goal, "≤ 1.50"),
    });
    g.push(GoalRow {
        goal: "a bus nobody listens to costs nothing: heap allocations per trivial job in steady state with no \
               subscriber (an event built would allocate), vs spawn + oneshot"
            .into(),
        target: "0".into(),
        ours: format!("{:.2}", mem.allocs_quiet),
        peer: format!("{:.2}", mem.allocs_spawn),
        measured: format!("{:.2}", mem.allocs_quiet),
        verdict: if mem.allocs_quiet < 0.01 {
            "**met**".into()
        } else {
            format!("**missed** by {:.2} per job", mem.allocs_quiet)
        },
    });
    let instr_goal = "instructions per trivial job, batches of 1 000 (callgrind `jobs`), vs the resident worker";
    g.push(match counts.as_ref().ok().and_then(|c| Some((c.per_unit("jobs")?, c.per_unit("worker")))) {
        Some((ours, worker)) => GoalRow {
            goal: instr_goal.into(),
            target: "≤ 800".into(),
            ours: format!("{ours:.0}"),
            peer: worker.map_or_else(|| "—".into(), |w| format!("{w:.0}")),
            measured: match worker {
                Some(w) => format!("{ours:.0} ({:.2}× the worker)", ours / w),
                None => format!("{ours:.0}"),
            },
            verdict: at_most(ours, 800.0),
        },
        None => GoalRow::not_measured(instr_goal, "≤ 800"),
    });
    g
}

/// Goals of earlier issues, still checked.
fn other_goals(mem: &Memory) -> Vec<GoalRow> {
    let mut g = Vec::new();
    for (n, peer, max) in [(16, "async-broadcast", 0.65), (1, "async-broadcast", 0.8), (4, "async-broadcast", 0.8)] {
        g.push(ratio_goal(
            format!("fan-out, N = {n}, tokio current-thread, vs {peer} (ns per event per subscriber)"),
            &format!("fanout-tokio-ct/ours/{n}"),
            &format!("fanout-tokio-ct/{peer}/{n}"),
            max,
        ));
    }
    g.push(ratio_goal(
        "fan-out, N = 64, tokio multi-thread, vs tokio broadcast".into(),
        "fanout-tokio-mt/ours/64",
        "fanout-tokio-mt/tokio-broadcast/64",
        1.0,
    ));
    let what = "orchestrator round trip (command → job → `on_active_success` → state), tokio current-thread";
    g.push(match stats("orchestrator-tokio-ct/ours/throughput") {
        Some(o) => {
            let per_sec = 1e9 / o.median();
            GoalRow {
                goal: what.into(),
                target: "≥ 1 M/s".into(),
                ours: o.cell(),
                peer: "—".into(),
                measured: format!("{:.2} M/s ({:.2}–{:.2})", per_sec / 1e6, 1e3 / o.p75(), 1e3 / o.p25()),
                verdict: at_least(per_sec, 1e6),
            }
        }
        None => GoalRow::not_measured(what, "≥ 1 M/s"),
    });
    let (join, plain) = flow::join_ids();
    g.push(ratio_goal(
        "1 000 identical dispatches with join (1 execution), per dispatch, vs a plain dispatch (issue #16)".into(),
        &join,
        &plain,
        1.0,
    ));
    g.push(ratio_goal(
        "orchestrator round trip with 1 000 orchestrators on one bus, vs with 1 (issue #15)".into(),
        "orchestrators-tokio-ct/1000/throughput",
        "orchestrators-tokio-ct/1/throughput",
        1.5,
    ));
    let growth = mem.growth[1].1 - mem.growth[0].1;
    g.push(GoalRow {
        goal: format!(
            "memory after {} M jobs vs after {} M",
            mem.growth[1].0 as f64 / 1e6,
            mem.growth[0].0 as f64 / 1e6
        ),
        target: "no growth (≤ 4 KiB)".into(),
        ours: bytes(mem.growth[1].1 as f64),
        peer: bytes(mem.growth[0].1 as f64),
        measured: format!("{} growth", bytes(growth as f64)),
        verdict: if growth <= 4096 { "**met**".into() } else { "**missed**".into() },
    });
    g
}

/// What one profile's run measured.
pub(crate) struct Run<'a> {
    pub(crate) mode: Mode,
    pub(crate) machine: &'a Machine,
    pub(crate) build: &'a Build,
    pub(crate) mem: &'a Memory,
    pub(crate) elapsed: Duration,
}

/// One profile's section of the report, and its goals of issue #14 (for the summary).
pub(crate) fn profile_section(run: &Run<'_>) -> (String, Vec<GoalRow>) {
    let counts = callgrind::read(run.build);
    let goals = issue_goals(run.mem, &counts);
    let b = run.build;
    let mut out = format!("## Profile `{}`\n\n{}.\n\n### Machine and run\n\n", b.profile, b.describe());
    let lines = [
        format!("* profile: **`{}`**: {}", b.profile, b.describe()),
        format!(
            "* mode: **{:?}** ({} criterion samples per row, fewer for the slowest rows); measuring took {:.0} s",
            run.mode,
            run.mode.samples(),
            run.elapsed.as_secs_f64()
        ),
        format!("* `nproc`: {}; CPU: {}", run.machine.cpus, run.machine.cpu_model),
        format!("* {}", run.machine.rustc),
        format!("* load average at start: {}; at end: {}", run.machine.load_start, loadavg()),
        format!(
            "* instruction counts: {}",
            match &counts {
                Ok(_) => "from `benches/callgrind.sh` on this binary (section 8)",
                Err(_) => "none (section 8)",
            }
        ),
        "* the machine is shared with other builds: absolute times move by ±20 % and more between runs; the \
         ratios, taken within each sample, are much steadier. Instruction counts do not move."
            .into(),
    ];
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("\n### Goals of issue #14\n\n");
    out.push_str(
        "A ratio is the median of the per-sample ratios ours / peer, with their quartiles; ours and peer are ns \
         per unit (median, quartiles) unless the goal says otherwise. *missed by x* is measured / target.\n\n",
    );
    out.push_str(&profile_table(&goals));
    out.push_str("\n### Other goals\n\n");
    out.push_str(&profile_table(&other_goals(run.mem)));
    out.push('\n');
    for s in [
        fanout::section(),
        jobs::section(),
        spawn_mode::section(),
        flow::section(),
        orchestrator::section(),
        memory::section(run.mem),
        tokens::section(),
        inflight::section(),
        callgrind::section(&counts),
    ] {
        out.push_str(&s);
    }
    (out, goals)
}

/// What a profile's run left: its section and its goals (`None`: not run).
pub(crate) type Ran = Option<(String, Vec<GoalRow>)>;

/// `docs/performance.md`: the summary of every profile's goals, then each profile's
/// section, then `notes` (benches/NOTES.md). `profiles`: (name, its section and goals if
/// it was run).
pub(crate) fn stitch(profiles: &[(String, Ran)], notes: &str) -> String {
    let mut out = String::from(
        "# Performance\n\nGenerated by `benches/run-quick.sh` (quick mode) or `BENCH_MODE=full \
         benches/run-quick.sh` (full mode), once per build profile (`BENCH_PROFILES`, by default `bench` and \
         `bench-lto`); do not edit by hand. Ours and the peers are measured in the same samples: each criterion \
         sample runs every contender of a row back to back (in a rotating order), so a ratio is computed sample \
         by sample from measurements taken moments apart, and the load of this shared machine weighs on both \
         sides alike. A time cell is the median of the samples with the first and third quartiles in brackets; \
         a ratio cell is the median of the per-sample ratios ours / peer, with their quartiles.\n\n",
    );
    out.push_str("## Goals of issue #14, per profile\n\n");
    let goals: Vec<(String, Vec<GoalRow>)> = profiles
        .iter()
        .map(|(name, run)| (name.clone(), run.as_ref().map(|(_, g)| g.clone()).unwrap_or_default()))
        .collect();
    out.push_str(&summary_table(&goals));
    out.push('\n');
    for (name, run) in profiles {
        match run {
            Some((section, _)) => out.push_str(section),
            None => out.push_str(&format!("## Profile `{name}`\n\nNot measured in this run.\n\n")),
        }
    }
    out.push_str(notes);
    out
}
