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
//! the weights). The plain outcomes: success (some reporting progress), error, retry then
//! success, retry until exhausted, timeout (work that never ends against a 1 ms timeout),
//! cancel before start (a cancelled token), cancel while running (cancelled once the
//! executor signalled it runs: a latch, not a sleep) and panic (in the executor's
//! future). The faults of user code: a panic in the synchronous part of `process` (before
//! its future exists), in a `retry_if` predicate, in the job's cache provider (its read or
//! its write, before or inside the returned future) and in the output's `Clone` (called
//! when the Success event is built), each after 0 to 2 failed attempts where the position
//! allows it; zero back-off retry storms (retries exhausted, refused by a retry budget, or
//! cancelled from inside the storm); and a `JobContext` kept past the job's end, whose
//! late reports must all be refused.
//!
//! One job in eight is sent to an orchestrator (on its own bus) which dispatches it; one
//! in four of the others runs under a shared parent token that is never cancelled (its
//! child-token list must end empty); one in sixteen has a placeholder. The expected
//! outcome, the events and the executor calls follow from the script alone, so nothing
//! depends on timing. That rules out a storm against a timeout: how many attempts fit in
//! the timeout depends on the machine (so would the number of its events), and on the
//! virtual clock a storm that is always ready never lets the time move at all.
//!
//! # Flow control and the bus capacity
//!
//! Jobs are dispatched in batches of at most [`BATCH`] jobs and at most [`BATCH_EVENTS`]
//! events (each script bounds its events: [`Script::max_events`]); a batch ends when
//! every handle has resolved, the subscriptions have read the terminal event of every job
//! of the batch and the orchestrator has routed all of its jobs. A subscription is thus
//! never more than one batch behind, and each bus retains [`BUS_CAPACITY`], four times
//! [`BATCH_EVENTS`]: a lag would be a bug, and the soak fails on the first `Lagged`
//! instead of tolerating it.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::{Either, join_all, select};
use futures::{StreamExt, join};
use orchestrator_core::Jitter;
use orchestrator_core::cache::CacheProvider;
use orchestrator_core::cache::{CacheError, KeyFilter};
use orchestrator_core::log::NoopLogger;
use orchestrator_core::runtime::Timer;
use orchestrator_core::{
    BoxFuture, Bus, CancellationToken, Context, EmitError, Event, EventKind, Executor, FlowPolicy, Job, JobBuilder,
    JobContext, JobError, JobErrorKind, JobId, JobResult, Lagged, Orchestrator, Payload, Priority, ProgressError,
    RetryBudget, RetryPolicy, Subscription,
};

use crate::runtime::Runtime;
use crate::util::{Latch, settle, yield_now};

/// Most jobs per batch (see the module docs).
pub const BATCH: usize = 1024;
/// The soak dispatcher's global cap of jobs running at once. Below what a batch holds at
/// its peak (the jobs that run until the driver cancels them, about 11 % of a batch, plus
/// those waiting out their 1 ms timeout, about 9 %), so jobs wait for it; well above the
/// first kind alone, so a job the driver waits for is never stuck behind jobs only the
/// driver can end.
pub const SOAK_CAP: usize = 160;
/// Most events the jobs of one batch may emit, counted with [`Script::max_events`]: a
/// batch ends early rather than go past it (see the module docs).
pub const BATCH_EVENTS: usize = 8 * 1024;
/// Capacity of both buses of the soak: four times what one batch can emit.
pub const BUS_CAPACITY: usize = 4 * BATCH_EVENTS;
/// The timeout of the jobs scripted to time out (their work never ends by itself).
pub const JOB_TIMEOUT: Duration = Duration::from_millis(1);
/// The timeout of the jobs that panic in `process` after a retry: long enough never to
/// fire, so the panic unwinds through a job with a registered deadline.
pub const LONG_TIMEOUT: Duration = Duration::from_secs(3600);
/// The message of every scripted panic, wherever it happens (the soak's panic hook keeps
/// these off stderr).
pub const SCRIPTED_PANIC: &str = "soak: scripted panic";
/// The message of a scripted error.
pub const SCRIPTED_ERROR: &str = "soak: scripted error";
/// The message of the error on which the soak's `retry_if` predicate panics.
pub const PREDICATE_PANICS_ON: &str = "soak: an error the retry predicate panics on";
/// The reason given to jobs cancelled while running (directly dispatched ones).
pub const CANCEL_REASON: &str = "soak: cancelled while running";
/// The reason of the tokens of jobs cancelled before they start (half of them; the
/// other half are cancelled without a reason).
pub const BEFORE_START_REASON: &str = "soak: cancelled before start";
/// The reason a cancelled storm cancels its own token with.
pub const STORM_CANCEL_REASON: &str = "soak: storm cancelled";
/// The cache key of the jobs with a cache policy (their providers store nothing).
pub const CACHE_KEY: &str = "soak";
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
    /// Panics in its future ([`SCRIPTED_PANIC`]); half of them under a retry policy,
    /// which must not retry a panic.
    Panic {
        /// Dispatched with a retry policy.
        with_retry: bool,
    },
    /// Fails attempts `0..at` with [`SCRIPTED_ERROR`], then panics in the synchronous
    /// part of `process`, before returning its future. With `at > 0` the job has a retry
    /// policy, and half of those jobs an hour-long timeout too.
    PanicInProcess {
        /// The attempt that panics.
        at: u32,
        /// Dispatched with [`LONG_TIMEOUT`].
        deadline: bool,
    },
    /// Fails attempts `0..at` with [`SCRIPTED_ERROR`] (retried: the predicate says yes),
    /// then with [`PREDICATE_PANICS_ON`], on which its policy's `retry_if` predicate
    /// panics.
    PanicInRetryPredicate {
        /// The attempt whose error makes the predicate panic.
        at: u32,
    },
    /// Has a cache policy and a provider whose read panics: the executor is never
    /// called.
    PanicInCacheRead {
        /// The panic happens inside the returned future rather than before it exists.
        in_future: bool,
    },
    /// Succeeds, with a cache policy and a provider whose write (of that success) panics.
    PanicInCacheWrite {
        /// The panic happens inside the returned future rather than before it exists.
        in_future: bool,
    },
    /// Fails attempts `0..at`, then succeeds with an output whose `Clone` panics (the
    /// Success event clones it).
    PanicInOutputClone {
        /// The attempt that succeeds.
        at: u32,
    },
    /// Fails every attempt at once, retried with a zero back-off, until the storm's end.
    Storm {
        /// The retries before the end: the policy's, the budget's reserve, or the attempt
        /// that cancels the job.
        retries: u32,
        /// How the storm ends.
        end: StormEnd,
    },
    /// Reports progress, keeps a clone of its context, then ends as `end` says; once it
    /// has ended, the driver's reports through the kept context must all be refused.
    LateContext {
        /// How the job ends.
        end: LateEnd,
    },
}

