//! [`OrchestratorHandle`]: the outside world's end of an orchestrator.

use crate::sync::Arc;
use core::fmt;

use super::Orchestrator;
use super::reply::{AskError, Reply};
use super::stats::OrchestratorStats;
use super::watch::{Shared, StateStream};

/// A command could not be sent; the command is given back.
#[derive(Clone, PartialEq, Eq)]
pub enum SendError<C> {
    /// The command queue is full ([`OrchestratorHandle::try_send`] only; `send` waits).
    Full(C),
    /// The host has ended or is shutting down: it takes no more commands.
    Closed(C),
}

impl<C> SendError<C> {
    /// The command that was not sent.
    pub fn into_inner(self) -> C {
        match self {
            Self::Full(c) | Self::Closed(c) => c,
        }
    }

    /// True for [`SendError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<C> fmt::Debug for SendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<C> fmt::Display for SendError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the orchestrator's command queue is full"),
            Self::Closed(_) => f.write_str("the orchestrator has shut down"),
        }
    }
}

impl<C> core::error::Error for SendError<C> {}

impl<C: crate::MaybeSend + crate::MaybeSync + 'static> From<SendError<C>> for crate::JobError {
    fn from(error: SendError<C>) -> Self {
        Self::new(error)
    }
}

/// The outside world's end of an orchestrator: read its state, watch it, send it
/// commands, shut it down. Cheap to clone; every clone talks to the same host.
///
/// # Lifetime
///
/// The host ends when [`shutdown`](Self::shutdown) is called (after handling the commands
/// already queued), when its orchestrator calls
/// [`Context::shutdown`](crate::Context::shutdown), when its bus is closed, or when
/// **every handle has been dropped** (nobody could send it anything any more). When it
/// ends, or when the host future is dropped before that, it **cancels the jobs its
/// orchestrator still runs** (their futures are dropped; they end `Cancelled`), and the
/// state streams end. [`state`](Self::state) keeps returning the last state.
///
/// ```
/// use futures::StreamExt;
/// use orchestrator_core::{Context, Dispatcher, Orchestrator};
///
/// struct Counter;
/// impl Orchestrator for Counter {
///     type State = i64;
///     type Command = i64;
///     fn handle(&mut self, delta: i64, ctx: &mut Context<'_, Self>) {
///         ctx.update_state(|n| *n += delta);
///     }
/// }
///
/// let (host, handle) = Counter.start(0, &Dispatcher::new()).unwrap();
/// let watcher = handle.clone();
/// futures::executor::block_on(async move {
///     let script = async {
///         handle.send(2).await.unwrap();
///         handle.send(3).await.unwrap();
///         handle.shutdown(); // queued commands are still handled
///     };
///     let ((), (), seen) = futures::join!(host, script, watcher.states().collect::<Vec<_>>());
///     assert_eq!(seen.first(), Some(&0)); // the current state comes first
///     assert_eq!(seen.last(), Some(&5)); // and the latest one last
///     assert_eq!(watcher.state(), 5);
///     assert!(watcher.send(1).await.unwrap_err().is_closed());
/// });
/// ```
pub struct OrchestratorHandle<O: Orchestrator> {
    pub(crate) shared: Arc<Shared<O::State>>,
    pub(crate) commands: async_channel::Sender<O::Command>,
}

impl<O: Orchestrator> Clone for OrchestratorHandle<O> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone(), commands: self.commands.clone() }
    }
}

impl<O: Orchestrator> fmt::Debug for OrchestratorHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrchestratorHandle")
            .field("queued_commands", &self.commands.len())
            .field("closed", &self.is_closed())
            .field("stats", &self.stats())
            .finish()
    }
}

impl<O: Orchestrator> OrchestratorHandle<O> {
    /// The current state (a clone): the initial one until the host publishes another.
    pub fn state(&self) -> O::State {
        self.shared.state()
    }

    /// A stream of states that starts with the current one (see [`StateStream`] for the
    /// watch semantics: a slow watcher skips to the latest state).
    pub fn states(&self) -> StateStream<O::State> {
        StateStream::new(self.shared.clone())
    }

    /// Sends a command, waiting while the queue is full (back-pressure).
    ///
    /// # Errors
    ///
    /// [`SendError::Closed`] when the host has ended or is shutting down.
    pub async fn send(&self, command: O::Command) -> Result<(), SendError<O::Command>> {
        self.commands.send(command).await.map_err(|e| SendError::Closed(e.0))
    }

    /// Sends a command if there is room in the queue, without waiting.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] when the queue is full ([`OrchestratorBuilder::command_capacity`](crate::OrchestratorBuilder::command_capacity)),
    /// [`SendError::Closed`] when the host has ended or is shutting down.
    pub fn try_send(&self, command: O::Command) -> Result<(), SendError<O::Command>> {
        self.commands.try_send(command).map_err(|e| match e {
            async_channel::TrySendError::Full(c) => SendError::Full(c),
            async_channel::TrySendError::Closed(c) => SendError::Closed(c),
        })
    }

