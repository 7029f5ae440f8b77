//! The clock and the timer: `embassy-time`.

use core::time::Duration;

use embassy_time::{Instant, TICK_HZ};
use orchestrator_core::BoxFuture;
use orchestrator_core::runtime::{Clock, Timer};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// [`Clock`] and [`Timer`] on `embassy-time`.
///
/// * [`Clock`]: `embassy_time::Instant::now()`, the time since the time driver started
///   (usually boot), at the driver's tick rate.
/// * [`Timer`]: `embassy_time::Timer::at`, woken by the driver's alarm. A sleep never ends
///   early: durations round up to whole ticks. A deadline beyond what the driver's 64-bit
///   tick counter can hold (`Duration::MAX`, or more than 584 000 years at 1 MHz) sleeps
///   forever, without panicking; dropping a sleep removes nothing but its own future.
///
/// ```
/// use core::time::Duration;
/// use orchestrator_core::runtime::{Clock, Timer};
/// use orchestrator_embassy::EmbassyTime;
///
/// let before = EmbassyTime.now();
/// futures::executor::block_on(EmbassyTime.sleep(Duration::from_millis(2)));
/// assert!(EmbassyTime.now() - before >= Duration::from_millis(2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmbassyTime;

impl Clock for EmbassyTime {
    fn now(&self) -> Duration {
        ticks_to_duration(Instant::now().as_ticks())
    }
}

impl Timer for EmbassyTime {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let deadline = duration_to_ticks(duration)
            .and_then(|ticks| Instant::now().checked_add(embassy_time::Duration::from_ticks(ticks)));
        match deadline {
            Some(deadline) => alloc::boxed::Box::pin(embassy_time::Timer::at(deadline)),
            None => alloc::boxed::Box::pin(core::future::pending()),
        }
    }
}

/// `ticks` of the driver as a `Duration`, exact to the nanosecond. Only `u64` arithmetic
/// by constants (a `u128` division costs kilobytes of flash on a Cortex-M): a remainder
/// below `TICK_HZ` times 10^9 fits in a `u64` for any tick rate up to 18 GHz.
fn ticks_to_duration(ticks: u64) -> Duration {
    let secs = ticks / TICK_HZ;
    let subsec_nanos = (ticks % TICK_HZ) * NANOS_PER_SEC / TICK_HZ;
    // Below 10^9, so it fits.
    Duration::new(secs, u32::try_from(subsec_nanos).unwrap_or(0))
}

/// `duration` in driver ticks, rounded up; `None` if it does not fit in a `u64`.
fn duration_to_ticks(duration: Duration) -> Option<u64> {
    let whole = duration.as_secs().checked_mul(TICK_HZ)?;
    let part = (u64::from(duration.subsec_nanos()) * TICK_HZ).div_ceil(NANOS_PER_SEC);
    whole.checked_add(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_up_and_saturate() {
        // The std driver ticks at 1 MHz.
        assert_eq!(TICK_HZ, 1_000_000);
        assert_eq!(duration_to_ticks(Duration::ZERO), Some(0));
        assert_eq!(duration_to_ticks(Duration::from_nanos(1)), Some(1));
        assert_eq!(duration_to_ticks(Duration::from_nanos(1_001)), Some(2));
        assert_eq!(duration_to_ticks(Duration::from_secs(3)), Some(3_000_000));
        assert_eq!(duration_to_ticks(Duration::MAX), None);
        assert_eq!(ticks_to_duration(1_500_000), Duration::from_millis(1_500));
        assert_eq!(ticks_to_duration(u64::MAX), Duration::from_micros(u64::MAX));
    }
}
