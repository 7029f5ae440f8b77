//! The soak: many jobs with a seeded random mix of outcomes, run on one runtime, with
//! every job's outcome checked three ways (its handle, its terminal event on the bus, and
//! for the jobs routed through an orchestrator, the orchestrator's terminal hook) and
//! every counter checked at the end.
//!
//! `tests/tests/soak.rs` runs [`run`] on every runtime and wraps it in a counting global
//! allocator (memory back to its baseline); `docs/reliability.md` has the figures.
//!
//! # The mix
//!
//! Each job gets a [`Script`] drawn by a seeded [`XorShift64`] (see [`Script::draw`] for
//! the weights): success (some reporting progress), error, retry then success, retry until
//! exhausted, timeout (work that never ends against a 1 ms timeout), cancel before start
//! (a cancelled token), cancel while running (cancelled once the executor signalled it
//! runs: a latch, not a sleep) and panic. One job in eight is sent to an orchestrator
//! (on its own bus) which dispatches it; one in four of the others runs under a shared
//! parent token that is never cancelled (its child-token list must end empty); one in
//! sixteen has a placeholder. The expected outcome and the executor calls follow from the
//! script alone, so nothing depends on timing.
//!
//! # Flow control and the bus capacity
//!
//! Jobs are dispatched in batches of [`BATCH`]; a batch ends when every handle has
//! resolved, the subscriptions have read the terminal event of every job of the batch and
//! the orchestrator has routed all of its jobs. A job emits at most [`MAX_EVENTS_PER_JOB`]
//! events, so a subscription is never more than one batch (`BATCH * MAX_EVENTS_PER_JOB`
//! = 7 168 events) behind, and each bus retains [`BUS_CAPACITY`] = 32 768: a lag would
//! be a bug, and the soak fails on the first `Lagged` instead of tolerating it.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::{Either, join_all, select};
use futures::{StreamExt, join};
use orchestrator_core::log::NoopLogger;
use orchestrator_core::retry::Jitter;
use orchestrator_core::runtime::Timer;
use orchestrator_core::{
    Bus, CancellationToken, Configured, Context, Event, EventKind, Executor, Job, JobBuilder, JobContext, JobError,
    JobId, JobResult, Lagged, Orchestrator, RetryPolicy, Subscription,
};

use crate::runtime::Runtime;
use crate::util::{Latch, settle, yield_now};

/// Jobs per batch (see the module docs).
pub const BATCH: usize = 1024;
/// The most events one soak job emits: Started, Placeholder, Progress, 3 Retrying, the
/// terminal event.
pub const MAX_EVENTS_PER_JOB: usize = 7;
/// Capacity of both buses of the soak: over four times what one batch can emit.
pub const BUS_CAPACITY: usize = 32 * 1024;
/// The timeout of the jobs scripted to time out (their work never ends by itself).
pub const JOB_TIMEOUT: Duration = Duration::from_millis(1);
/// The message of a scripted panic (the soak's panic hook keeps these off stderr).
pub const SCRIPTED_PANIC: &str = "soak: scripted panic";
/// The message of a scripted error.
pub const SCRIPTED_ERROR: &str = "soak: scripted error";
/// The reason given to jobs cancelled while running (directly dispatched ones).
pub const CANCEL_REASON: &str = "soak: cancelled while running";
/// The reason of the tokens of jobs cancelled before they start (half of them; the
/// other half are cancelled without a reason).
pub const BEFORE_START_REASON: &str = "soak: cancelled before start";
/// The seed used when `ORCH_SOAK_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x0005_EED0_2026;
/// Jobs per runtime when `ORCH_SOAK_JOBS` is not set (the CI size).
pub const DEFAULT_JOBS: u64 = 20_000;

