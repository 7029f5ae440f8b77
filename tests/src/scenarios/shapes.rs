//! Job futures of awkward shapes: large, `!Unpin`, long-running.

use std::hint::black_box;
use std::marker::PhantomPinned;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use orchestrator_core::runtime::Timer;
use orchestrator_core::{Executor, Job, JobContext, JobError};

use crate::runtime::Runtime;
use crate::util::{Latch, Recorder, tags_of, yield_now};

/// Size of the buffer a [`Large`] job holds across its awaits.
pub const LARGE: usize = 64 * 1024;

/// A job whose future holds a 64 KiB array across awaits.
#[derive(Debug)]
pub struct Large(pub u8);
impl Job for Large {
    type Output = u64;
}

/// Fills a 64 KiB buffer, yields and sleeps with it alive, then sums it.
async fn large_work(seed: u8, timer: Arc<dyn Timer>) -> u64 {
    let mut buf = [0_u8; LARGE];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    black_box(&mut buf);
    yield_now().await;
    timer.sleep(Duration::from_millis(1)).await;
    black_box(&mut buf);
    buf.iter().map(|&b| u64::from(b)).sum()
}

fn expected_sum(seed: u8) -> u64 {
    (0..LARGE).map(|i| u64::from(seed.wrapping_add(i as u8))).sum()
}

struct LargeExecutor(Arc<dyn Timer>);
impl Executor<Large> for LargeExecutor {
    async fn process(&self, job: &Large, _: &JobContext) -> Result<u64, JobError> {
        Ok(large_work(job.0, self.0.clone()).await)
    }
}

/// Sixteen concurrent jobs whose futures each hold a 64 KiB array across awaits (and a
/// sleep) all complete with the right result.
pub fn large_future<R: Runtime>(rt: &R) {
    let size = std::mem::size_of_val(&large_work(0, rt.timer()));
    assert!(size >= LARGE, "the job future really is large: {size} bytes");
    let dispatcher = rt.dispatcher();
    dispatcher.register(LargeExecutor(rt.timer()));
    rt.run(async {
        let handles: Vec<_> = (0..16_u8).map(|seed| dispatcher.dispatch(Large(seed)).unwrap()).collect();
        for (seed, handle) in (0..16_u8).zip(handles) {
            assert_eq!(handle.await.ok(), Some(expected_sum(seed)));
        }
    });
}

/// A job whose future is `!Unpin`.
#[derive(Debug)]
pub struct Pinned;
impl Job for Pinned {
    type Output = usize;
}

/// Holds a `PhantomPinned` value and a pinned `!Unpin` future across awaits.
async fn pinned_work(timer: Arc<dyn Timer>) -> usize {
    let marker = PhantomPinned;
    let inner = pin!(async {
        let _inner_marker = PhantomPinned;
        yield_now().await;
        7_usize
    });
    timer.sleep(Duration::from_millis(1)).await;
    let out = inner.await;
    yield_now().await;
    black_box(&marker);
    out
}

struct PinnedExecutor(Arc<dyn Timer>);
impl Executor<Pinned> for PinnedExecutor {
    async fn process(&self, _: &Pinned, _: &JobContext) -> Result<usize, JobError> {
        Ok(pinned_work(self.0.clone()).await)
    }
}

/// A job whose future is `!Unpin` (it holds `PhantomPinned` across awaits) runs to
/// completion.
pub fn not_unpin_future<R: Runtime>(rt: &R) {
    assert!(!crate::is_unpin!(pinned_work(rt.timer())), "the job future is !Unpin");
    assert!(crate::is_unpin!(std::future::ready(())), "the probe tells Unpin futures apart");
    let dispatcher = rt.dispatcher();
    dispatcher.register(PinnedExecutor(rt.timer()));
    rt.run(async {
        let handles: Vec<_> = (0..4).map(|_| dispatcher.dispatch(Pinned).unwrap()).collect();
        for handle in handles {
            assert_eq!(handle.await.ok(), Some(7));
        }
    });
}

/// How many times a [`Long`] job yields.
pub const LONG_YIELDS: u32 = 10_000;

/// A long-running job: many yields, sleeps and progress reports; it finishes only once a
/// short job, dispatched after it started, has run.
#[derive(Debug)]
pub struct Long {
    started: Latch,
    other_ran: Latch,
}
impl Job for Long {
    type Output = u32;
}

struct LongExecutor(Arc<dyn Timer>);
impl Executor<Long> for LongExecutor {
    async fn process(&self, job: &Long, ctx: &JobContext) -> Result<u32, JobError> {
        job.started.open();
        let mut awaits = 0_u32;
        for i in 0..LONG_YIELDS {
            yield_now().await;
            awaits += 1;
            if i % 1_000 == 999 {
                ctx.progress(f64::from(i + 1) / f64::from(LONG_YIELDS)).map_err(JobError::new)?;
                self.0.sleep(Duration::from_millis(1)).await;
                awaits += 1;
            }
        }
        // Still alive and yielding: other jobs ran meanwhile (the other job only needs
        // one poll; a runner that let this job starve it would hang here).
        while !job.other_ran.is_open() {
            yield_now().await;
            awaits += 1;
        }
        Ok(awaits)
    }
}

/// A short job that opens a latch.
#[derive(Debug)]
pub struct Short(Latch);
impl Job for Short {
    type Output = ();
}

struct ShortExecutor;
impl Executor<Short> for ShortExecutor {
    async fn process(&self, job: &Short, _: &JobContext) -> Result<(), JobError> {
        job.0.open();
        Ok(())
    }
}

/// A long-running job (10 000 yields, 10 sleeps, 10 progress reports) completes, with its
/// progress in order, and does not starve a short job dispatched while it runs.
pub fn long_running_job<R: Runtime>(rt: &R) {
    let dispatcher = rt.dispatcher();
    dispatcher.register(LongExecutor(rt.timer()));
    dispatcher.register(ShortExecutor);
    let mut rec = Recorder::new(dispatcher.bus());
    rt.run(async {
        let (started, other_ran) = (Latch::new(), Latch::new());
        let long = dispatcher.dispatch(Long { started: started.clone(), other_ran: other_ran.clone() }).unwrap();
        let id = long.id();
        started.wait().await;
        assert!(dispatcher.dispatch(Short(other_ran)).unwrap().await.is_success());
        let awaits = long.await.ok().unwrap();
        assert!(awaits >= LONG_YIELDS + 10, "{awaits}");
        let events = rec.collect(rt, &dispatcher).await;
        let progress: Vec<f64> =
            events.iter().filter(|e| e.id() == id).filter_map(|e| e.progress()).map(|p| p.progress).collect();
        let expected: Vec<f64> = (1..=10).map(|k| f64::from(k) / 10.0).collect();
        assert_eq!(progress, expected);
        assert_eq!(tags_of(&events, id).last(), Some(&orchestrator_core::EventTag::Success));
    });
}
