//! [`OrchestratorBuilder`]: configures and starts a [`Host`].

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use super::Orchestrator;
use super::context::Core;
use super::handle::OrchestratorHandle;
use super::host::Host;
use super::stats::OrchestratorStats;
use super::tracking::Tracking;
use super::watch::Shared;
use crate::breaker::{CircuitBreaker, RateLimiter, Unlimited};
use crate::bus::Bus;
use crate::dispatcher::Dispatcher;
use crate::job::short_type_name;
use crate::log::{Level, Logger, log_at, shielded};
use crate::runtime::{Clock, Spawn, SpawnError, Timer};

/// Default capacity of an orchestrator's command queue.
pub const DEFAULT_COMMAND_CAPACITY: usize = 256;

/// Why an orchestrator could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// Its bus is closed: the host could never receive an event.
    BusClosed,
    /// The spawner refused the host.
    Spawn(SpawnError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BusClosed => f.write_str("the orchestrator's bus is closed"),
            Self::Spawn(e) => write!(f, "could not spawn the orchestrator's host: {e}"),
        }
    }
}

impl core::error::Error for StartError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            Self::BusClosed => None,
        }
    }
}

/// Configures an orchestrator's host: bus, command queue, circuit breaker, clock, logger.
/// Get one from [`Orchestrator::builder`] or [`OrchestratorBuilder::new`].
///
/// * **Bus**: the dispatcher's bus unless [`bus`](Self::bus) gives a scoped one. The host
///   subscribes in [`build`](Self::build), before any job can be dispatched.
/// * **Commands**: a bounded queue of [`DEFAULT_COMMAND_CAPACITY`] commands
///   ([`command_capacity`](Self::command_capacity)); when full, `send` waits and
///   `try_send` fails with `Full`.
/// * **Clock**: [`clock`](Self::clock) if given, else the dispatcher's timer, else (with
///   `std`) the system's monotonic clock. It times the circuit breaker's windows and is
///   what [`Context::now`](crate::Context::now) reads.
/// * **Breaker**: [`breaker`](Self::breaker) if given, else a [`RateLimiter`] with its
///   defaults (50 hook deliveries per event kind per second). Without any clock (no
///   `std`, no timer on the dispatcher, no `clock`) a rate cannot be measured, so the
///   default is [`Unlimited`] and a warning is logged; give a clock to get loop
///   protection. A breaker of your own receives `Duration::ZERO` as time then.
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

    /// Capacity of the command queue (at least 1; default [`DEFAULT_COMMAND_CAPACITY`]).
    pub fn command_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The circuit breaker (default: a [`RateLimiter`] with its defaults).
    pub fn breaker(mut self, breaker: impl CircuitBreaker + 'static) -> Self {
        self.breaker = Some(Box::new(breaker));
        self
    }

    /// No loop protection at all.
    pub fn no_breaker(self) -> Self {
        self.breaker(Unlimited)
    }

    /// The clock for the breaker and [`Context::now`](crate::Context::now).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
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
        self.logger = Some(shielded(Arc::new(logger)));
        self
    }

    /// Builds the host and its first handle. The host subscribes to the bus here, so no
    /// event emitted from now on is missed. Nothing runs until the host is polled: await
    /// it or spawn it.
    ///
    /// # Errors
    ///
    /// [`StartError::BusClosed`] when the bus is closed.
    pub fn build(self) -> Result<(Host<O>, OrchestratorHandle<O>), StartError> {
        let Self { orchestrator, state, dispatcher, bus, capacity, breaker, clock, logger } = self;
        let bus = bus.unwrap_or_else(|| dispatcher.bus().clone());
        let events = bus.subscribe().map_err(|_| StartError::BusClosed)?;
        let name = short_type_name::<O>();
        let logger = logger.unwrap_or_else(|| dispatcher.logger().clone());
        let clock = clock.or_else(|| dispatcher.timer().map(|timer| timer_clock(timer.clone()))).or_else(system_clock);
        let breaker: Box<dyn CircuitBreaker> = match (breaker, &clock) {
            (Some(breaker), _) => breaker,
            (None, Some(_)) => Box::new(RateLimiter::new()),
            (None, None) => {
                log_at!(
                    logger,
                    Level::Warning,
                    "orchestrator {name} has no clock: loop protection is off (give the builder a clock)"
                );
                Box::new(Unlimited)
            }
        };

        let (tx, rx) = async_channel::bounded(capacity);
        let shared = Arc::new(Shared::new(state.clone()));
        let core = Core {
            state,
            dirty: false,
            dispatcher,
            bus,
            tracking: Tracking::default(),
            clock,
            logger,
            name,
            stop: false,
            stats: OrchestratorStats::default(),
        };
        let host = Host::new(orchestrator, core, events, rx, shared.clone(), breaker);
        Ok((host, OrchestratorHandle { shared, commands: tx }))
    }

    /// Builds the host and spawns it with `spawner`; returns its handle.
    ///
    /// # Errors
    ///
    /// [`StartError::BusClosed`] when the bus is closed, [`StartError::Spawn`] when the
    /// spawner refuses the host.
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
    Arc::new(TimerClock(timer))
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
