//! The soak (`orchestrator_tests::soak`) on every runtime, under a counting global
//! allocator: every job ends exactly once and as scripted, nothing is left pending,
//! running, queued or tracked, and the live heap is back to its baseline once the
//! dispatcher, its bus, the orchestrator and every handle are dropped.
//!
//! Size: `ORCH_SOAK_JOBS` jobs per runtime (default 20 000, the CI size); seed:
//! `ORCH_SOAK_SEED`. The full run (docs/reliability.md):
//!
//! ```text
//! ORCH_SOAK_JOBS=1000000 cargo test --release -p orchestrator-tests --test soak -- --nocapture --test-threads=1
//! ```
//!
//! The runtimes run one after the other (a lock), so the process-wide allocation count
//! of one is not disturbed by another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use orchestrator_tests::Runtime;
use orchestrator_tests::soak::{self, BATCH, SoakConfig};

// ---------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------

/// Bytes allocated and not yet freed, by every thread of the process.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The highest `LIVE` seen.
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Allocations made (including reallocations).
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn grow(bytes: isize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// The system allocator, counting live bytes process-wide (two relaxed atomic adds per
/// call: cheap enough for a million jobs).
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting only touches static atomics (no
// allocation, no re-entrancy).
#[allow(unsafe_code)] // the tests crate denies unsafe code; a counting allocator is its only exception
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            grow(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            grow(layout.size() as isize);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            grow(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// The soak on one runtime
// ---------------------------------------------------------------------------------------

/// How far the live heap may be from its baseline after the soak, in bytes, whatever the
/// number of jobs. The soak's own structures are all dropped; what remains is runtime
/// bookkeeping that is not freed at once (a thread's timer list not yet compacted, a
/// waker still parked in a reactor). A leak of one byte per job would exceed it from
/// 64 Ki jobs on; a leak of one allocation per job (at least 16 bytes) from 4 Ki jobs,
/// which the CI size (20 000) covers.
const SLACK: isize = 64 * 1024;

/// How long the heap may take to come back to its baseline (runtime threads finishing
/// their last wake-ups): a watchdog on a fact, not a timing assertion.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// One runtime at a time (the allocator counts the whole process).
static SERIAL: Mutex<()> = Mutex::new(());

fn soak_on<R: Runtime>() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let cfg = SoakConfig::from_env();
    let rt = R::new();
    // Warm-up: the runtime's lazily built state (timer wheels, reactor threads, thread
    // locals, queue blocks at their high-water mark), the panic hook, the soak's statics.
    // Two batches, or the whole soak if it is smaller (the leak check's short runs).
    let warm_up_jobs = (2 * BATCH as u64).min(cfg.jobs);
    let warm_up = soak::run(&rt, SoakConfig { jobs: warm_up_jobs, seed: cfg.seed ^ 1 });
    assert_eq!(warm_up.jobs, warm_up_jobs);

    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let report = soak::run(&rt, cfg);
    let peak = PEAK.load(Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;

    // Back to the baseline: wait for that fact, under a watchdog.
    let settle_start = Instant::now();
    let mut after = live();
    while (after - before).abs() > SLACK && settle_start.elapsed() < SETTLE_LIMIT {
        rt.block_on(rt.sleep(Duration::from_millis(1)));
        after = live();
    }
    let settled_in = settle_start.elapsed();
    eprintln!(
        "soak {}: {report}\nsoak {}: live heap {before} B before, {after} B after ({:+} B, settled in {settled_in:.1?}), \
         peak {peak} B (+{} B), {allocations} allocations ({:.1} per job)",
        R::NAME,
        R::NAME,
        after - before,
        peak - before,
        allocations as f64 / report.jobs.max(1) as f64,
    );
    assert!(
        (after - before).abs() <= SLACK,
        "{}: the live heap is {} B away from its baseline after {} jobs (slack {SLACK} B)",
        R::NAME,
        after - before,
        report.jobs
    );
}

#[test]
fn local_virtual() {
    soak_on::<orchestrator_tests::LocalVirtual>();
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_current_thread() {
    soak_on::<orchestrator_tests::TokioCurrentThread>();
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_multi_thread() {
    soak_on::<orchestrator_tests::TokioMultiThread>();
}

#[cfg(feature = "async-std")]
#[test]
fn async_std() {
    soak_on::<orchestrator_tests::AsyncStd>();
}

#[cfg(feature = "smol")]
#[test]
fn smol_executor() {
    soak_on::<orchestrator_tests::SmolExecutor>();
}

#[cfg(feature = "smol")]
#[test]
fn smol_global() {
    soak_on::<orchestrator_tests::SmolGlobal>();
}
