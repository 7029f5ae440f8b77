//! The portable part of the embedded example: everything but the reset handler, the
//! allocator and the panic handler (in `main.rs`), so the same code runs on the device and
//! in a host test.
//!
//! * [`time::TickClock`]: the [`Clock`](orchestrator_core::runtime::Clock) and
//!   [`Timer`](orchestrator_core::runtime::Timer) the program supplies: a millisecond
//!   counter that an interrupt advances.
//! * [`block_on::block_on`]: a hand-written executor that idles between interrupts.
//! * [`run`]: a bus, a dispatcher with no spawner (its jobs are driven by
//!   [`Dispatcher::runner`]) and an orchestrator, all polled from one task.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block_on;
pub mod time;

use alloc::string::String;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use core::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join3;
use orchestrator_core::{
    AsyncState, Bus, Context, Dispatcher, Event, EventTag, Executor, Job, JobBuilder, JobContext, JobError, JobResult,
    Orchestrator, RetryPolicy,
};

use crate::time::TickClock;

/// Reads the temperature sensor, in tenths of a degree. The bus is flaky: the first attempt
/// gets a NACK and is retried after a back-off.
#[derive(Debug, Clone, Copy)]
pub struct ReadTemperature;
impl Job for ReadTemperature {
    type Output = i32;
}

struct TemperatureSensor;
impl Executor<ReadTemperature> for TemperatureSensor {
    async fn process(&self, _: &ReadTemperature, ctx: &JobContext) -> Result<i32, JobError> {
        if ctx.attempt() == 0 {
            return Err(JobError::msg("i2c: no acknowledge"));
        }
        // Four samples, 2 ms apart, averaged.
        let mut sum = 0;
        for (i, sample) in [215, 217, 216, 216].into_iter().enumerate() {
            TickClock.sleep_ms(2).await;
            sum += sample;
            let _ = ctx.step(u32::try_from(i).unwrap_or(0) + 1, 4, None);
        }
        Ok(sum / 4)
    }
}

/// Sends a reading over a radio that never answers: the job times out.
#[derive(Debug, Clone, Copy)]
pub struct Upload(pub i32);
impl Job for Upload {
    type Output = ();
}

struct Radio;
impl Executor<Upload> for Radio {
    async fn process(&self, _: &Upload, _: &JobContext) -> Result<(), JobError> {
        TickClock.sleep_ms(u64::MAX).await; // no answer, ever
        Ok(())
    }
}

/// A long blink sequence that the program cancels.
#[derive(Debug, Clone, Copy)]
pub struct Blink;
impl Job for Blink {
    type Output = u32;
}

struct Led;
impl Executor<Blink> for Led {
    async fn process(&self, _: &Blink, ctx: &JobContext) -> Result<u32, JobError> {
        let mut blinks = 0;
        while !ctx.is_cancelled() {
            TickClock.sleep_ms(100).await;
            blinks += 1;
        }
        Ok(blinks)
    }
}

/// The thermostat's state machine: `Measure` dispatches a reading, whose result becomes
/// the state.
#[derive(Debug, Default)]
pub struct Thermostat;

/// What the thermostat can be asked to do.
#[derive(Debug)]
pub enum Command {
    /// Read the sensor.
    Measure,
}

impl Orchestrator for Thermostat {
    type State = AsyncState<i32>;
    type Command = Command;

