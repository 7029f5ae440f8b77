//! The [`Dispatcher`]: routes each job, by its type, to the executor registered for it,
//! and runs it through the pipeline.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use crate::sync::dyn_arc;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::TypeId;
use core::fmt;
use core::time::Duration;

use crate::bus::Bus;
use crate::cache::CacheProvider;
use crate::cancel::CancellationToken;
use crate::error::DispatchError;
use crate::executor::{ContextExtras, Executor, JobContext};
use crate::flow::{DEFAULT_PRIORITY_AGING, FlowStats, FlowTable, FlowTicket, Resolved};
use crate::flow_policy::{FlowConflict, FlowPolicy};
use crate::handle::{self, Counters, JobHandle, SlotRef};
use crate::job::{IntoJob, Job, JobOptions};
use crate::job_box::Task;
use crate::job_env::JobEnv;
use crate::job_id::JobId;
use crate::job_metrics::{self, JobMetrics, Probe, TypeMetrics};
use crate::log::{Logger, default_logger, shielded};
use crate::pipeline::{CacheStage, Extras, JobCore, Plan};
use crate::registry::{JobKind, Pipeline, Registry};
use crate::retry_budget::RetryBudget;
use crate::route::Route;
use crate::runner::{JobQueue, PushError, Runner};
use crate::runtime::{Spawn, SpawnError, Timer};
use crate::spawned_job::{self, SpawnMode};
use crate::sync::{MaybeSend, MaybeSync};

/// A new job's core, its handle, and its result slot as its box keeps it.
type NewJob<T> = (JobCore<T>, JobHandle<T>, SlotRef<T>);

/// Default limit of jobs dispatched and not yet finished, per dispatcher.
pub(crate) const DEFAULT_MAX_PENDING: usize = 65_536;

/// Default of [`DispatcherBuilder::reuse_limit`]: finished jobs' boxes kept for reuse.
pub(crate) const DEFAULT_REUSE_LIMIT: usize = 1024;

/// Default of [`DispatcherBuilder::metrics`].
pub(crate) const DEFAULT_METRICS: bool = false;

/// What [`Dispatcher::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// No executor was registered for the type before.
    Added,
    /// An executor was already registered and has been replaced. Jobs already dispatched
    /// finish on the old one.
    Replaced,
}

/// A snapshot of a dispatcher's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DispatcherStats {
    /// Dispatched and not yet finished (queued or running).
    pub pending: usize,
    /// Waiting in the queue for a runner. Non-zero with `runners == 0` means nobody
    /// drives this dispatcher: await [`Dispatcher::runner`] or build it with a spawner.
    pub queued: usize,
    /// Taken by a runner: being run, or about to be (a runner takes up to 32 queued jobs
    /// at a time). Jobs spawned on their own count here from their dispatch.
    pub running: usize,
    /// Finished since creation (wraps on overflow).
    pub finished: usize,
    /// Live runners.
    pub runners: usize,
    /// Cache reads and writes of jobs that failed (or were cut short by the job's
    /// cancellation or timeout) since creation. Each is also logged at
    /// [`Level::Warning`](crate::log::Level::Warning); the job's result is not affected.
    /// Errors returned by the [`JobContext`] cache helpers are the executor's and are not
    /// counted. Wraps on overflow.
    pub cache_errors: usize,
    /// Finished jobs' boxes kept for reuse by the next jobs of their type (at most
    /// [`DispatcherBuilder::reuse_limit`]).
    pub reusable: usize,
    /// Retries refused by a [`RetryBudget`] since creation: each ended its job with a
    /// `Failure` of kind [`RetryBudgetExhausted`](crate::JobErrorKind::RetryBudgetExhausted)
    /// and was logged at [`Level::Warning`](crate::log::Level::Warning). Wraps on
    /// overflow.
    pub retries_refused: usize,
    /// Jobs waiting now before they start, under flow control (debounce, throttle, a
    /// serial key, a concurrency cap). Per job type: [`Dispatcher::flow_stats`].
    pub waiting: usize,
    /// Dispatches that joined a job in flight instead of running (flow control's join).
    pub joined: usize,
    /// Jobs cancelled because a later dispatch with their key superseded them
    /// (latest-wins, debounce). Each is also logged at
    /// [`Level::Warning`](crate::log::Level::Warning).
    pub superseded: usize,
    /// Dispatches refused by flow control ([`DispatchError::Busy`],
    /// [`DispatchError::KeyQueueFull`]). Each is also logged at
    /// [`Level::Warning`](crate::log::Level::Warning).
    pub dropped: usize,
}

struct Inner {
    registry: Arc<Registry>,
    env: Arc<JobEnv>,
    queue: Arc<JobQueue>,
    flow: Arc<FlowTable>,
    max_pending: usize,
    /// `build` started runners on a spawner: when none is alive any more, nothing would
    /// run a job, and dispatch says so.
    spawned: bool,
    /// Which jobs are spawned on their own rather than queued for the runners.
    spawn: SpawnMode,
}