/// A tiny deterministic PRNG (xorshift64*, seeded through SplitMix64): no `rand`
/// dependency, the same stream for the same seed on every platform.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        // SplitMix64 of the seed: never 0 for the xorshift state in practice; guarded anyway.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` once in `n` draws on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// What a soak job does, decided before it is dispatched.
#[derive(Debug, Clone)]
pub enum Script {
    /// Returns its index (after reporting progress 0.5 if `progress`).
    Success {
        /// Report progress first.
        progress: bool,
    },
    /// Fails at once with [`SCRIPTED_ERROR`], no retry policy.
    Error,
    /// Fails its first `fail_first` attempts, under a policy of `max_retries` retries:
    /// succeeds if `fail_first <= max_retries`, else fails after `max_retries + 1` calls.
    Retry {
        /// Attempts that fail before one succeeds.
        fail_first: u32,
        /// The policy's retries.
        max_retries: u32,
        /// The policy's base delay (zero or up to 200 µs, capped at 1 ms).
        back_off: Duration,
        /// Linear instead of exponential back-off.
        linear: bool,
        /// A jitter seed.
        jitter: Option<u64>,
    },
    /// Never ends by itself; times out after [`JOB_TIMEOUT`].
    Timeout {
        /// Waits on an hour-long timer sleep (a registered timer, dropped on timeout)
        /// instead of `pending()`.
        timer: bool,
    },
    /// Dispatched with an already cancelled token: the executor is never called.
    CancelBeforeStart {
        /// The token's reason ([`BEFORE_START_REASON`]) or none.
        reason: bool,
    },
    /// Never ends by itself; signals that it runs, then is cancelled by the driver.
    CancelWhileRunning {
        /// Waits on an hour-long timer sleep instead of `pending()`.
        timer: bool,
    },
    /// Panics ([`SCRIPTED_PANIC`]); half of them under a retry policy, which must not
    /// retry a panic.
    Panic {
        /// Dispatched with a retry policy.
        with_retry: bool,
    },
}

/// The kinds of [`Script`], for the tallies.
pub const KINDS: [&str; 8] = [
    "success",
    "error",
    "retry_then_success",
    "retry_exhausted",
    "timeout",
    "cancel_before_start",
    "cancel_while_running",
    "panic",
];

impl Script {
    /// Draws a script: success 25 %, error 10 %, retry then success 15 %, retries
    /// exhausted 8 %, timeout 10 %, cancel before start 10 %, cancel while running 12 %,
    /// panic 10 %.
    pub fn draw(rng: &mut XorShift64) -> Self {
        let roll = rng.below(100);
        let timer = rng.one_in(2);
        match roll {
            0..25 => Self::Success { progress: rng.one_in(4) },
            25..35 => Self::Error,
            35..58 => {
                let back_off = if rng.one_in(2) { Duration::ZERO } else { Duration::from_micros(1 + rng.below(200)) };
                let linear = rng.one_in(2);
                let jitter = rng.one_in(4).then(|| rng.next_u64());
                // Both draws in 1..=3 / 0..=3: success iff fail_first <= max_retries.
                let (fail_first, max_retries) = if roll < 50 {
                    let fail_first = 1 + rng.below(3) as u32;
                    (fail_first, fail_first + rng.below(u64::from(4 - fail_first)) as u32)
                } else {
                    let max_retries = rng.below(3) as u32;
                    (max_retries + 1 + rng.below(2) as u32, max_retries)
                };
                Self::Retry { fail_first, max_retries, back_off, linear, jitter }
            }
            58..68 => Self::Timeout { timer },
            68..78 => Self::CancelBeforeStart { reason: rng.one_in(2) },
            78..90 => Self::CancelWhileRunning { timer },
            _ => Self::Panic { with_retry: rng.one_in(2) },
        }
    }

    /// The index of the script's kind in [`KINDS`].
    pub fn kind(&self) -> usize {
        match self {
            Self::Success { .. } => 0,
            Self::Error => 1,
            Self::Retry { fail_first, max_retries, .. } if fail_first <= max_retries => 2,
            Self::Retry { .. } => 3,
            Self::Timeout { .. } => 4,
            Self::CancelBeforeStart { .. } => 5,
            Self::CancelWhileRunning { .. } => 6,
            Self::Panic { .. } => 7,
        }
    }

