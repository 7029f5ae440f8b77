//! The smallest complete orchestrator: a counter whose changes are saved by a (simulated)
//! server. A command becomes a job, the job's result becomes a new state, and the "UI"
//! renders every state it sees.
//!
//! Run it from the repository root with `cargo run --example counter`.

use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::tokio::{self as rt, TokioRuntime};
use orchestrator_std::{
    AsyncState, Context, DispatchError, Event, Executor, FlowPolicy, Job, JobBuilder, JobContext, JobError,
    Orchestrator,
};

/// The job: ask the server to add `by` to `current`.
struct Add {
    current: i64,
    by: i64,
}

impl Job for Add {
    type Output = i64;
    // One save at a time: a click while a save runs is refused (`DispatchError::Busy`).
    fn configure(job: JobBuilder<Self>) -> JobBuilder<Self> {
        job.flow(FlowPolicy::drop_while_busy())
    }
}

/// The business logic: a server 20 ms away that refuses to overflow.
struct Server;

impl Executor<Add> for Server {
    async fn process(&self, job: &Add, _ctx: &JobContext) -> Result<i64, JobError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        job.current.checked_add(job.by).ok_or_else(|| JobError::msg("the counter would overflow"))
    }
}

/// What the UI can ask for.
enum Command {
    Add(i64),
}

/// The state machine: it owns the state, turns commands into jobs and results into states.
struct Counter;

impl Orchestrator for Counter {
    type State = AsyncState<i64>;
    type Command = Command;

    fn handle(&mut self, Command::Add(by): Command, ctx: &mut Context<'_, Self>) {
        let current = ctx.state().data().copied().unwrap_or(0);
        match ctx.dispatch(Add { current, by }) {
            Ok(_) => ctx.update_state(|s| s.set_loading()),
            // A save is running: this click is dropped (the flow policy logged it).
            Err(DispatchError::Busy { .. }) => {}
            Err(e) => ctx.update_state(|s| s.set_failure(JobError::msg(e))),
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(&n) = event.data_as::<i64>() {
            ctx.update_state(|s| s.set_success(n));
        }
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(error) = event.error().cloned() {
            ctx.update_state(|s| s.set_failure(error)); // the last good count is kept
        }
    }
}

fn render(state: &AsyncState<i64>) -> String {
    let count = state.data().map_or("-".to_string(), i64::to_string);
    state.when(
        || "count: -".into(),
        |_| format!("count: {count} (saving…)"),
        |n| format!("count: {n}"),
        |e| format!("count: {count} (error: {e})"),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dispatcher = rt::dispatcher()?;
    dispatcher.register(Server);
    let counter = Counter.builder(AsyncState::new(), &dispatcher).spawn(&TokioRuntime::new())?;

    let mut states = counter.states(); // starts with the current state
    for by in [1, 2, i64::MAX] {
        println!("> add {by}");
        counter.send(Command::Add(by)).await?;
        while let Some(state) = states.next().await {
            println!("  {}", render(&state));
            if state.status().is_complete() {
                break;
            }
        }
    }

    counter.shutdown(); // running jobs would be cancelled; the state stream ends
    while states.next().await.is_some() {}
    println!("final {}", render(&counter.state()));
    println!("{:#?}", counter.stats());
    dispatcher.shutdown();
    Ok(())
}