impl Drop for Inner {
    /// The last dispatcher handle is gone: no job can be dispatched any more, so the
    /// runners finish once the queued jobs are done.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Routes jobs to executors by type (an O(1) `TypeId` lookup) and runs them.
///
/// Cloning a dispatcher clones a handle. Jobs run inside [`Runner`]s: with a spawner
/// ([`DispatcherBuilder::spawner`]) the dispatcher starts them itself; without one, await
/// [`runner`](Self::runner) somewhere (the `no_std` / WASM path).
///
/// ```
/// use orchestrator_core::{Dispatcher, Job, JobContext, JobError, Executor, JobResult};
///
/// struct Greet(&'static str);
/// impl Job for Greet { type Output = String; }
/// struct Greeter;
/// impl Executor<Greet> for Greeter {
///     async fn process(&self, job: &Greet, _: &JobContext) -> Result<String, JobError> {
///         Ok(format!("hello, {}", job.0))
///     }
/// }
///
/// let dispatcher = Dispatcher::new();
/// dispatcher.register(Greeter);
/// let handle = dispatcher.dispatch(Greet("world")).unwrap();
/// let runner = dispatcher.runner();
/// let result = futures::executor::block_on(async {
///     let (result, ()) = futures::join!(handle, async { dispatcher.shutdown(); runner.await });
///     result
/// });
/// assert_eq!(result.ok().as_deref(), Some("hello, world"));
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
    /// The causal depth stamped on the events of the jobs dispatched through this handle
    /// (see [`Event::causal_depth`](crate::Event::causal_depth)): non-zero only for the
    /// handle an orchestrator's hook gets from its [`Context`](crate::Context).
    cause: u32,
    /// The orchestrator host the events of the jobs dispatched through this handle are
    /// delivered to directly: set only on the handle of a host's [`Context`](crate::Context).
    route: Option<Arc<Route>>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").field("stats", &self.stats()).field("bus", &self.inner.env.bus).finish()
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Dispatcher {
    /// A dispatcher with its own new bus, no timer, no spawner: drive it with
    /// [`runner`](Self::runner). Jobs with a timeout or retry back-off need a timer
    /// ([`Dispatcher::builder`]).
    pub fn new() -> Self {
        Self::from_builder(DispatcherBuilder::new())
    }

    /// Configures a dispatcher.
    pub fn builder() -> DispatcherBuilder {
        DispatcherBuilder::new()
    }

    fn from_builder(b: DispatcherBuilder) -> Self {
        let spawned = b.spawner.is_some();
        let counters = Arc::new(Counters::default());
        Self {
            inner: Arc::new(Inner {
                registry: Arc::new(Registry::new(b.reuse_limit, b.metrics)),
                env: Arc::new(JobEnv {
                    bus: b.bus.unwrap_or_default(),
                    timer: b.timer,
                    logger: b.logger.unwrap_or_else(default_logger),
                    counters: counters.clone(),
                    cache: b.cache,
                    cache_errors: AtomicUsize::new(0),
                    retry_budget: b.retry_budget,
                    retries_refused: AtomicUsize::new(0),
                }),
                queue: Arc::new(JobQueue::new(spawned)),
                flow: FlowTable::new(b.max_concurrent, b.priority_aging),
                max_pending: b.max_pending,
                spawned,
                spawn: SpawnMode::new(b.spawner, b.spawn_per_job, counters),
            }),
            cause: 0,
            route: None,
        }
    }

    /// Registers `executor` for jobs of type `J`, replacing any previous one (and saying
    /// so). Jobs already dispatched finish on the executor they started with.
    pub fn register<J: Job, E: Executor<J>>(&self, executor: E) -> Registration {
        self.register_shared::<J, E>(Arc::new(executor))
    }

    /// Like [`register`](Self::register), for an executor you keep a handle to.
    pub fn register_shared<J: Job, E: Executor<J>>(&self, executor: Arc<E>) -> Registration {
        if self.inner.registry.insert::<J, E>(executor) { Registration::Replaced } else { Registration::Added }
    }

    /// Spawns each job of type `J` as its own task on the dispatcher's spawner (`true`), or
    /// queues them for the runners (`false`, the default unless the whole dispatcher
    /// spawns per job: [`DispatcherBuilder::spawn_per_job`]). The setting stays with the
    /// type when its executor is replaced, and applies to jobs dispatched from now on.
    ///
    /// Spawn per job suits an executor that may block its thread: on a multi-threaded
    /// runtime the other jobs go on on other workers, instead of waiting behind it in a
    /// shared runner. See docs/runtimes.md for the costs.
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoExecutor`] when no executor is registered for `J`;
    /// [`DispatchError::NoSpawner`] when turning it on for a dispatcher without a spawner.
    ///
    /// ```
    /// use orchestrator_core::{DispatchError, Dispatcher, Job, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Hash(Vec<u8>);
    /// impl Job for Hash { type Output = u64; }
    ///
    /// let dispatcher = Dispatcher::new(); // no spawner: with orchestrator-std, a runtime's
    /// dispatcher.register(executor_fn(|job: Hash, _| async move { Ok(job.0.len() as u64) }));
    /// assert_eq!(dispatcher.spawn_per_job::<Hash>(true), Err(DispatchError::NoSpawner { job_type: "Hash" }));
    /// assert_eq!(dispatcher.spawn_per_job::<Hash>(false), Ok(()));
    /// ```
    pub fn spawn_per_job<J: Job>(&self, on: bool) -> Result<(), DispatchError> {
        if on && !self.inner.spawn.has_spawner() {
            return Err(DispatchError::NoSpawner { job_type: crate::job::short_type_name::<J>() });
        }
        self.inner.registry.set_spawn_per_job::<J>(on)
    }

    /// Removes the executor of `J`; returns whether there was one.
    pub fn unregister<J: Job>(&self) -> bool {
        self.inner.registry.remove::<J>()
    }

    /// True when an executor is registered for `J`.
    pub fn is_registered<J: Job>(&self) -> bool {
        self.inner.registry.contains::<J>()
    }

    /// The names of the job types that have an executor.
    pub fn registered(&self) -> Vec<&'static str> {
        self.inner.registry.names()
    }

    /// Dispatches a job (or a [`JobBuilder`](crate::JobBuilder)) on the dispatcher's
    /// own bus. The returned handle resolves to its result.
    ///
    /// # Errors
    ///
    /// See [`DispatchError`]: nothing is emitted and nothing runs. In particular
    /// [`DispatchError::BusClosed`] once the dispatcher's bus is closed. A job dispatched
    /// before the bus closed still runs to its end and its handle gets the result; its
    /// later events go nowhere.
    pub fn dispatch<T: IntoJob>(&self, job: T) -> Result<JobHandle<<T::Job as Job>::Output>, DispatchError> {
        let stamped = (self.cause > 0 || self.route.is_some())
            .then(|| self.inner.env.bus.with_route(self.cause, self.route.clone()));
        self.dispatch_to(stamped, job)
    }