    /// How the job must end. `routed`: dispatched by the orchestrator (which cancels
    /// without a reason).
    pub fn expected(&self, index: u64, routed: bool) -> Expected {
        match self {
            Self::Success { .. } => Expected::Success(index),
            Self::Error => Expected::Failure { panic: false, retried: false },
            Self::Retry { fail_first, max_retries, .. } if fail_first <= max_retries => Expected::Success(index),
            Self::Retry { max_retries, .. } => Expected::Failure { panic: false, retried: *max_retries > 0 },
            Self::Timeout { .. } => Expected::TimedOut(JOB_TIMEOUT),
            Self::CancelBeforeStart { reason } => Expected::Cancelled(reason.then_some(BEFORE_START_REASON)),
            Self::CancelWhileRunning { .. } => Expected::Cancelled((!routed).then_some(CANCEL_REASON)),
            Self::Panic { .. } => Expected::Failure { panic: true, retried: false },
        }
    }

    /// How many times the executor is called for this job.
    pub fn expected_calls(&self) -> u64 {
        match self {
            Self::CancelBeforeStart { .. } => 0,
            Self::Retry { fail_first, max_retries, .. } => u64::from(*fail_first.min(max_retries)) + 1,
            _ => 1,
        }
    }

    /// How many attempt futures of this job are dropped before they return.
    pub fn expected_drops(&self) -> u64 {
        u64::from(matches!(self, Self::Timeout { .. } | Self::CancelWhileRunning { .. }))
    }

    fn waits_on_timer(&self) -> bool {
        matches!(self, Self::Timeout { timer: true } | Self::CancelWhileRunning { timer: true })
    }
}

/// The outcome a job must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// `Success(index)`.
    Success(u64),
    /// A failure: a scripted panic or a scripted error, and whether a retry happened
    /// (checked on the event; a `JobResult` does not say).
    Failure {
        /// A panic rather than an error.
        panic: bool,
        /// The `retried` flag of the `Failure` event.
        retried: bool,
    },
    /// Cancelled with this reason.
    Cancelled(Option<&'static str>),
    /// Timed out after this long.
    TimedOut(Duration),
}

impl Expected {
    fn failure_matches(panic: bool, error: &JobError) -> bool {
        if panic {
            error.is_panic() && error.message().contains(SCRIPTED_PANIC)
        } else {
            error.message() == SCRIPTED_ERROR
        }
    }

    /// Whether a handle's result is this outcome.
    pub fn matches_result(&self, result: &JobResult<u64>) -> bool {
        match (self, result) {
            (Self::Success(want), JobResult::Success(got)) => want == got,
            (Self::Failure { panic, .. }, JobResult::Failure(error)) => Self::failure_matches(*panic, error),
            (Self::Cancelled(want), JobResult::Cancelled(got)) => *want == got.as_deref(),
            (Self::TimedOut(want), JobResult::TimedOut(got)) => want == got,
            _ => false,
        }
    }

    /// Whether a terminal event is this outcome.
    pub fn matches_event(&self, event: &Event) -> bool {
        match (self, event.kind()) {
            (Self::Success(want), EventKind::Success(_)) => event.data_as::<u64>() == Some(want),
            (Self::Failure { panic, retried }, EventKind::Failure { error, retried: got }) => {
                retried == got && Self::failure_matches(*panic, error)
            }
            (Self::Cancelled(want), EventKind::Cancelled { reason }) => *want == reason.as_deref(),
            (Self::TimedOut(want), EventKind::TimedOut { after }) => want == after,
            _ => false,
        }
    }
}

/// How a running job tells the driver it has started its attempt.
#[derive(Debug, Clone)]
pub enum Entered {
    /// It does not.
    Nobody,
    /// Opens this latch (directly dispatched jobs).
    Latch(Latch),
    /// Sends its id (jobs dispatched by the orchestrator, which the driver cancels by id).
    Channel(mpsc::UnboundedSender<JobId>),
}

/// A soak job.
#[derive(Debug)]
pub struct SoakJob {
    /// Its position in the soak (its output on success).
    pub index: u64,
    /// What it does.
    pub script: Script,
    /// Whom it tells that its attempt runs.
    pub entered: Entered,
}

