//! [`Context`]: what a command handler or a hook can see and do.

use crate::sync::Arc;
use alloc::boxed::Box;
use core::any::TypeId;
use core::fmt;
use core::time::Duration;

use super::Orchestrator;
use super::continuation::{Continuations, result_of};
use super::stats::OrchestratorStats;
use super::tracking::{ActiveJob, Tracking};
use crate::bus::Bus;
use crate::dispatcher::Dispatcher;
use crate::error::DispatchError;
use crate::event::Event;
use crate::job::{IntoJob, Job, short_type_name};
use crate::job_id::JobId;
use crate::log::{Level, Logger, log_at};
use crate::result::JobResult;
use crate::runtime::Clock;
use crate::sync::MaybeSend;

/// Everything of a host except the orchestrator itself, so that a hook can borrow the
/// orchestrator (`&mut self`) and this (through [`Context`]) at the same time.
pub(crate) struct HostCore<S> {
    pub(crate) state: S,
    /// The state was set or updated during the current input and must be published.
    pub(crate) dirty: bool,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) bus: Bus,
    pub(crate) tracking: Tracking,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) logger: Arc<dyn Logger>,
    /// The orchestrator type's short name, for log lines.
    pub(crate) name: &'static str,
    /// Why the host must end after the current input ([`Context::shutdown`] was called,
    /// or an input said so).
    pub(crate) stop: Option<&'static str>,
    /// The orchestrator's `on_passive_event` is the default one, which does nothing: the
    /// host need not read the whole bus.
    pub(crate) passive_unused: bool,
    pub(crate) stats: OrchestratorStats,
}

impl<S> HostCore<S> {
    /// Ends the host after the current input (the first reason given wins).
    pub(crate) fn stop_with(&mut self, why: &'static str) {
        self.stop.get_or_insert(why);
    }

    /// Why the host must end, if it must.
    pub(crate) fn stop_reason(&self) -> Option<&'static str> {
        self.stop
    }

    /// The host's clock reading, or zero without a clock.
    pub(crate) fn now_or_zero(&self) -> Duration {
        self.clock.as_ref().map_or(Duration::ZERO, |clock| clock.now())
    }
}

/// What a command handler or a hook can see and do: read and publish the state,
/// dispatch and cancel jobs, ask which jobs are running.
///
/// A context exists only during one call of [`Orchestrator::handle`] or of a hook. The
/// host processes one input at a time, so nothing else touches the orchestrator or its
/// state meanwhile: no locks, no races.
///
/// ```
/// use orchestrator_core::{Context, Dispatcher, Event, Job, JobError, Orchestrator, executor_fn};
///
/// #[derive(Clone)]
/// struct Search(String);
/// impl Job for Search { type Output = Vec<String>; }
///
/// #[derive(Clone, Default)]
/// struct SearchState { query: String, results: Vec<String>, busy: bool }
///
/// struct SearchBox;
/// impl Orchestrator for SearchBox {
///     type State = SearchState;
///     type Command = String; // the text typed
///
///     fn handle(&mut self, query: String, ctx: &mut Context<'_, Self>) {
///         ctx.cancel_all_jobs(); // search-as-you-type: only the latest query matters
///         match ctx.dispatch(Search(query.clone())) {
///             Ok(_id) => ctx.update_state(|s| { s.query = query; s.busy = true; }),
///             Err(e) => ctx.update_state(|s| s.query = format!("cannot search: {e}")),
///         }
///     }
///
///     fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
///         let results = event.data_as::<Vec<String>>().cloned().unwrap_or_default();
///         // Still true here: tracking ends after the hooks.
///         assert!(ctx.is_job_type_running::<Search>());
///         ctx.update_state(|s| { s.results = results; s.busy = false; });
///     }
/// }
/// # let dispatcher = Dispatcher::new();
/// # dispatcher.register(executor_fn(|job: Search, _| async move { Ok::<_, JobError>(vec![job.0]) }));
/// # let (host, handle) = SearchBox.start(SearchState::default(), &dispatcher).unwrap();
/// # handle.try_send("rust".into()).unwrap();
/// # handle.shutdown();
/// # futures::executor::block_on(host);
/// # assert!(handle.state().busy);
/// ```
pub struct Context<'a, O: Orchestrator> {
    pub(crate) core: &'a mut HostCore<O::State>,
    pub(crate) thens: &'a mut Continuations<O>,
}