    /// Dispatches a job whose events go to `bus` (a scoped bus) instead of the
    /// dispatcher's own.
    ///
    /// # Errors
    ///
    /// See [`DispatchError`]: nothing is emitted and nothing runs. In particular
    /// [`DispatchError::BusClosed`] when `bus` is closed (whether or not the dispatcher's
    /// own bus is); as with [`dispatch`](Self::dispatch), a bus that closes after the
    /// dispatch does not stop the job.
    ///
    /// ```
    /// use orchestrator_core::{Bus, DispatchError, Dispatcher, Job, JobContext, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Ping;
    /// impl Job for Ping { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|_: Ping, _: JobContext| async { Ok(()) }));
    /// let scoped = Bus::new();
    /// scoped.close();
    /// assert_eq!(dispatcher.dispatch_on(&scoped, Ping).map(|_| ()), Err(DispatchError::BusClosed));
    /// assert!(dispatcher.dispatch(Ping).is_ok()); // the dispatcher's own bus is open
    /// assert_eq!(dispatcher.stats().pending, 1);
    /// ```
    pub fn dispatch_on<T: IntoJob>(
        &self,
        bus: &Bus,
        job: T,
    ) -> Result<JobHandle<<T::Job as Job>::Output>, DispatchError> {
        // The job's events carry the deeper of the two handles' causal depths.
        let cause = bus.causal_depth().max(self.cause);
        let scoped = (cause > 0 || self.route.is_some() || !bus.same_bus(&self.inner.env.bus))
            .then(|| bus.with_route(cause, self.route.clone()));
        self.dispatch_to(scoped, job)
    }

    /// Dispatches a job whose events go to `scoped`, else to the dispatcher's own bus:
    /// finds its executor, checks its options, admits it, starts it and enqueues it.
    fn dispatch_to<T: IntoJob>(
        &self,
        scoped: Option<Bus>,
        job: T,
    ) -> Result<JobHandle<<T::Job as Job>::Output>, DispatchError> {
        let (job, mut options) = job.into_job();
        let kind = self.inner.registry.kind::<T::Job>()?;
        let flow = if options.flow.is_some() || self.inner.flow.is_active() {
            let own = options.flow.take().unwrap_or_default();
            self.inner.flow.resolve(TypeId::of::<T::Job>(), own.policy, own.key, own.priority)
        } else {
            None
        };
        if options.is_plain() && flow.is_none() {
            self.admit(scoped.as_ref())?;
            self.start(&kind, scoped, job, &mut options, |core| core)
        } else {
            let (timeout, cache) = self.check(kind.name, &mut options)?;
            if let Some(flow) = &flow {
                flow.check(kind.name, self.inner.env.timer.is_some())?;
            }
            self.admit(scoped.as_ref())?;
            let (retry, placeholder) = (options.retry.take(), options.placeholder.take());
            match flow {
                None => self.start(&kind, scoped, job, &mut options, |core| Plan {
                    core,
                    timeout,
                    retry,
                    extras: Extras::new(placeholder, cache, None),
                }),
                Some(flow) => {
                    let bus = scoped.as_ref().unwrap_or(&self.inner.env.bus);
                    if let Some(joined) = self.inner.flow.try_join(&flow, kind.name, &self.inner.env, bus) {
                        return Ok(joined);
                    }
                    self.start_flow(&kind, scoped, job, &mut options, flow, |core, ticket| Plan {
                        core,
                        timeout,
                        retry,
                        extras: Extras::new(placeholder, cache, Some(ticket)),
                    })
                }
            }
        }
    }

    /// Starts an admitted job under flow control: its context and handle first (a joined
    /// dispatch is done then: its handle follows the job in flight), then its ticket, its
    /// task, the queue.
    fn start_flow<J: Job>(
        &self,
        kind: &JobKind<J>,
        scoped: Option<Bus>,
        job: J,
        options: &mut JobOptions<J::Output>,
        flow: Resolved,
        plan: impl FnOnce(JobCore<J::Output>, FlowTicket) -> Plan<J::Output>,
    ) -> Result<JobHandle<J::Output>, DispatchError> {
        let spawner = self.inner.spawn.spawner_for(kind.name, kind.spawns_per_job())?;
        let (mut core, mut handle, slot) = self.new_core::<J>(kind.name, kind.metrics.as_ref(), scoped, options, None);
        let Some(ticket) =
            FlowTable::enter(&self.inner.flow, flow, &mut core.ctx, &mut core.completer, &mut handle, &slot)?
        else {
            return Ok(handle);
        };
        let empty = <Plan<J::Output> as Pipeline<J>>::boxes(kind).take();
        let task = plan(core, ticket).task(kind, empty, job, slot);
        job_metrics::count_dispatch(kind.metrics.as_ref(), || self.enqueue(task, &handle, spawner))?;
        Ok(handle)
    }

    /// Checks the options of a job that has some: its timeout (`None` for
    /// `Duration::MAX`) and its cache stage.
    fn check<T>(
        &self,
        name: &'static str,
        options: &mut JobOptions<T>,
    ) -> Result<(Option<Duration>, Option<CacheStage>), DispatchError> {
        let env = &self.inner.env;
        let timeout = match options.timeout {
            Some(Duration::ZERO) => return Err(DispatchError::ZeroTimeout { job_type: name }),
            Some(Duration::MAX) | None => None,
            Some(t) => Some(t),
        };
        let needs_timer = timeout.is_some()
            || options.retry.as_ref().is_some_and(|p| p.max_retries() > 0 && !p.base_delay().is_zero());
        if needs_timer && env.timer.is_none() {
            return Err(DispatchError::NoTimer { job_type: name });
        }
        let cache = match (options.cache.take(), options.cache_provider.as_ref().or(env.cache.as_ref())) {
            (None, _) => None,
            (Some(policy), _) if policy.key().is_empty() => {
                return Err(DispatchError::EmptyCacheKey { job_type: name });
            }
            (Some(policy), _) if policy.ttl() == Some(Duration::ZERO) => {
                return Err(DispatchError::ZeroCacheTtl { job_type: name });
            }
            (Some(_), None) => return Err(DispatchError::NoCacheProvider { job_type: name }),
            (Some(policy), Some(provider)) => Some(CacheStage { policy, provider: provider.clone() }),
        };
        Ok((timeout, cache))
    }