impl Job for SoakJob {
    type Output = u64;
}

/// What the soak executor saw.
#[derive(Debug, Default)]
pub struct SoakCounters {
    /// Executor calls (attempts started).
    pub calls: AtomicU64,
    /// Attempt futures dropped before they returned.
    pub dropped: AtomicU64,
}

/// Counts an attempt future dropped before it returned.
struct DropCounter<'a>(&'a SoakCounters);

impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The executor of [`SoakJob`]: plays the script.
#[derive(Clone)]
pub struct SoakExecutor {
    timer: Arc<dyn Timer>,
    counters: Arc<SoakCounters>,
}

impl std::fmt::Debug for SoakExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoakExecutor").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl Executor<SoakJob> for SoakExecutor {
    async fn process(&self, job: &SoakJob, ctx: &JobContext) -> Result<u64, JobError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        match &job.script {
            Script::Success { progress } => {
                if *progress {
                    ctx.progress(0.5).expect("0.5 is a valid progress");
                }
                Ok(job.index)
            }
            Script::Error => Err(JobError::msg(SCRIPTED_ERROR)),
            Script::Retry { fail_first, .. } => {
                if ctx.attempt() < *fail_first {
                    Err(JobError::msg(SCRIPTED_ERROR))
                } else {
                    Ok(job.index)
                }
            }
            Script::Timeout { .. } | Script::CancelWhileRunning { .. } => {
                let _dropped = DropCounter(&self.counters);
                match &job.entered {
                    Entered::Nobody => {}
                    Entered::Latch(latch) => latch.open(),
                    Entered::Channel(tx) => tx.unbounded_send(ctx.id()).expect("the driver listens"),
                }
                if job.script.waits_on_timer() {
                    self.timer.sleep(Duration::from_secs(3600)).await;
                } else {
                    std::future::pending::<()>().await;
                }
                panic!("job {}: work that never ends ended", job.index);
            }
            Script::CancelBeforeStart { .. } => panic!("job {}: called although cancelled before start", job.index),
            Script::Panic { .. } => panic!("{SCRIPTED_PANIC}"),
        }
    }
}

/// Keeps the scripted panics (thousands of them) off stderr; every other panic still
/// goes to the previous hook.
pub fn quiet_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<String>().is_some_and(|s| s == SCRIPTED_PANIC)
                || info.payload().downcast_ref::<&str>() == Some(&SCRIPTED_PANIC)
            {
                return;
            }
            previous(info);
        }));
    });
}

/// A job ready to be dispatched, with what it must give.
#[derive(Debug)]
struct Planned {
    job: Configured<SoakJob>,
    expected: Expected,
    script_kind: usize,
    latch: Option<Latch>,
}

/// Builds job `index` from its script.
fn plan(
    index: u64,
    script: Script,
    rng: &mut XorShift64,
    routed: bool,
    parent: &CancellationToken,
    entered_tx: &mpsc::UnboundedSender<JobId>,
    tally: &mut SoakReport,
) -> Planned {
    let expected = script.expected(index, routed);
    let script_kind = script.kind();
    let (entered, latch) = match (&script, routed) {
        (Script::CancelWhileRunning { .. }, true) => (Entered::Channel(entered_tx.clone()), None),
        (Script::CancelWhileRunning { .. }, false) => {
            let latch = Latch::new();
            (Entered::Latch(latch.clone()), Some(latch))
        }
        _ => (Entered::Nobody, None),
    };
    tally.expected_calls += script.expected_calls();
    tally.expected_drops += script.expected_drops();
    let mut builder = JobBuilder::new(SoakJob { index, script: script.clone(), entered });
    match script {
        Script::Retry { max_retries, back_off, linear, jitter, .. } => {
            let mut policy =
                RetryPolicy::new().max_retries(max_retries).base_delay(back_off).max_delay(Duration::from_millis(1));
            if linear {
                policy = policy.linear();
            }
            if let Some(seed) = jitter {
                policy = policy.jitter(Jitter::new(0.5, seed));
            }
            builder = builder.retry(policy);
        }
        Script::Timeout { .. } => builder = builder.timeout(JOB_TIMEOUT),
        Script::CancelBeforeStart { reason } => {
            let token = CancellationToken::new();
            if reason {
                token.cancel_with_reason(BEFORE_START_REASON);
            } else {
                token.cancel();
            }
            builder = builder.cancel_token(token);
        }
        Script::Panic { with_retry: true } => {
            builder = builder.retry(RetryPolicy::new().max_retries(3).base_delay(Duration::ZERO));
        }
        _ => {}
    }
    if !matches!(script, Script::CancelBeforeStart { .. }) && rng.one_in(4) {
        builder = builder.cancel_token(parent.clone());
        tally.shared_token += 1;
    }
    if rng.one_in(16) {
        builder = builder.placeholder(u64::MAX);
        tally.placeholders += 1;
    }
    Planned { job: builder.build(), expected, script_kind, latch }
}

