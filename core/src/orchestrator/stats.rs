//! [`OrchestratorStats`]: what a host has done, readable from its handle.

/// A snapshot of an orchestrator host's counters
/// ([`OrchestratorHandle::stats`](crate::OrchestratorHandle::stats)).
///
/// The host publishes it whenever it publishes a state and at the end of every turn
/// (before it waits for more input), so it is never older than the host's last turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OrchestratorStats {
    /// Jobs dispatched by the orchestrator and not yet ended.
    pub active_jobs: usize,
    /// Ids the host keeps after a lag, to check whether those jobs' terminal events were
    /// lost (see [`Host`](crate::Host), "Falling behind"). Each is dropped once its job is
    /// seen ended and the bus drained: with `active_jobs`, this is all the per-job memory
    /// of a host, and both are 0 once it is idle.
    pub lag_suspects: usize,
    /// Commands handled.
    pub commands: u64,
    /// Events taken from the bus (routed, ignored or suppressed alike).
    pub events: u64,
    /// Events of own jobs delivered to the active hooks (`on_job_started`, `on_progress`,
    /// `on_job_retrying`, the terminal hooks, `on_active_event`).
    pub active_events: u64,
    /// Events delivered to `on_passive_event`.
    pub passive_events: u64,
    /// Other jobs' Started / Progress / Retrying events, which no hook receives.
    pub ignored_events: u64,
    /// Calls into the orchestrator's code that panicked (caught with the `std` feature):
    /// hooks, command handlers, its circuit breaker, its state's `Clone`.
    pub hook_panics: u64,
    /// Events whose hooks loop protection suppressed because their causal depth was above
    /// the limit (their bookkeeping still ran). See [`Host`](crate::Host), "Loop protection".
    pub loop_suppressed: u64,
    /// Chains of events stopped by the causal-depth limit: each is reported by a
    /// [`HooksSuppressed`](crate::EventKind::HooksSuppressed) event and a warning. (A chain's
    /// suppressed Started / Progress / Retrying events count in `loop_suppressed` only.)
    pub loop_trips: u64,
    /// Events whose hooks the circuit breaker suppressed (their bookkeeping still ran).
    pub breaker_suppressed: u64,
    /// Times the circuit breaker tripped (as counted by
    /// [`CircuitBreaker::trips`](crate::breaker::CircuitBreaker::trips)).
    pub breaker_trips: u64,
    /// Events lost because the host fell behind: on its route (its own jobs' events) and
    /// on its subscription of the bus, each counted where it was lost.
    pub lagged_events: u64,
    /// Own jobs that ended while their terminal event was lost to a lag: their outcome was
    /// rebuilt from the job's handle and routed as usual.
    pub recovered_jobs: u64,
    /// States published (every input that changed the state publishes once).
    pub states_published: u64,
}
