//! Shared helpers of the `report` bench: sample recording, statistics, the machine
//! description and the markdown of `docs/performance.md`.
//!
//! The bench measures with criterion (`iter_custom`); every sample criterion takes is
//! also recorded here (iterations and elapsed time), so the report can compute medians and
//! spreads, and ratios of ours to the peer's measured in the same run.

mod goals;

pub use goals::{GoalRow, at_least, at_most, profile_table, summary_table};

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Samples recorded per benchmark id: `(units measured, elapsed)`, in call order. Warm-up
/// calls are recorded too; [`Recorder::take`] keeps the last `n` (the measured samples).
#[derive(Debug, Default)]
pub struct Recorder {
    samples: Mutex<HashMap<String, Vec<(f64, Duration)>>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call of an `iter_custom` routine that measured `units` units.
    pub fn record(&self, id: &str, units: f64, elapsed: Duration) {
        let mut map = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(id.to_owned()).or_default().push((units, elapsed));
    }

    /// The last `n` samples of `id`, as nanoseconds per unit, in the order they were
    /// taken (`None` if never measured, e.g. filtered out on the command line).
    pub fn raw(&self, id: &str, n: usize) -> Option<Vec<f64>> {
        let map = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let all = map.get(id)?;
        let start = all.len().saturating_sub(n);
        Some(all[start..].iter().map(|(units, d)| d.as_secs_f64() * 1e9 / units.max(1.0)).collect())
    }

    /// The last `n` samples of `id`, as nanoseconds per unit (`None` if never measured).
    pub fn take(&self, id: &str, n: usize) -> Option<Stats> {
        Stats::new(self.raw(id, n)?)
    }

    /// Ratios `ours / peer` sample by sample, of two benchmarks measured in the same
    /// samples (see the report's `bench_set`): the load of a shared machine then weighs on
    /// both sides of each ratio alike.
    pub fn paired_ratio(&self, ours: &str, peer: &str, n: usize) -> Option<Stats> {
        let (ours, peer) = (self.raw(ours, n)?, self.raw(peer, n)?);
        Stats::new(ours.iter().zip(&peer).map(|(o, p)| o / p).collect())
    }
}

/// Order statistics of one benchmark's samples (nanoseconds per unit).
#[derive(Debug, Clone)]
pub struct Stats {
    sorted: Vec<f64>,
}

impl Stats {
    /// `None` for no samples.
    pub fn new(mut samples: Vec<f64>) -> Option<Self> {
        samples.retain(|x| x.is_finite());
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        Some(Self { sorted: samples })
    }

    /// The `q` quantile (0..=1), linearly interpolated.
    pub fn quantile(&self, q: f64) -> f64 {
        let last = self.sorted.len() - 1;
        let pos = q.clamp(0.0, 1.0) * last as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let frac = pos - lo as f64;
        self.sorted[lo] * (1.0 - frac) + self.sorted[hi] * frac
    }

    /// The median.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    /// First quartile.
    pub fn p25(&self) -> f64 {
        self.quantile(0.25)
    }

    /// Third quartile.
    pub fn p75(&self) -> f64 {
        self.quantile(0.75)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Always false (a `Stats` has at least one sample).
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// `median (p25–p75)` with a sensible precision.
    pub fn cell(&self) -> String {
        format!("{} ({}–{})", num(self.median()), num(self.p25()), num(self.p75()))
    }
}

/// A number with 3 significant digits (at most one decimal for values ≥ 10).
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// An integer with its digits in groups of three: `1 000 000`.
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(d);
    }
    out
}

/// A time given in nanoseconds, in the largest unit that keeps it at least 1.
pub fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{} s", num(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", num(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", num(ns / 1e3))
    } else {
        format!("{} ns", num(ns))
    }
}

/// Bytes, human readable.
pub fn bytes(x: f64) -> String {
    if x.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", x / (1024.0 * 1024.0))
    } else if x.abs() >= 1024.0 {
        format!("{:.1} KiB", x / 1024.0)
    } else {
        format!("{x:.0} B")
    }
}

/// What the machine is: `nproc`, the CPU model, the compiler, the load.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// `rustc -V`.
    pub rustc: String,
    /// /proc/loadavg at the start of the run.
    pub load_start: String,
}

impl Machine {
    /// Reads it now.
    pub fn detect() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Self { cpus, cpu_model, rustc, load_start: loadavg() }
    }
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A markdown table under construction.
#[derive(Debug, Default)]
pub struct Table {
    out: String,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
        Self { out }
    }

    /// One row.
    pub fn row(&mut self, cells: &[String]) {
        let _ = writeln!(self.out, "| {} |", cells.join(" | "));
    }

    /// The markdown.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = Stats::new(vec![4.0, 1.0, 3.0, 2.0, 5.0]).unwrap_or_else(|| unreachable!());
        assert!((s.median() - 3.0).abs() < 1e-9);
        assert!((s.p25() - 2.0).abs() < 1e-9);
        assert!((s.quantile(1.0) - 5.0).abs() < 1e-9);
        assert!(Stats::new(vec![]).is_none());
    }

    #[test]
    fn integers_and_times_read_easily() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1_000), "1 000");
        assert_eq!(int(1_000_000), "1 000 000");
        assert_eq!(int(12_345), "12 345");
        assert_eq!(time(950.0), "950 ns");
        assert_eq!(time(1_500.0), "1.50 µs");
        assert_eq!(time(803e6), "803 ms");
        assert_eq!(time(2.5e9), "2.50 s");
    }

    #[test]
    fn recorder_keeps_the_last_samples() {
        let r = Recorder::new();
        r.record("a", 10.0, Duration::from_nanos(1000)); // warm-up
        r.record("a", 10.0, Duration::from_nanos(100));
        r.record("a", 20.0, Duration::from_nanos(200));
        let s = r.take("a", 2).unwrap_or_else(|| unreachable!());
        assert_eq!(s.len(), 2);
        assert!((s.median() - 10.0).abs() < 1e-9);
        assert!(r.take("b", 2).is_none());
        r.record("b", 10.0, Duration::from_nanos(400));
        r.record("b", 10.0, Duration::from_nanos(50));
        r.record("b", 20.0, Duration::from_nanos(400));
        let ratios = r.paired_ratio("a", "b", 2).unwrap_or_else(|| unreachable!());
        assert!((ratios.quantile(0.0) - 0.5).abs() < 1e-9); // 200/20 over 400/20
        assert!((ratios.quantile(1.0) - 2.0).abs() < 1e-9); // 100/10 over 50/10
    }
}
