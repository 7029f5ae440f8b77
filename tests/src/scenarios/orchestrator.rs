//! Orchestrator routing: own jobs' events reach the active hooks, other jobs' results the
//! passive hook, nothing crosses buses, and a host that ends cancels its jobs.

use std::time::Duration;

use futures::StreamExt;
use orchestrator_core::SHUTDOWN_REASON;
use orchestrator_core::{
    Bus, Context, Event, EventKind, EventTag, JobBuilder, JobId, JobResult, Orchestrator, OrchestratorHandle,
    RetryPolicy,
};

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::tags_of;

/// What a [`Tracker`] is asked to do.
#[derive(Debug)]
pub enum Cmd {
    /// Dispatch a job that fails `fail_first` times (with enough 1 ms retries).
    Quick {
        /// Failures before the success.
        fail_first: u32,
    },
    /// Dispatch a job that never ends by itself, with an optional timeout.
    Forever {
        /// The job's timeout.
        timeout: Option<Duration>,
    },
    /// Cancel an active job.
    Cancel(JobId),
}

/// The state of a [`Tracker`]: every hook call, in order, with the id of the job it was
/// about.
pub type Log = Vec<(JobId, String)>;

/// An orchestrator that records which hook got which event.
#[derive(Debug, Default)]
pub struct Tracker;

fn push(ctx: &mut Context<'_, Tracker>, id: JobId, what: impl Into<String>) {
    let what = what.into();
    ctx.update_state(|log| log.push((id, what)));
}

impl Orchestrator for Tracker {
    type State = Log;
    type Command = Cmd;

    fn handle(&mut self, command: Cmd, ctx: &mut Context<'_, Self>) {
        let dispatched = match command {
            Cmd::Quick { fail_first } => ctx.dispatch(
                JobBuilder::new(Work::quick(fail_first))
                    .retry(RetryPolicy::new().with_max_retries(fail_first).with_base_delay(Duration::from_millis(1))),
            ),
            Cmd::Forever { timeout: Some(timeout) } => ctx.dispatch(JobBuilder::new(Work::forever()).timeout(timeout)),
            Cmd::Forever { timeout: None } => ctx.dispatch(Work::forever()),
            Cmd::Cancel(id) => {
                let cancelled = ctx.cancel_job(id);
                push(ctx, id, if cancelled { "cancel" } else { "cancel refused" });
                return;
            }
        };
        let id = dispatched.expect("Work is registered");
        let progress = ctx.job_progress(id);
        assert_eq!(progress, Some(0.0), "tracked before dispatch returns");
        push(ctx, id, "dispatched");
    }

    fn on_job_started(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        assert!(ctx.is_job_running(event.id()));
        push(ctx, event.id(), "started");
    }

    fn on_job_retrying(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        push(ctx, event.id(), "retrying");
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        assert!(event.data_as::<u32>().is_some());
        push(ctx, event.id(), "success");
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        push(ctx, event.id(), "failure");
    }

    fn on_active_cancelled(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        push(ctx, event.id(), "cancelled");
    }

    fn on_active_timeout(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        push(ctx, event.id(), "timed out");
    }

    fn on_active_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        // Inside the hooks of a terminal event the job still counts as running.
        assert!(ctx.is_job_running(event.id()));
        push(ctx, event.id(), format!("active {:?}", event.tag()));
    }

    fn on_passive_event(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        assert!(!ctx.is_job_running(event.id()));
        push(ctx, event.id(), format!("passive {:?}", event.tag()));
    }
}

/// The entries of `log` about job `id`.
fn entries(log: &Log, id: JobId) -> Vec<&str> {
    log.iter().filter(|(i, _)| *i == id).map(|(_, what)| what.as_str()).collect()
}

