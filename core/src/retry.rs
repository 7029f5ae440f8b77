//! Retry policies: how many times a failed job is retried, and how long to wait between
//! attempts.
//!
//! A [`RetryPolicy`] is a plain value (cheap to clone: the optional predicate is shared).
//! [`RetryPolicy::delay`] and [`RetryPolicy::should_retry`] are pure functions of the
//! policy and their arguments, so the same policy always produces the same schedule, even
//! with [`Jitter`] (whose randomness comes from an injected seed).

use crate::sync::dyn_arc;
use core::fmt;
use core::time::Duration;

use crate::error::JobError;
use crate::retry_budget::RetryBudget;
use crate::sync::{MaybeSend, MaybeSync};

/// The shared retry predicate.
type Predicate = crate::sync::SharedPredicate<JobError>;

/// Nanoseconds in one second.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// How the delay grows from one retry to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Backoff {
    /// `base_delay * 2^attempt`, capped by the maximum delay.
    #[default]
    Exponential,
    /// The same delay (`base_delay`, capped by the maximum delay) before every retry.
    ///
    /// Called "linear" because the *total* time spent waiting grows linearly with the
    /// number of retries (the original API's `exponentialBackoff = false`).
    Linear,
}

/// When and how often a failed job is retried.
///
/// Defaults ([`RetryPolicy::new`]): 3 retries, exponential back-off from 1 s, each delay
/// capped at 30 s, every error retried except panics, no jitter, no
/// [`budget`](RetryPolicy::budget) of its own.
///
/// * [`delay(attempt)`](RetryPolicy::delay) is the wait before retry number `attempt`
///   (0-based). It never panics and never exceeds the maximum delay, for any input.
/// * [`should_retry(error, attempt)`](RetryPolicy::should_retry) decides whether a failure
///   is retried, given the number of retries already done.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::{JobError, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .with_max_retries(5)
///     .with_base_delay(Duration::from_millis(100))
///     .with_max_delay(Duration::from_secs(1))
///     .retry_if(|e: &JobError| e.message() != "fatal");
///
/// let delays: Vec<_> = (0..5).map(|a| policy.delay(a).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
///
/// assert!(policy.should_retry(&JobError::msg("flaky"), 0));
/// assert!(!policy.should_retry(&JobError::msg("fatal"), 0));
/// assert!(!policy.should_retry(&JobError::msg("flaky"), 5)); // retries exhausted
/// assert!(!RetryPolicy::none().should_retry(&JobError::msg("flaky"), 0));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    backoff: Backoff,
    predicate: Option<Predicate>,
    jitter: Option<Jitter>,
    budget: Option<RetryBudget>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_retries", &self.max_retries)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("backoff", &self.backoff)
            .field("has_predicate", &self.predicate.is_some())
            .field("jitter", &self.jitter)
            .field("budget", &self.budget)
            .finish()
    }
}