    /// Refuses a job the dispatcher cannot take now.
    fn admit(&self, scoped: Option<&Bus>) -> Result<(), DispatchError> {
        let inner = &*self.inner;
        let env = &inner.env;
        if inner.queue.is_closed() {
            return Err(DispatchError::ShutDown);
        }
        // A job is there to be seen: with its bus closed, it would run with nowhere to
        // report, so refuse it as an orchestrator on a closed bus is refused.
        if scoped.unwrap_or(&env.bus).is_closed() {
            return Err(DispatchError::BusClosed);
        }
        if env.counters.pending() >= inner.max_pending {
            return Err(DispatchError::Overloaded { limit: inner.max_pending });
        }
        if inner.spawned && env.counters.runners.load(Ordering::Acquire) == 0 {
            return Err(DispatchError::NoRunners);
        }
        Ok(())
    }

    /// Starts an admitted job: its context and handle, then its task (a kept box
    /// refilled, whose result slot is reused if it is free, or a new box), then the queue.
    fn start<J: Job, P: Pipeline<J>>(
        &self,
        kind: &JobKind<J>,
        scoped: Option<Bus>,
        job: J,
        options: &mut JobOptions<J::Output>,
        plan: impl FnOnce(JobCore<J::Output>) -> P,
    ) -> Result<JobHandle<J::Output>, DispatchError> {
        let spawner = self.inner.spawn.spawner_for(kind.name, kind.spawns_per_job())?;
        let mut empty = P::boxes(kind).take();
        let kept = empty.as_mut().and_then(|empty| empty.as_mut().take_slot());
        let (core, handle, slot) = self.new_core::<J>(kind.name, kind.metrics.as_ref(), scoped, options, kept);
        let task = plan(core).task(kind, empty, job, slot);
        job_metrics::count_dispatch(kind.metrics.as_ref(), || self.enqueue(task, &handle, spawner))?;
        Ok(handle)
    }

    /// A new job's context and the two ends of its result slot (`kept`, if it is free).
    /// Takes what it needs out of `options` (by reference: the options are a few hundred
    /// bytes, and every move of them is a copy).
    fn new_core<J: Job>(
        &self,
        name: &'static str,
        metrics: Option<&Arc<TypeMetrics>>,
        scoped: Option<Bus>,
        options: &mut JobOptions<J::Output>,
        kept: Option<SlotRef<J::Output>>,
    ) -> NewJob<J::Output> {
        let env = &self.inner.env;
        // A job with a parent token gets its child now, so cancelling the parent reaches
        // it; any other job creates its token only if somebody asks for it.
        let token = options.token.as_ref().map(CancellationToken::child_token);
        let id = JobId::next(options.id_prefix.unwrap_or(name));
        let (completer, handle, cancel, slot) = handle::pair(id, token, &env.counters, kept);
        let ctx = JobContext {
            id,
            job_type: name,
            job_type_id: TypeId::of::<J>(),
            env: env.clone(),
            bus: scoped,
            cancel,
            extras: ContextExtras::new(options.metadata.take(), options.cache_provider.take()),
            attempt: AtomicU32::new(0),
            probe: Probe::new(metrics),
            #[cfg(feature = "tracing")]
            span: crate::pipeline::job_span::new_span(id, name),
        };
        (JobCore { ctx, completer }, handle, slot)
    }