/// How a [`Script::Storm`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StormEnd {
    /// Its policy allows `retries` retries: `Failure`, retried.
    Exhausted,
    /// Its policy allows `u32::MAX` retries, its own [`RetryBudget`] (a reserve of
    /// `retries`, nothing from successes, a window that never rolls over) refuses the
    /// next: `Failure` marked [`JobErrorKind::RetryBudgetExhausted`].
    BudgetRefused,
    /// Its policy allows `u32::MAX` retries; attempt `retries` cancels the job's token
    /// (with [`STORM_CANCEL_REASON`]) before failing: `Cancelled`, no attempt after.
    Cancelled,
}

/// How a [`Script::LateContext`] job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateEnd {
    /// Returns its index.
    Success,
    /// Fails with [`SCRIPTED_ERROR`].
    Error,
    /// Panics in its future.
    Panic,
}

/// The kinds of [`Script`], for the tallies.
pub const KINDS: [&str; 17] = [
    "success",
    "error",
    "retry_then_success",
    "retry_exhausted",
    "timeout",
    "cancel_before_start",
    "cancel_while_running",
    "panic",
    "panic_in_process",
    "panic_in_retry_if",
    "panic_in_cache_read",
    "panic_in_cache_write",
    "panic_in_output_clone",
    "storm_exhausted",
    "storm_budget_refused",
    "storm_cancelled",
    "late_context",
];

/// The fewest retries of a storm.
pub const STORM_MIN_RETRIES: u32 = 8;
/// The most retries of a storm.
pub const STORM_MAX_RETRIES: u32 = 24;

