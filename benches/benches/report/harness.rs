//! How a row is measured: every contender of a row in the same criterion sample, in a
//! rotating order; the samples kept for medians, quartiles and sample-by-sample ratios.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use orchestrator_benches::{Recorder, Stats, num};

/// Quick (the default) or full.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Quick,
    Full,
}

impl Mode {
    pub(crate) fn criterion(self) -> Criterion {
        let c = Criterion::default().without_plots().sample_size(self.samples());
        let c = match self {
            Mode::Quick => c.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2)),
            Mode::Full => c.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)),
        };
        c.configure_from_args()
    }

    /// Criterion samples per row (rows of slow routines take fewer: [`slow_rows`]).
    pub(crate) fn samples(self) -> usize {
        match self {
            Mode::Quick => 20,
            Mode::Full => 40,
        }
    }

    /// Jobs run before the first and the second memory reading of the growth test.
    pub(crate) fn growth(self) -> (u64, u64) {
        match self {
            Mode::Quick => (100_000, 1_000_000),
            Mode::Full => (1_000_000, 10_000_000),
        }
    }
}

static RECORDER: LazyLock<Recorder> = LazyLock::new(Recorder::new);

/// Samples taken of each measured id (`{group}/{contender}/{param}`): the recorder also
/// holds criterion's warm-up calls, and keeps the last this many.
static SAMPLES: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

/// A measured routine: runs `iters` units of work, returns the time they took.
pub(crate) type Routine<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// The group being measured: its name and its current sample size (criterion does not
/// expose them).
struct Current {
    name: String,
    samples: usize,
}

thread_local! {
    static GROUP: RefCell<Current> = const { RefCell::new(Current { name: String::new(), samples: 0 }) };
}

/// A criterion group of `samples` samples per row, linear sampling.
pub(crate) fn group<'a>(c: &'a mut Criterion, name: &str, samples: usize) -> BenchmarkGroup<'a, WallTime> {
    GROUP.with(|g| *g.borrow_mut() = Current { name: name.to_owned(), samples });
    let mut g = c.benchmark_group(name);
    g.sample_size(samples);
    g
}

/// The following rows of `group` are slow (one call of a routine takes a large part of a
/// second): `samples` samples, each the same number of iterations (criterion's linear
/// sampling needs at least `samples × (samples + 1) / 2` iterations per row).
pub(crate) fn slow_rows(group: &mut BenchmarkGroup<'_, WallTime>, samples: usize) {
    GROUP.with(|g| g.borrow_mut().samples = samples);
    group.sample_size(samples).sampling_mode(SamplingMode::Flat);
}

/// Benchmarks a set of routines (ours and the peers') as one criterion benchmark `param`
/// of `group`. Every sample runs each routine for the same number of iterations, back to
/// back, in an order that rotates from sample to sample, and records each one's time
/// under `{group}/{name}/{param}`. Ratios are then taken sample by sample between
/// measurements made moments apart, so the load of a shared machine weighs on both sides
/// alike. (Criterion's own figures for the benchmark are for the whole set.)
pub(crate) fn bench_set(
    group: &mut BenchmarkGroup<'_, WallTime>,
    param: &str,
    units: u64,
    mut routines: Vec<(&str, Routine<'_>)>,
) {
    let (g, samples) = GROUP.with(|g| {
        let g = g.borrow();
        (g.name.clone(), g.samples)
    });
    let keys: Vec<String> = routines.iter().map(|(name, _)| format!("{g}/{name}/{param}")).collect();
    {
        let mut map = SAMPLES.lock().unwrap_or_else(PoisonError::into_inner);
        for k in &keys {
            map.insert(k.clone(), samples);
        }
    }
    let mut turn = 0;
    group.bench_function(param, |b| {
        b.iter_custom(|iters| {
            let n = routines.len();
            let mut total = Duration::ZERO;
            for k in 0..n {
                let i = (turn + k) % n;
                let elapsed = (routines[i].1)(iters);
                RECORDER.record(&keys[i], (iters * units) as f64, elapsed);
                total += elapsed;
            }
            turn += 1;
            total
        });
    });
}

fn samples_of(id: &str) -> usize {
    SAMPLES.lock().unwrap_or_else(PoisonError::into_inner).get(id).copied().unwrap_or(0)
}

/// Whether `id` was measured (a filter on the command line skips rows).
pub(crate) fn measured(id: &str) -> bool {
    stats(id).is_some()
}

/// The samples of `id`, ns per unit (`None` if it was not measured).
pub(crate) fn stats(id: &str) -> Option<Stats> {
    let n = samples_of(id);
    if n == 0 {
        return None;
    }
    RECORDER.take(id, n)
}

/// The sample-by-sample ratios `ours / peer` of two contenders of one row.
pub(crate) fn ratio(ours: &str, peer: &str) -> Option<Stats> {
    let n = samples_of(ours).min(samples_of(peer));
    if n == 0 {
        return None;
    }
    RECORDER.paired_ratio(ours, peer, n)
}

/// `median (p25–p75)` ns per unit, or "—".
pub(crate) fn cell(id: &str) -> String {
    stats(id).as_ref().map_or_else(|| "—".into(), Stats::cell)
}

/// The median of the sample-by-sample ratios `ours / peer`, with their quartiles, or "—".
pub(crate) fn ratio_cell(ours: &str, peer: &str) -> String {
    match ratio(ours, peer) {
        Some(r) => format!("{} ({}–{})", num(r.median()), num(r.p25()), num(r.p75())),
        None => "—".into(),
    }
}