    /// Puts the job's task into the queue (or spawns it, given a `spawner`). From here on
    /// the job owes exactly one terminal event; if it is refused after all, it owes none
    /// (its caller gets the error) and is dropped as such.
    fn enqueue<T: Clone + MaybeSend + MaybeSync + 'static>(
        &self,
        task: Task,
        handle: &JobHandle<T>,
        spawner: Option<&Arc<dyn Spawn>>,
    ) -> Result<(), DispatchError> {
        if let Some(spawner) = spawner {
            return spawned_job::spawn(spawner, self.inner.spawn.jobs(), task, handle.erased_slot());
        }
        let Err((task, why)) = self.inner.queue.push(task) else { return Ok(()) };
        handle.gate().refuse();
        drop(task);
        Err(match why {
            PushError::Closed => DispatchError::ShutDown,
            PushError::Unserved => DispatchError::NoRunners,
        })
    }

    /// A job of type `J` with default options, and its core (for size tests).
    #[cfg(test)]
    pub(crate) fn core_for_test<J: Job>(&self, job: J) -> (J, JobCore<J::Output>) {
        let (core, _, _) = self.new_core::<J>("test", None, None, &mut JobOptions::new(), None);
        (job, core)
    }

    /// A runner for this dispatcher's jobs. Await it (or spawn it) once or several times;
    /// it ends after [`shutdown`](Self::shutdown) (or when every dispatcher handle is
    /// dropped) once the jobs it took have finished.
    pub fn runner(&self) -> Runner {
        Runner::new(self.inner.queue.clone(), self.inner.env.counters.clone())
    }

    /// Stops accepting jobs. Jobs already dispatched still run to their end; runners then
    /// finish. Returns `true` if this call shut it down.
    pub fn shutdown(&self) -> bool {
        self.inner.queue.close()
    }

    /// Shuts the dispatcher down and resolves when every job dispatched before has ended
    /// (its terminal event emitted, its handle resolved), with how they ended.
    ///
    /// With a `deadline` (measured on the dispatcher's [timer](DispatcherBuilder::timer),
    /// from the call), the jobs still running when it passes are cancelled with
    /// [`DRAIN_DEADLINE_REASON`](crate::DRAIN_DEADLINE_REASON), and the drain resolves once
    /// they have ended. The jobs must be run meanwhile: by the spawned runners, or by a
    /// [`runner`](Self::runner) you await alongside the drain.
    ///
    /// # Errors
    ///
    /// [`DrainError::NoTimer`](crate::DrainError::NoTimer) with a deadline and no timer
    /// (the dispatcher is then left as it was).
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::{Dispatcher, Job, JobResult, executor_fn};
    /// use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
    ///
    /// #[derive(Clone)]
    /// struct Nap(u64);
    /// impl Job for Nap { type Output = (); }
    ///
    /// let clock = VirtualClock::new();
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    /// let timer = clock.clone();
    /// dispatcher.register(executor_fn(move |nap: Nap, _| {
    ///     let sleep = timer.sleep(Duration::from_secs(nap.0));
    ///     async move { sleep.await; Ok(()) }
    /// }));
    /// let quick = dispatcher.dispatch(Nap(1)).unwrap();
    /// let slow = dispatcher.dispatch(Nap(60)).unwrap();
    ///
    /// let drain = dispatcher.drain(Some(Duration::from_secs(5)));
    /// let (report, ()) = run_virtual(&clock, async { futures::join!(drain, dispatcher.runner()) }).unwrap();
    /// let report = report.unwrap();
    /// assert_eq!((report.finished, report.cancelled), (1, 1));
    /// assert!(matches!(run_virtual(&clock, quick).unwrap(), JobResult::Success(())));
    /// assert!(matches!(run_virtual(&clock, slow).unwrap(), JobResult::Cancelled(Some(_))));
    /// ```
    pub fn drain(&self, deadline: Option<Duration>) -> crate::drain::Drain {
        let env = &self.inner.env;
        let deadline = match (deadline, &env.timer) {
            (None, _) => None,
            (Some(_), None) => return crate::drain::Drain(Box::pin(async { Err(crate::DrainError::NoTimer) })),
            (Some(after), Some(timer)) => Some(timer.sleep(after)),
        };
        self.shutdown();
        let (queue, spawned) = (self.inner.queue.clone(), self.inner.spawn.jobs().clone());
        crate::drain::Drain(Box::pin(crate::drain::run(env.counters.clone(), deadline, move |reason| {
            spawned.abort(&reason);
            queue.abort(reason);
        })))
    }

    /// True after [`shutdown`](Self::shutdown).
    pub fn is_shut_down(&self) -> bool {
        self.inner.queue.is_closed()
    }

    /// The dispatcher's own bus.
    pub fn bus(&self) -> &Bus {
        &self.inner.env.bus
    }

    /// Sets the causal depth this handle stamps on the jobs it dispatches.
    pub(crate) fn set_cause(&mut self, depth: u32) {
        self.cause = depth;
    }

    /// Delivers the events of the jobs dispatched through this handle to `route` too.
    pub(crate) fn set_route(&mut self, route: Arc<Route>) {
        self.route = Some(route);
    }

    /// The dispatcher's timer, if it has one.
    pub fn timer(&self) -> Option<&Arc<dyn Timer>> {
        self.inner.env.timer.as_ref()
    }

    /// The dispatcher's logger.
    pub fn logger(&self) -> &Arc<dyn Logger> {
        &self.inner.env.logger
    }

    /// The dispatcher's cache provider, if it has one.
    pub fn cache(&self) -> Option<&Arc<dyn CacheProvider>> {
        self.inner.env.cache.as_ref()
    }

    /// The retry budget of jobs whose retry policy has none, if one was configured
    /// ([`DispatcherBuilder::retry_budget`]).
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.inner.env.retry_budget.as_ref()
    }

    /// Sets the [`FlowPolicy`] of every job of type `J` whose dispatch sets none of its
    /// own ([`JobBuilder::flow`](crate::JobBuilder::flow) or [`Job::configure`]).
    /// `FlowPolicy::concurrent()` removes it. Jobs already dispatched keep theirs.
    ///
    /// # Errors
    ///
    /// The [`FlowConflict`] of a combination that is not allowed; nothing changes.
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher, DispatchError, FlowPolicy, Job, JobContext, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Save;
    /// impl Job for Save { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|_: Save, _: JobContext| async { Ok(()) }));
    /// dispatcher.set_flow::<Save>(FlowPolicy::drop_while_busy()).unwrap();
    /// let first = dispatcher.dispatch(Save).unwrap();
    /// assert_eq!(dispatcher.dispatch(Save).unwrap_err(), DispatchError::Busy { job_type: "Save" });
    /// assert_eq!(dispatcher.stats().dropped, 1);
    /// # drop(first);
    /// ```
    pub fn set_flow<J: Job>(&self, policy: FlowPolicy) -> Result<(), FlowConflict> {
        policy.check()?;
        self.inner.flow.set_policy(TypeId::of::<J>(), (!policy.is_concurrent()).then_some(policy));
        Ok(())
    }

    /// Caps how many jobs of type `J` run at once (`None`: no cap). Jobs beyond it wait
    /// (emitting `Queued`) in their [`Priority`](crate::Priority) lane. At least 1.
    /// Jobs already holding a place under the old cap keep it until they end.
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher, Job, JobContext, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Upload;
    /// impl Job for Upload { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|_: Upload, _: JobContext| async { Ok(()) }));
    /// dispatcher.set_max_concurrent::<Upload>(Some(2));
    /// # let _ = dispatcher.dispatch(Upload);
    /// ```
    pub fn set_max_concurrent<J: Job>(&self, limit: Option<usize>) {
        self.inner.flow.set_cap(TypeId::of::<J>(), limit.map(|n| n.max(1)));
    }

    /// What flow control did to the dispatches of type `J`: jobs waiting now (the
    /// type's queue depth), queued, joined, superseded and dropped so far, and the time
    /// they waited.
    pub fn flow_stats<J: Job>(&self) -> FlowStats {
        self.inner.flow.stats(TypeId::of::<J>())
    }

    /// What happened to the jobs of type `J` since its first registration: counts of
    /// each outcome, retries, jobs in flight, and the percentiles of their queue wait and
    /// run time (measured on the dispatcher's [timer](DispatcherBuilder::timer); absent
    /// without one). All zero when metrics are off ([`DispatcherBuilder::metrics`]) or no
    /// executor is registered for `J`. Replacing the executor keeps the type's metrics;
    /// [`unregister`](Self::unregister) drops them.
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::{Dispatcher, Job, executor_fn};
    /// use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
    ///
    /// #[derive(Clone)]
    /// struct Nap(u64);
    /// impl Job for Nap { type Output = (); }
    ///
    /// let clock = VirtualClock::new(); // with orchestrator-std: the runtime's builder
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).metrics(true).build().unwrap();
    /// let timer = clock.clone();
    /// dispatcher.register(executor_fn(move |nap: Nap, _| {
    ///     let sleep = timer.sleep(Duration::from_millis(nap.0));
    ///     async move { sleep.await; Ok(()) }
    /// }));
    /// let jobs = [dispatcher.dispatch(Nap(10)).unwrap(), dispatcher.dispatch(Nap(30)).unwrap()];
    /// let runner = dispatcher.runner();
    /// dispatcher.shutdown();
    /// run_virtual(&clock, async { futures::join!(futures::future::join_all(jobs), runner) }).unwrap();
    ///
    /// let metrics = dispatcher.metrics::<Nap>();
    /// assert_eq!((metrics.dispatched, metrics.succeeded, metrics.in_flight), (2, 2, 0));
    /// let run_time = metrics.run_time.unwrap();
    /// assert_eq!(run_time.count, 2);
    /// // Within the histogram's 6.25 %: the median is the 10 ms job, p99 the 30 ms one.
    /// assert!(run_time.p50.abs_diff(Duration::from_millis(10)) < Duration::from_micros(625));
    /// assert!(run_time.p99.abs_diff(Duration::from_millis(30)) < Duration::from_micros(1875));
    /// ```
    pub fn metrics<J: Job>(&self) -> JobMetrics {
        self.inner
            .registry
            .kind::<J>()
            .ok()
            .and_then(|kind| Some(kind.metrics.as_ref()?.snapshot()))
            .unwrap_or_default()
    }

    /// The [`metrics`](Self::metrics) of every registered job type, by type name (empty
    /// when metrics are off).
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher, Job, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Ping;
    /// impl Job for Ping { type Output = (); }
    ///
    /// let dispatcher = Dispatcher::builder().metrics(true).build().unwrap();
    /// dispatcher.register(executor_fn(|_: Ping, _| async { Ok(()) }));
    /// let _ping = dispatcher.dispatch(Ping).unwrap();
    /// let all = dispatcher.all_metrics();
    /// assert_eq!(all.len(), 1);
    /// assert_eq!((all[0].0, all[0].1.dispatched, all[0].1.in_flight), ("Ping", 1, 1));
    /// ```
    pub fn all_metrics(&self) -> Vec<(&'static str, JobMetrics)> {
        self.inner.registry.metrics()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DispatcherStats {
        let env = &self.inner.env;
        let c = &env.counters;
        let flow = self.inner.flow.totals();
        DispatcherStats {
            pending: c.pending(),
            queued: self.inner.queue.len(),
            running: c.running.load(Ordering::Acquire),
            finished: c.finished.load(Ordering::Acquire),
            runners: c.runners.load(Ordering::Acquire),
            cache_errors: env.cache_errors.load(Ordering::Relaxed),
            reusable: self.inner.registry.pooled(),
            retries_refused: env.retries_refused.load(Ordering::Relaxed),
            waiting: flow.waiting,
            joined: flow.joined,
            superseded: flow.superseded,
            dropped: flow.dropped,
        }
    }
}