    /// Sends a request-reply command and waits for the answer: `make` builds the command
    /// around a [`Reply`], which the command handler answers with [`Reply::send`].
    ///
    /// ```
    /// use orchestrator_core::{Context, Dispatcher, Orchestrator, Reply};
    ///
    /// enum Command { Add(u32), Total(Reply<u32>) }
    ///
    /// struct Sum;
    /// impl Orchestrator for Sum {
    ///     type State = u32;
    ///     type Command = Command;
    ///     fn handle(&mut self, command: Command, ctx: &mut Context<'_, Self>) {
    ///         match command {
    ///             Command::Add(n) => ctx.update_state(|total| *total += n),
    ///             Command::Total(reply) => { reply.send(*ctx.state()); }
    ///         }
    ///     }
    /// }
    ///
    /// let (host, handle) = Sum.start(0, &Dispatcher::new()).unwrap();
    /// let total = futures::executor::block_on(async {
    ///     let ask = async {
    ///         handle.send(Command::Add(2)).await.unwrap();
    ///         handle.send(Command::Add(3)).await.unwrap();
    ///         let total = handle.ask(Command::Total).await;
    ///         handle.shutdown();
    ///         total
    ///     };
    ///     futures::join!(host, ask).1
    /// });
    /// assert_eq!(total, Ok(5));
    /// ```
    ///
    /// # Errors
    ///
    /// [`AskError::Closed`] when the host has ended or is shutting down;
    /// [`AskError::NoReply`] when the command was handled without an answer (its `Reply`
    /// dropped: forgotten, or the handler panicked).
    pub async fn ask<R>(&self, make: impl FnOnce(Reply<R>) -> O::Command) -> Result<R, AskError> {
        let (reply, answer) = Reply::new();
        self.commands.send(make(reply)).await.map_err(|_| AskError::Closed)?;
        answer.recv().await.map_err(|_| AskError::NoReply)
    }

    /// Asks the host to end: no more commands are accepted, those already queued are
    /// handled, then the host cancels its orchestrator's active jobs and ends. Returns
    /// `true` if this call started the shutdown.
    pub fn shutdown(&self) -> bool {
        self.commands.close()
    }

    /// Drains the host gracefully: no more commands are accepted (those already queued
    /// are handled), the orchestrator's active jobs run to their end with their events
    /// routed to the hooks as usual, then the host ends. Resolves once it has, with how
    /// many of the orchestrator's jobs ended on their own and how many the deadline
    /// cancelled.
    ///
    /// With a `deadline` (on the dispatcher's [timer](crate::DispatcherBuilder::timer),
    /// from the host's first turn after this call), the active jobs left when it passes,
    /// and those the hooks dispatch after it, are cancelled with
    /// [`DRAIN_DEADLINE_REASON`](crate::DRAIN_DEADLINE_REASON); the host ends once their
    /// terminal events have been routed. The host (and the dispatcher's runners) must be
    /// running meanwhile.
    ///
    /// # Errors
    ///
    /// [`DrainError::NoTimer`](crate::DrainError::NoTimer) with a deadline when the
    /// dispatcher has no timer (nothing is changed).
    ///
    /// ```
    /// use core::time::Duration;
    /// use orchestrator_core::{Context, Dispatcher, Job, Orchestrator, executor_fn};
    /// use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
    ///
    /// #[derive(Clone)]
    /// struct Nap(u64);
    /// impl Job for Nap { type Output = (); }
    ///
    /// struct Sleeper;
    /// impl Orchestrator for Sleeper {
    ///     type State = ();
    ///     type Command = u64;
    ///     fn handle(&mut self, secs: u64, ctx: &mut Context<'_, Self>) {
    ///         let _ = ctx.dispatch(Nap(secs));
    ///     }
    /// }
    ///
    /// let clock = VirtualClock::new();
    /// let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
    /// let timer = clock.clone();
    /// dispatcher.register(executor_fn(move |nap: Nap, _| {
    ///     let sleep = timer.sleep(Duration::from_secs(nap.0));
    ///     async move { sleep.await; Ok(()) }
    /// }));
    /// let (host, handle) = Sleeper.start((), &dispatcher).unwrap();
    /// handle.try_send(1).unwrap();
    /// handle.try_send(60).unwrap();
    /// let drain = handle.drain(Some(Duration::from_secs(5)));
    /// let report = run_virtual(&clock, async {
    ///     let drain = async { let report = drain.await; dispatcher.shutdown(); report };
    ///     futures::join!(drain, host, dispatcher.runner()).0
    /// }).unwrap().unwrap();
    /// assert_eq!((report.finished, report.cancelled), (1, 1));
    /// assert!(handle.is_finished());
    /// ```
    pub fn drain(&self, deadline: Option<core::time::Duration>) -> super::HostDrain {
        let commands = self.commands.clone();
        super::drain::start(
            self.shared.clone(),
            move || {
                commands.close();
            },
            deadline,
        )
    }

    /// True once the host ended, or a shutdown has started.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed() || self.shared.is_closed()
    }

    /// True once the host has ended (its state streams have ended or will end after the
    /// final state).
    pub fn is_finished(&self) -> bool {
        self.shared.is_closed()
    }

    /// Commands waiting in the queue.
    pub fn queued_commands(&self) -> usize {
        self.commands.len()
    }

    /// A snapshot of the host's counters.
    pub fn stats(&self) -> OrchestratorStats {
        self.shared.stats()
    }
}