impl RetryPolicy {
    /// The default policy: 3 retries, exponential back-off from 1 s capped at 30 s, no
    /// predicate (every non-panic error is retried), no jitter, no budget.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            backoff: Backoff::Exponential,
            predicate: None,
            jitter: None,
            budget: None,
        }
    }

    /// A policy that never retries (`max_retries` 0; the other settings are the defaults).
    #[must_use]
    pub const fn none() -> Self {
        let mut policy = Self::new();
        policy.max_retries = 0;
        policy
    }

    /// Sets how many times a failed job is retried (0: never). The job runs at most
    /// `n + 1` times.
    #[must_use]
    pub const fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the delay before the first retry (and before every retry with
    /// [`Backoff::Linear`]).
    #[must_use]
    pub const fn with_base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// Sets the cap on every delay, in both back-off modes.
    #[must_use]
    pub const fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets the back-off mode.
    #[must_use]
    pub const fn with_backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Shorthand for `backoff(Backoff::Linear)`: the same delay before every retry.
    #[must_use]
    pub const fn linear(self) -> Self {
        self.with_backoff(Backoff::Linear)
    }

    /// Shorthand for `backoff(Backoff::Exponential)`: the delay doubles at every retry.
    #[must_use]
    pub const fn exponential(self) -> Self {
        self.with_backoff(Backoff::Exponential)
    }

    /// Retries only the errors for which `pred` returns `true` (still within
    /// `max_retries`; panics are never retried). Replaces any previous predicate.
    #[must_use]
    pub fn retry_if(mut self, pred: impl Fn(&JobError) -> bool + MaybeSend + MaybeSync + 'static) -> Self {
        let pred: Predicate = dyn_arc!(pred);
        self.predicate = Some(pred);
        self
    }

    /// Randomises every delay with `jitter` (see [`Jitter`]). Replaces any previous
    /// jitter.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Shares `budget` with every other policy (and dispatcher) it is attached to: a
    /// retry this policy allows is made only if the budget covers it too, and each
    /// success of a job with this policy refills the budget (see [`RetryBudget`]). A
    /// refused retry ends the job with its last error, marked
    /// [`JobErrorKind::RetryBudgetExhausted`](crate::JobErrorKind::RetryBudgetExhausted).
    /// Replaces any previous budget; a policy without one uses the dispatcher's
    /// ([`DispatcherBuilder::retry_budget`](crate::DispatcherBuilder::retry_budget)), if
    /// any. Only jobs that may retry (`max_retries > 0`) use a budget.
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::{RetryBudget, RetryPolicy};
    ///
    /// // One budget for every call to a flaky service.
    /// let budget = RetryBudget::builder().min_retries(10).retry_percent(20).build();
    /// let policy = RetryPolicy::new().with_max_retries(5).with_base_delay(Duration::ZERO).with_budget(budget.clone());
    /// assert!(policy.budget().is_some_and(|b| b.ptr_eq(&budget)));
    /// ```
    #[must_use]
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The budget attached with [`budget`](Self::budget), if any.
    #[must_use]
    pub const fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The maximum number of retries.
    #[must_use]
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The delay before the first retry.
    #[must_use]
    pub const fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The cap on every delay.
    #[must_use]
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The back-off mode.
    #[must_use]
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter, if one is set.
    #[must_use]
    pub const fn jitter(&self) -> Option<Jitter> {
        self.jitter
    }

    /// True when a retry predicate is set (see [`RetryPolicy::retry_if`]).
    #[must_use]
    pub fn has_predicate(&self) -> bool {
        self.predicate.is_some()
    }

    /// Delay before retry number `attempt` (0-based: attempt 0 is the delay before the first
    /// retry).
    ///
    /// * [`Backoff::Exponential`]: `min(base_delay * 2^attempt, max_delay)`;
    /// * [`Backoff::Linear`]: `min(base_delay, max_delay)`;
    ///
    /// then [`Jitter`] is applied if set, which can only shorten the delay. The result never
    /// exceeds `max_delay`. The arithmetic saturates: any `attempt` (`u32::MAX` included)
    /// and any durations (`Duration::MAX` included) are fine, nothing panics.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Linear => self.base_delay.min(self.max_delay),
            Backoff::Exponential => exponential(self.base_delay, attempt, self.max_delay),
        };
        match self.jitter {
            Some(jitter) => jitter.apply(base, attempt),
            None => base,
        }
    }

    /// Whether a failure on `attempt` (the 0-based count of retries already done) should be
    /// retried.
    ///
    /// `false` when the error is a panic ([`JobError::is_panic`]) or when `attempt >=
    /// max_retries`; otherwise the predicate's answer if one is set, else `true`.
    ///
    /// The [budget](Self::budget) is not asked here (this stays a pure function): the
    /// pipeline asks it for every retry this allows.
    #[must_use]
    pub fn should_retry(&self, error: &JobError, attempt: u32) -> bool {
        if error.is_panic() || attempt >= self.max_retries {
            return false;
        }
        match &self.predicate {
            Some(pred) => pred(error),
            None => true,
        }
    }
}

/// `min(base * 2^attempt, max)` without overflow.
///
/// With `Duration`'s own checked multiplication (64-bit arithmetic), by at most 2^31 at a
/// time: 128-bit multiplications and divisions cost about a kilobyte of flash on 32-bit
/// microcontrollers.
fn exponential(base: Duration, attempt: u32, max: Duration) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let mut delay = base;
    let mut doublings = attempt;
    // Each round at least doubles a non-zero delay, so past `max` (or an overflow of
    // `Duration`) within a few rounds, whatever `attempt` is.
    while doublings > 0 && delay < max {
        let step = doublings.min(31);
        match delay.checked_mul(1 << step) {
            Some(next) => delay = next,
            None => return max,
        }
        doublings -= step;
    }
    delay.min(max)
}