/// Builds a [`Dispatcher`].
///
/// ```
/// use orchestrator_core::{Bus, Dispatcher};
/// let dispatcher = Dispatcher::builder().bus(Bus::new()).max_pending(1_000).build().unwrap();
/// # let _ = dispatcher;
/// ```
#[must_use]
pub struct DispatcherBuilder {
    bus: Option<Bus>,
    timer: Option<Arc<dyn Timer>>,
    spawner: Option<Arc<dyn Spawn>>,
    logger: Option<Arc<dyn Logger>>,
    runners: usize,
    max_pending: usize,
    reuse_limit: usize,
    cache: Option<Arc<dyn CacheProvider>>,
    retry_budget: Option<RetryBudget>,
    max_concurrent: Option<usize>,
    priority_aging: u32,
    spawn_per_job: bool,
    metrics: bool,
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("has_timer", &self.timer.is_some())
            .field("has_spawner", &self.spawner.is_some())
            .field("runners", &self.runners)
            .field("max_pending", &self.max_pending)
            .field("reuse_limit", &self.reuse_limit)
            .field("has_cache", &self.cache.is_some())
            .field("retry_budget", &self.retry_budget)
            .field("max_concurrent", &self.max_concurrent)
            .field("priority_aging", &self.priority_aging)
            .field("spawn_per_job", &self.spawn_per_job)
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl Default for DispatcherBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DispatcherBuilder {
    /// Default of [`max_pending`](Self::max_pending): jobs dispatched and not yet finished.
    pub const DEFAULT_MAX_PENDING: usize = DEFAULT_MAX_PENDING;
    /// Default of [`reuse_limit`](Self::reuse_limit): finished jobs' boxes kept for reuse.
    pub const DEFAULT_REUSE_LIMIT: usize = DEFAULT_REUSE_LIMIT;
    /// Default of [`priority_aging`](Self::priority_aging).
    pub const DEFAULT_PRIORITY_AGING: u32 = DEFAULT_PRIORITY_AGING;
    /// Default of [`metrics`](Self::metrics): off.
    pub const DEFAULT_METRICS: bool = DEFAULT_METRICS;

    /// Defaults: a new bus, no timer, no spawner, 1 runner, [`DispatcherBuilder::DEFAULT_MAX_PENDING`],
    /// [`DispatcherBuilder::DEFAULT_REUSE_LIMIT`], no cache, no retry budget.
    pub fn new() -> Self {
        Self {
            bus: None,
            timer: None,
            spawner: None,
            logger: None,
            runners: 1,
            max_pending: DEFAULT_MAX_PENDING,
            reuse_limit: DEFAULT_REUSE_LIMIT,
            cache: None,
            retry_budget: None,
            max_concurrent: None,
            priority_aging: DEFAULT_PRIORITY_AGING,
            spawn_per_job: false,
            metrics: DEFAULT_METRICS,
        }
    }

    /// The default bus of dispatched jobs.
    pub fn bus(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The timer used for timeouts and retry back-off.
    pub fn timer(mut self, timer: impl Timer + 'static) -> Self {
        self.timer = Some(dyn_arc!(timer));
        self
    }

    /// A shared timer.
    pub fn timer_shared(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }

    /// A spawner: `build` then starts the runners on it.
    pub fn spawner(mut self, spawner: impl Spawn + 'static) -> Self {
        self.spawner = Some(dyn_arc!(spawner));
        self
    }

    /// A shared spawner.
    pub fn spawner_shared(mut self, spawner: Arc<dyn Spawn>) -> Self {
        self.spawner = Some(spawner);
        self
    }

    /// Spawns every job as its own task on the [spawner](Self::spawner), instead of
    /// queueing it for the runners (which poll many jobs inside one task each). Off by
    /// default; one job type at a time: [`Dispatcher::spawn_per_job`].
    ///
    /// With it, an executor that blocks its thread holds up only its own job: on a
    /// multi-threaded runtime the others go on on other workers. Each job then costs a
    /// spawn (the runtime's task allocation and scheduling); docs/runtimes.md compares the
    /// two modes. The runners are still started (they tell dispatch whether the runtime is
    /// alive: [`DispatchError::NoRunners`]) and [`shutdown`](Dispatcher::shutdown) works as
    /// without. Without a spawner, dispatch fails with [`DispatchError::NoSpawner`].
    ///
    /// ```
    /// use orchestrator_core::{DispatchError, Dispatcher, Job, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Ping;
    /// impl Job for Ping { type Output = (); }
    ///
    /// // With orchestrator-std: `orchestrator_std::tokio::dispatcher_builder().spawn_per_job()`.
    /// let dispatcher = Dispatcher::builder().spawn_per_job().build().unwrap();
    /// dispatcher.register(executor_fn(|_: Ping, _| async { Ok(()) }));
    /// let refused = dispatcher.dispatch(Ping).map(|_| ());
    /// assert_eq!(refused, Err(DispatchError::NoSpawner { job_type: "Ping" }));
    /// assert_eq!(dispatcher.stats().pending, 0);
    /// ```
    pub fn spawn_per_job(mut self) -> Self {
        self.spawn_per_job = true;
        self
    }

    /// Keeps [metrics per job type](Dispatcher::metrics) (`true`), or not (`false`, the
    /// default: [`DispatcherBuilder::DEFAULT_METRICS`]). With them each job counts its
    /// dispatch, outcome and retries in its type's atomics and, on a dispatcher with a
    /// [timer](Self::timer), reads the clock three times (dispatch, `Started`, end) for its
    /// queue wait and run time; each type's histograms take about 6 KiB (3 KiB on 32-bit
    /// targets). Off, a job pays one branch per hook. docs/performance.md has the cost.
    ///
    /// With the `metrics` feature, they also go to the `metrics` facade (counters, a gauge
    /// and histograms labelled `job_type`).
    ///
    /// ```
    /// use orchestrator_core::Dispatcher;
    /// let dispatcher = Dispatcher::builder().metrics(true).build().unwrap();
    /// assert!(dispatcher.all_metrics().is_empty()); // no job type registered yet
    /// ```
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// How many runners `build` spawns when there is a spawner (default 1, at least 1).
    pub fn runners(mut self, runners: usize) -> Self {
        self.runners = runners.max(1);
        self
    }

    /// The logger of the dispatcher's jobs and, unless they are given their own, of its
    /// orchestrators (default: [`DefaultLogger`](crate::log::DefaultLogger), which with
    /// `std` writes warnings and errors to stderr, or forwards to `tracing` / `log` with
    /// their feature). With `std`, a panic inside the logger is caught and swallowed.
    ///
    /// To turn logging off: `.logger(NoopLogger)`.
    ///
    /// ```
    /// use orchestrator_core::Dispatcher;
    /// use orchestrator_core::log::{Level, NoopLogger};
    /// let quiet = Dispatcher::builder().logger(NoopLogger).build().unwrap();
    /// assert!(!quiet.logger().enabled(Level::Error));
    /// ```
    pub fn logger(mut self, logger: impl Logger + 'static) -> Self {
        self.logger = Some(shielded(dyn_arc!(logger)));
        self
    }

    /// The cache provider of the dispatched jobs' [cache policies](crate::cache::CachePolicy) and
    /// of their contexts' cache helpers (a job may bring its own:
    /// [`JobOptions::cache_provider`](crate::JobOptions::cache_provider)).
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher};
    /// use orchestrator_core::cache::{InMemoryCache};
    /// use orchestrator_core::runtime::VirtualClock;
    ///
    /// let clock = VirtualClock::new(); // with orchestrator-std: the runtime's clock
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).cache(InMemoryCache::new(clock)).build().unwrap();
    /// assert!(dispatcher.cache().is_some());
    /// ```
    pub fn cache(mut self, provider: impl CacheProvider + 'static) -> Self {
        self.cache = Some(dyn_arc!(provider));
        self
    }

