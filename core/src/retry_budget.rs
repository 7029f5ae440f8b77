//! [`RetryBudget`]: a limit on retries shared by many jobs, as a share of their recent
//! successes plus a fixed reserve per time window.
//!
//! A [`RetryPolicy`](crate::RetryPolicy) bounds the retries of *one* job. When a whole
//! dependency is down, every job fails and every job retries: the retries multiply the
//! load on whatever is failing, exactly when it can least take it (a "retry storm"). A
//! budget bounds the retries of *all* the jobs that share it: while most jobs succeed,
//! the few failures may retry freely; when most fail, retries dry up, and failing jobs
//! end at once with their last error instead of retrying.
//!
//! The design is that of the budget in Finagle and tower's `retry::budget`: every success
//! deposits a fraction of a retry, every retry withdraws a whole one, and a reserve lets a
//! few retries through even with no success at all (so a service that has just started,
//! or sees little traffic, can still retry). Deposits and withdrawals count for one time
//! window, then expire, so the budget follows recent traffic.

use crate::sync::Arc;
use alloc::boxed::Box;
use alloc::vec;
use core::fmt;
use core::time::Duration;

use crate::sync::Mutex;

/// Default of [`RetryBudgetBuilder::window`]: how long deposits and withdrawals count.
pub(crate) const DEFAULT_BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// Default of [`RetryBudgetBuilder::min_retries`]: retries allowed per window with no
/// success at all (10 per second over the default window, as tower's default).
pub(crate) const DEFAULT_BUDGET_MIN_RETRIES: u32 = 100;

/// Default of [`RetryBudgetBuilder::retry_percent`]: each success allows a fifth of a retry.
pub(crate) const DEFAULT_BUDGET_RETRY_PERCENT: u32 = 20;

/// Default of [`RetryBudgetBuilder::slots`]: how finely the window slides.
pub(crate) const DEFAULT_BUDGET_SLOTS: u32 = 10;

/// Most slots a budget may have ([`RetryBudgetBuilder::slots`] is clamped to it): each is
/// 8 bytes, allocated when the budget is built.
pub(crate) const MAX_BUDGET_SLOTS: u32 = 1024;

/// The cost of one retry, in the budget's units. A success deposits `retry_percent` units,
/// so integer arithmetic gives exact shares (no floating point on small targets).
const UNITS_PER_RETRY: i64 = 100;

/// A budget of retries shared by the jobs that use it.
///
/// * Each success of a job that may retry **deposits** [`retry_percent`] hundredths of a
///   retry; each retry **withdraws** one.
/// * A retry is allowed when the deposits minus the withdrawals of the last
///   [`window`], plus a reserve of [`min_retries`], cover it. So over any window, at most
///   about `min_retries + successes * retry_percent / 100` retries are made.
/// * The window slides in [`slots`] steps: what was deposited or withdrawn expires one
///   window later, a slot at a time.
///
/// A budget is a cheap handle: clones share the same account. Attach one to a policy with
/// [`RetryPolicy::budget`](crate::RetryPolicy::budget) (clone it into every policy that
/// should share it) or to every job of a dispatcher at once with
/// [`DispatcherBuilder::retry_budget`](crate::DispatcherBuilder::retry_budget). There is
/// none by default: a default budget would make existing jobs that retry end earlier.
///
/// When the budget refuses a retry, the job ends with
/// [`JobResult::Failure`](crate::JobResult::Failure) carrying its last error, marked
/// [`JobErrorKind::RetryBudgetExhausted`](crate::JobErrorKind::RetryBudgetExhausted); the
/// dispatcher counts it in
/// [`DispatcherStats::retries_refused`](crate::DispatcherStats::retries_refused) and logs
/// it at [`Level::Warning`](crate::log::Level::Warning).
///
/// # Time
///
/// The time is the dispatcher's timer ([`Clock::now`](crate::runtime::Clock::now)); the
/// methods here take it as an argument. A dispatcher **without a timer** (possible for
/// retries with a zero back-off) passes [`Duration::ZERO`] every time: the window then
/// never ends, so the reserve is spent once and only successes refill the budget. Share
/// one budget only between dispatchers on the same clock; a time earlier than one already
/// seen counts as no time passing.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::RetryBudget;
///
/// let budget = RetryBudget::builder()
///     .window(Duration::from_secs(10))
///     .min_retries(2)
///     .retry_percent(50)
///     .build();
/// let t = Duration::from_secs(1);
/// // The reserve: two retries with no success at all.
/// assert!(budget.try_withdraw(t));
/// assert!(budget.try_withdraw(t));
/// assert!(!budget.try_withdraw(t));
/// // Two successes pay for one more retry.
/// budget.deposit(t);
/// budget.deposit(t);
/// assert!(budget.try_withdraw(t));
/// assert!(!budget.try_withdraw(t));
/// // A window later, all of it has expired: the reserve is back.
/// assert_eq!(budget.available(t + Duration::from_secs(10)), 2);
/// ```
///
/// [`retry_percent`]: RetryBudgetBuilder::retry_percent
/// [`window`]: RetryBudgetBuilder::window
/// [`min_retries`]: RetryBudgetBuilder::min_retries
/// [`slots`]: RetryBudgetBuilder::slots
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    config: RetryBudgetBuilder,
    /// Each slot's length: `window / slots`, at least 1 ns.
    slot_len: Duration,
    /// The reserve, in units.
    reserve: i64,
    account: Mutex<Account>,
}

