//! Section 5: memory per in-flight job and per idle subscriber, allocations per job in
//! steady state, and growth over millions of jobs.

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use orchestrator_benches::{Table, bytes, int};
use orchestrator_std::tokio::TokioRuntime;
use orchestrator_std::{Bus, Dispatcher, Event, Executor, Job, JobBuilder, JobContext, JobError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::BoxError;

use crate::alloc_count::{allocations, live};
use crate::fanout::{CAPACITY, cap};
use crate::harness::Mode;
use crate::tower_peer;
use crate::work::{BATCH, Echo, Options, TIMEOUT, dispatch, expect_success, retry_policy, work};

/// A job that never finishes by itself (it is cancelled at the end).
struct Park;

impl Job for Park {
    type Output = u64;
}

impl Executor<Park> for Park {
    async fn process(&self, _: &Park, _: &JobContext) -> Result<u64, JobError> {
        std::future::pending().await
    }
}

#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// Bytes per in-flight job: ours (plain), ours (retry + timeout), spawn + oneshot,
    /// spawn + tower.
    pub(crate) job_ours: f64,
    pub(crate) job_ours_rt: f64,
    pub(crate) job_spawn: f64,
    pub(crate) job_tower: f64,
    /// Bytes per idle subscriber: ours, tokio broadcast, async-broadcast.
    pub(crate) sub_ours: f64,
    pub(crate) sub_tokio: f64,
    pub(crate) sub_async_broadcast: f64,
    /// Heap allocations per trivial job in steady state: ours with no subscriber on the
    /// bus, ours with one, spawn + oneshot.
    pub(crate) allocs_quiet: f64,
    pub(crate) allocs_listened: f64,
    pub(crate) allocs_spawn: f64,
    /// (jobs, live bytes) after the first and the second count of the growth test.
    pub(crate) growth: [(u64, isize); 2],
    /// Seconds the growth test took.
    pub(crate) growth_secs: f64,
}

pub(crate) const IN_FLIGHT: usize = 10_000;

/// Batches of the allocation count (after as many to warm up).
const ALLOC_BATCHES: u64 = 10;

/// Net bytes per task of `IN_FLIGHT` tasks made by `task` and spawned, each polled once,
/// plus `held` (what the caller keeps per task), in the third of three rounds: the first
/// two warm up what the runtime allocates lazily and let earlier work's frees settle (a
/// dispatcher shut down just before frees its kept boxes meanwhile: the first round then
/// reads half the true figure). Each round's tasks are aborted after it.
async fn per_spawned_task<F, R>(mut task: impl FnMut() -> (F, R), held: usize) -> f64
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut per_task = 0.0;
    for _ in 0..3 {
        let mut tasks: Vec<(JoinHandle<()>, R)> = Vec::with_capacity(IN_FLIGHT);
        let before = live();
        for _ in 0..IN_FLIGHT {
            let (f, r) = task();
            tasks.push((tokio::spawn(f), r));
        }
        tokio::task::yield_now().await; // the tasks have run until their pending point
        per_task = (live() - before) as f64 / IN_FLIGHT as f64 + held as f64;
        for (t, _) in &tasks {
            t.abort();
        }
        tokio::task::yield_now().await;
    }
    per_task
}

/// Allocations per trivial job of `d` in steady state (after as many batches to warm up).
async fn allocations_per_job(d: &Dispatcher, mut drain: impl FnMut()) -> f64 {
    let mut handles = Vec::with_capacity(BATCH);
    let mut count = 0;
    for round in 0..2 {
        let before = allocations();
        for _ in 0..ALLOC_BATCHES {
            for i in 0..BATCH as u64 {
                handles.push(dispatch(d, i, Options::Plain));
            }
            for h in handles.drain(..) {
                black_box(expect_success(h.await));
            }
            drain();
        }
        if round == 1 {
            count = allocations() - before;
        }
    }
    count as f64 / (ALLOC_BATCHES * BATCH as u64) as f64
}