    /// A shared cache provider (keep a handle to inspect or clear it).
    pub fn cache_shared(mut self, provider: Arc<dyn CacheProvider>) -> Self {
        self.cache = Some(provider);
        self
    }

    /// The most jobs that may be dispatched and not yet finished; beyond it dispatch
    /// fails with [`DispatchError::Overloaded`]. At least 1.
    pub fn max_pending(mut self, limit: usize) -> Self {
        self.max_pending = limit.max(1);
        self
    }

    /// How many finished jobs' boxes the dispatcher keeps for reuse, over all job types
    /// (default [`DispatcherBuilder::DEFAULT_REUSE_LIMIT`]; 0 keeps none).
    ///
    /// A job's future (the executor's future inside the pipeline that adds events,
    /// cancellation, timeout, retry and cache) lives in a box of a few hundred bytes.
    /// When a job finishes, its runner empties the box and gives it back; the next job of
    /// the same type and executor reuses it instead of allocating. The boxes kept cost
    /// their size each (`size_of` the pipeline future of their job type: about 620 bytes
    /// for a trivial job with options, 256 without), so the default keeps at most about
    /// 620 KiB after a burst of trivial jobs.
    /// Lower it on a small heap; raise it if many more jobs of one type are in flight at
    /// once and allocation shows in your profile.
    ///
    /// ```
    /// use orchestrator_core::Dispatcher;
    /// let dispatcher = Dispatcher::builder().reuse_limit(64).build().unwrap();
    /// # let _ = dispatcher;
    /// ```
    pub fn reuse_limit(mut self, boxes: usize) -> Self {
        self.reuse_limit = boxes;
        self
    }

