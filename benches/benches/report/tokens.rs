//! Section 6: cancellation tokens: a child token created and dropped beside many live
//! siblings, and K jobs sharing one parent token.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use orchestrator_benches::{Table, int};
use orchestrator_std::JobBuilder;
use tokio::sync::oneshot;

use crate::harness::{Routine, bench_set, cell, group, ratio, ratio_cell};
use crate::peers::jobs_spawn;
use crate::runtimes::{Flavor, Rt};
use crate::work::{Work, dispatcher, expect_success, work};

/// Live siblings beside the child token that is created and dropped.
pub(crate) const SIBLINGS: [usize; 3] = [10, 1_000, 100_000];
/// Jobs in flight at once, all children of one parent token.
pub(crate) const SHARED: [usize; 3] = [1_000, 4_000, 16_000];

/// Ours: a child token of a parent that has `n` other live children, created and dropped.
fn child_ours(n: usize) -> impl FnMut(u64) -> Duration {
    let parent = orchestrator_std::CancellationToken::new();
    let siblings: Vec<_> = (0..n).map(|_| parent.child_token()).collect();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(parent.child_token()));
        }
        let elapsed = start.elapsed();
        assert_eq!(parent.listener_count(), siblings.len());
        elapsed
    }
}

/// The peer: the same with `tokio_util::sync::CancellationToken`.
fn child_tokio_util(n: usize) -> impl FnMut(u64) -> Duration {
    let parent = tokio_util::sync::CancellationToken::new();
    let siblings: Vec<_> = (0..n).map(|_| parent.child_token()).collect();
    move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            drop(black_box(parent.child_token()));
        }
        let elapsed = start.elapsed();
        black_box(&siblings);
        elapsed
    }
}

/// Ours: `k` jobs dispatched with `JobBuilder::cancel_token` of one long-lived parent
/// (each gets a child of it), then their handles awaited.
fn shared_token_ours(rt: &Rt, k: usize) -> impl FnMut(u64) -> Duration + '_ {
    let d = dispatcher(rt, k);
    let parent = orchestrator_std::CancellationToken::new();
    move |iters| {
        let (d, parent) = (d.clone(), parent.clone());
        rt.run(async move {
            let mut handles = Vec::with_capacity(k);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..k {
                    let job = JobBuilder::new(Work(i as u64)).cancel_token(parent.clone());
                    handles.push(d.dispatch(job).expect("dispatch"));
                }
                for h in handles.drain(..) {
                    black_box(expect_success(h.await));
                }
            }
            let elapsed = start.elapsed();
            assert_eq!(parent.listener_count(), 0, "every job's child token is unlisted");
            elapsed
        })
    }
}

/// spawn + oneshot per job, each task holding a `tokio_util` child token of one parent
/// (checked before sending), so the peer pays for a cancellable job too.
fn shared_token_tokio_util(rt: &Rt, k: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    let parent = tokio_util::sync::CancellationToken::new();
    move |iters| {
        let (spawner, parent) = (spawner.clone(), parent.clone());
        rt.run(async move {
            let mut rxs = Vec::with_capacity(k);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..k {
                    let (tx, rx) = oneshot::channel();
                    let token = parent.child_token();
                    spawner.spawn(async move {
                        if !token.is_cancelled() {
                            let _ = tx.send(work(i as u64));
                        }
                    });
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(rx.await.expect("sent"));
                }
            }
            start.elapsed()
        })
    }
}

pub(crate) fn bench_tokens(c: &mut Criterion, samples: usize) {
    let mut g = group(c, "tokens-child", samples);
    for n in SIBLINGS {
        let set: Vec<(&str, Routine<'_>)> =
            vec![("ours", Box::new(child_ours(n))), ("tokio-util", Box::new(child_tokio_util(n)))];
        bench_set(&mut g, &n.to_string(), 1, set);
    }
    g.finish();
    let mut g = group(c, "tokens-shared-tokio-ct", samples);
    for k in SHARED {
        let rts = [Rt::new(Flavor::TokioCurrent), Rt::new(Flavor::TokioCurrent), Rt::new(Flavor::TokioCurrent)];
        let set: Vec<(&str, Routine<'_>)> = vec![
            ("ours", Box::new(shared_token_ours(&rts[0], k))),
            ("spawn-oneshot", Box::new(jobs_spawn(&rts[1], k))),
            ("spawn-oneshot-tokio-util", Box::new(shared_token_tokio_util(&rts[2], k))),
        ];
        bench_set(&mut g, &k.to_string(), k as u64, set);
    }
    g.finish();
}

/// Section 6 of a profile's report, also printed by a filtered run (`-- token`).
pub(crate) fn section() -> String {
    let mut out = String::new();
    let push = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    push(&mut out, "### 6. Cancellation tokens");
    push(&mut out, "");
    push(
        &mut out,
        "*child*: ns to create a child token of a parent that has N other live children, and drop it (ours: \
         `CancellationToken::child_token`; the peer: `tokio_util::sync::CancellationToken::child_token`). \
         *shared*: ns per job for K jobs in flight that share one long-lived parent token, dispatched then \
         awaited, on tokio current-thread: ours `JobBuilder::cancel_token(parent.clone())` (each job gets a \
         child of the parent, unlisted when the job ends); the peers spawn a task per job that sends on a \
         `tokio::sync::oneshot`, without a token and with a `tokio-util` child token of one parent.",
    );
    push(&mut out, "");
    let mut t = Table::new(&["N live siblings", "ours", "tokio-util", "ours / tokio-util"]);
    for k in SIBLINGS {
        let (o, p) = (format!("tokens-child/ours/{k}"), format!("tokens-child/tokio-util/{k}"));
        t.row(&[int(k as u64), cell(&o), cell(&p), ratio_cell(&o, &p)]);
    }
    out.push_str(&t.finish());
    push(&mut out, "");
    let mut t = Table::new(&[
        "K jobs sharing a parent",
        "ours",
        "spawn + oneshot",
        "ours / spawn",
        "spawn + oneshot + tokio-util child",
        "ours / that",
    ]);
    for k in SHARED {
        let g = "tokens-shared-tokio-ct";
        let (o, s, u) =
            (format!("{g}/ours/{k}"), format!("{g}/spawn-oneshot/{k}"), format!("{g}/spawn-oneshot-tokio-util/{k}"));
        t.row(&[int(k as u64), cell(&o), cell(&s), ratio_cell(&o, &s), cell(&u), ratio_cell(&o, &u)]);
    }
    out.push_str(&t.finish());
    push(&mut out, "");
    if let Some((small, large)) = shared_growth() {
        push(
            &mut out,
            &format!(
                "Linear in K: ours / spawn + oneshot is {large:.2} at K = {} and {small:.2} at K = {} (growth {:.2}).",
                int(SHARED[2] as u64),
                int(SHARED[0] as u64),
                large / small
            ),
        );
        push(&mut out, "");
    }
    out
}

/// (ours / spawn + oneshot) at the smallest and at the largest K of [`SHARED`]: the same
/// for a cost linear in K.
pub(crate) fn shared_growth() -> Option<(f64, f64)> {
    let r = |k: usize| {
        let g = "tokens-shared-tokio-ct";
        ratio(&format!("{g}/ours/{k}"), &format!("{g}/spawn-oneshot/{k}")).map(|r| r.median())
    };
    Some((r(SHARED[0])?, r(SHARED[2])?))
}
