//! [tower](https://docs.rs/tower) adapters (feature `tower`): jobs as services, services
//! as executors.
//!
//! * [`ServiceExecutor`]: an [`Executor`] made from any `tower::Service<J>`: tower
//!   middleware (rate limits, concurrency limits, load shedding, an HTTP client stack)
//!   does a job's work, under the dispatcher's retries, timeout, cancellation and events.
//! * [`DispatchService`]: a `tower::Service` that dispatches each request (a job, or a
//!   [`JobBuilder`](orchestrator_core::JobBuilder)) and resolves to its [`JobResult`], so
//!   jobs plug into axum, tonic and tower middleware. Its future cancels the job when it
//!   is dropped (see [`JobHandle::abort_on_drop`](orchestrator_core::JobHandle::abort_on_drop)):
//!   a `tower::timeout` or a client that goes away stops the job.
//! * [`DispatchLayer`]: a `tower::Layer` that registers the service it wraps as the
//!   executor of `J` on a dispatcher and returns a [`DispatchService`] on that dispatcher:
//!   the wrapped service then runs as jobs.
//!
//! The adapters live here rather than in the core because `tower-service` and
//! `tower-layer` need `std`; they use nothing but the core's public API, and no runtime.
//!
//! ```
//! use std::time::Duration;
//! use orchestrator_std::tower::{DispatchLayer, DispatchService};
//! use orchestrator_std::{Job, JobBuilder, JobResult, RetryPolicy};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! #[derive(Clone)]
//! struct Greet(&'static str);
//! impl Job for Greet { type Output = String; }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let dispatcher = orchestrator_std::tokio::dispatcher().unwrap();
//!     // A plain tower service becomes the executor of `Greet` jobs ...
//!     let greeter = service_fn(|job: Greet| async move { Ok::<_, std::io::Error>(format!("hello {}", job.0)) });
//!     let jobs: DispatchService<Greet> = DispatchLayer::new(dispatcher.clone()).layer(greeter);
//!     // ... and each request is a job, with the dispatcher's events (and its retries and
//!     // timeouts, for requests that are `JobBuilder`s: see `DispatchService`).
//!     let result = jobs.oneshot(Greet("tower")).await.unwrap();
//!     assert!(matches!(result, JobResult::Success(ref s) if s == "hello tower"));
//!
//!     let configured = DispatchService::<JobBuilder<Greet>>::new(dispatcher.clone());
//!     let request = JobBuilder::new(Greet("again")).retry(RetryPolicy::new().with_max_retries(2));
//!     let result = configured.oneshot(request).await.unwrap();
//!     assert!(matches!(result, JobResult::Success(ref s) if s == "hello again"));
//!     dispatcher.shutdown();
//! }
//! ```

use std::error::Error;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use orchestrator_core::{
    AbortOnDropHandle, DispatchError, Dispatcher, Executor, IntoJob, Job, JobContext, JobError, JobResult, MaybeSend,
    MaybeSync, Registration,
};
use tower_layer::Layer;
use tower_service::Service;

/// The error type tower middleware uses (`tower::BoxError`).
pub type BoxError = Box<dyn Error + Send + Sync>;

/// An [`Executor`] of `J` made from a `tower::Service<J>` whose response is the job's
/// output. Each attempt clones the service, waits for `poll_ready`, then calls it with a
/// clone of the job. An error (of `poll_ready` or of the call) fails the attempt as a
/// [`JobError`] wrapping it (retried under the job's policy; a `JobError` comes back as
/// itself); the dispatcher's timeout and cancellation drop the call's future.
///
/// ```
/// use orchestrator_std::tower::ServiceExecutor;
/// use orchestrator_std::{Dispatcher, Job, JobResult};
/// use tower::{ServiceBuilder, service_fn};
///
/// #[derive(Clone)]
/// struct Double(u32);
/// impl Job for Double { type Output = u32; }
///
/// let service = ServiceBuilder::new()
///     .map_response(|n: u32| n + 1) // tower middleware, around the job's work
///     .service(service_fn(|job: Double| async move { Ok::<_, std::io::Error>(job.0 * 2) }));
/// let dispatcher = Dispatcher::new();
/// dispatcher.register(ServiceExecutor::new(service));
/// let handle = dispatcher.dispatch(Double(21)).unwrap();
/// dispatcher.shutdown();
/// let (result, ()) = futures::executor::block_on(async { futures::join!(handle, dispatcher.runner()) });
/// assert!(matches!(result, JobResult::Success(43)));
/// ```
#[derive(Clone)]
pub struct ServiceExecutor<S> {
    service: S,
}

impl<S> ServiceExecutor<S> {
    /// The executor that runs jobs on `service`.
    pub fn new(service: S) -> Self {
        Self { service }
    }

    /// The service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S> fmt::Debug for ServiceExecutor<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceExecutor").field("service", &std::any::type_name::<S>()).finish()
    }
}

