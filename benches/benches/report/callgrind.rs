//! Section 8: instruction counts, read from what `benches/callgrind.sh` left for this
//! profile (`target/callgrind/<profile>/summary.tsv`: workload, instructions, units).

use std::path::PathBuf;

use orchestrator_benches::{Table, num};

use crate::build_profile::Build;

/// Per workload: (name, instructions, units).
pub(crate) struct Counts {
    rows: Vec<(String, u64, u64)>,
}

/// Why there are no counts: the file's path and what is wrong with it.
pub(crate) struct Missing {
    path: PathBuf,
    why: &'static str,
}

/// The counts of `build`'s profile, if `benches/callgrind.sh` ran them on this very binary.
pub(crate) fn read(build: &Build) -> Result<Counts, Missing> {
    let path = build.target_dir.join("callgrind").join(&build.profile).join("summary.tsv");
    let missing = |why| Missing { path: path.clone(), why };
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Err(missing(
            "not found (run `benches/callgrind.sh`, or `benches/run-quick.sh` with valgrind installed)",
        ));
    };
    if let (Some(counted), Some(built)) = (modified(&path), std::env::current_exe().ok().and_then(|e| modified(&e))) {
        if counted < built {
            return Err(missing("older than this binary (the code changed since): not used"));
        }
    }
    let rows: Vec<_> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (w, ir, units) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some((w.to_owned(), ir, units))
        })
        .collect();
    if rows.is_empty() {
        return Err(missing("empty"));
    }
    Ok(Counts { rows })
}

impl Counts {
    /// Instructions per unit of `workload`.
    pub(crate) fn per_unit(&self, workload: &str) -> Option<f64> {
        self.rows.iter().find(|(w, _, _)| w == workload).map(|&(_, ir, units)| ir as f64 / units.max(1) as f64)
    }
}

/// What each workload runs (`BENCH_MODE=profile-<workload>`).
fn describe(workload: &str) -> &'static str {
    match workload {
        "jobs" => "ours, trivial job, batches of 1 000 (per job)",
        "jobs-latency" => "ours, trivial job, one at a time (per job)",
        "join" => "ours, 1 000 dispatches with one key and join: 1 execution (per dispatch)",
        "retry" => "ours, job with retry + timeout, batches of 1 000 (per job)",
        "spawn" => "spawn + oneshot, batches of 1 000 (per job)",
        "worker" => "resident worker + oneshot, batches of 1 000 (per job)",
        "inline" => {
            "the executor's future awaited inline (per job; the setup, a runtime and a dispatcher, is most of it)"
        }
        "tower" => "spawn + tower retry + timeout, batches of 1 000 (per job)",
        "worker-tower" => "resident worker + tower retry + timeout, batches of 1 000 (per job)",
        "orchestrator" => "orchestrator round trip, batches of 1 000 (per round trip)",
        "orchestrator-unprotected" => "the same without loop protection (per round trip)",
        "fanout" | "fanout-async-broadcast" => "fan-out to 16 subscribers (per event per subscriber)",
        "fanout-1" | "fanout-async-broadcast-1" => "fan-out to 1 subscriber (per event)",
        _ => "",
    }
}

/// Section 8 of a profile's report.
pub(crate) fn section(counts: &Result<Counts, Missing>) -> String {
    let mut out = String::from(
        "### 8. Instructions (callgrind)\n\nInstructions counted by `valgrind --tool=callgrind` over fixed \
         workloads on tokio current-thread (`benches/callgrind.sh`, which `benches/run-quick.sh` runs before \
         the report when valgrind is installed): deterministic, unlike time on a shared machine, but not time \
         (an atomic read-modify-write or a cache miss is one instruction).\n\n",
    );
    match counts {
        Err(m) => out.push_str(&format!("No counts: `{}` {}.\n\n", m.path.display(), m.why)),
        Ok(c) => {
            let mut t = Table::new(&["workload", "what", "instructions per unit", "ours / this"]);
            for (w, _, _) in &c.rows {
                let per = c.per_unit(w).unwrap_or(f64::NAN);
                // A peer against the matching workload of ours.
                let ours = match w.as_str() {
                    "spawn" | "worker" | "inline" | "join" => Some("jobs"),
                    "tower" | "worker-tower" => Some("retry"),
                    "fanout-async-broadcast" => Some("fanout"),
                    "fanout-async-broadcast-1" => Some("fanout-1"),
                    _ => None,
                };
                let ratio = ours
                    .and_then(|o| Some(format!("{} (`{o}` / this)", num(c.per_unit(o)? / per))))
                    .unwrap_or_else(|| "—".into());
                t.row(&[format!("`{w}`"), describe(w).into(), format!("{per:.0}"), ratio]);
            }
            out.push_str(&t.finish());
            out.push('\n');
        }
    }
    out
}