/// A command to the [`SoakOrchestrator`].
#[derive(Debug)]
pub enum Cmd {
    /// Dispatch this job, which must end as expected.
    Run(Box<Configured<SoakJob>>, Expected),
    /// Cancel this running job.
    Cancel(JobId),
}

/// The [`SoakOrchestrator`]'s state: counters only (it is cloned for every watcher).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrchTally {
    /// Jobs dispatched.
    pub dispatched: u64,
    /// Terminal hooks called.
    pub routed: u64,
    /// Terminal hooks whose event did not match the job's expected outcome.
    pub mismatched: u64,
    /// Terminal hooks for a job the orchestrator does not know (or a second terminal
    /// hook for one job).
    pub unknown: u64,
    /// Dispatches refused.
    pub dispatch_errors: u64,
    /// `cancel_job` calls that did not cancel.
    pub refused_cancels: u64,
    /// Passive events (there must be none: the orchestrator's bus carries only its jobs).
    pub passive: u64,
}

/// Ids (and expected outcomes) of the jobs the orchestrator dispatched, for the driver.
pub type Ledger = Arc<Mutex<Vec<(JobId, Expected)>>>;

/// An orchestrator that dispatches the soak jobs it is sent and checks each terminal
/// hook against the job's expected outcome.
#[derive(Debug, Default)]
pub struct SoakOrchestrator {
    expected: HashMap<JobId, Expected>,
    ledger: Ledger,
}

impl SoakOrchestrator {
    fn terminal(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let outcome = self.expected.remove(&event.id());
        ctx.update_state(|t| {
            t.routed += 1;
            match outcome {
                None => t.unknown += 1,
                Some(expected) if !expected.matches_event(event) => t.mismatched += 1,
                Some(_) => {}
            }
        });
    }
}

impl Orchestrator for SoakOrchestrator {
    type State = OrchTally;
    type Command = Cmd;

    fn handle(&mut self, command: Cmd, ctx: &mut Context<'_, Self>) {
        match command {
            Cmd::Run(job, expected) => match ctx.dispatch(*job) {
                Ok(id) => {
                    self.expected.insert(id, expected.clone());
                    self.ledger.lock().unwrap_or_else(PoisonError::into_inner).push((id, expected));
                    ctx.update_state(|t| t.dispatched += 1);
                }
                Err(_) => ctx.update_state(|t| t.dispatch_errors += 1),
            },
            Cmd::Cancel(id) => {
                if !ctx.cancel_job(id) {
                    ctx.update_state(|t| t.refused_cancels += 1);
                }
            }
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        self.terminal(event, ctx);
    }
    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        self.terminal(event, ctx);
    }
    fn on_active_cancelled(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        self.terminal(event, ctx);
    }
    fn on_active_timeout(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        self.terminal(event, ctx);
    }
    fn on_passive_event(&mut self, _event: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|t| t.passive += 1);
    }
}

/// What a subscription saw of one job during a batch.
#[derive(Debug, Default)]
struct Seen {
    terminals: u32,
    after_terminal: u32,
    terminal: Option<Arc<Event>>,
}