/// Converts nanoseconds to a `Duration`, saturating at `Duration::MAX`.
fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = nanos.checked_div(NANOS_PER_SEC).unwrap_or(0);
    let sub = nanos.checked_rem(NANOS_PER_SEC).unwrap_or(0);
    match (u64::try_from(secs), u32::try_from(sub)) {
        (Ok(secs), Ok(sub)) => Duration::new(secs, 0).saturating_add(Duration::from_nanos(u64::from(sub))),
        _ => Duration::MAX,
    }
}

/// Deterministic "full jitter"-style randomisation of retry delays, with an injectable
/// seed.
///
/// A delay `d` before retry `attempt` becomes `d * (1 - ratio * r)`, where `r` in `[0, 1)`
/// is drawn from a small PRNG (`SplitMix64`) keyed by `(seed, attempt)`. The generator is
/// stateless, so [`RetryPolicy::delay`] stays a pure function of the policy and the attempt:
/// the same seed always gives the same schedule (handy in tests), and different seeds (per
/// job, per process) spread retries of many jobs apart.
///
/// * The result is always in `[d * (1 - ratio), d]`: jitter only ever shortens a delay,
///   so it never exceeds the policy's maximum delay.
/// * `ratio` is clamped into `0..=1` (NaN becomes 0, i.e. no jitter). `1.0` is "full
///   jitter" (anywhere between 0 and `d`); `0.5` is "equal jitter".
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::new().with_jitter(Jitter::new(0.5, 42));
/// let d = policy.delay(2); // 4 s without jitter
/// assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
/// assert_eq!(d, policy.clone().delay(2)); // deterministic
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    ratio: f64,
    seed: u64,
}

impl Jitter {
    /// A jitter removing up to `ratio` of each delay, randomised by `seed`.
    ///
    /// `ratio` is clamped into `0..=1`; NaN becomes 0.
    #[must_use]
    pub const fn new(ratio: f64, seed: u64) -> Self {
        let ratio = if ratio.is_nan() { 0.0 } else { ratio.clamp(0.0, 1.0) };
        Self { ratio, seed }
    }

    /// The (clamped) ratio.
    #[must_use]
    pub const fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The seed.
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// Applies the jitter to `delay`, the delay before retry `attempt`: returns
    /// `delay * (1 - ratio * r)` with `r` in `[0, 1)` determined by `(seed, attempt)`.
    /// Never panics; the result is within `[delay * (1 - ratio), delay]`.
    #[must_use]
    pub fn apply(&self, delay: Duration, attempt: u32) -> Duration {
        let nanos = delay.as_nanos();
        if nanos == 0 || self.ratio <= 0.0 {
            return delay;
        }
        let r = unit_f64(splitmix64(splitmix64(self.seed) ^ u64::from(attempt)));
        // Precision loss is fine: the cut is clamped into `[0, delay * ratio]` below.
        #[allow(clippy::cast_precision_loss)]
        let nanos_f = nanos as f64;
        // Float-to-int `as` casts saturate (negative and NaN give 0): they cannot overflow,
        // and both products are non-negative (`ratio` and `r` are in `[0, 1]`).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (max_cut, cut) = ((nanos_f * self.ratio) as u128, (nanos_f * self.ratio * r) as u128);
        let cut = cut.min(max_cut).min(nanos);
        nanos_to_duration(nanos.saturating_sub(cut))
    }
}