impl Script {
    /// Draws a script: success 25 %, error 9 %, retry then success 13 %, retries
    /// exhausted 7 %, timeout 9 %, cancel before start 9 %, cancel while running 11 %,
    /// panic (in the future) 4 %; panic in `process`'s synchronous part 2 %, in the
    /// `retry_if` predicate 2 %, in the cache read 1 %, in the cache write 1 %, in the
    /// output's `Clone` 2 %; zero back-off storm 2 % (a third of each end); late context
    /// 3 % (a third of them end in a panic).
    ///
    /// Panics (an unwind each) and storms (up to 25 attempts each) are the costly kinds:
    /// their shares are kept small so that the CI size stays fast.
    pub fn draw(rng: &mut XorShift64) -> Self {
        let roll = rng.below(100);
        let timer = rng.one_in(2);
        match roll {
            0..25 => Self::Success { progress: rng.one_in(4) },
            25..34 => Self::Error,
            34..54 => {
                let back_off = if rng.one_in(2) { Duration::ZERO } else { Duration::from_micros(1 + rng.below(200)) };
                let linear = rng.one_in(2);
                let jitter = rng.one_in(4).then(|| rng.next_u64());
                // Both draws in 1..=3 / 0..=3: success iff fail_first <= max_retries.
                let (fail_first, max_retries) = if roll < 47 {
                    let fail_first = 1 + rng.below(3) as u32;
                    (fail_first, fail_first + rng.below(u64::from(4 - fail_first)) as u32)
                } else {
                    let max_retries = rng.below(3) as u32;
                    (max_retries + 1 + rng.below(2) as u32, max_retries)
                };
                Self::Retry { fail_first, max_retries, back_off, linear, jitter }
            }
            54..63 => Self::Timeout { timer },
            63..72 => Self::CancelBeforeStart { reason: rng.one_in(2) },
            72..83 => Self::CancelWhileRunning { timer },
            83..87 => Self::Panic { with_retry: rng.one_in(2) },
            87..89 => {
                let at = rng.below(3) as u32;
                Self::PanicInProcess { at, deadline: at > 0 && timer }
            }
            89..91 => Self::PanicInRetryPredicate { at: rng.below(3) as u32 },
            91..92 => Self::PanicInCacheRead { in_future: timer },
            92..93 => Self::PanicInCacheWrite { in_future: timer },
            93..95 => Self::PanicInOutputClone { at: rng.below(3) as u32 },
            95..97 => {
                let spread = u64::from(STORM_MAX_RETRIES - STORM_MIN_RETRIES + 1);
                let retries = STORM_MIN_RETRIES + rng.below(spread) as u32;
                let end = [StormEnd::Exhausted, StormEnd::BudgetRefused, StormEnd::Cancelled][rng.below(3) as usize];
                Self::Storm { retries, end }
            }
            _ => Self::LateContext { end: [LateEnd::Success, LateEnd::Error, LateEnd::Panic][rng.below(3) as usize] },
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
            Self::PanicInProcess { .. } => 8,
            Self::PanicInRetryPredicate { .. } => 9,
            Self::PanicInCacheRead { .. } => 10,
            Self::PanicInCacheWrite { .. } => 11,
            Self::PanicInOutputClone { .. } => 12,
            Self::Storm { end: StormEnd::Exhausted, .. } => 13,
            Self::Storm { end: StormEnd::BudgetRefused, .. } => 14,
            Self::Storm { end: StormEnd::Cancelled, .. } => 15,
            Self::LateContext { .. } => 16,
        }
    }

    /// How the job must end. `routed`: dispatched by the orchestrator (which cancels
    /// without a reason).
    pub fn expected(&self, index: u64, routed: bool) -> Expected {
        let panicked = |retried: bool| Expected::Failure { kind: JobErrorKind::Panicked, retried };
        let failed = |retried: bool| Expected::Failure { kind: JobErrorKind::Failed, retried };
        match self {
            Self::Success { .. } => Expected::Success(index),
            Self::Error => failed(false),
            Self::Retry { fail_first, max_retries, .. } if fail_first <= max_retries => Expected::Success(index),
            Self::Retry { max_retries, .. } => failed(*max_retries > 0),
            Self::Timeout { .. } => Expected::TimedOut(JOB_TIMEOUT),
            Self::CancelBeforeStart { reason } => Expected::Cancelled(reason.then_some(BEFORE_START_REASON)),
            Self::CancelWhileRunning { .. } => Expected::Cancelled((!routed).then_some(CANCEL_REASON)),
            Self::Panic { .. } | Self::PanicInCacheRead { .. } | Self::PanicInCacheWrite { .. } => panicked(false),
            Self::PanicInProcess { at, .. } | Self::PanicInRetryPredicate { at } | Self::PanicInOutputClone { at } => {
                panicked(*at > 0)
            }
            Self::Storm { end: StormEnd::Exhausted, .. } => failed(true),
            Self::Storm { end: StormEnd::BudgetRefused, .. } => {
                Expected::Failure { kind: JobErrorKind::RetryBudgetExhausted, retried: true }
            }
            Self::Storm { end: StormEnd::Cancelled, .. } => Expected::Cancelled(Some(STORM_CANCEL_REASON)),
            Self::LateContext { end: LateEnd::Success } => Expected::Success(index),
            Self::LateContext { end: LateEnd::Error } => failed(false),
            Self::LateContext { end: LateEnd::Panic } => panicked(false),
        }
    }

    /// How many times the executor is called for this job.
    pub fn expected_calls(&self) -> u64 {
        match self {
            Self::CancelBeforeStart { .. } | Self::PanicInCacheRead { .. } => 0,
            Self::Retry { fail_first, max_retries, .. } => u64::from(*fail_first.min(max_retries)) + 1,
            Self::PanicInProcess { at, .. } | Self::PanicInRetryPredicate { at } | Self::PanicInOutputClone { at } => {
                u64::from(*at) + 1
            }
            Self::Storm { retries, .. } => u64::from(*retries) + 1,
            _ => 1,
        }
    }

    /// How many attempt futures of this job are dropped before they return.
    pub fn expected_drops(&self) -> u64 {
        u64::from(matches!(self, Self::Timeout { .. } | Self::CancelWhileRunning { .. }))
    }

    /// The Retrying events the job emits: at least the first, at most the second.
    fn retrying_events(&self) -> (u32, u32) {
        match self {
            Self::Retry { fail_first, max_retries, .. } => (*fail_first.min(max_retries), *fail_first.min(max_retries)),
            Self::PanicInProcess { at, .. } | Self::PanicInRetryPredicate { at } | Self::PanicInOutputClone { at } => {
                (*at, *at)
            }
            Self::Storm { retries, end: StormEnd::Exhausted | StormEnd::BudgetRefused } => (*retries, *retries),
            // The attempt that cancels still fails, and its retry may be announced before
            // the cancellation is seen: announced, never made (the calls are exact).
            Self::Storm { retries, end: StormEnd::Cancelled } => (*retries, *retries + 1),
            _ => (0, 0),
        }
    }