/// The budget's ring of slots. Critical sections are a few additions, never an await.
struct Account {
    /// Units deposited (+) and withdrawn (-) in each slot of the window.
    slots: Box<[i64]>,
    /// The slot of `current_start`, where deposits and withdrawals go now.
    current: usize,
    /// When the current slot began.
    current_start: Duration,
    /// The sum of `slots`, kept up to date so a withdrawal does not add them all.
    total: i64,
}

impl Account {
    /// Moves the window forward to `now`, emptying the slots that expired.
    fn roll(&mut self, now: Duration, slot_len: Duration) {
        // A clock behind the window (another clock, or a non-monotonic one) moves nothing.
        let Some(elapsed) = now.checked_sub(self.current_start) else { return };
        // In `u64` nanoseconds (584 years; an elapsed time beyond saturates, which empties
        // every slot as it should): 128-bit divisions cost a kilobyte of flash on 32-bit
        // microcontrollers.
        let slot_nanos = saturating_nanos(slot_len).max(1);
        let elapsed_nanos = saturating_nanos(elapsed);
        let steps = elapsed_nanos / slot_nanos;
        if steps == 0 {
            return;
        }
        let len = self.slots.len();
        match usize::try_from(steps) {
            Ok(steps) if steps < len => {
                for _ in 0..steps {
                    self.current = self.current.wrapping_add(1).checked_rem(len).unwrap_or(0);
                    if let Some(slot) = self.slots.get_mut(self.current) {
                        self.total = self.total.saturating_sub(*slot);
                        *slot = 0;
                    }
                }
            }
            _ => {
                self.slots.fill(0);
                self.total = 0;
            }
        }
        // The current slot is the one `now` falls in: `now` minus its offset into it.
        self.current_start = now.saturating_sub(Duration::from_nanos(elapsed_nanos % slot_nanos));
    }

    /// Adds `units` (negative: a withdrawal) to the current slot.
    fn add(&mut self, units: i64) {
        if let Some(slot) = self.slots.get_mut(self.current) {
            *slot = slot.saturating_add(units);
            self.total = self.total.saturating_add(units);
        }
    }
}

