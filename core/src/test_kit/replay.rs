//! [`Replay`]: a recorded log of commands and events fed into an orchestrator, with no
//! executor, no runner and no clock running: the same inputs, the same states, every time.

use crate::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use hashbrown::HashMap;

use crate::dispatcher::Dispatcher;
use crate::error::JobError;
use crate::event::Event;
use crate::executor::{JobContext, executor_fn};
use crate::job::Job;
use crate::job_id::JobId;
use crate::orchestrator::{Host, Orchestrator, OrchestratorHandle, StartError};
use crate::runtime::VirtualClock;

/// Replays a recorded log (commands, and events as an
/// [`EventRecorder`](super::EventRecorder) kept them) into a fresh orchestrator, one input
/// at a time, synchronously: no executor runs, no runner, no time passes. Use it to turn
/// a state bug seen once into a test that reproduces it every time.
///
/// The jobs the orchestrator dispatches during the replay are queued on a dispatcher
/// that never runs them; their outcomes are the recorded events. A recorded event of a
/// job not seen before is matched to the oldest unmatched job of the same type that the
/// orchestrator dispatched in the replay, and from then on that job's events are routed
/// as its own (to `on_active_success` ...). Events of no such job are routed as other
/// jobs' (to `on_passive_event`). So record the orchestrator alone on its bus, or leave
/// other orchestrators' jobs of the same types out of the log.
///
/// Register every job type the orchestrator dispatches with [`job`](Self::job) (a
/// dispatch of an unregistered type fails as it would in production).
///
/// ```
/// use orchestrator_core::test_kit::Replay;
/// use orchestrator_core::{Context, Event, EventKind, Job, JobId, Orchestrator, Payload};
///
/// #[derive(Clone)]
/// struct Fetch;
/// impl Job for Fetch { type Output = u32; }
///
/// struct Total;
/// impl Orchestrator for Total {
///     type State = u32;
///     type Command = ();
///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) { let _ = ctx.dispatch(Fetch); }
///     fn on_active_success(&mut self, e: &Event, ctx: &mut Context<'_, Self>) {
///         let n = *e.data_or(&0); ctx.update_state(|s| *s += n);
///     }
/// }
///
/// // A log as an EventRecorder kept it (here written by hand).
/// let recorded = JobId::next("Fetch");
/// let success = Event::new(recorded, "Fetch", None, EventKind::Success(Payload::new(40_u32)));
///
/// let mut replay = Replay::new(Total, 2).unwrap().job::<Fetch>();
/// replay.command(()).event(&success);
/// assert_eq!(replay.states(), [42]);
/// ```
pub struct Replay<O: Orchestrator> {
    host: Host<O>,
    handle: OrchestratorHandle<O>,
    dispatcher: Dispatcher,
    /// Recorded job id → the replay's job id.
    matched: HashMap<JobId, JobId>,
    states: Vec<O::State>,
}

impl<O: Orchestrator> fmt::Debug for Replay<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("host", &self.host)
            .field("matched_jobs", &self.matched.len())
            .field("states", &self.states.len())
            .finish_non_exhaustive()
    }
}

impl<O: Orchestrator> Replay<O> {
    /// A replay of `orchestrator`, starting in `initial_state`, on a dispatcher of its
    /// own (with a virtual clock that never moves, so jobs with timeouts are accepted).
    ///
    /// # Errors
    ///
    /// [`StartError`] as [`OrchestratorBuilder::build`](crate::OrchestratorBuilder::build)
    /// gives it.
    pub fn new(orchestrator: O, initial_state: O::State) -> Result<Self, StartError> {
        // Without a spawner, building cannot fail.
        let dispatcher = Dispatcher::builder().timer(VirtualClock::new()).build().unwrap_or_default();
        let (host, handle) = orchestrator.start(initial_state, &dispatcher)?;
        handle.shared.keep_history();
        Ok(Self { host, handle, dispatcher, matched: HashMap::new(), states: Vec::new() })
    }

    /// Lets the orchestrator dispatch jobs of type `J` (they are queued, never run).
    pub fn job<J: Job + Clone + crate::MaybeSync>(self) -> Self {
        self.dispatcher.register(executor_fn(|_: J, _: JobContext| async {
            Err::<J::Output, _>(JobError::msg("replayed jobs do not run"))
        }));
        self
    }

    /// The dispatcher the orchestrator dispatches on (its jobs are never run).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Feeds a command, as if it had been sent to the orchestrator now.
    pub fn command(&mut self, command: O::Command) -> &mut Self {
        self.host.feed_command(command);
        self.collect();
        self
    }

    /// Feeds a recorded event, as if it had come from the bus now (its job matched to a
    /// job of the replay, see the type's docs).
    pub fn event(&mut self, event: &Event) -> &mut Self {
        let replayed = self.translate(event);
        self.host.feed_event(replayed.as_ref().unwrap_or(event));
        self.collect();
        self
    }

    /// Feeds recorded events in order (e.g. [`EventRecorder::events`](super::EventRecorder::events)).
    pub fn events<'e>(&mut self, events: impl IntoIterator<Item = &'e Arc<Event>>) -> &mut Self {
        for event in events {
            self.event(event);
        }
        self
    }

    /// Every state published so far, in order (the initial state is not one of them).
    pub fn states(&self) -> &[O::State] {
        &self.states
    }

    /// The current state.
    pub fn state(&self) -> O::State {
        self.handle.state()
    }

    /// True once the orchestrator has ended (a hook called
    /// [`Context::shutdown`](crate::Context::shutdown)); later inputs are ignored.
    pub fn is_finished(&self) -> bool {
        self.host.is_finished()
    }

    /// `event` with its id replaced by that of the replay's job it stands for, if any.
    fn translate(&mut self, event: &Event) -> Option<Event> {
        let recorded = event.id();
        let active = self.host.active_jobs();
        let target = match self.matched.get(&recorded) {
            Some(&id) => id,
            None => {
                let taken: Vec<JobId> = self.matched.values().copied().collect();
                let (id, ..) = active
                    .iter()
                    .filter(|(id, _, name)| *name == event.job_type() && !taken.contains(id))
                    .min_by_key(|(id, ..)| id.seq())?;
                self.matched.insert(recorded, *id);
                *id
            }
        };
        let type_id = active.iter().find(|(id, ..)| *id == target).map(|(_, type_id, _)| *type_id);
        Some(
            Event::new(target, event.job_type(), type_id, event.kind().clone())
                .at(event.time())
                .with_causal_depth(event.causal_depth()),
        )
    }

    fn collect(&mut self) {
        self.states.extend(self.handle.shared.take_history());
    }
}