/// Runs on a current-thread runtime on this thread, so the thread-local count sees every
/// allocation and free of the work.
pub(crate) fn measure_memory(mode: Mode) -> Memory {
    let mut m = Memory::default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    rt.block_on(async {
        // In-flight jobs.
        for options in [Options::Plain, Options::RetryTimeout] {
            let d = TokioRuntime::new().dispatcher_builder().build().expect("dispatcher");
            d.register(Park);
            d.register(Echo);
            // Warm up lazily allocated structures (queue blocks, timer wheel levels).
            for i in 0..2 * IN_FLIGHT as u64 {
                let _ = dispatch(&d, i, options).await;
            }
            let mut handles = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                let h = match options {
                    Options::Plain => d.dispatch(Park),
                    Options::RetryTimeout => d.dispatch(JobBuilder::new(Park).timeout(TIMEOUT).retry(retry_policy())),
                };
                handles.push(h.expect("dispatch"));
            }
            while d.stats().running < IN_FLIGHT {
                tokio::task::yield_now().await;
            }
            let per_job = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<orchestrator_std::JobHandle<u64>>() as f64;
            match options {
                Options::Plain => m.job_ours = per_job,
                Options::RetryTimeout => m.job_ours_rt = per_job,
            }
            for h in handles.drain(..) {
                h.cancel();
                let _ = h.await;
            }
            d.shutdown();
        }
        m.job_spawn = per_spawned_task(
            || {
                let (tx, rx) = oneshot::channel::<u64>();
                let task = async move {
                    std::future::pending::<()>().await;
                    let _ = tx.send(0);
                };
                (task, rx)
            },
            std::mem::size_of::<oneshot::Receiver<u64>>(),
        )
        .await;
        let pending = tower_peer::layered(tower::service_fn(|x: u64| async move {
            std::future::pending::<()>().await;
            Ok::<u64, BoxError>(work(x))
        }));
        m.job_tower = per_spawned_task(
            || {
                let (tx, rx) = oneshot::channel::<Result<u64, BoxError>>();
                let call = tower_peer::call(&pending, 0);
                (
                    async move {
                        let _ = tx.send(call.await);
                    },
                    rx,
                )
            },
            std::mem::size_of::<oneshot::Receiver<Result<u64, BoxError>>>(),
        )
        .await;

        // Allocations per job in steady state.
        {
            let d = TokioRuntime::new().dispatcher_builder().build().expect("dispatcher");
            d.register(Echo);
            m.allocs_quiet = allocations_per_job(&d, || {}).await;
            let mut sub = d.bus().subscribe().expect("open");
            m.allocs_listened = allocations_per_job(&d, || {
                while let Ok(e) = sub.try_next() {
                    black_box(e);
                }
            })
            .await;
            d.shutdown();
            let mut rxs = Vec::with_capacity(BATCH);
            let mut count = 0;
            for round in 0..2 {
                let before = allocations();
                for _ in 0..ALLOC_BATCHES {
                    for i in 0..BATCH as u64 {
                        let (tx, rx) = oneshot::channel();
                        tokio::spawn(async move {
                            let _ = tx.send(work(i));
                        });
                        rxs.push(rx);
                    }
                    for rx in rxs.drain(..) {
                        black_box(rx.await.expect("sent"));
                    }
                }
                if round == 1 {
                    count = allocations() - before;
                }
            }
            m.allocs_spawn = count as f64 / (ALLOC_BATCHES * BATCH as u64) as f64;
        }

        // Idle subscribers.
        {
            let bus = Bus::with_capacity(cap()).expect("below the maximum");
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(bus.subscribe().expect("open"));
            }
            m.sub_ours = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<orchestrator_std::Subscription>() as f64;
        }
        {
            let (tx, _) = tokio::sync::broadcast::channel::<Arc<Event>>(CAPACITY);
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(tx.subscribe());
            }
            m.sub_tokio = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<tokio::sync::broadcast::Receiver<Arc<Event>>>() as f64;
        }
        {
            let (_tx, rx) = async_broadcast::broadcast::<Arc<Event>>(CAPACITY);
            let mut subs = Vec::with_capacity(IN_FLIGHT);
            let before = live();
            for _ in 0..IN_FLIGHT {
                subs.push(rx.new_receiver());
            }
            m.sub_async_broadcast = (live() - before) as f64 / IN_FLIGHT as f64
                + std::mem::size_of::<async_broadcast::Receiver<Arc<Event>>>() as f64;
        }

        // Growth: the same dispatcher, jobs in batches, live bytes after N1 and N2 jobs.
        let (n1, n2) = mode.growth();
        let d = TokioRuntime::new().dispatcher_builder().build().expect("dispatcher");
        d.register(Echo);
        let mut sub = d.bus().subscribe().expect("open"); // a listener, so events are built too
        let mut handles = Vec::with_capacity(BATCH);
        let mut done = 0_u64;
        let start = Instant::now();
        let base = live();
        for (slot, target) in [n1, n2].into_iter().enumerate() {
            while done < target {
                for i in 0..BATCH as u64 {
                    let options = if i % 2 == 0 { Options::Plain } else { Options::RetryTimeout };
                    handles.push(dispatch(&d, i, options));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
                while let Ok(e) = sub.try_next() {
                    black_box(e);
                }
                done += BATCH as u64;
            }
            tokio::task::yield_now().await;
            m.growth[slot] = (done, live() - base);
        }
        m.growth_secs = start.elapsed().as_secs_f64();
        d.shutdown();
    });
    m
}

