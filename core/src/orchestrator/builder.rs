//! [`OrchestratorBuilder`]: configures and starts a [`Host`].

use crate::sync::Arc;
use crate::sync::dyn_arc;
use alloc::boxed::Box;
use core::fmt;
use core::time::Duration;

use super::Orchestrator;
use super::admission::Admission;
use super::context::HostCore;
use super::handle::OrchestratorHandle;
use super::host::Host;
use super::inputs::Inputs;
use super::stats::OrchestratorStats;
use super::tracking::Tracking;
use super::watch::Shared;
use crate::breaker::{CircuitBreaker, Unlimited};
use crate::bus::Bus;
use crate::dispatcher::Dispatcher;
use crate::job::short_type_name;
use crate::log::{Logger, shielded};
use crate::route::Route;
use crate::runtime::{Clock, Spawn, SpawnError, Timer};

/// Default capacity of an orchestrator's command queue.
pub const DEFAULT_COMMAND_CAPACITY: usize = 256;

/// Default of [`OrchestratorBuilder::causal_depth_limit`]: how many hooks deep a chain of
/// events may go before an orchestrator stops calling hooks for it.
///
/// A chain grows by one each time a hook dispatches a job or emits an event that reaches a
/// hook again (here or in another orchestrator). Ordinary flows are a few links deep (a
/// command's job, a follow-up job, a refresh); 64 leaves room for long legitimate chains,
/// such as loading a list page by page from a hook, while a feedback loop is stopped
/// after at most 64 rounds, within one turn of the host per round.
pub const DEFAULT_CAUSAL_DEPTH_LIMIT: u32 = 64;

/// The largest command queue [`OrchestratorBuilder::command_capacity`] accepts: 2^16
/// (65 536) commands.
///
/// The queue is allocated whole when the host is built: one slot per command of
/// capacity, each `size_of::<Command>()` plus a word, so the maximum costs 1 MiB for an
/// 8-byte command and 4.5 MiB for a 64-byte one, whether or not it ever fills. The queue
/// is only back-pressure: a caller that needs more than 65 536 commands in flight is
/// feeding a host faster than it can handle them, and a longer queue would only hide it.
pub const MAX_COMMAND_CAPACITY: usize = 1 << 16;

/// Why an orchestrator could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// Its bus is closed: the host could never receive an event.
    BusClosed,
    /// The spawner refused the host.
    Spawn(SpawnError),
    /// The [command capacity](OrchestratorBuilder::command_capacity) is above
    /// [`MAX_COMMAND_CAPACITY`]; nothing was allocated.
    CommandCapacity {
        /// The capacity asked for.
        requested: usize,
        /// [`MAX_COMMAND_CAPACITY`].
        max: usize,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusClosed => f.write_str("the orchestrator's bus is closed"),
            Self::Spawn(e) => write!(f, "could not spawn the orchestrator's host: {e}"),
            Self::CommandCapacity { requested, max } => {
                write!(f, "command capacity {requested} is above the maximum of {max} commands")
            }
        }
    }
}

impl core::error::Error for StartError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            Self::BusClosed | Self::CommandCapacity { .. } => None,
        }
    }
}

crate::error::job_error_from!(StartError);

/// Configures an orchestrator's host: bus, command queue, circuit breaker, clock, logger.
/// Get one from [`Orchestrator::builder`] or [`OrchestratorBuilder::new`].
///
/// * **Bus**: the dispatcher's bus unless [`bus`](Self::bus) gives a scoped one. The host
///   subscribes in [`build`](Self::build), before any job can be dispatched.
/// * **Commands**: a bounded queue of [`DEFAULT_COMMAND_CAPACITY`] commands
///   ([`command_capacity`](Self::command_capacity), at most [`MAX_COMMAND_CAPACITY`]);
///   when full, `send` waits and `try_send` fails with `Full`.
/// * **Clock**: [`clock`](Self::clock) if given, else the dispatcher's timer, else (with
///   `std`) the system's monotonic clock. It times the circuit breaker's windows and is
///   what [`Context::now`](crate::Context::now) reads.
/// * **Loop protection**: by causal depth (see [`Host`], "Loop protection"): events more
///   than [`DEFAULT_CAUSAL_DEPTH_LIMIT`] hooks deep reach no hook
///   ([`causal_depth_limit`](Self::causal_depth_limit)). It needs no clock and never
///   suppresses load: any number of jobs dispatched by one command, and any burst of
///   unrelated events, reach their hooks.
/// * **Breaker**: none by default. [`breaker`](Self::breaker) adds one, for example a
///   [`RateLimiter`](crate::breaker::RateLimiter) as a rate-based breaker on top of the depth limit.
///   Without any clock (no `std`, no timer on the dispatcher, no `clock`) a breaker
///   receives `Duration::ZERO` as time.
/// * **Logger**: the dispatcher's unless [`logger`](Self::logger) gives one.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::breaker::RateLimiter;
/// use orchestrator_core::runtime::VirtualClock;
/// use orchestrator_core::{Bus, Context, Dispatcher, EventTag, Orchestrator};
///
/// struct Quiet;
/// impl Orchestrator for Quiet {
///     type State = ();
///     type Command = ();
///     fn handle(&mut self, _: (), _: &mut Context<'_, Self>) {}
/// }
///
/// let dispatcher = Dispatcher::new();
/// let scoped = Bus::new();
/// let (host, handle) = Quiet
///     .builder((), &dispatcher)
///     .bus(scoped)                     // listen and dispatch on a scoped bus
///     .command_capacity(16)
///     .clock(VirtualClock::new())
///     .breaker(RateLimiter::new().with_limit(EventTag::Progress, 500).window(Duration::from_secs(2)))
///     .build()
///     .unwrap();
/// handle.shutdown();
/// futures::executor::block_on(host);
/// ```
#[must_use]
pub struct OrchestratorBuilder<O: Orchestrator> {
    orchestrator: O,
    state: O::State,
    dispatcher: Dispatcher,
    bus: Option<Bus>,
    capacity: usize,
    breaker: Option<Box<dyn CircuitBreaker>>,
    depth_limit: Option<u32>,
    clock: Option<Arc<dyn Clock>>,
    logger: Option<Arc<dyn Logger>>,
}