    /// The [`RetryBudget`] of every job whose [`RetryPolicy`](crate::RetryPolicy) has no
    /// [budget](crate::RetryPolicy::budget) of its own: retries of all those jobs
    /// together are limited to a share of their recent successes plus a reserve, so a
    /// failing dependency is not hit by every job's retries at once. A refused retry ends
    /// its job with its last error (kind
    /// [`RetryBudgetExhausted`](crate::JobErrorKind::RetryBudgetExhausted)), counts in
    /// [`DispatcherStats::retries_refused`] and is logged at
    /// [`Level::Warning`](crate::log::Level::Warning).
    ///
    /// None by default: a budget would make jobs that retry today end earlier (with a
    /// `Failure` instead of more attempts) when many fail at once. The budget's window
    /// runs on the dispatcher's [timer](Self::timer); without one it never rolls over
    /// (see [`RetryBudget`]).
    ///
    /// ```
    /// use orchestrator_core::{Dispatcher, RetryBudget};
    /// use orchestrator_core::runtime::VirtualClock;
    ///
    /// let budget = RetryBudget::builder().min_retries(20).retry_percent(10).build();
    /// let dispatcher = Dispatcher::builder().timer(VirtualClock::new()).retry_budget(budget.clone()).build().unwrap();
    /// assert!(dispatcher.retry_budget().is_some_and(|b| b.ptr_eq(&budget)));
    /// assert_eq!(dispatcher.stats().retries_refused, 0);
    /// ```
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry_budget = Some(budget);
        self
    }

    /// Caps how many of the dispatcher's jobs run at once, over all job types (default:
    /// no cap; at least 1). Jobs beyond it wait (emitting `Queued`), served by
    /// [`Priority`](crate::Priority) lane. Every job then goes through flow control (a
    /// permit taken and given back): a plain job costs more than without a cap.
    ///
    /// ```
    /// use orchestrator_core::Dispatcher;
    /// let dispatcher = Dispatcher::builder().max_concurrent(8).build().unwrap();
    /// # let _ = dispatcher;
    /// ```
    pub fn max_concurrent(mut self, limit: usize) -> Self {
        self.max_concurrent = Some(limit.max(1));
        self
    }

    /// How many times a job waiting for a concurrency permit may be passed over by jobs
    /// of higher [`Priority`](crate::Priority) lanes before it is served next whatever
    /// its lane (default [`DispatcherBuilder::DEFAULT_PRIORITY_AGING`]; at least 1), so
    /// low lanes never starve.
    pub fn priority_aging(mut self, passed_over: u32) -> Self {
        self.priority_aging = passed_over.max(1);
        self
    }

    /// Builds the dispatcher and, with a spawner, starts its runners.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the spawner refuses a runner.
    pub fn build(self) -> Result<Dispatcher, SpawnError> {
        let spawner = self.spawner.clone();
        let runners = self.runners;
        let dispatcher = Dispatcher::from_builder(self);
        if let Some(spawner) = spawner {
            for _ in 0..runners {
                spawner.spawn(Box::pin(dispatcher.runner()))?;
            }
        }
        Ok(dispatcher)
    }
}

#[cfg(test)]
mod flow_tests {
    use crate::{Dispatcher, FlowPolicy, Job, JobBuilder, JobContext, executor_fn};

    #[derive(Clone)]
    struct Keyed;
    impl Job for Keyed {
        type Output = ();
    }

    /// The table keeps a key only while a job with it is in flight: a stream of distinct
    /// keys does not grow it.
    #[test]
    fn flow_keys_are_forgotten_when_their_jobs_end() {
        let dispatcher = Dispatcher::new();
        dispatcher.register(executor_fn(|_: Keyed, _: JobContext| async { Ok(()) }));
        let handles: alloc::vec::Vec<_> = (0..100_u64)
            .map(|key| dispatcher.dispatch(JobBuilder::new(Keyed).key(key).flow(FlowPolicy::join())).unwrap())
            .collect();
        assert_eq!(dispatcher.inner.flow.keys(), 100);
        let runner = dispatcher.runner();
        futures::executor::block_on(async {
            let (results, ()) = futures::join!(futures::future::join_all(handles), async {
                dispatcher.shutdown();
                runner.await;
            });
            assert!(results.iter().all(crate::JobResult::is_success));
        });
        assert_eq!(dispatcher.inner.flow.keys(), 0);
    }
}

#[cfg(test)]
mod future_size_tests {
    use alloc::sync::Arc;

    use crate::Dispatcher;
    use crate::error::JobError;
    use crate::executor::{Executor, JobContext};
    use crate::job::Job;
    use crate::pipeline::{Plan, run, run_plain};

    struct Trivial;
    impl Job for Trivial {
        type Output = u64;
    }
    struct Echo;
    impl Executor<Trivial> for Echo {
        async fn process(&self, _: &Trivial, _: &JobContext) -> Result<u64, JobError> {
            Ok(1)
        }
    }

    /// A job's future is its main memory cost: it is copied into its box and read back
    /// from memory that has gone cold since the box's last job (see docs/design.md). A
    /// trivial job's is 256 bytes (plain) and 616 (with options) in release builds on
    /// x86_64; the bounds leave room for debug builds and other targets.
    #[test]
    fn trivial_job_futures_stay_small() {
        let dispatcher = Dispatcher::new();
        let (job, core) = dispatcher.core_for_test(Trivial);
        let plain = core::mem::size_of_val(&run_plain(Arc::new(Echo), job, core));
        let (job, core) = dispatcher.core_for_test(Trivial);
        let plan = Plan { core, timeout: None, retry: None, extras: None };
        let full = core::mem::size_of_val(&run(Arc::new(Echo), job, plan));
        assert!(plain <= 400, "plain pipeline: {plain} bytes");
        assert!(full <= 800, "full pipeline: {full} bytes");
        assert!(plain * 3 / 2 < full, "the plain pipeline must stay much smaller ({plain} vs {full} bytes)");
    }
}