    /// The events the job emits besides Started, its placeholder and its terminal event:
    /// progress and Retrying events (at least, at most).
    fn middle_events(&self) -> (u32, u32) {
        let progress = u32::from(matches!(self, Self::Success { progress: true } | Self::LateContext { .. }));
        let (min, max) = self.retrying_events();
        (progress + min, progress + max)
    }

    /// The most events the job can emit (a placeholder and a `Queued` included).
    pub fn max_events(&self) -> usize {
        4 + self.middle_events().1 as usize
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
    /// A failure of this kind: a scripted panic (its message contains
    /// [`SCRIPTED_PANIC`]) or a scripted error (its message is [`SCRIPTED_ERROR`]), and
    /// whether a retry happened (checked on the event; a `JobResult` does not say).
    Failure {
        /// The error's kind.
        kind: JobErrorKind,
        /// The `retried` flag of the `Failure` event.
        retried: bool,
    },
    /// Cancelled with this reason.
    Cancelled(Option<&'static str>),
    /// Timed out after this long.
    TimedOut(Duration),
}

impl Expected {
    fn failure_matches(kind: JobErrorKind, error: &JobError) -> bool {
        error.kind() == kind
            && if kind == JobErrorKind::Panicked {
                error.message().contains(SCRIPTED_PANIC)
            } else {
                error.message() == SCRIPTED_ERROR
            }
    }

    /// Whether a handle's result is this outcome.
    pub fn matches_result(&self, result: &JobResult<SoakOutput>) -> bool {
        match (self, result) {
            (Self::Success(want), JobResult::Success(got)) => got.is(*want),
            (Self::Failure { kind, .. }, JobResult::Failure(error)) => Self::failure_matches(*kind, error),
            (Self::Cancelled(want), JobResult::Cancelled(got)) => *want == got.as_deref(),
            (Self::TimedOut(want), JobResult::TimedOut(got)) => want == got,
            _ => false,
        }
    }

    /// Whether a terminal event is this outcome.
    pub fn matches_event(&self, event: &Event) -> bool {
        match (self, event.kind()) {
            (Self::Success(want), EventKind::Success(_)) => event.data_as::<SoakOutput>().is_some_and(|o| o.is(*want)),
            (Self::Failure { kind, retried }, EventKind::Failure { error, retried: got }) => {
                retried == got && Self::failure_matches(*kind, error)
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

/// Where a [`Script::LateContext`] job leaves the clone of its context for the driver.
pub type KeptContext = Arc<Mutex<Option<JobContext>>>;

/// A soak job.
#[derive(Debug)]
pub struct SoakJob {
    /// Its position in the soak (its output on success).
    pub index: u64,
    /// What it does.
    pub script: Script,
    /// Whom it tells that its attempt runs.
    pub entered: Entered,
    /// Where it keeps its context ([`Script::LateContext`] jobs only).
    pub kept: Option<KeptContext>,
}

impl Job for SoakJob {
    type Output = SoakOutput;
}

/// The output of a soak job: its index, and whether cloning it panics (the output of a
/// [`Script::PanicInOutputClone`] job; every other output clones normally).
#[derive(Debug)]
pub struct SoakOutput {
    /// The job's index ([`u64::MAX`] for a placeholder).
    pub index: u64,
    /// `Clone` panics with [`SCRIPTED_PANIC`].
    pub clone_panics: bool,
}

impl SoakOutput {
    fn new(index: u64) -> Self {
        Self { index, clone_panics: false }
    }

    /// The output of a successful job `index`.
    fn is(&self, index: u64) -> bool {
        self.index == index && !self.clone_panics
    }
}

impl Clone for SoakOutput {
    fn clone(&self) -> Self {
        assert!(!self.clone_panics, "{SCRIPTED_PANIC}");
        Self::new(self.index)
    }
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
    // Not an `async fn`: a `PanicInProcess` job must panic before any future exists, the
    // way a hand-written `process` that checks its input first does.
    fn process(&self, job: &SoakJob, ctx: &JobContext) -> impl Future<Output = Result<SoakOutput, JobError>> + Send {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if let Script::PanicInProcess { at, .. } = job.script {
            assert!(ctx.attempt() != at, "{SCRIPTED_PANIC}");
        }
        self.attempt(job, ctx)
    }
}

impl SoakExecutor {
    /// The future of one attempt.
    async fn attempt(&self, job: &SoakJob, ctx: &JobContext) -> Result<SoakOutput, JobError> {
        let index = job.index;
        let scripted_error = || Err(JobError::msg(SCRIPTED_ERROR));
        match &job.script {
            Script::Success { progress } => {
                if *progress {
                    ctx.progress(0.5).expect("0.5 is a valid progress");
                }
                Ok(SoakOutput::new(index))
            }
            Script::Error => scripted_error(),
            Script::Retry { fail_first, .. } => {
                if ctx.attempt() < *fail_first {
                    scripted_error()
                } else {
                    Ok(SoakOutput::new(index))
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
                panic!("job {index}: work that never ends ended");
            }
            Script::CancelBeforeStart { .. } => panic!("job {index}: called although cancelled before start"),
            Script::PanicInCacheRead { .. } => panic!("job {index}: called although its cache read panicked"),
            Script::Panic { .. } => panic!("{SCRIPTED_PANIC}"),
            // The attempts before the one that panics in `process`.
            Script::PanicInProcess { .. } => scripted_error(),
            Script::PanicInRetryPredicate { at } => {
                if ctx.attempt() < *at {
                    scripted_error()
                } else {
                    Err(JobError::msg(PREDICATE_PANICS_ON))
                }
            }
            Script::PanicInCacheWrite { .. } => Ok(SoakOutput::new(index)),
            Script::PanicInOutputClone { at } => {
                if ctx.attempt() < *at {
                    scripted_error()
                } else {
                    Ok(SoakOutput { index, clone_panics: true })
                }
            }
            Script::Storm { retries, end } => {
                let attempt = ctx.attempt();
                if attempt > *retries {
                    // A storm that outlived its end: a success, which the checks reject
                    // (rather than a storm that never ends and hangs the soak).
                    return Ok(SoakOutput::new(index));
                }
                if *end == StormEnd::Cancelled && attempt == *retries {
                    ctx.token().cancel_with_reason(STORM_CANCEL_REASON);
                }
                scripted_error()
            }
            Script::LateContext { end } => {
                ctx.progress(0.5).expect("the job runs");
                let kept = job.kept.as_ref().expect("a late-context job has a slot");
                *kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(ctx.clone());
                match end {
                    LateEnd::Success => Ok(SoakOutput::new(index)),
                    LateEnd::Error => scripted_error(),
                    LateEnd::Panic => panic!("{SCRIPTED_PANIC}"),
                }
            }
        }
    }
}

/// The `retry_if` predicate of [`Script::PanicInRetryPredicate`] jobs: retries every error
/// but [`PREDICATE_PANICS_ON`], on which it panics.
fn retry_unless_told_to_panic(error: &JobError) -> bool {
    assert!(error.message() != PREDICATE_PANICS_ON, "{SCRIPTED_PANIC}");
    true
}

/// The cache operation a [`PanickyCache`] panics in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheOp {
    Read,
    Write,
}

/// A cache provider that stores nothing (every read is a miss) and panics in one
/// operation, before or inside the future it returns.
#[derive(Debug)]
struct PanickyCache {
    op: CacheOp,
    in_future: bool,
}

impl PanickyCache {
    /// `value`, or a panic if `op` is the one that panics.
    fn answer<'a, T: Send + 'a>(&self, op: CacheOp, value: T) -> BoxFuture<'a, Result<T, CacheError>> {
        if op != self.op {
            return Box::pin(async move { Ok(value) });
        }
        assert!(self.in_future, "{SCRIPTED_PANIC}");
        Box::pin(async { panic!("{SCRIPTED_PANIC}") })
    }
}

impl CacheProvider for PanickyCache {
    fn read<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, CacheError>> {
        self.answer(CacheOp::Read, None)
    }
    fn write<'a>(
        &'a self,
        _key: &'a str,
        _value: Payload,
        _ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.answer(CacheOp::Write, ())
    }
    fn delete<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<bool, CacheError>> {
        Box::pin(async { Ok(false) })
    }
    fn delete_matching<'a>(&'a self, _pred: &'a KeyFilter<'a>) -> BoxFuture<'a, Result<usize, CacheError>> {
        Box::pin(async { Ok(0) })
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), CacheError>> {
        Box::pin(async { Ok(()) })
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

/// What a job must give: its outcome and how many events it emits (Started, placeholder
/// and terminal event included; a range only where the library may or may not announce
/// a retry it will not make).
#[derive(Debug, Clone)]
pub struct Want {
    /// The outcome.
    pub outcome: Expected,
    /// The fewest events of the job.
    pub min_events: u32,
    /// The most events of the job.
    pub max_events: u32,
    /// Where a [`Script::LateContext`] job keeps its context, checked once it ended.
    pub kept: Option<KeptContext>,
}

/// What every job of a run shares: the parent token, the channel of the 'entered'
/// signals, the panicking cache providers.
struct Fixtures {
    parent: CancellationToken,
    entered_tx: mpsc::UnboundedSender<JobId>,
    cache_key: Arc<str>,
    /// Indexed by `in_future` (see [`PanickyCache`]).
    panics_on_read: [Arc<dyn CacheProvider>; 2],
    panics_on_write: [Arc<dyn CacheProvider>; 2],
}

impl Fixtures {
    fn new(entered_tx: mpsc::UnboundedSender<JobId>) -> Self {
        let cache = |op, in_future| -> Arc<dyn CacheProvider> { Arc::new(PanickyCache { op, in_future }) };
        Self {
            parent: CancellationToken::new(),
            entered_tx,
            cache_key: Arc::from(CACHE_KEY),
            panics_on_read: [cache(CacheOp::Read, false), cache(CacheOp::Read, true)],
            panics_on_write: [cache(CacheOp::Write, false), cache(CacheOp::Write, true)],
        }
    }
}

/// A job ready to be dispatched, with what it must give.
#[derive(Debug)]
struct Planned {
    job: JobBuilder<SoakJob>,
    want: Want,
    script_kind: usize,
    /// The most events it can emit, for the batch's budget.
    max_events: usize,
    latch: Option<Latch>,
}

/// A retry policy with no back-off.
fn zero_back_off(max_retries: u32) -> RetryPolicy {
    RetryPolicy::new().with_max_retries(max_retries).with_base_delay(Duration::ZERO)
}

/// Builds job `index` from its script.
fn plan(
    index: u64,
    script: Script,
    rng: &mut XorShift64,
    routed: bool,
    fixtures: &Fixtures,
    tally: &mut SoakReport,
) -> Planned {
    let outcome = script.expected(index, routed);
    let script_kind = script.kind();
    let max_events = script.max_events();
    let (entered, latch) = match (&script, routed) {
        (Script::CancelWhileRunning { .. }, true) => (Entered::Channel(fixtures.entered_tx.clone()), None),
        (Script::CancelWhileRunning { .. }, false) => {
            let latch = Latch::new();
            (Entered::Latch(latch.clone()), Some(latch))
        }
        _ => (Entered::Nobody, None),
    };
    let kept = matches!(script, Script::LateContext { .. }).then(KeptContext::default);
    tally.expected_calls += script.expected_calls();
    tally.expected_drops += script.expected_drops();
    let (min_middle, max_middle) = script.middle_events();
    let mut builder = JobBuilder::new(SoakJob { index, script: script.clone(), entered, kept: kept.clone() });
    match script {
        Script::Retry { max_retries, back_off, linear, jitter, .. } => {
            let mut policy = RetryPolicy::new()
                .with_max_retries(max_retries)
                .with_base_delay(back_off)
                .with_max_delay(Duration::from_millis(1));
            if linear {
                policy = policy.linear();
            }
            if let Some(seed) = jitter {
                policy = policy.with_jitter(Jitter::new(0.5, seed));
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
        Script::Panic { with_retry: true } => builder = builder.retry(zero_back_off(3)),
        Script::PanicInProcess { at, deadline } => {
            // Retries enough to reach the attempt that panics (and one more it must not
            // make); without a policy the job takes the plain pipeline.
            if at > 0 {
                builder = builder.retry(zero_back_off(at + 1));
            }
            if deadline {
                builder = builder.timeout(LONG_TIMEOUT);
            }
        }
        Script::PanicInRetryPredicate { at } => {
            builder = builder.retry(zero_back_off(at + 1).retry_if(retry_unless_told_to_panic));
        }
        Script::PanicInCacheRead { in_future } => {
            let provider = fixtures.panics_on_read[usize::from(in_future)].clone();
            builder = builder.cache(fixtures.cache_key.clone(), None).cache_provider(provider);
        }
        Script::PanicInCacheWrite { in_future } => {
            let provider = fixtures.panics_on_write[usize::from(in_future)].clone();
            builder = builder.cache(fixtures.cache_key.clone(), None).cache_provider(provider);
        }
        Script::PanicInOutputClone { at } if at > 0 => builder = builder.retry(zero_back_off(at)),
        Script::Storm { retries, end: StormEnd::Exhausted } => builder = builder.retry(zero_back_off(retries)),
        Script::Storm { retries, end: StormEnd::BudgetRefused } => {
            // The job's own budget: a shared one would make each job's share depend on
            // how the others interleave. A window of `Duration::MAX` never rolls over, so
            // the reserve is all there is, however long the storm takes.
            let budget =
                RetryBudget::builder().window(Duration::MAX).slots(1).min_retries(retries).retry_percent(0).build();
            builder = builder.retry(zero_back_off(u32::MAX).with_budget(budget));
        }
        Script::Storm { end: StormEnd::Cancelled, .. } => builder = builder.retry(zero_back_off(u32::MAX)),
        _ => {}
    }
    // Flow control: every job waits for the soak's global cap when the batch has more in
    // flight; a successful job also gets a key of its own (so its outcome is unchanged)
    // under a random key policy, and a random priority lane.
    if let Script::Success { .. } = script {
        if rng.one_in(2) {
            let policy =
                [FlowPolicy::join(), FlowPolicy::latest_wins(), FlowPolicy::drop_while_busy(), FlowPolicy::serial()]
                    [rng.below(4) as usize];
            builder = builder.key(index).flow(policy);
            tally.flow_keyed += 1;
        }
    }
    builder = builder.priority([Priority::Low, Priority::Normal, Priority::High][rng.below(3) as usize]);
    if !matches!(script, Script::CancelBeforeStart { .. }) && rng.one_in(4) {
        builder = builder.cancel_token(fixtures.parent.clone());
        tally.shared_token += 1;
    }
    let placeholder = rng.one_in(16);
    if placeholder {
        builder = builder.placeholder(SoakOutput::new(u64::MAX));
        tally.placeholders += 1;
    }
    // Started, the placeholder, the terminal event (and `Queued` if it waited for the cap).
    let fixed = 2 + u32::from(placeholder);
    // A job cancelled before it starts may be cancelled while it waits for the cap: then
    // `Queued` and `Cancelled` are all it emits.
    let min_events = if matches!(script, Script::CancelBeforeStart { .. }) { 2 } else { fixed + min_middle };
    let want = Want { outcome, min_events, max_events: fixed + 1 + max_middle, kept };
    Planned { job: builder, want, script_kind, max_events, latch }
}

/// Checks the context a [`Script::LateContext`] job `id` kept, once the job has ended:
/// every report through it is refused as `JobEnded` (and so emits nothing: the bus checks
/// see any event after a job's terminal event). Returns the number of refusals.
fn check_late_context(id: JobId, kept: &KeptContext) -> u64 {
    let late = kept.lock().unwrap_or_else(PoisonError::into_inner).take();
    let late = late.unwrap_or_else(|| panic!("job {id}: kept no context"));
    assert_eq!(late.id(), id, "the kept context is its job's");
    assert_eq!(late.progress(0.9), Err(ProgressError::JobEnded), "job {id}: a late progress was accepted");
    assert_eq!(late.step(1, 2, None), Err(ProgressError::JobEnded), "job {id}: a late step was accepted");
    assert_eq!(late.emit("soak-late", id), Err(EmitError::JobEnded), "job {id}: a late event was accepted");
    LATE_CALLS
}

/// The reports [`check_late_context`] makes through each kept context.
const LATE_CALLS: u64 = 3;

/// A command to the [`SoakOrchestrator`].
#[derive(Debug)]
pub enum Cmd {
    /// Dispatch this job, which must end as expected.
    Run(Box<JobBuilder<SoakJob>>, Want),
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

/// Ids (and what they must give) of the jobs the orchestrator dispatched, for the driver.
pub type Ledger = Arc<Mutex<Vec<(JobId, Want)>>>;

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
            Cmd::Run(job, want) => match ctx.dispatch(*job) {
                Ok(id) => {
                    self.expected.insert(id, want.outcome.clone());
                    self.ledger.lock().unwrap_or_else(PoisonError::into_inner).push((id, want));
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
    events: u32,
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
        entry.events += 1;
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

/// Checks one batch's events against what each job must give. A job's events after its
/// terminal event are caught here if they come before the batch's last terminal event,
/// else by the next batch (events of a job outside it) or by the final drain.
fn check_terminals(bus: &str, seen: &HashMap<JobId, Seen>, wants: &[(JobId, Want)]) {
    assert_eq!(seen.len(), wants.len(), "{bus} bus: events of jobs outside the batch (or missing jobs)");
    for (id, want) in wants {
        let Some(s) = seen.get(id) else { panic!("{bus} bus: no event at all for job {id}") };
        assert_eq!(s.terminals, 1, "{bus} bus: job {id} has {} terminal events", s.terminals);
        assert_eq!(s.after_terminal, 0, "{bus} bus: job {id} emitted events after its terminal event");
        let event = s.terminal.as_ref().expect("one terminal event");
        let outcome = &want.outcome;
        assert!(
            outcome.matches_event(event),
            "{bus} bus: job {id} ended with {:?}, expected {outcome:?}",
            event.kind()
        );
        assert!(
            (want.min_events..=want.max_events).contains(&s.events),
            "{bus} bus: job {id} ({outcome:?}) emitted {} events, expected {}..={}",
            s.events,
            want.min_events,
            want.max_events
        );
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
    pub kinds: [u64; KINDS.len()],
    /// Batches the jobs were dispatched in.
    pub batches: u64,
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
    /// Reports through a context kept past its job's end, all refused.
    pub late_refusals: u64,
    /// Successful jobs dispatched with a key of their own and a key policy.
    pub flow_keyed: u64,
    /// Jobs that waited for the global cap (`Queued`), over the whole run.
    pub flow_queued: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl SoakReport {
    /// Jobs of the kind named `name` in [`KINDS`].
    pub fn kind(&self, name: &str) -> u64 {
        KINDS.iter().position(|k| *k == name).map_or(0, |i| self.kinds[i])
    }
}

impl std::fmt::Display for SoakReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} jobs in {:.2?} ({} batches, {} events; ", self.jobs, self.elapsed, self.batches, self.events)?;
        for (name, n) in KINDS.iter().zip(self.kinds) {
            write!(f, "{name} {n}, ")?;
        }
        write!(
            f,
            "{} via the orchestrator, {} under a shared token, {} placeholders; {} executor calls, {} attempts \
             dropped, {} late reports refused; {} keyed under a flow policy, {} waited for the cap)",
            self.routed,
            self.shared_token,
            self.placeholders,
            self.expected_calls,
            self.expected_drops,
            self.late_refusals,
            self.flow_keyed,
            self.flow_queued
        )
    }
}

/// Runs the soak on `rt`: `cfg.jobs` jobs in batches, each checked; then the final
/// checks (nothing pending, running, queued or tracked; no event left; every runner
/// gone; the shared token's child list empty; executor calls, drops and refused retries
/// as scripted). Everything it built is dropped before it returns.
pub fn run<R: Runtime>(rt: &R, cfg: SoakConfig) -> SoakReport {
    quiet_scripted_panics();
    let started = Instant::now();
    let capacity = NonZeroUsize::new(BUS_CAPACITY).expect("non-zero");
    let counters = Arc::new(SoakCounters::default());
    // Off, like the scripted panics: thousands of jobs fail or time out on purpose, and the
    // default logger (stderr with `std`) would print a line for each.
    let dispatcher = rt.build_dispatcher(|b| {
        b.bus(Bus::with_capacity(capacity).expect("below the maximum")).logger(NoopLogger).max_concurrent(SOAK_CAP)
    });
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
    let fixtures = Fixtures::new(entered_tx);
    let mut rng = XorShift64::new(cfg.seed);
    let mut report = SoakReport { jobs: cfg.jobs, ..SoakReport::default() };

    let mut drawn = 0_u64;
    // A job drawn that did not fit in the previous batch's event budget.
    let mut carried: Option<(Planned, bool)> = None;
    while drawn < cfg.jobs || carried.is_some() {
        let mut direct = Vec::new();
        let mut routed = Vec::new();
        let mut batch_events = 0;
        loop {
            let (planned, via_orchestrator) = match carried.take() {
                Some(job) => job,
                None if drawn < cfg.jobs => {
                    let script = Script::draw(&mut rng);
                    let via_orchestrator = rng.one_in(8);
                    let planned = plan(drawn, script, &mut rng, via_orchestrator, &fixtures, &mut report);
                    report.kinds[planned.script_kind] += 1;
                    drawn += 1;
                    (planned, via_orchestrator)
                }
                None => break,
            };
            if direct.len() + routed.len() == BATCH || batch_events + planned.max_events > BATCH_EVENTS {
                carried = Some((planned, via_orchestrator));
                break;
            }
            batch_events += planned.max_events;
            if via_orchestrator {
                routed.push(planned);
            } else {
                direct.push(planned);
            }
        }
        report.batches += 1;
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
                    (handle, p.want, p.latch)
                })
                .collect();
            let direct_ids: Vec<_> = handles.iter().map(|(h, w, _)| (h.id(), w.clone())).collect();
            let results = join_all(handles.into_iter().map(|(handle, want, latch)| async move {
                if let Some(latch) = latch {
                    latch.wait().await;
                    assert!(handle.cancel_with_reason(CANCEL_REASON), "a running job could not be cancelled");
                }
                let id = handle.id();
                let result = handle.await;
                let expected = &want.outcome;
                assert!(expected.matches_result(&result), "job {id}: handle gave {result:?}, expected {expected:?}");
                // Right after the handle resolved: the job has ended.
                want.kept.as_ref().map_or(0, |kept| check_late_context(id, kept))
            }));
            let commands = async {
                for p in routed {
                    orch.send(Cmd::Run(Box::new(p.job), p.want)).await.expect("the host runs");
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
            let (late_direct, (), (), state, (main_seen, main_events), (orch_seen, orch_events)) =
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
            // The routed jobs have ended too: the orchestrator saw every terminal event.
            let late_routed: u64 =
                routed_ids.iter().filter_map(|(id, want)| Some(check_late_context(*id, want.kept.as_ref()?))).sum();
            report.late_refusals += late_direct.iter().sum::<u64>() + late_routed;
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
    // Only the storms' own budgets refuse, once per storm; the panicking providers
    // panic, which is no cache error.
    assert_eq!(stats.retries_refused as u64, report.kind("storm_budget_refused"), "{stats:?}");
    assert_eq!(stats.cache_errors, 0, "{stats:?}");
    // Every key is a job's own: nothing joins, supersedes or is dropped, and nothing waits
    // once the soak is over.
    assert_eq!((stats.waiting, stats.joined, stats.superseded, stats.dropped), (0, 0, 0, 0), "{stats:?}");
    report.flow_queued = dispatcher.flow_stats::<SoakJob>().queued as u64;
    assert_eq!(report.late_refusals, LATE_CALLS * report.kind("late_context"), "late reports checked");
    assert_eq!(fixtures.parent.listener_count(), 0, "the shared token still lists children");
    assert_eq!(counters.calls.load(Ordering::Relaxed), report.expected_calls, "executor calls");
    assert_eq!(counters.dropped.load(Ordering::Relaxed), report.expected_drops, "attempts dropped unfinished");
    assert!(entered_rx.try_recv().is_err(), "an unexpected 'entered' signal");
    drop((host, orch, main_sub, orch_sub, dispatcher, orch_bus, fixtures, entered_rx));
    report.elapsed = started.elapsed();
    report
}