/// Waits until the tracker's state satisfies `done`, and returns it.
async fn wait_state(handle: &OrchestratorHandle<Tracker>, done: impl Fn(&Log) -> bool) -> Log {
    let mut states = handle.states();
    while let Some(log) = states.next().await {
        if done(&log) {
            return log;
        }
    }
    panic!("the host ended first; last state: {:?}", handle.state())
}

/// The id of the last job the tracker dispatched.
fn last_dispatched(log: &Log) -> JobId {
    log.iter().rev().find(|(_, what)| what == "dispatched").map(|(id, _)| *id).expect("a job was dispatched")
}

/// Sends `command` and waits until the log has an entry `what` (for the job the command
/// dispatched, or for `Cancel`'s job).
async fn command(handle: &OrchestratorHandle<Tracker>, command: Cmd, what: &str) -> (JobId, Log) {
    let known = handle.state().len();
    let target = match &command {
        Cmd::Cancel(id) => Some(*id),
        _ => None,
    };
    handle.send(command).await.expect("the host runs");
    let log = wait_state(handle, |log| {
        log.len() > known && {
            let id = target.unwrap_or_else(|| last_dispatched(log));
            entries(log, id).contains(&what)
        }
    })
    .await;
    (target.unwrap_or_else(|| last_dispatched(&log)), log)
}

/// Commands become jobs; each own job's Started / Retrying / terminal events reach the
/// matching active hooks in order (then `on_active_event`); a job dispatched by someone
/// else only reaches `on_passive_event` with its result; a cancelled and a timed-out own
/// job reach their hooks; when the host ends, its running jobs are cancelled.
pub fn orchestrator_routing<R: Runtime>(rt: &R) {
    let (dispatcher, _probe, mut rec) = setup(rt);
    let (host, handle) = Tracker.start(Log::new(), &dispatcher).unwrap();
    let script = async {
        let (retried, _) = command(&handle, Cmd::Quick { fail_first: 1 }, "active Success").await;

        // A job dispatched directly, not by the orchestrator.
        let foreign = dispatcher.dispatch(Work::quick(0)).unwrap();
        let foreign_id = foreign.id();
        assert!(foreign.await.is_success());
        wait_state(&handle, |log| !entries(log, foreign_id).is_empty()).await;

        let (timed_out, _) =
            command(&handle, Cmd::Forever { timeout: Some(Duration::from_millis(20)) }, "active TimedOut").await;

        let (cancelled, _) = command(&handle, Cmd::Forever { timeout: None }, "started").await;
        command(&handle, Cmd::Cancel(cancelled), "active Cancelled").await;

        // Still running when the host ends.
        let (left_running, log) = command(&handle, Cmd::Forever { timeout: None }, "started").await;
        assert!(handle.shutdown());
        (retried, foreign_id, timed_out, cancelled, left_running, log)
    };
    let (log, events) = rt.run(async {
        let ((), ids) = futures::join!(host, script);
        // The host has ended: the job it left running is being cancelled.
        (ids, rec.collect(rt, &dispatcher).await)
    });
    let (retried, foreign_id, timed_out, cancelled, left_running, log) = log;

    assert_eq!(entries(&log, retried), ["dispatched", "started", "retrying", "success", "active Success"]);
    assert_eq!(entries(&log, foreign_id), ["passive Success"], "a foreign job's Started is not routed");
    assert_eq!(entries(&log, timed_out), ["dispatched", "started", "timed out", "active TimedOut"]);
    assert_eq!(entries(&log, cancelled), ["dispatched", "started", "cancel", "cancelled", "active Cancelled"]);
    assert_eq!(entries(&log, left_running), ["dispatched", "started"]);
    let stats = handle.stats();
    assert_eq!(stats.commands, 5);
    assert_eq!(stats.hook_panics, 0);
    assert!(handle.is_finished());

    // The job left running was cancelled by the host as it ended.
    assert_eq!(tags_of(&events, left_running), [EventTag::Started, EventTag::Cancelled]);
    let last = events.iter().rfind(|e| e.id() == left_running).unwrap();
    assert!(matches!(last.kind(), EventKind::Cancelled { reason: Some(r) } if &**r == SHUTDOWN_REASON), "{last:?}");
}