/// `duration` in nanoseconds, saturating at `u64::MAX` (about 584 years).
fn saturating_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("RetryBudget")
            .field("window", &c.window)
            .field("min_retries", &c.min_retries)
            .field("retry_percent", &c.retry_percent)
            .field("slots", &c.slots)
            .finish()
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryBudget {
    /// The default window: how long a deposit or a withdrawal counts.
    pub const DEFAULT_WINDOW: Duration = DEFAULT_BUDGET_WINDOW;
    /// The default reserve: retries allowed per window whatever the successes.
    pub const DEFAULT_MIN_RETRIES: u32 = DEFAULT_BUDGET_MIN_RETRIES;
    /// The default share of the successes that may be retried, in percent.
    pub const DEFAULT_RETRY_PERCENT: u32 = DEFAULT_BUDGET_RETRY_PERCENT;
    /// The default number of steps the window slides in.
    pub const DEFAULT_SLOTS: u32 = DEFAULT_BUDGET_SLOTS;
    /// The most steps a window may slide in.
    pub const MAX_SLOTS: u32 = MAX_BUDGET_SLOTS;

    /// A budget with the defaults: a [`RetryBudget::DEFAULT_WINDOW`] window,
    /// [`RetryBudget::DEFAULT_MIN_RETRIES`] retries of reserve per window,
    /// [`RetryBudget::DEFAULT_RETRY_PERCENT`] % of the successes, [`RetryBudget::DEFAULT_SLOTS`] slots.
    ///
    /// ```
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::new();
    /// assert_eq!(budget.available(core::time::Duration::ZERO), 100);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        RetryBudgetBuilder::new().build()
    }

    /// Configures a budget.
    ///
    /// ```
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::builder().min_retries(5).build();
    /// assert_eq!(budget.min_retries(), 5);
    /// ```
    pub const fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::new()
    }

    /// Records a success at time `now`: it allows [`retry_percent`](Self::retry_percent)
    /// hundredths of a retry until one window after `now`. The pipeline calls it when a
    /// job that may retry succeeds.
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::builder().min_retries(0).retry_percent(100).build();
    /// assert_eq!(budget.available(Duration::ZERO), 0);
    /// budget.deposit(Duration::ZERO);
    /// assert_eq!(budget.available(Duration::ZERO), 1);
    /// ```
    pub fn deposit(&self, now: Duration) {
        let inner = &*self.inner;
        let mut account = inner.account.lock();
        account.roll(now, inner.slot_len);
        account.add(i64::from(inner.config.retry_percent));
    }

    /// Asks for one retry at time `now`: `true` (and the retry is withdrawn) if the
    /// budget covers it, `false` (and nothing changes) if not. The pipeline calls it
    /// before every retry its policy allows.
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::builder().min_retries(1).build();
    /// assert!(budget.try_withdraw(Duration::ZERO));
    /// assert!(!budget.try_withdraw(Duration::ZERO));
    /// ```
    #[must_use = "a refused withdrawal means the retry must not happen"]
    pub fn try_withdraw(&self, now: Duration) -> bool {
        let inner = &*self.inner;
        let mut account = inner.account.lock();
        account.roll(now, inner.slot_len);
        if account.total.saturating_add(inner.reserve) < UNITS_PER_RETRY {
            return false;
        }
        account.add(-UNITS_PER_RETRY);
        true
    }

    /// How many retries the budget would allow at time `now` (with no deposit before
    /// them).
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::builder().min_retries(3).build();
    /// assert!(budget.try_withdraw(Duration::ZERO));
    /// assert_eq!(budget.available(Duration::ZERO), 2);
    /// ```
    #[must_use]
    pub fn available(&self, now: Duration) -> u32 {
        let inner = &*self.inner;
        let mut account = inner.account.lock();
        account.roll(now, inner.slot_len);
        let retries = account.total.saturating_add(inner.reserve).max(0) / UNITS_PER_RETRY;
        u32::try_from(retries).unwrap_or(u32::MAX)
    }

    /// How long deposits and withdrawals count.
    #[must_use]
    pub fn window(&self) -> Duration {
        self.inner.config.window
    }

    /// Retries allowed per window with no success at all.
    #[must_use]
    pub fn min_retries(&self) -> u32 {
        self.inner.config.min_retries
    }

    /// Hundredths of a retry each success allows.
    #[must_use]
    pub fn retry_percent(&self) -> u32 {
        self.inner.config.retry_percent
    }

    /// The number of steps the window slides in.
    #[must_use]
    pub fn slots(&self) -> u32 {
        self.inner.config.slots
    }

    /// True when both handles share one account.
    ///
    /// ```
    /// use orchestrator_core::RetryBudget;
    /// let budget = RetryBudget::new();
    /// assert!(budget.ptr_eq(&budget.clone()));
    /// assert!(!budget.ptr_eq(&RetryBudget::new()));
    /// ```
    #[must_use]
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Configures a [`RetryBudget`]. Every setting has a default (the `RetryBudget::DEFAULT_*`
/// constants) and accepts any value; out-of-range values are clamped as documented.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::RetryBudget;
/// let budget = RetryBudget::builder()
///     .window(Duration::from_secs(60))
///     .min_retries(10)
///     .retry_percent(10)
///     .slots(6)
///     .build();
/// assert_eq!(budget.window(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RetryBudgetBuilder {
    window: Duration,
    min_retries: u32,
    retry_percent: u32,
    slots: u32,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryBudgetBuilder {
    /// The defaults (see [`RetryBudget::new`]).
    pub const fn new() -> Self {
        Self {
            window: DEFAULT_BUDGET_WINDOW,
            min_retries: DEFAULT_BUDGET_MIN_RETRIES,
            retry_percent: DEFAULT_BUDGET_RETRY_PERCENT,
            slots: DEFAULT_BUDGET_SLOTS,
        }
    }

    /// How long a deposit or a withdrawal counts (default [`RetryBudget::DEFAULT_WINDOW`]).
    /// Longer windows smooth out bursts; shorter ones react faster. The window is cut
    /// into [`slots`](Self::slots) of at least a nanosecond (so a zero window is one
    /// nanosecond per slot).
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Retries allowed per window with no success at all (default
    /// [`RetryBudget::DEFAULT_MIN_RETRIES`]; 0: only successes allow retries).
    pub const fn min_retries(mut self, retries: u32) -> Self {
        self.min_retries = retries;
        self
    }

    /// Hundredths of a retry each success allows (default
    /// [`RetryBudget::DEFAULT_RETRY_PERCENT`]): 20 lets retries add at most 20 % to the
    /// successful load, 100 one retry per success, 300 three. 0: only the reserve.
    pub const fn retry_percent(mut self, percent: u32) -> Self {
        self.retry_percent = percent;
        self
    }

    /// How many steps the window slides in (default [`RetryBudget::DEFAULT_SLOTS`], clamped
    /// into `1..=`[`RetryBudget::MAX_SLOTS`]). A deposit expires between `window - window /
    /// slots` and `window` after it was made; 1 slot makes the window tumble instead of
    /// slide.
    pub const fn slots(mut self, slots: u32) -> Self {
        self.slots = if slots == 0 {
            1
        } else if slots > MAX_BUDGET_SLOTS {
            MAX_BUDGET_SLOTS
        } else {
            slots
        };
        self
    }

    /// Builds the budget (allocates its slots: 8 bytes each).
    pub fn build(self) -> RetryBudget {
        // `slots` is in `1..=MAX_BUDGET_SLOTS` (see `slots`).
        let slot_len = self.window.checked_div(self.slots).unwrap_or(self.window).max(Duration::from_nanos(1));
        let len = usize::try_from(self.slots).unwrap_or(1).max(1);
        RetryBudget {
            inner: Arc::new(Inner {
                config: self,
                slot_len,
                reserve: i64::from(self.min_retries).saturating_mul(UNITS_PER_RETRY),
                account: Mutex::new(Account {
                    slots: vec![0; len].into_boxed_slice(),
                    current: 0,
                    current_start: Duration::ZERO,
                    total: 0,
                }),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

    use super::*;
    use alloc::format;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    const fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn budget(min: u32, percent: u32) -> RetryBudget {
        RetryBudget::builder().window(secs(10)).min_retries(min).retry_percent(percent).build()
    }

    /// Withdraws until refused; returns how many were allowed.
    fn drain(budget: &RetryBudget, now: Duration) -> u32 {
        let mut n = 0;
        while budget.try_withdraw(now) {
            n += 1;
            assert!(n < 1_000_000, "the budget never refuses");
        }
        n
    }

    #[test]
    fn defaults() {
        let b = RetryBudget::new();
        assert_eq!(b.window(), secs(10));
        assert_eq!(b.min_retries(), 100);
        assert_eq!(b.retry_percent(), 20);
        assert_eq!(b.slots(), 10);
        assert_eq!(b.available(Duration::ZERO), 100);
        assert_eq!(RetryBudgetBuilder::default(), RetryBudget::builder());
    }

    #[test]
    fn the_reserve_alone_allows_min_retries_per_window() {
        let b = budget(3, 0);
        assert_eq!(drain(&b, secs(1)), 3);
        // Deposits add nothing at 0 %.
        b.deposit(secs(1));
        assert!(!b.try_withdraw(secs(1)));
        assert_eq!(budget(0, 0).available(Duration::ZERO), 0);
    }

    #[test]
    fn successes_pay_for_their_share_of_retries() {
        let b = budget(0, 20);
        for _ in 0..4 {
            b.deposit(secs(1));
        }
        // 4 × 20 % = 0.8 retry: not enough.
        assert!(!b.try_withdraw(secs(1)));
        b.deposit(secs(1));
        assert!(b.try_withdraw(secs(1)));
        assert!(!b.try_withdraw(secs(1)));

        // Above 100 %: one success, three retries.
        let b = budget(0, 300);
        b.deposit(Duration::ZERO);
        assert_eq!(drain(&b, Duration::ZERO), 3);

        // Reserve and share add up.
        let b = budget(2, 50);
        for _ in 0..10 {
            b.deposit(Duration::ZERO);
        }
        assert_eq!(b.available(Duration::ZERO), 7);
        assert_eq!(drain(&b, Duration::ZERO), 7);
    }

    #[test]
    fn a_refused_withdrawal_changes_nothing() {
        let b = budget(1, 100);
        assert!(b.try_withdraw(Duration::ZERO));
        for _ in 0..5 {
            assert!(!b.try_withdraw(Duration::ZERO));
        }
        // Had the refusals been recorded, one success would not be enough.
        b.deposit(Duration::ZERO);
        assert!(b.try_withdraw(Duration::ZERO));
    }

    #[test]
    fn withdrawals_expire_one_window_later() {
        let b = budget(2, 0);
        assert_eq!(drain(&b, secs(3)), 2);
        // Still inside the window (slots of 1 s: the 3 s slot expires at 13 s).
        assert_eq!(b.available(secs(12)), 0);
        assert_eq!(b.available(millis(12_999)), 0);
        assert_eq!(b.available(secs(13)), 2);
        assert_eq!(drain(&b, secs(13)), 2);
    }

    #[test]
    fn deposits_expire_one_window_later() {
        let b = budget(0, 100);
        b.deposit(secs(1));
        b.deposit(secs(5));
        assert_eq!(b.available(secs(5)), 2);
        assert_eq!(b.available(secs(11)), 1, "the 1 s deposit expired");
        assert_eq!(b.available(secs(15)), 0, "the 5 s deposit expired");
    }

    #[test]
    fn the_window_slides_slot_by_slot() {
        let b = budget(0, 100);
        // One deposit in each of ten 1 s slots.
        for s in 0..10 {
            b.deposit(secs(s));
        }
        assert_eq!(b.available(millis(9_999)), 10);
        for s in 10..20 {
            assert_eq!(b.available(secs(s)), u32::try_from(19 - s).unwrap(), "at {s} s");
        }
        // A jump far ahead empties everything at once.
        b.deposit(secs(25));
        assert_eq!(b.available(secs(1_000_000)), 0);
    }

    #[test]
    fn one_slot_tumbles() {
        let b = RetryBudget::builder().window(secs(10)).min_retries(0).retry_percent(100).slots(1).build();
        b.deposit(secs(1));
        b.deposit(millis(9_999));
        assert_eq!(b.available(millis(9_999)), 2);
        assert_eq!(b.available(secs(10)), 0, "both expire when the window turns over");
    }

    #[test]
    fn a_withdrawal_made_against_the_reserve_keeps_counting_after_deposits() {
        // Spent reserve is paid back by later successes before they allow new retries.
        let b = budget(1, 100);
        assert!(b.try_withdraw(secs(1)));
        b.deposit(secs(2));
        assert_eq!(b.available(secs(2)), 1);
        // Once the withdrawal expires (at 11 s), only the deposit and the reserve are left.
        assert_eq!(b.available(secs(11)), 2);
        assert_eq!(b.available(secs(12)), 1);
    }

    #[test]
    fn a_clock_going_backwards_counts_as_no_time() {
        let b = budget(1, 0);
        assert!(b.try_withdraw(secs(100)));
        assert!(!b.try_withdraw(secs(5)));
        assert_eq!(b.available(secs(50)), 0);
        assert_eq!(b.available(secs(110)), 1);
    }

    #[test]
    fn frozen_time_never_rolls_the_window() {
        // What a dispatcher without a timer does: always `Duration::ZERO`.
        let b = budget(2, 50);
        assert_eq!(drain(&b, Duration::ZERO), 2);
        b.deposit(Duration::ZERO);
        b.deposit(Duration::ZERO);
        assert_eq!(drain(&b, Duration::ZERO), 1);
        assert_eq!(b.available(Duration::ZERO), 0);
    }

    #[test]
    fn clones_share_one_account() {
        let a = budget(2, 0);
        let b = a.clone();
        assert!(a.try_withdraw(Duration::ZERO));
        assert!(b.try_withdraw(Duration::ZERO));
        assert!(!a.try_withdraw(Duration::ZERO));
        assert!(a.ptr_eq(&b));
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        for window in [Duration::ZERO, Duration::from_nanos(1), secs(1), Duration::MAX] {
            for slots in [0, 1, 7, MAX_BUDGET_SLOTS, u32::MAX] {
                for (min, percent) in [(0, 0), (u32::MAX, u32::MAX), (1, 1)] {
                    let b = RetryBudget::builder()
                        .window(window)
                        .slots(slots)
                        .min_retries(min)
                        .retry_percent(percent)
                        .build();
                    assert!((1..=MAX_BUDGET_SLOTS).contains(&b.slots()));
                    for now in [Duration::ZERO, Duration::from_nanos(1), secs(1), Duration::MAX, secs(3)] {
                        b.deposit(now);
                        let _ = b.try_withdraw(now);
                        let _ = b.available(now);
                    }
                }
            }
        }
        // Saturating, not wrapping: a huge reserve and huge deposits stay huge.
        let b = RetryBudget::builder().min_retries(u32::MAX).retry_percent(u32::MAX).build();
        for _ in 0..10 {
            b.deposit(Duration::ZERO);
        }
        assert_eq!(b.available(Duration::ZERO), u32::MAX);
    }

    #[test]
    fn a_zero_window_forgets_at_once() {
        let b = RetryBudget::builder().window(Duration::ZERO).min_retries(1).retry_percent(100).build();
        assert!(b.try_withdraw(secs(1)));
        assert!(!b.try_withdraw(secs(1)));
        // One slot-length (1 ns) later, everything has expired.
        let later = secs(1) + Duration::from_nanos(10);
        assert_eq!(b.available(later), 1);
    }

    #[test]
    fn debug_shows_the_settings() {
        let s = format!("{:?}", budget(3, 7));
        assert!(s.contains("min_retries: 3") && s.contains("retry_percent: 7"), "{s}");
    }
}
