//! What users would write instead of a dispatcher, for the trivial job: a task spawned per
//! job replying on a oneshot, one resident worker fed by a channel, and the floor, the
//! executor's future awaited inline.

use std::hint::black_box;
use std::time::{Duration, Instant};

use orchestrator_std::JobContext;
use tokio::sync::{mpsc, oneshot};

use crate::runtimes::Rt;
use crate::work::{echo, job_context, work};

/// `spawn` + `tokio::sync::oneshot` (runtime-agnostic) per job: `batch` spawned, then their
/// receivers awaited.
pub(crate) fn jobs_spawn(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    move |iters| {
        let spawner = spawner.clone();
        rt.run(async move {
            let mut rxs = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    let (tx, rx) = oneshot::channel();
                    spawner.spawn(async move {
                        let _ = tx.send(work(i as u64));
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

/// A request to a resident worker: the input, and where to send the reply.
pub(crate) type Request<R> = (u64, oneshot::Sender<R>);

/// The sending side of a resident worker's channel: an unbounded tokio `mpsc` on tokio, an
/// unbounded `async-channel` (`smol::channel`) on smol. Unbounded is the cheapest feed
/// (a bounded one's permits cost about 280 more instructions per job here), so the
/// fastest simple worker is the peer.
pub(crate) enum Feed<R> {
    Tokio(mpsc::UnboundedSender<Request<R>>),
    Smol(smol::channel::Sender<Request<R>>),
}

impl<R> Clone for Feed<R> {
    fn clone(&self) -> Self {
        match self {
            Feed::Tokio(tx) => Feed::Tokio(tx.clone()),
            Feed::Smol(tx) => Feed::Smol(tx.clone()),
        }
    }
}

impl<R> Feed<R> {
    #[inline]
    pub(crate) async fn send(&self, request: Request<R>) {
        let sent = match self {
            Feed::Tokio(tx) => tx.send(request).is_ok(),
            Feed::Smol(tx) => tx.send(request).await.is_ok(),
        };
        assert!(sent, "the resident worker is alive");
    }
}

/// The worker's side of the channel.
pub(crate) enum Intake<R> {
    Tokio(mpsc::UnboundedReceiver<Request<R>>),
    Smol(smol::channel::Receiver<Request<R>>),
}

impl<R> Intake<R> {
    #[inline]
    pub(crate) async fn next(&mut self) -> Option<Request<R>> {
        match self {
            Intake::Tokio(rx) => rx.recv().await,
            Intake::Smol(rx) => rx.recv().await.ok(),
        }
    }
}

/// A worker's channel on `rt`.
pub(crate) fn channel<R>(rt: &Rt) -> (Feed<R>, Intake<R>) {
    match rt {
        Rt::Tokio(_) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Feed::Tokio(tx), Intake::Tokio(rx))
        }
        Rt::Smol(_) => {
            let (tx, rx) = smol::channel::unbounded();
            (Feed::Smol(tx), Intake::Smol(rx))
        }
    }
}

/// Sends `batch` requests to a resident worker, then awaits the replies: the measuring
/// loop of both worker peers.
pub(crate) fn feed_batches<R: Send + 'static>(
    rt: &Rt,
    feed: Feed<R>,
    batch: usize,
    check: fn(R) -> u64,
) -> impl FnMut(u64) -> Duration + '_ {
    move |iters| {
        let feed = feed.clone();
        rt.run(async move {
            let mut rxs = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    let (tx, rx) = oneshot::channel();
                    feed.send((i as u64, tx)).await;
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(check(rx.await.expect("replied")));
                }
            }
            start.elapsed()
        })
    }
}

/// One resident worker task, spawned once, fed by an unbounded channel: it
/// awaits the executor's future of each request inline and replies on the request's
/// oneshot. The measuring task sends `batch` requests, then awaits the replies.
pub(crate) fn jobs_worker(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let ctx = job_context(rt);
    let (feed, mut intake) = channel::<u64>(rt);
    rt.spawner().spawn(async move {
        while let Some((x, reply)) = intake.next().await {
            let _ = reply.send(echo(x, &ctx).await);
        }
    });
    feed_batches(rt, feed, batch, |x| x)
}

/// The floor: the executor's future awaited inline by the measuring task, `batch` at a
/// time (no task, no channel, no queue).
pub(crate) fn jobs_inline(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let ctx = job_context(rt);
    move |iters| {
        let ctx: JobContext = ctx.clone();
        rt.run(async move {
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    black_box(echo(i as u64, &ctx).await);
                }
            }
            start.elapsed()
        })
    }
}
