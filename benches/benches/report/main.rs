//! The benchmark report: ours against what users would pick instead, measured in one run
//! with criterion, once per build profile, written to `docs/performance.md`.
//!
//! ```text
//! benches/run-quick.sh                      # quick mode, profiles bench and bench-lto
//! BENCH_MODE=full benches/run-quick.sh      # full mode
//! BENCH_PROFILES=bench benches/run-quick.sh # one profile
//! cargo bench -p orchestrator-benches --bench report -- fanout   # a filter: no report written
//! BENCH_MODE=profile-jobs <report binary>   # a fixed workload for valgrind (benches/callgrind.sh)
//! ```
//!
//! Every measured routine is an `iter_custom` that runs `iters` units of work inside one
//! `block_on` and returns the elapsed time, so the runtime's entry cost does not dominate.
//! The samples are also recorded to compute medians, quartiles and ratios.
//!
//! A run writes its profile's section to `<target>/bench-report/<profile>.md` (its goals
//! to `.goals.tsv`), then `docs/performance.md` from the sections of the profiles listed
//! in `BENCH_PROFILES` (default: its own). `BENCH_MODE=stitch` only does the latter.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    missing_debug_implementations
)]

mod alloc_count;
mod build_profile;
mod callgrind;
mod document;
mod fanout;
mod flow;
mod harness;
mod inflight;
mod jobs;
mod memory;
mod orchestrator;
mod peers;
mod profile;
mod runtimes;
mod spawn_mode;
mod tokens;
mod tower_peer;
mod work;

use std::time::Instant;

use orchestrator_benches::{GoalRow, Machine};

use crate::build_profile::Build;
use crate::harness::{Mode, cell, measured, ratio_cell};

fn main() {
    let mode_var = std::env::var("BENCH_MODE").unwrap_or_else(|_| "quick".into());
    if let Some(what) = mode_var.strip_prefix("profile-") {
        profile::profile(what);
        return;
    }
    if let Some(size) = mode_var.strip_prefix("memory") {
        // Only the memory measurements (`memory`: the quick mode's growth test, 100 k vs
        // 1 M jobs; `memory-full`: the full mode's, 1 M vs 10 M), printed.
        let m = memory::measure_memory(if size == "-full" { Mode::Full } else { Mode::Quick });
        println!("{m:#?}");
        return;
    }
    if mode_var == "stitch" {
        // docs/performance.md again from the sections already measured (after editing
        // benches/NOTES.md, say).
        stitch(&Build::detect());
        return;
    }
    let mode = match mode_var.as_str() {
        "full" => Mode::Full,
        _ => Mode::Quick,
    };
    let build = Build::detect();
    let start = Instant::now();
    let machine = Machine::detect();
    let samples = mode.samples();
    let mut c = mode.criterion();
    fanout::bench_fanout(&mut c, samples);
    jobs::bench_jobs(&mut c, samples);
    spawn_mode::bench_spawn_mode(&mut c, samples);
    flow::bench_flow(&mut c, samples);
    orchestrator::bench_orchestrator(&mut c, samples);
    tokens::bench_tokens(&mut c, samples);
    inflight::bench_inflight(&mut c, mode);
    c.final_summary();
    // A filter on the command line (`-- fanout`) measures a subset: no report then.
    let filtered = std::env::args().skip(1).any(|a| !a.starts_with('-'));
    if filtered || std::env::var_os("BENCH_NO_REPORT").is_some() {
        print_measured();
        return;
    }
    eprintln!("measuring memory...");
    let mem = memory::measure_memory(mode);
    let run = document::Run { mode, machine: &machine, build: &build, mem: &mem, elapsed: start.elapsed() };
    let (section, goals) = document::profile_section(&run);
    write(&build.section_path(&build.profile, "md"), &section);
    write(
        &build.section_path(&build.profile, "goals.tsv"),
        &goals.iter().map(|g| g.to_line() + "\n").collect::<String>(),
    );
    stitch(&build);
    eprintln!("profile {}: wrote docs/performance.md in {:.0} s", build.profile, start.elapsed().as_secs_f64());
}

/// Writes `docs/performance.md` from the sections of the profiles in `BENCH_PROFILES`
/// (default: this binary's), and benches/NOTES.md.
fn stitch(build: &Build) {
    let profiles: Vec<String> = std::env::var("BENCH_PROFILES")
        .map(|p| p.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_else(|_| vec![build.profile.clone()]);
    let runs: Vec<_> = profiles
        .iter()
        .map(|p| {
            let section = std::fs::read_to_string(build.section_path(p, "md")).ok()?;
            let goals = std::fs::read_to_string(build.section_path(p, "goals.tsv")).ok()?;
            Some((section, goals.lines().filter_map(GoalRow::from_line).collect()))
        })
        .zip(&profiles)
        .map(|(run, p)| (p.clone(), run))
        .collect();
    let notes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/NOTES.md")).unwrap_or_default();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/performance.md");
    write(std::path::Path::new(path), &document::stitch(&runs, &notes));
}

fn write(path: &std::path::Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create the report's directory");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// What a filtered run measured, printed (no report is written).
fn print_measured() {
    if measured("tokens-child/ours/10") || measured("tokens-shared-tokio-ct/ours/1000") {
        println!("{}", tokens::section());
    }
    if let Some(table) = fanout::fanout_table() {
        eprintln!("\nfan-out, ns per event per subscriber (median, quartiles):\n{table}");
    }
    if jobs::FLAVORS.iter().any(|&f| measured(&jobs::id(f, jobs::OURS, "throughput"))) {
        println!("{}", jobs::section());
    }
    if spawn_mode::measured_any() {
        println!("{}", spawn_mode::section());
    }
    if flow::measured_any() {
        println!("{}", flow::section());
    }
    if measured("inflight-tokio-ct/ours/1") {
        println!("{}", inflight::section());
    }
    if measured("orchestrators-tokio-ct/1/throughput") {
        println!("{}", orchestrator::section());
    }
    if measured("orchestrator-tokio-ct/ours/throughput") {
        for m in ["throughput", "latency"] {
            let (ours, bare) =
                (format!("orchestrator-tokio-ct/ours/{m}"), format!("orchestrator-tokio-ct/unprotected/{m}"));
            eprintln!(
                "orchestrator round trip, {m}: protected {} ns, unprotected {} ns, protected / unprotected {}",
                cell(&ours),
                cell(&bare),
                ratio_cell(&ours, &bare)
            );
        }
    }
}