/// The goal for the bytes of an idle subscriber: what the caller holds plus what the bus
/// allocated for it (a tokio broadcast receiver is 16 bytes, an async-broadcast one 24).
pub(crate) const IDLE_SUBSCRIBER_GOAL: f64 = 64.0;
/// The goal for the bytes of an in-flight plain job.
pub(crate) const IN_FLIGHT_JOB_GOAL: f64 = 256.0;

/// Section 5 of a profile's report.
pub(crate) fn section(mem: &Memory) -> String {
    let mut out = format!(
        "### 5. Memory\n\nCounted by a global allocator in the bench binary (net bytes allocated by the measuring \
         thread; everything runs on a tokio current-thread runtime), plus the inline size of what the caller \
         holds (the handle, the receiver). {n} jobs in flight (an executor that never finishes, polled \
         once by the runner; the peers: a task per job, polled once, awaiting a future that never finishes, \
         inside the tower layers for spawn + tower, its timeout armed), {n} idle subscribers \
         (subscribed, never polled): the subscription's `size_of` plus what the channel allocated for it (ours: \
         a waker slot each, in a `Vec` whose spare capacity after doubling is counted too). Allocations per \
         job: {ALLOC_BATCHES} batches of {batch} trivial jobs after as many to warm up, counted by the same \
         allocator.\n\n",
        n = int(IN_FLIGHT as u64),
        batch = int(BATCH as u64),
    );
    let mut t = Table::new(&["what", "ours", "peer", "ours / peer"]);
    let row = |t: &mut Table, what: &str, ours: f64, peer: f64| {
        t.row(&[what.into(), bytes(ours), bytes(peer), format!("{:.2}", ours / peer)]);
    };
    row(&mut t, "bytes per in-flight job (peer: spawn + oneshot)", mem.job_ours, mem.job_spawn);
    row(
        &mut t,
        "bytes per in-flight job with retry + timeout, timer armed (peer: spawn + tower)",
        mem.job_ours_rt,
        mem.job_tower,
    );
    row(&mut t, "bytes per idle subscriber (peer: tokio broadcast)", mem.sub_ours, mem.sub_tokio);
    row(&mut t, "bytes per idle subscriber (peer: async-broadcast)", mem.sub_ours, mem.sub_async_broadcast);
    for (what, ours) in [
        (
            "allocations per trivial job, steady state, no subscriber on the bus (peer: spawn + oneshot)",
            mem.allocs_quiet,
        ),
        (
            "allocations per trivial job, steady state, one subscriber (its events are built) (peer: spawn + oneshot)",
            mem.allocs_listened,
        ),
    ] {
        t.row(&[what.into(), format!("{ours:.2}"), format!("{:.2}", mem.allocs_spawn), String::new()]);
    }
    out.push_str(&t.finish());
    out.push_str(&format!(
        "\nGrowth: one dispatcher with one bus subscriber runs jobs in batches of {} (half plain, half with \
         retry + timeout) on tokio current-thread. Live bytes since the start of the test: {} after {} jobs, {} \
         after {} jobs ({:.1} s in all).\n\n",
        int(BATCH as u64),
        bytes(mem.growth[0].1 as f64),
        int(mem.growth[0].0),
        bytes(mem.growth[1].1 as f64),
        int(mem.growth[1].0),
        mem.growth_secs
    ));
    out
}