    fn handle(&mut self, command: Command, ctx: &mut Context<'_, Self>) {
        match command {
            Command::Measure => {
                let job = JobBuilder::new(ReadTemperature)
                    .timeout(Duration::from_millis(500))
                    .retry(RetryPolicy::new().with_max_retries(3).with_base_delay(Duration::from_millis(5)));
                match ctx.dispatch(job) {
                    Ok(_) => ctx.update_state(AsyncState::set_loading),
                    Err(error) => ctx.update_state(|s| s.set_failure(JobError::msg(error))),
                }
            }
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(&tenths) = event.data_as::<i32>() {
            ctx.update_state(|s| s.set_success(tenths));
        }
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let error = event.error().cloned().unwrap_or_else(|| JobError::msg("unknown failure"));
        ctx.update_state(|s| s.set_failure(error));
    }
}

/// What [`run`] observed.
#[derive(Debug)]
pub struct Report {
    /// The thermostat's final state.
    pub temperature: AsyncState<i32>,
    /// The upload's result (expected: timed out).
    pub upload: JobResult<()>,
    /// The blink job's result (expected: cancelled).
    pub blink: JobResult<u32>,
    /// Every event on the bus, in order.
    pub events: Vec<EventTag>,
    /// Milliseconds on the program's clock when everything had finished.
    pub elapsed_ms: u64,
    /// Jobs not finished at the end (expected: 0).
    pub pending_jobs: usize,
    /// Sleeps still registered with the clock at the end (expected: 0).
    pub pending_sleeps: usize,
}

impl Report {
    /// Checks the outcomes; `Err` names the first unexpected one.
    ///
    /// # Errors
    ///
    /// A description of what differs from the expected run.
    pub fn check(&self) -> Result<(), String> {
        use EventTag::*;
        let expect = |ok: bool, what: &str| if ok { Ok(()) } else { Err(String::from(what)) };
        expect(self.temperature.data() == Some(&216), "temperature is not 21.6")?;
        expect(self.temperature.status().is_success(), "thermostat state is not success")?;
        expect(self.upload.is_timed_out(), "upload did not time out")?;
        expect(self.blink.is_cancelled(), "blink was not cancelled")?;
        let count = |tag: EventTag| self.events.iter().filter(|t| **t == tag).count();
        expect(count(Started) == 3, "expected 3 Started events")?;
        expect(count(Retrying) == 1, "expected 1 Retrying event")?;
        expect(count(Progress) == 4, "expected 4 Progress events")?;
        let terminal = (count(Success), count(TimedOut), count(Cancelled), count(Failure));
        expect(terminal == (1, 1, 1, 0), "expected one Success, one TimedOut, one Cancelled")?;
        expect(self.pending_jobs == 0, "jobs left pending")?;
        expect(self.pending_sleeps == 0, "sleeps left registered")
    }
}

/// Builds a bus, a dispatcher (no spawner) and a thermostat, and runs a measurement, a
/// timed-out upload and a cancelled blink sequence to completion with `idle` between
/// interrupts (see [`block_on::block_on`]).
///
/// # Panics
///
/// Never on the expected path; the host test and the device check [`Report::check`].
pub fn run(idle: impl FnMut()) -> Report {
    // Small buffers: the defaults (1024 events, 256 commands, 1024 reusable job boxes) are
    // sized for servers.
    let bus = match NonZeroUsize::new(32).map(Bus::with_capacity) {
        Some(Ok(bus)) => bus,
        _ => unreachable!("32 events: not zero, below MAX_BUS_CAPACITY, 768 bytes of heap"),
    };
    let mut events = bus.subscribe().ok();
    let dispatcher = match Dispatcher::builder().bus(bus).timer(TickClock).reuse_limit(4).build() {
        Ok(dispatcher) => dispatcher,
        Err(_) => unreachable!("no spawner, so building cannot fail"),
    };
    dispatcher.register(TemperatureSensor);
    dispatcher.register(Radio);
    dispatcher.register(Led);

    let (host, thermostat) = match Thermostat.builder(AsyncState::new(), &dispatcher).command_capacity(4).build() {
        Ok(started) => started,
        Err(_) => unreachable!("the bus is open and 4 commands are below MAX_COMMAND_CAPACITY"),
    };
    // No spawner: this task drives the jobs.
    let runner = dispatcher.runner();

    let script = async {
        let mut states = thermostat.states();
        let _ = thermostat.send(Command::Measure).await;
        let mut temperature = AsyncState::new();
        while let Some(state) = states.next().await {
            if state.status().is_complete() {
                temperature = state;
                break;
            }
        }

        let upload = dispatcher.dispatch(JobBuilder::new(Upload(216)).timeout(Duration::from_millis(50)));
        let blink = dispatcher.dispatch(Blink);
        // Let the blinker run for a while, then cancel it.
        TickClock.sleep_ms(250).await;
        let blink = match blink {
            Ok(handle) => {
                handle.cancel();
                handle.await
            }
            Err(error) => JobResult::Failure(JobError::msg(error)),
        };
        let upload = match upload {
            Ok(handle) => handle.await,
            Err(error) => JobResult::Failure(JobError::msg(error)),
        };

        thermostat.shutdown();
        dispatcher.shutdown(); // the runner ends once its jobs are done
        (temperature, upload, blink)
    };

    let ((), (), (temperature, upload, blink)) = block_on::block_on(join3(host, runner, script), idle);

    let mut tags = Vec::new();
    if let Some(events) = events.as_mut() {
        while let Ok(event) = events.try_next() {
            tags.push(event.tag());
        }
    }
    Report {
        temperature,
        upload,
        blink,
        events: tags,
        elapsed_ms: time::now_ms(),
        pending_jobs: dispatcher.stats().pending,
        pending_sleeps: time::pending_sleeps(),
    }
}

impl TickClock {
    /// Sleeps `ms` milliseconds (`u64::MAX`: forever).
    pub fn sleep_ms(self, ms: u64) -> orchestrator_core::BoxFuture<'static, ()> {
        use orchestrator_core::runtime::Timer;
        self.sleep(Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    #[test]
    fn runs_on_the_host_with_a_manual_tick() {
        let report = super::run(|| crate::time::tick(1));
        std::println!("{report:#?}");
        assert_eq!(report.check(), Ok(()));
    }
}