/// One `SplitMix64` step: a well-mixed 64-bit output for a 64-bit input.
const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps 64 random bits to `[0, 1)` (53 bits of precision).
fn unit_f64(bits: u64) -> f64 {
    // Exact: both values fit in the 53-bit mantissa.
    #[allow(clippy::cast_precision_loss)]
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    #[allow(clippy::cast_precision_loss)]
    let top = (bits >> 11) as f64;
    top * SCALE
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, clippy::indexing_slicing)]

    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults() {
        let p = RetryPolicy::new();
        assert_eq!(p.max_retries(), 3);
        assert_eq!(p.base_delay(), secs(1));
        assert_eq!(p.max_delay(), secs(30));
        assert_eq!(p.backoff(), Backoff::Exponential);
        assert!(p.jitter().is_none());
        assert!(!p.has_predicate());
        let d = RetryPolicy::default();
        assert_eq!(d.max_retries(), 3);
        assert_eq!(RetryPolicy::none().max_retries(), 0);
    }

    #[test]
    fn default_exponential_schedule() {
        let p = RetryPolicy::new();
        let got: Vec<Duration> = (0..=6).map(|a| p.delay(a)).collect();
        assert_eq!(got, [secs(1), secs(2), secs(4), secs(8), secs(16), secs(30), secs(30)]);
    }

    #[test]
    fn huge_attempts_and_durations_do_not_panic() {
        let p = RetryPolicy::new();
        assert_eq!(p.delay(u32::MAX), secs(30));
        for a in [31, 32, 63, 64, 65, 127, 128, 129, 1000, u32::MAX] {
            assert_eq!(p.delay(a), secs(30));
        }
        let p = RetryPolicy::new().with_base_delay(Duration::MAX);
        assert_eq!(p.delay(0), secs(30));
        assert_eq!(p.delay(u32::MAX), secs(30));
        let p = RetryPolicy::new().with_base_delay(Duration::MAX).with_max_delay(Duration::MAX);
        assert_eq!(p.delay(0), Duration::MAX);
        assert_eq!(p.delay(1), Duration::MAX);
        assert_eq!(p.delay(u32::MAX), Duration::MAX);
        let p = RetryPolicy::new().with_base_delay(Duration::from_nanos(1)).with_max_delay(Duration::MAX);
        assert_eq!(p.delay(10), Duration::from_nanos(1024));
        assert_eq!(p.delay(127), Duration::MAX);
        assert_eq!(p.delay(u32::MAX), Duration::MAX);
        let p = p.with_jitter(Jitter::new(1.0, 7)).with_base_delay(Duration::MAX);
        assert!(p.delay(u32::MAX) <= Duration::MAX);
        let p = RetryPolicy::new().with_base_delay(Duration::MAX).with_max_delay(Duration::MAX).linear();
        assert_eq!(p.delay(u32::MAX), Duration::MAX);
    }

    #[test]
    fn zero_base_is_zero() {
        let p = RetryPolicy::new().with_base_delay(Duration::ZERO);
        assert_eq!(p.delay(0), Duration::ZERO);
        assert_eq!(p.delay(u32::MAX), Duration::ZERO);
        assert_eq!(p.linear().delay(5), Duration::ZERO);
    }

    #[test]
    fn sub_second_precision() {
        let p = RetryPolicy::new().with_base_delay(Duration::new(1, 500_000_001)).with_max_delay(Duration::MAX);
        assert_eq!(p.delay(1), Duration::new(3, 2));
    }

    #[test]
    fn linear_is_constant_and_capped() {
        let p = RetryPolicy::new().linear().with_base_delay(secs(2));
        assert_eq!(p.backoff(), Backoff::Linear);
        for a in [0, 1, 5, u32::MAX] {
            assert_eq!(p.delay(a), secs(2));
        }
        let p = RetryPolicy::new().linear().with_base_delay(secs(10)).with_max_delay(secs(3));
        assert_eq!(p.delay(0), secs(3));
        assert_eq!(p.delay(9), secs(3));
        let p = p.exponential();
        assert_eq!(p.backoff(), Backoff::Exponential);
        assert_eq!(p.delay(0), secs(3));
        assert_eq!(RetryPolicy::new().with_backoff(Backoff::Linear).delay(4), secs(1));
    }

    #[test]
    fn should_retry_boundaries() {
        let e = JobError::msg("boom");
        let p = RetryPolicy::new();
        assert!(p.should_retry(&e, 0));
        assert!(p.should_retry(&e, 2));
        assert!(!p.should_retry(&e, 3));
        assert!(!p.should_retry(&e, u32::MAX));
        let none = RetryPolicy::none();
        assert!(!none.should_retry(&e, 0));
        assert!(!RetryPolicy::new().with_max_retries(0).should_retry(&e, 0));
        let many = RetryPolicy::new().with_max_retries(u32::MAX);
        assert!(many.should_retry(&e, u32::MAX - 1));
        assert!(!many.should_retry(&e, u32::MAX));
    }

    #[test]
    fn predicate_decides() {
        let p = RetryPolicy::new().retry_if(|e: &JobError| e.message().starts_with("transient"));
        assert!(p.has_predicate());
        assert!(p.should_retry(&JobError::msg("transient: io"), 0));
        assert!(!p.should_retry(&JobError::msg("permanent"), 0));
        assert!(!p.should_retry(&JobError::msg("transient: io"), 3));
        // Clones share the predicate.
        let q = p.clone();
        assert!(q.should_retry(&JobError::msg("transient"), 1));
        // Replacing the predicate.
        let q = q.retry_if(|_: &JobError| false);
        assert!(!q.should_retry(&JobError::msg("transient"), 1));
    }

    #[test]
    fn panics_are_never_retried() {
        let e = JobError::panicked("oops");
        assert!(!RetryPolicy::new().should_retry(&e, 0));
        let p = RetryPolicy::new().retry_if(|_: &JobError| true);
        assert!(!p.should_retry(&e, 0));
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        for ratio in [0.0, 0.1, 0.5, 0.9, 1.0] {
            for seed in [0u64, 1, 42, u64::MAX] {
                let plain = RetryPolicy::new().with_max_retries(10);
                let p = plain.clone().with_jitter(Jitter::new(ratio, seed));
                let same = plain.clone().with_jitter(Jitter::new(ratio, seed));
                for a in 0..12 {
                    let d = plain.delay(a);
                    let j = p.delay(a);
                    assert_eq!(j, same.delay(a));
                    assert!(j <= d, "{j:?} > {d:?}");
                    assert!(j <= p.max_delay());
                    let low = d.as_secs_f64() * (1.0 - ratio);
                    assert!(j.as_secs_f64() >= low - 1e-9, "{j:?} < {low}");
                }
            }
        }
    }

    #[test]
    fn jitter_varies_with_seed_and_attempt() {
        let a = RetryPolicy::new().linear().with_jitter(Jitter::new(1.0, 1));
        let b = RetryPolicy::new().linear().with_jitter(Jitter::new(1.0, 2));
        let da: Vec<Duration> = (0..8).map(|i| a.delay(i)).collect();
        let db: Vec<Duration> = (0..8).map(|i| b.delay(i)).collect();
        assert_ne!(da, db);
        assert!(da.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn jitter_ratio_is_clamped() {
        assert_eq!(Jitter::new(f64::NAN, 0).ratio(), 0.0);
        assert_eq!(Jitter::new(-3.0, 0).ratio(), 0.0);
        assert_eq!(Jitter::new(7.0, 0).ratio(), 1.0);
        assert_eq!(Jitter::new(f64::INFINITY, 0).ratio(), 1.0);
        assert_eq!(Jitter::new(f64::NEG_INFINITY, 0).ratio(), 0.0);
        assert_eq!(Jitter::new(0.25, 9).seed(), 9);
        let j = Jitter::new(f64::NAN, 5);
        assert_eq!(j.apply(secs(4), 3), secs(4));
        assert_eq!(Jitter::new(1.0, 5).apply(Duration::ZERO, 3), Duration::ZERO);
        assert!(Jitter::new(1.0, 5).apply(Duration::MAX, u32::MAX) <= Duration::MAX);
    }

    #[test]
    fn debug_shows_predicate_and_jitter() {
        let p = RetryPolicy::new();
        let s = format!("{p:?}");
        assert!(s.contains("has_predicate: false"), "{s}");
        assert!(s.contains("jitter: None"), "{s}");
        assert!(s.contains("budget: None"), "{s}");
        let p = p.retry_if(|_: &JobError| true).with_jitter(Jitter::new(0.5, 1));
        let s = format!("{p:?}");
        assert!(s.contains("has_predicate: true"), "{s}");
        assert!(s.contains("jitter: Some(Jitter"), "{s}");
    }
}