/// Reads `sub` until it has seen `n` terminal events; returns what it saw per job and the
/// number of events read. Panics on a lag (see the module docs) or a closed bus.
async fn read_terminals(sub: &mut Subscription, n: usize) -> (HashMap<JobId, Seen>, u64) {
    let mut seen: HashMap<JobId, Seen> = HashMap::with_capacity(n);
    let (mut terminals, mut events) = (0, 0_u64);
    while terminals < n {
        let event = match sub.next().await {
            Some(Ok(event)) => event,
            Some(Err(Lagged(missed))) => {
                panic!("a soak subscription lagged by {missed} events: the bus capacity assumption is broken")
            }
            None => panic!("a soak bus closed during the soak"),
        };
        events += 1;
        let entry = seen.entry(event.id()).or_default();
        if entry.terminals > 0 {
            entry.after_terminal += 1;
        }
        if event.tag().is_terminal() {
            entry.terminals += 1;
            entry.terminal = Some(event);
            terminals += 1;
        }
    }
    (seen, events)
}

/// Emits a marker on `bus` and returns the events `sub` receives before it.
async fn drain_to_marker(bus: &Bus, sub: &mut Subscription) -> Vec<Arc<Event>> {
    let marker = Event::custom("soak-marker", ());
    let marker_id = marker.id();
    bus.emit(marker).expect("the bus is open");
    let mut events = Vec::new();
    loop {
        match sub.next().await {
            Some(Ok(event)) if event.id() == marker_id => return events,
            Some(Ok(event)) => events.push(event),
            Some(Err(Lagged(missed))) => panic!("lagged by {missed} while draining"),
            None => panic!("the bus closed while draining"),
        }
    }
}

/// Checks one batch's terminal events against the expected outcomes.
fn check_terminals(bus: &str, seen: &HashMap<JobId, Seen>, expected: &[(JobId, Expected)]) {
    assert_eq!(seen.len(), expected.len(), "{bus} bus: events of jobs outside the batch (or missing jobs)");
    for (id, want) in expected {
        let Some(s) = seen.get(id) else { panic!("{bus} bus: no event at all for job {id}") };
        assert_eq!(s.terminals, 1, "{bus} bus: job {id} has {} terminal events", s.terminals);
        assert_eq!(s.after_terminal, 0, "{bus} bus: job {id} emitted events after its terminal event");
        let event = s.terminal.as_ref().expect("one terminal event");
        assert!(want.matches_event(event), "{bus} bus: job {id} ended with {:?}, expected {want:?}", event.kind());
    }
}

/// The soak's size and seed.
#[derive(Debug, Clone, Copy)]
pub struct SoakConfig {
    /// Jobs to run.
    pub jobs: u64,
    /// Seed of the script generator.
    pub seed: u64,
}

impl SoakConfig {
    /// `ORCH_SOAK_JOBS` (default [`DEFAULT_JOBS`]) and `ORCH_SOAK_SEED` (decimal or
    /// `0x` hex; default [`DEFAULT_SEED`]).
    pub fn from_env() -> Self {
        let jobs = std::env::var("ORCH_SOAK_JOBS")
            .ok()
            .map(|v| v.replace('_', "").parse().expect("ORCH_SOAK_JOBS is a number"))
            .unwrap_or(DEFAULT_JOBS);
        let seed = std::env::var("ORCH_SOAK_SEED")
            .ok()
            .map(|v| match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).expect("ORCH_SOAK_SEED is a hex number"),
                None => v.parse().expect("ORCH_SOAK_SEED is a number"),
            })
            .unwrap_or(DEFAULT_SEED);
        Self { jobs, seed }
    }
}