impl<O: Orchestrator> fmt::Debug for Context<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("orchestrator", &self.core.name)
            .field("active_jobs", &self.core.tracking.len())
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> Context<'_, O> {
    /// The current state (including changes made earlier in this call).
    pub fn state(&self) -> &O::State {
        &self.core.state
    }

    /// Replaces the state. Watchers see it once the host has finished processing the
    /// current input (several changes within one command or one event publish once).
    pub fn set_state(&mut self, state: O::State) {
        self.core.state = state;
        self.core.dirty = true;
    }

    /// Changes the state in place. Published like [`set_state`](Self::set_state).
    pub fn update_state(&mut self, update: impl FnOnce(&mut O::State)) {
        update(&mut self.core.state);
        self.core.dirty = true;
    }

    /// Dispatches `job` (a [`Job`] or a [`JobBuilder`](crate::JobBuilder)) with the
    /// orchestrator's dispatcher, on the orchestrator's bus, and tracks it as active.
    ///
    /// The id is tracked **before** this returns, and the host handles no event while a
    /// command or hook runs: events of the job (which may already be running on another
    /// thread) wait in the host's subscription, which exists since the host was built, and
    /// are routed only after this call has recorded the id. So even the job's `Started`
    /// reaches `on_job_started`: there is no window in which its events look foreign.
    ///
    /// # Errors
    ///
    /// [`DispatchError`]: nothing was dispatched and nothing is tracked.
    pub fn dispatch<T: IntoJob>(&mut self, job: T) -> Result<JobId, DispatchError> {
        let core = &mut *self.core;
        let handle = core.dispatcher.dispatch_on(&core.bus, job)?;
        let id = handle.id();
        let job_type = short_type_name::<T::Job>;
        log_at!(core.logger, Level::Debug, "orchestrator {} dispatched job {id} ({})", core.name, job_type());
        // A dispatch that joined a job this orchestrator already tracks (flow control's
        // join) is that job: its entry stays as it is.
        if !core.tracking.contains(id) {
            let depth = core.bus.causal_depth();
            core.tracking.insert(
                id,
                ActiveJob { type_id: TypeId::of::<T::Job>(), job_type, progress: 0.0, depth, handle: handle.erase() },
            );
        }
        Ok(id)
    }

    /// Dispatches `job` with a flow-control `key` under `policy`, like
    /// [`dispatch`](Self::dispatch): instead of guarding by hand with
    /// [`is_job_type_running`](Self::is_job_type_running) and
    /// [`cancel_job`](Self::cancel_job), say what a second dispatch with the same key does
    /// (join the first, supersede it, be dropped, or wait its turn). See
    /// [`FlowPolicy`](crate::FlowPolicy) and docs/advanced-patterns.md.
    ///
    /// # Errors
    ///
    /// [`DispatchError`], including the policy's refusals
    /// ([`Busy`](DispatchError::Busy), [`KeyQueueFull`](DispatchError::KeyQueueFull)):
    /// nothing was dispatched and nothing is tracked.
    ///
    /// ```
    /// use orchestrator_core::{Context, Dispatcher, FlowPolicy, Job, JobError, Orchestrator, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Search(String);
    /// impl Job for Search { type Output = Vec<String>; }
    ///
    /// struct SearchBox;
    /// impl Orchestrator for SearchBox {
    ///     type State = Vec<String>;
    ///     type Command = String;
    ///     fn handle(&mut self, query: String, ctx: &mut Context<'_, Self>) {
    ///         // Each keystroke supersedes the search in flight: only the latest one's
    ///         // results arrive (the earlier ones end `Cancelled`, reason "superseded").
    ///         let _ = ctx.dispatch_keyed(Search(query), "search", FlowPolicy::latest_wins());
    ///     }
    /// }
    /// # let dispatcher = Dispatcher::new();
    /// # dispatcher.register(executor_fn(|Search(q): Search, _| async move { Ok::<_, JobError>(vec![q]) }));
    /// # let _ = SearchBox.builder(Vec::new(), &dispatcher).build();
    /// ```
    pub fn dispatch_keyed<J: Job>(
        &mut self,
        job: J,
        key: impl Into<crate::FlowKey>,
        policy: crate::FlowPolicy,
    ) -> Result<JobId, DispatchError> {
        self.dispatch(crate::JobBuilder::new(job).key(key).flow(policy))
    }

    /// What flow control did to the dispatches of type `J` on this orchestrator's
    /// dispatcher (see [`Dispatcher::flow_stats`](crate::Dispatcher::flow_stats)).
    pub fn flow_stats<J: Job>(&self) -> crate::FlowStats {
        self.core.dispatcher.flow_stats::<J>()
    }

    /// Dispatches `job` like [`dispatch`](Self::dispatch), and calls `then` with its
    /// typed result when it ends: the compiler checks the result type, no downcast of an
    /// event. `then` runs right after the job's terminal hooks (`on_active_success`, ...,
    /// `on_active_event`), with the same context as a hook: it may set the state, dispatch
    /// more jobs (one step deeper in the causal chain), and so on.
    ///
    /// ```
    /// use orchestrator_core::{Context, Dispatcher, Job, JobError, JobResult, Orchestrator, executor_fn};
    ///
    /// #[derive(Clone)]
    /// struct Fetch(u32);
    /// impl Job for Fetch { type Output = String; }
    ///
    /// struct Page;
    /// impl Orchestrator for Page {
    ///     type State = String;
    ///     type Command = u32;
    ///     fn handle(&mut self, id: u32, ctx: &mut Context<'_, Self>) {
    ///         let _ = ctx.dispatch_then(Fetch(id), |_, result: JobResult<String>, ctx| match result {
    ///             JobResult::Success(page) => ctx.set_state(page),
    ///             other => ctx.set_state(format!("failed: {other:?}")),
    ///         });
    ///     }
    /// }
    ///
    /// let dispatcher = Dispatcher::new();
    /// dispatcher.register(executor_fn(|job: Fetch, _| async move { Ok::<_, JobError>(format!("page {}", job.0)) }));
    /// let (host, handle) = Page.start(String::new(), &dispatcher).unwrap();
    /// handle.try_send(7).unwrap();
    /// futures::executor::block_on(async {
    ///     let script = async {
    ///         let mut states = futures::StreamExt::skip(handle.states(), 1);
    ///         let page = futures::StreamExt::next(&mut states).await;
    ///         handle.shutdown();
    ///         dispatcher.shutdown();
    ///         page
    ///     };
    ///     let (_, _, page) = futures::join!(host, dispatcher.runner(), script);
    ///     assert_eq!(page.as_deref(), Some("page 7"));
    /// });
    /// ```
    ///
    /// If loop protection suppresses the job's terminal hooks, `then` is not called
    /// either (the suppression is reported like any other). If the host ends first, `then`
    /// is dropped with the job's tracking.
    ///
    /// # Errors
    ///
    /// [`DispatchError`]: nothing was dispatched, nothing is tracked, `then` is dropped.
    pub fn dispatch_then<T, F>(&mut self, job: T, then: F) -> Result<JobId, DispatchError>
    where
        T: IntoJob,
        F: FnOnce(&mut O, JobResult<<T::Job as Job>::Output>, &mut Context<'_, O>) + MaybeSend + 'static,
    {
        let id = self.dispatch(job)?;
        self.thens.insert(
            id,
            Box::new(move |orchestrator: &mut O, event: &Event, ctx: &mut Context<'_, O>| {
                then(orchestrator, result_of::<<T::Job as Job>::Output>(event), ctx);
            }),
        );
        Ok(id)
    }

    /// Cancels an active job of this orchestrator: its token is cancelled, so its running
    /// future is dropped and it ends with `Cancelled` (unless it already ended). The job
    /// stays tracked until that terminal event arrives, which then goes to
    /// `on_active_cancelled` as usual.
    ///
    /// Returns `true` if `id` is an active job of this orchestrator and this call
    /// cancelled it; `false` for unknown, foreign, ended or already cancelled jobs.
    pub fn cancel_job(&mut self, id: JobId) -> bool {
        self.core.tracking.get(id).is_some_and(|job| job.handle.cancel(None))
    }

    /// [`cancel_job`](Self::cancel_job) with a reason, reported in the `Cancelled` event.
    pub fn cancel_job_with_reason(&mut self, id: JobId, reason: impl Into<Arc<str>>) -> bool {
        let reason = reason.into();
        self.core.tracking.get(id).is_some_and(|job| job.handle.cancel(Some(&reason)))
    }

    /// Cancels every active job of this orchestrator; returns how many this call
    /// cancelled. They stay tracked until their `Cancelled` events arrive.
    pub fn cancel_all_jobs(&mut self) -> usize {
        self.core.tracking.cancel_all(None)
    }

    /// True while `id` is an active job of this orchestrator: dispatched by it and its
    /// terminal event not yet routed. Inside the terminal hooks the job still counts as
    /// running; right after them it does not.
    pub fn is_job_running(&self, id: JobId) -> bool {
        self.core.tracking.contains(id)
    }

    /// True while any active job of this orchestrator has the job type `J` (a job
    /// dispatched through a [`JobBuilder`](crate::JobBuilder) counts as its original
    /// type).
    pub fn is_job_type_running<J: Job>(&self) -> bool {
        self.core.tracking.is_type_running(TypeId::of::<J>())
    }

    /// True when this orchestrator has active jobs.
    pub fn has_active_jobs(&self) -> bool {
        !self.core.tracking.is_empty()
    }

    /// How many active jobs this orchestrator has.
    pub fn active_job_count(&self) -> usize {
        self.core.tracking.len()
    }

    /// The ids of this orchestrator's active jobs, in no particular order.
    pub fn active_jobs(&self) -> impl Iterator<Item = JobId> + '_ {
        self.core.tracking.ids()
    }

    /// The last progress (0.0 ..= 1.0) reported by an active job of this orchestrator:
    /// `Some(0.0)` right after dispatch, `None` for other jobs and once the job ended.
    /// Progress of other orchestrators' jobs is never recorded.
    pub fn job_progress(&self, id: JobId) -> Option<f64> {
        self.core.tracking.get(id).map(|job| job.progress)
    }

    /// The bus the orchestrator listens to and dispatches on.
    pub fn bus(&self) -> &Bus {
        &self.core.bus
    }

    /// The orchestrator's dispatcher.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.core.dispatcher
    }

    /// The host's clock reading, if it has a clock (see
    /// [`OrchestratorBuilder::clock`](crate::OrchestratorBuilder::clock)).
    pub fn now(&self) -> Option<Duration> {
        self.core.clock.as_ref().map(|clock| clock.now())
    }

    /// The host's logger.
    pub fn logger(&self) -> &Arc<dyn Logger> {
        &self.core.logger
    }

    /// Ends the host after the current input, as
    /// [`OrchestratorHandle::shutdown`](crate::OrchestratorHandle::shutdown) would but
    /// without handling the commands still queued: active jobs are cancelled and the
    /// state streams end.
    pub fn shutdown(&mut self) {
        self.core.stop_with("shut down by the orchestrator");
    }
}