impl<O: Orchestrator> fmt::Debug for OrchestratorBuilder<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestratorBuilder")
            .field("orchestrator", &short_type_name::<O>())
            .field("bus", &self.bus)
            .field("command_capacity", &self.capacity)
            .field("has_breaker", &self.breaker.is_some())
            .field("causal_depth_limit", &self.depth_limit)
            .field("has_clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> OrchestratorBuilder<O> {
    /// A builder for `orchestrator`, starting in `initial_state`, dispatching with
    /// `dispatcher` (a clone of the handle is kept).
    pub fn new(orchestrator: O, initial_state: O::State, dispatcher: &Dispatcher) -> Self {
        Self {
            orchestrator,
            state: initial_state,
            dispatcher: dispatcher.clone(),
            bus: None,
            capacity: DEFAULT_COMMAND_CAPACITY,
            breaker: None,
            depth_limit: Some(DEFAULT_CAUSAL_DEPTH_LIMIT),
            clock: None,
            logger: None,
        }
    }

    /// The bus to listen to and dispatch on (default: the dispatcher's bus). Orchestrators
    /// on different buses never see each other's events.
    pub fn bus(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Capacity of the command queue (default [`DEFAULT_COMMAND_CAPACITY`]). 0 is raised
    /// to 1; above [`MAX_COMMAND_CAPACITY`], [`build`](Self::build) fails with
    /// [`StartError::CommandCapacity`]. The queue is allocated whole by `build`.
    ///
    /// ```
    /// use orchestrator_core::MAX_COMMAND_CAPACITY;
    /// use orchestrator_core::{Context, Dispatcher, Orchestrator, StartError};
    ///
    /// struct Quiet;
    /// impl Orchestrator for Quiet {
    ///     type State = ();
    ///     type Command = ();
    ///     fn handle(&mut self, _: (), _: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let dispatcher = Dispatcher::new();
    /// let err = Quiet.builder((), &dispatcher).command_capacity(usize::MAX).build().map(|_| ()).unwrap_err();
    /// assert_eq!(err, StartError::CommandCapacity { requested: usize::MAX, max: MAX_COMMAND_CAPACITY });
    /// assert!(Quiet.builder((), &dispatcher).command_capacity(MAX_COMMAND_CAPACITY).build().is_ok());
    /// ```
    pub fn command_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// A circuit breaker, asked before the hooks of every event that passed the causal
    /// depth limit (default: none). A [`RateLimiter`](crate::breaker::RateLimiter) is a rate-based
    /// breaker: beware that it also suppresses load (more than its limit of own results per
    /// window), which the depth limit never does.
    pub fn breaker(mut self, breaker: impl CircuitBreaker + 'static) -> Self {
        self.breaker = Some(Box::new(breaker));
        self
    }

    /// No circuit breaker (the default); the causal depth limit stays.
    pub fn no_breaker(mut self) -> Self {
        self.breaker = None;
        self
    }

    /// How many hooks deep a chain of events may go (default
    /// [`DEFAULT_CAUSAL_DEPTH_LIMIT`]): the hooks for an event whose
    /// [`causal_depth`](crate::Event::causal_depth) is above `limit` do not run, and the
    /// host reports it (a [`HooksSuppressed`](crate::EventKind::HooksSuppressed) event, a
    /// warning, [`OrchestratorStats::loop_trips`]).
    ///
    /// ```
    /// use orchestrator_core::{Context, Dispatcher, Orchestrator};
    /// # struct Pager;
    /// # impl Orchestrator for Pager {
    /// #     type State = ();
    /// #     type Command = ();
    /// #     fn handle(&mut self, _: (), _: &mut Context<'_, Self>) {}
    /// # }
    /// let dispatcher = Dispatcher::new();
    /// // Loads up to 500 pages, each requested by the hook of the previous one.
    /// let (host, handle) = Pager.builder((), &dispatcher).causal_depth_limit(500).build().unwrap();
    /// # drop((host, handle));
    /// ```
    pub fn causal_depth_limit(mut self, limit: u32) -> Self {
        self.depth_limit = Some(limit);
        self
    }

    /// No loop protection at all: no causal depth limit and no circuit breaker. A hook
    /// that triggers itself then loops forever.
    pub fn no_loop_protection(mut self) -> Self {
        self.depth_limit = None;
        self.breaker = None;
        self
    }

    /// The clock for the breaker and [`Context::now`](crate::Context::now).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(dyn_arc!(clock));
        self
    }

    /// A shared clock.
    pub fn clock_shared(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The logger (default: the dispatcher's). With `std`, a panic inside it is caught
    /// and swallowed.
    ///
    /// To turn logging off: `.logger(NoopLogger)`.
    ///
    /// ```
    /// use orchestrator_core::log::NoopLogger;
    /// use orchestrator_core::{Context, Dispatcher, Orchestrator};
    ///
    /// struct Quiet;
    /// impl Orchestrator for Quiet {
    ///     type State = ();
    ///     type Command = ();
    ///     fn handle(&mut self, _: (), _: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let dispatcher = Dispatcher::new();
    /// let (host, handle) = Quiet.builder((), &dispatcher).logger(NoopLogger).build().unwrap();
    /// handle.shutdown();
    /// futures::executor::block_on(host);
    /// ```
    pub fn logger(mut self, logger: impl Logger + 'static) -> Self {
        self.logger = Some(shielded(dyn_arc!(logger)));
        self
    }

    /// Builds the host and its first handle. The host subscribes to the bus here, so no
    /// event emitted from now on is missed. Nothing runs until the host is polled: await
    /// it or spawn it.
    ///
    /// # Errors
    ///
    /// [`StartError::BusClosed`] when the bus is closed, [`StartError::CommandCapacity`]
    /// when the command capacity is above [`MAX_COMMAND_CAPACITY`].
    pub fn build(self) -> Result<(Host<O>, OrchestratorHandle<O>), StartError> {
        let Self { orchestrator, state, dispatcher, bus, capacity, breaker, depth_limit, clock, logger } = self;
        if capacity > MAX_COMMAND_CAPACITY {
            return Err(StartError::CommandCapacity { requested: capacity, max: MAX_COMMAND_CAPACITY });
        }
        let bus = bus.unwrap_or_else(|| dispatcher.bus().clone());
        let events = bus.subscribe().map_err(|_| StartError::BusClosed)?;
        let name = short_type_name::<O>();
        let logger = logger.unwrap_or_else(|| dispatcher.logger().clone());
        let clock = clock.or_else(|| dispatcher.timer().map(|timer| timer_clock(timer.clone()))).or_else(system_clock);
        let breaker: Box<dyn CircuitBreaker> = breaker.unwrap_or_else(|| Box::new(Unlimited));

        let (tx, rx) = async_channel::bounded(capacity);
        let shared = Arc::new(Shared::new(state.clone()));
        // The events of the jobs this host dispatches come to it straight, not through
        // the bus (see `Route`).
        let route = Route::new(bus.capacity());
        let mut dispatcher = dispatcher;
        dispatcher.set_route(route.clone());
        let core = HostCore {
            state,
            dirty: false,
            dispatcher,
            bus,
            passive_unused: false,
            tracking: Tracking::default(),
            clock,
            logger,
            name,
            stop: None,
            stats: OrchestratorStats::default(),
        };
        let host = Host::new(
            orchestrator,
            core,
            Inputs::new(route, events, rx),
            shared.clone(),
            Admission::new(breaker, depth_limit),
        );
        Ok((host, OrchestratorHandle { shared, commands: tx }))
    }

    /// Builds the host and spawns it with `spawner`; returns its handle.
    ///
    /// # Errors
    ///
    /// [`StartError::BusClosed`] when the bus is closed, [`StartError::CommandCapacity`]
    /// when the command capacity is above [`MAX_COMMAND_CAPACITY`], [`StartError::Spawn`]
    /// when the spawner refuses the host.
    pub fn spawn(self, spawner: &(impl Spawn + ?Sized)) -> Result<OrchestratorHandle<O>, StartError> {
        let (host, handle) = self.build()?;
        spawner.spawn(Box::pin(host)).map_err(StartError::Spawn)?;
        Ok(handle)
    }
}

/// A [`Timer`] seen as a [`Clock`] (trait upcasting needs a newer compiler than our MSRV).
struct TimerClock(Arc<dyn Timer>);

impl Clock for TimerClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

fn timer_clock(timer: Arc<dyn Timer>) -> Arc<dyn Clock> {
    dyn_arc!(TimerClock(timer))
}

/// The system's monotonic clock, with `std`.
#[cfg(feature = "std")]
fn system_clock() -> Option<Arc<dyn Clock>> {
    struct SystemClock(std::time::Instant);
    impl Clock for SystemClock {
        fn now(&self) -> Duration {
            self.0.elapsed()
        }
    }
    Some(Arc::new(SystemClock(std::time::Instant::now())))
}

/// No clock without `std`.
#[cfg(not(feature = "std"))]
fn system_clock() -> Option<Arc<dyn Clock>> {
    None
}
