//! The peers of a job with timeout + retry: tower's `ServiceBuilder` with a timeout and a
//! retry layer around the trivial work, called from a task spawned per job or from one
//! resident worker, replying on a oneshot. tower's timeout needs tokio's timer: tokio only.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use crate::peers::{channel, feed_batches};
use crate::runtimes::Rt;
use crate::work::{TIMEOUT, work};

/// Up to 3 retries with exponential back-off from 10 ms, like `work::retry_policy()`.
#[derive(Clone)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Backoff {
    type Future = Pin<Box<tokio::time::Sleep>>;

    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) if self.attempt < 3 => {
                let delay = Duration::from_millis(10) * 2_u32.pow(self.attempt);
                self.attempt += 1;
                Some(Box::pin(tokio::time::sleep(delay)))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// The timeout and retry layers around `inner`.
pub(crate) fn layered<S>(
    inner: S,
) -> impl Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send + 'static
where
    S: Service<u64, Response = u64, Error = BoxError, Future: Send + 'static> + Clone + Send + 'static,
{
    ServiceBuilder::new().timeout(TIMEOUT).retry(Backoff { attempt: 0 }).service(inner)
}

/// The layers around the trivial work.
pub(crate) fn service() -> impl Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send + 'static {
    layered(tower::service_fn(|x: u64| async move { Ok::<u64, BoxError>(work(x)) }))
}

/// One call of a clone of `svc` (`ServiceExt::oneshot`: ready, then call).
pub(crate) fn call<S>(svc: &S, x: u64) -> impl Future<Output = Result<u64, BoxError>> + Send + 'static
where
    S: Service<u64, Response = u64, Error = BoxError, Future: Send> + Clone + Send + 'static,
{
    svc.clone().oneshot(x)
}

/// spawn + tower + oneshot: `batch` tasks spawned, each calling the service and sending the
/// result on a oneshot, then the receivers awaited.
pub(crate) fn jobs_tower(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let spawner = rt.spawner();
    let svc = service();
    move |iters| {
        let (spawner, svc) = (spawner.clone(), svc.clone());
        rt.run(async move {
            let mut rxs = Vec::with_capacity(batch);
            let start = Instant::now();
            for _ in 0..iters {
                for i in 0..batch {
                    let (tx, rx) = oneshot::channel();
                    let call = call(&svc, i as u64);
                    spawner.spawn(async move {
                        let _ = tx.send(call.await);
                    });
                    rxs.push(rx);
                }
                for rx in rxs.drain(..) {
                    black_box(rx.await.expect("sent").expect("ok"));
                }
            }
            start.elapsed()
        })
    }
}

/// worker + tower + oneshot: one resident worker task that owns the service, fed by an
/// unbounded tokio `mpsc`, calls it inline for each request (ready, then call)
/// and replies on the request's oneshot.
pub(crate) fn jobs_worker_tower(rt: &Rt, batch: usize) -> impl FnMut(u64) -> Duration + '_ {
    let (feed, mut intake) = channel::<Result<u64, BoxError>>(rt);
    let mut svc = service();
    rt.spawner().spawn(async move {
        while let Some((x, reply)) = intake.next().await {
            let result = match svc.ready().await {
                Ok(svc) => svc.call(x).await,
                Err(e) => Err(e),
            };
            let _ = reply.send(result);
        }
    });
    feed_batches(rt, feed, batch, |r| r.expect("ok"))
}