/// Two orchestrators on different buses of one dispatcher never see each other's jobs,
/// while each sees its own.
pub fn orchestrator_isolation<R: Runtime>(rt: &R) {
    let (dispatcher, _probe, _) = setup(rt);
    let (host_a, a) = Tracker.start(Log::new(), &dispatcher).unwrap();
    let (host_b, b) = Tracker.builder(Log::new(), &dispatcher).bus(Bus::new()).build().unwrap();
    let script = async {
        let (job_a, _) = command(&a, Cmd::Quick { fail_first: 0 }, "active Success").await;
        let (job_b, _) = command(&b, Cmd::Quick { fail_first: 0 }, "active Success").await;
        // A job on A's bus, dispatched by nobody's orchestrator: passive for A only.
        let foreign = dispatcher.dispatch(Work::quick(0)).unwrap();
        let foreign_id = foreign.id();
        assert!(matches!(foreign.await, JobResult::Success(_)));
        wait_state(&a, |log| !entries(log, foreign_id).is_empty()).await;
        // B has handled everything on its bus once it answers one more command.
        let (job_b2, _) = command(&b, Cmd::Quick { fail_first: 0 }, "active Success").await;
        a.shutdown();
        b.shutdown();
        (job_a, job_b, job_b2, foreign_id)
    };
    let ((), (), (job_a, job_b, job_b2, foreign_id)) = rt.run(async { futures::join!(host_a, host_b, script) });
    let (log_a, log_b) = (a.state(), b.state());
    let own = ["dispatched", "started", "success", "active Success"];
    assert_eq!(entries(&log_a, job_a), own);
    assert_eq!(entries(&log_b, job_b), own);
    assert_eq!(entries(&log_b, job_b2), own);
    assert!(entries(&log_a, job_b).is_empty() && entries(&log_a, job_b2).is_empty(), "{log_a:?}");
    assert!(entries(&log_b, job_a).is_empty() && entries(&log_b, foreign_id).is_empty(), "{log_b:?}");
    assert_eq!(entries(&log_a, foreign_id), ["passive Success"]);
    assert_eq!((a.stats().hook_panics, b.stats().hook_panics), (0, 0));
}

/// An orchestrator that ignores other jobs' events.
#[derive(Debug, Default)]
pub struct Quiet;

impl Orchestrator for Quiet {
    type State = u32;
    type Command = ();

    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        ctx.update_state(|n| *n += 1);
    }
}

/// A host whose orchestrator ignores other jobs' events stops reading the bus after the
/// first such event (its own jobs' events would then come to it directly), and still ends
/// when the bus closes: it watches the close, whatever channel the bus runs on.
pub fn orchestrator_ends_with_its_bus<R: Runtime>(rt: &R) {
    let dispatcher = rt.dispatcher();
    let bus = dispatcher.bus().clone();
    let (host, handle) = Quiet.start(0, &dispatcher).unwrap();
    let script = async {
        // Started, it reads the bus.
        handle.send(()).await.unwrap();
        let mut states = handle.states();
        while states.next().await != Some(1) {}
        assert_eq!(bus.subscriber_count(), 1, "the host reads the bus");
        // An event of nobody's job: the host has no use for the bus and stops reading it.
        bus.emit(Event::custom("not ours", ())).unwrap();
        while bus.subscriber_count() > 0 {
            crate::util::yield_now().await;
            if bus.subscriber_count() > 0 {
                rt.sleep(Duration::from_millis(1)).await;
            }
        }
        assert!(!handle.is_finished());
        assert!(bus.close());
    };
    rt.run(async { futures::join!(host, script) });
    assert!(handle.is_finished(), "the closed bus ended the host");
}
