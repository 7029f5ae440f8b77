//! The smallest useful orchestrator program: one job type with a timeout and a retry, a
//! dispatcher on embassy, and an orchestrator whose state follows the job. It prints one
//! line and exits 0 if the job succeeded on its second attempt.
//!
//! Its text size is the one docs/portability.md tracks (`size` on the release build).
#![no_std]
#![no_main]

use core::num::NonZeroUsize;
use core::time::Duration;

use embassy_executor::Spawner;
use embassy_time::Timer;
use embedded_app::device;
use futures_util::StreamExt;
use orchestrator_core::{
    AsyncState, Bus, Context, Event, Executor, Job, JobBuilder, JobContext, JobError, Orchestrator, RetryPolicy,
};
use orchestrator_embassy::EmbassySpawner;

/// Reads a sensor; the first attempt fails.
struct Measure;
impl Job for Measure {
    type Output = u32;
}

struct Sensor;
impl Executor<Measure> for Sensor {
    async fn process(&self, _: &Measure, ctx: &JobContext) -> Result<u32, JobError> {
        if ctx.attempt() == 0 {
            return Err(JobError::msg("i2c: no acknowledge"));
        }
        Timer::after_millis(2).await;
        Ok(42)
    }
}

/// A screen showing the last reading.
struct Screen;
impl Orchestrator for Screen {
    type State = AsyncState<u32>;
    type Command = ();

    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        let job = JobBuilder::new(Measure)
            .timeout(Duration::from_millis(100))
            .retry(RetryPolicy::new().with_max_retries(2).with_base_delay(Duration::from_millis(5)));
        if ctx.dispatch(job).is_ok() {
            ctx.update_state(AsyncState::set_loading);
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(&value) = event.data_as::<u32>() {
            ctx.update_state(|s| s.set_success(value));
        }
    }
}

#[allow(unsafe_code)] // embassy's main macro: the executor's static memory
#[embassy_executor::main]
async fn main(spawner: Spawner) {
    device::init();
    let Some(Ok(bus)) = NonZeroUsize::new(16).map(Bus::with_capacity) else { device::exit(false) };
    let Ok(dispatcher) = orchestrator_embassy::dispatcher_builder(spawner).bus(bus).reuse_limit(1).build() else {
        device::exit(false)
    };
    dispatcher.register(Sensor);
    let Ok(screen) =
        Screen.builder(AsyncState::new(), &dispatcher).command_capacity(2).spawn(&EmbassySpawner::new(spawner))
    else {
        device::exit(false)
    };
    let mut states = screen.states();
    let _ = screen.send(()).await;
    while let Some(state) = states.next().await {
        if state.status().is_complete() {
            let ok = state.data() == Some(&42);
            device::print(if ok { "minimal: ok\n" } else { "minimal: FAILED\n" });
            device::exit(ok);
        }
    }
    device::exit(false)
}