impl<J, S> Executor<J> for ServiceExecutor<S>
where
    J: Job + Clone + MaybeSync,
    S: Service<J, Response = J::Output> + Clone + MaybeSend + MaybeSync + 'static,
    S::Error: Into<BoxError>,
    S::Future: MaybeSend,
{
    fn process(&self, job: &J, _ctx: &JobContext) -> impl Future<Output = Result<J::Output, JobError>> + MaybeSend {
        let mut service = self.service.clone();
        let job = job.clone();
        async move {
            poll_fn(|cx| service.poll_ready(cx)).await.map_err(into_job_error)?;
            service.call(job).await.map_err(into_job_error)
        }
    }
}

fn into_job_error(error: impl Into<BoxError>) -> JobError {
    JobError::new(error.into())
}

/// A `tower::Service<R>` that dispatches every request on its [`Dispatcher`] and
/// resolves to the job's [`JobResult`]. `R` is anything [`Dispatcher::dispatch`] takes: a
/// job type, or a [`JobBuilder`](orchestrator_core::JobBuilder) of one (for requests with
/// their own timeout, retry policy, token, ...). The service is always ready; a job the
/// dispatcher refuses is the call's [`DispatchError`]. Dropping the call's future before
/// the job ended cancels the job (reason
/// [`HANDLE_DROPPED`](orchestrator_core::HANDLE_DROPPED)).
///
/// Use tower's `ServiceExt::map_result` (with [`JobResult::into_result`]) for a service
/// whose response is the output and whose error is a [`JobError`].
pub struct DispatchService<R> {
    dispatcher: Dispatcher,
    registration: Option<Registration>,
    request: PhantomData<fn(R)>,
}

impl<R> DispatchService<R> {
    /// A service dispatching requests of type `R` on `dispatcher`.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self { dispatcher, registration: None, request: PhantomData }
    }

    /// The dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// For a service made by [`DispatchLayer`], whether registering the wrapped service
    /// added an executor or replaced one; `None` for [`new`](Self::new).
    pub fn registration(&self) -> Option<Registration> {
        self.registration
    }
}

impl<R> Clone for DispatchService<R> {
    fn clone(&self) -> Self {
        Self { dispatcher: self.dispatcher.clone(), registration: self.registration, request: PhantomData }
    }
}

impl<R> fmt::Debug for DispatchService<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatchService")
            .field("request", &std::any::type_name::<R>())
            .field("dispatcher", &self.dispatcher)
            .field("registration", &self.registration)
            .finish()
    }
}

impl<R: IntoJob> Service<R> for DispatchService<R> {
    type Response = JobResult<<R::Job as Job>::Output>;
    type Error = DispatchError;
    type Future = DispatchFuture<<R::Job as Job>::Output>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), DispatchError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        match self.dispatcher.dispatch(request) {
            Ok(handle) => DispatchFuture { state: Dispatched::Running(handle.abort_on_drop()) },
            Err(error) => DispatchFuture { state: Dispatched::Refused(error) },
        }
    }
}

/// The future of a [`DispatchService`] call: the job's result, or why it was refused.
/// Dropping it before the job ended cancels the job.
#[must_use = "futures do nothing unless you `.await` or poll them; dropping this one cancels the job"]
pub struct DispatchFuture<T> {
    state: Dispatched<T>,
}

enum Dispatched<T> {
    Running(AbortOnDropHandle<T>),
    Refused(DispatchError),
}

impl<T> Future for DispatchFuture<T> {
    type Output = Result<JobResult<T>, DispatchError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            Dispatched::Running(handle) => Pin::new(handle).poll(cx).map(Ok),
            // (Polled again, it gives the same error again.)
            Dispatched::Refused(error) => Poll::Ready(Err(error.clone())),
        }
    }
}

impl<T> fmt::Debug for DispatchFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            Dispatched::Running(handle) => f.debug_tuple("DispatchFuture").field(handle).finish(),
            Dispatched::Refused(error) => f.debug_tuple("DispatchFuture").field(error).finish(),
        }
    }
}

/// A `tower::Layer` that makes the service it wraps the executor of `J` on a dispatcher
/// (a [`ServiceExecutor`], registered like [`Dispatcher::register`]: it replaces any
/// executor of `J`, which [`DispatchService::registration`] tells) and returns a
/// [`DispatchService<J>`] on that dispatcher. Requests to the layered service are then
/// dispatched as jobs run by the wrapped service.
pub struct DispatchLayer<J> {
    dispatcher: Dispatcher,
    job: PhantomData<fn(J)>,
}

impl<J> DispatchLayer<J> {
    /// A layer over `dispatcher`.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Self { dispatcher, job: PhantomData }
    }
}

impl<J> Clone for DispatchLayer<J> {
    fn clone(&self) -> Self {
        Self { dispatcher: self.dispatcher.clone(), job: PhantomData }
    }
}

impl<J> fmt::Debug for DispatchLayer<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatchLayer").field("job", &std::any::type_name::<J>()).finish_non_exhaustive()
    }
}

impl<J, S> Layer<S> for DispatchLayer<J>
where
    ServiceExecutor<S>: Executor<J>,
    J: Job,
{
    type Service = DispatchService<J>;

    fn layer(&self, inner: S) -> DispatchService<J> {
        let registration = self.dispatcher.register::<J, _>(ServiceExecutor::new(inner));
        DispatchService { dispatcher: self.dispatcher.clone(), registration: Some(registration), request: PhantomData }
    }
}