/// What a soak run did (every figure is checked before it is returned).
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Jobs dispatched and checked.
    pub jobs: u64,
    /// Jobs per kind of script, in the order of [`KINDS`].
    pub kinds: [u64; 8],
    /// Jobs dispatched by the orchestrator.
    pub routed: u64,
    /// Jobs under the shared parent token.
    pub shared_token: u64,
    /// Jobs with a placeholder.
    pub placeholders: u64,
    /// Events read by the soak's subscriptions.
    pub events: u64,
    /// Executor calls expected (and seen).
    pub expected_calls: u64,
    /// Attempt futures dropped unfinished, expected (and seen).
    pub expected_drops: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} jobs in {:.2?} ({} events; ", self.jobs, self.elapsed, self.events)?;
        for (name, n) in KINDS.iter().zip(self.kinds) {
            write!(f, "{name} {n}, ")?;
        }
        write!(
            f,
            "{} via the orchestrator, {} under a shared token, {} placeholders; {} executor calls, {} attempts \
             dropped)",
            self.routed, self.shared_token, self.placeholders, self.expected_calls, self.expected_drops
        )
    }
}

/// Runs the soak on `rt`: `cfg.jobs` jobs in batches, each checked; then the final
/// checks (nothing pending, running, queued or tracked; no event left; every runner
/// gone; the shared token's child list empty; executor calls and drops as scripted).
/// Everything it built is dropped before it returns.
pub fn run<R: Runtime>(rt: &R, cfg: SoakConfig) -> SoakReport {
    quiet_scripted_panics();
    let started = Instant::now();
    let capacity = NonZeroUsize::new(BUS_CAPACITY).expect("non-zero");
    let counters = Arc::new(SoakCounters::default());
    // Off, like the scripted panics: thousands of jobs fail or time out on purpose, and the
    // default logger (stderr with `std`) would print a line for each.
    let dispatcher =
        rt.build_dispatcher(|b| b.bus(Bus::with_capacity(capacity).expect("below the maximum")).logger(NoopLogger));
    dispatcher.register(SoakExecutor { timer: rt.timer(), counters: counters.clone() });
    let orch_bus = Bus::with_capacity(capacity).expect("below the maximum");
    let ledger = Ledger::default();
    let orchestrator = SoakOrchestrator { expected: HashMap::new(), ledger: ledger.clone() };
    let (mut host, orch) = orchestrator
        .builder(OrchTally::default(), &dispatcher)
        .bus(orch_bus.clone())
        .no_breaker()
        .build()
        .expect("the bus is open");
    let mut main_sub = dispatcher.bus().subscribe().expect("the bus is open");
    let mut orch_sub = orch_bus.subscribe().expect("the bus is open");
    let (entered_tx, mut entered_rx) = mpsc::unbounded();
    let parent = CancellationToken::new();
    let mut rng = XorShift64::new(cfg.seed);
    let mut report = SoakReport { jobs: cfg.jobs, ..SoakReport::default() };

    let mut next = 0_u64;
    while next < cfg.jobs {
        let n = (cfg.jobs - next).min(BATCH as u64);
        let mut direct = Vec::new();
        let mut routed = Vec::new();
        for index in next..next + n {
            let script = Script::draw(&mut rng);
            let via_orchestrator = rng.one_in(8);
            let planned = plan(index, script, &mut rng, via_orchestrator, &parent, &entered_tx, &mut report);
            report.kinds[planned.script_kind] += 1;
            if via_orchestrator {
                routed.push(planned);
            } else {
                direct.push(planned);
            }
        }
        next += n;
        report.routed += routed.len() as u64;
        let routed_cancels =
            routed.iter().filter(|p| matches!(p.job.job().script, Script::CancelWhileRunning { .. })).count();
        let routed_target = report.routed;
        let (n_direct, n_routed) = (direct.len(), routed.len());

        let batch = async {
            let handles: Vec<_> = direct
                .into_iter()
                .map(|p| {
                    let handle = dispatcher.dispatch(p.job).expect("a soak job is accepted");
                    (handle, p.expected, p.latch)
                })
                .collect();
            let direct_ids: Vec<_> = handles.iter().map(|(h, e, _)| (h.id(), e.clone())).collect();
            let results = join_all(handles.into_iter().map(|(handle, expected, latch)| async move {
                if let Some(latch) = latch {
                    latch.wait().await;
                    assert!(handle.cancel_with_reason(CANCEL_REASON), "a running job could not be cancelled");
                }
                let id = handle.id();
                let result = handle.await;
                assert!(expected.matches_result(&result), "job {id}: handle gave {result:?}, expected {expected:?}");
            }));
            let commands = async {
                for p in routed {
                    orch.send(Cmd::Run(Box::new(p.job), p.expected)).await.expect("the host runs");
                }
            };
            let cancels = async {
                for _ in 0..routed_cancels {
                    let id = entered_rx.next().await.expect("the sender is alive");
                    orch.send(Cmd::Cancel(id)).await.expect("the host runs");
                }
            };
            let hooks = async {
                let mut states = orch.states();
                while let Some(state) = states.next().await {
                    if state.routed >= routed_target {
                        return state;
                    }
                }
                panic!("the orchestrator ended during the soak");
            };
            let main_read = read_terminals(&mut main_sub, n_direct);
            let orch_read = read_terminals(&mut orch_sub, n_routed);
            let (_, (), (), state, (main_seen, main_events), (orch_seen, orch_events)) =
                join!(results, commands, cancels, hooks, main_read, orch_read);
            report.events += main_events + orch_events;
            check_terminals("main", &main_seen, &direct_ids);
            let routed_ids = std::mem::take(&mut *ledger.lock().unwrap_or_else(PoisonError::into_inner));
            check_terminals("orchestrator", &orch_seen, &routed_ids);
            assert_eq!(
                (state.dispatched, state.routed, state.mismatched, state.unknown, state.dispatch_errors),
                (routed_target, routed_target, 0, 0, 0),
                "{state:?}"
            );
            assert_eq!((state.refused_cancels, state.passive), (0, 0), "{state:?}");
        };
        rt.run(async {
            match select(pin!(batch), &mut host).await {
                Either::Left(((), _)) => {}
                Either::Right(((), _)) => panic!("the orchestrator host ended during the soak"),
            }
        });
    }

    // The end: nothing left anywhere.
    rt.run(async {
        let end = async {
            settle(rt, &dispatcher).await;
            assert!(drain_to_marker(dispatcher.bus(), &mut main_sub).await.is_empty(), "events after the soak");
            assert!(drain_to_marker(&orch_bus, &mut orch_sub).await.is_empty(), "events after the soak");
            let stats = orch.stats();
            assert_eq!(stats.active_jobs, 0, "{stats:?}");
            assert_eq!((stats.lagged_events, stats.recovered_jobs, stats.hook_panics), (0, 0, 0), "{stats:?}");
            assert_eq!(stats.lag_suspects, 0, "{stats:?}");
        };
        match select(pin!(end), &mut host).await {
            Either::Left(((), _)) => {}
            Either::Right(((), _)) => panic!("the orchestrator host ended during the soak"),
        }
        assert!(orch.shutdown());
        (&mut host).await;
        assert!(orch.is_finished());
        assert_eq!(orch.stats().active_jobs, 0);
        assert!(dispatcher.shutdown());
        // The runners end once the queue is closed and empty: wait for that fact.
        while dispatcher.stats().runners > 0 {
            yield_now().await;
            if dispatcher.stats().runners > 0 {
                rt.sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let stats = dispatcher.stats();
    assert_eq!((stats.pending, stats.queued, stats.running, stats.runners), (0, 0, 0, 0), "{stats:?}");
    assert_eq!(stats.finished as u64, cfg.jobs, "{stats:?}");
    assert_eq!(parent.listener_count(), 0, "the shared token still lists children");
    assert_eq!(counters.calls.load(Ordering::Relaxed), report.expected_calls, "executor calls");
    assert_eq!(counters.dropped.load(Ordering::Relaxed), report.expected_drops, "attempts dropped unfinished");
    assert!(entered_rx.try_recv().is_err(), "an unexpected 'entered' signal");
    drop((host, orch, main_sub, orch_sub, dispatcher, orch_bus, entered_tx, entered_rx, parent));
    report.elapsed = started.elapsed();
    report
}
