//! [`Inputs`]: where a host's inputs come from, and in which order it takes them.
//!
//! A host has three sources:
//! * its [`Route`]: the events of the jobs it dispatched, delivered to it directly;
//! * its bus, read only while the orchestrator handles other jobs' events
//!   (`on_passive_event`); the events marked for its route are skipped there (it got them
//!   from the route). An orchestrator that does not is only woken when the bus closes;
//! * its command queue.
//!
//! Fairness: the route and the bus take turns; up to [`EVENTS_PER_COMMAND`] events, then
//! one command, so neither can starve
//! the other. A command's job emits at least two events (Started and its end), so reading
//! events faster than commands keeps the host from falling behind a burst of commands.
//! Budget: at most [`INPUTS_PER_TURN`] inputs per poll, then the host yields to its
//! executor, so a busy orchestrator cannot starve the other tasks of its thread.

use crate::sync::Arc;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;

use crate::bus::{Bus, BusCloseWatch, Lagged, Subscription};
use crate::event::Event;
use crate::route::Route;

/// How many inputs (commands or events) a host handles in one poll before it yields.
pub(crate) const INPUTS_PER_TURN: usize = 128;

/// Events a host takes, at most, for each command it takes.
pub(crate) const EVENTS_PER_COMMAND: usize = 4;

/// What a host does next.
pub(crate) enum Next<C> {
    /// Route this event.
    Event(Arc<Event>),
    /// Events were lost to a lag: of the host's own jobs (from its route), or of other
    /// jobs (from the bus).
    Lagged {
        missed: u64,
        own: bool,
    },
    Command(C),
    /// Nothing is ready; every source will wake the host.
    Idle,
    /// The turn's budget is spent: yield, and come back.
    Yield,
    /// The host must end.
    End(End),
}

/// Why a host ends on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The command queue is closed and drained (every handle gone, or `shutdown`).
    Shutdown,
    BusClosed,
}

/// How a host follows its bus.
enum BusInput {
    /// Reading every event (the orchestrator handles other jobs' events, or has not said
    /// it does not): its own jobs' events are among them.
    Reading(Subscription),
    /// Its route is direct: reading the bus only until it is drained of the own jobs'
    /// events emitted before the switch (those after it are marked, and skipped).
    Draining(Subscription),
    /// Only waiting for the bus to close.
    Watching(BusCloseWatch),
    /// The host ended.
    Gone,
}

/// A host's sources of inputs (see the module docs).
pub(crate) struct Inputs<C> {
    route: Arc<Route>,
    bus: BusInput,
    commands: Pin<alloc::boxed::Box<async_channel::Receiver<C>>>,
    /// Events taken since the last command.
    streak: usize,
    /// Inputs left in this turn.
    budget: usize,
    /// Which of the bus and the route is asked first for the next event (they take
    /// turns, so that neither starves the other).
    bus_first: bool,
    /// The watch of the bus's close, made when the host stops reading it.
    close_watch: Option<BusCloseWatch>,
    /// The command queue is closed and empty, and the host drains: it is not asked again.
    commands_done: bool,
}

impl<C> Inputs<C> {
    pub(crate) fn new(route: Arc<Route>, events: Subscription, commands: async_channel::Receiver<C>) -> Self {
        Self {
            route,
            bus: BusInput::Reading(events),
            commands: alloc::boxed::Box::pin(commands),
            streak: 0,
            budget: INPUTS_PER_TURN,
            bus_first: false,
            close_watch: None,
            commands_done: false,
        }
    }

    /// A new poll of the host: a new budget.
    pub(crate) fn new_turn(&mut self) {
        self.budget = INPUTS_PER_TURN;
    }

    /// The next input, by the fairness rule of the module docs.
    pub(crate) fn next(&mut self, cx: &mut Context<'_>) -> Next<C> {
        if self.budget == 0 {
            return Next::Yield;
        }
        if self.streak < EVENTS_PER_COMMAND {
            if let Some(next) = self.next_event(cx) {
                self.take_one(true);
                return next;
            }
        }
        self.streak = 0;
        if !self.commands_done {
            match self.commands.as_mut().poll_next(cx) {
                Poll::Ready(Some(command)) => {
                    self.take_one(false);
                    return Next::Command(command);
                }
                Poll::Ready(None) => return Next::End(End::Shutdown),
                Poll::Pending => {}
            }
        }
        // No command: events the streak left waiting come next.
        match self.next_event(cx) {
            Some(next) => {
                self.take_one(true);
                next
            }
            None => Next::Idle,
        }
    }

    fn take_one(&mut self, event: bool) {
        self.budget = self.budget.saturating_sub(1);
        self.streak = if event { self.streak.saturating_add(1) } else { 0 };
    }

    /// The next event of the route or of the bus, taking them in turns; `None` when
    /// neither has one (both will wake the host).
    fn next_event(&mut self, cx: &mut Context<'_>) -> Option<Next<C>> {
        self.bus_first = !self.bus_first;
        if self.bus_first {
            self.next_on_bus(cx).or_else(|| self.next_on_route(cx))
        } else {
            self.next_on_route(cx).or_else(|| self.next_on_bus(cx))
        }
    }

    fn next_on_route(&mut self, cx: &mut Context<'_>) -> Option<Next<C>> {
        match self.route.poll_next(cx) {
            Poll::Ready(Ok(event)) => Some(Next::Event(event)),
            Poll::Ready(Err(Lagged(missed))) => Some(Next::Lagged { missed, own: true }),
            Poll::Pending => None,
        }
    }

    /// The next event of the bus that was not delivered through the route. Those that
    /// were are skipped here at no cost to the turn's budget, so that a host reading the
    /// bus keeps up with it however many of its events are its own.
    fn next_on_bus(&mut self, cx: &mut Context<'_>) -> Option<Next<C>> {
        match &mut self.bus {
            BusInput::Reading(events) | BusInput::Draining(events) => loop {
                match Pin::new(&mut *events).poll_next(cx) {
                    Poll::Ready(Some(Ok(event))) if event.route() == self.route.id() => {}
                    Poll::Ready(Some(Ok(event))) => return Some(Next::Event(event)),
                    // Own events may be among those lost: the route's recovery covers them.
                    Poll::Ready(Some(Err(Lagged(missed)))) => return Some(Next::Lagged { missed, own: true }),
                    Poll::Ready(None) => return Some(Next::End(End::BusClosed)),
                    Poll::Pending => break,
                }
            },
            BusInput::Watching(watch) => return watch.poll_closed(cx).is_ready().then_some(Next::End(End::BusClosed)),
            BusInput::Gone => return None,
        }
        // Drained: a draining host is done with the bus.
        if let BusInput::Draining(_) = &self.bus {
            if let Some(watch) = self.close_watch.take() {
                self.bus = BusInput::Watching(watch);
                return self.next_on_bus(cx);
            }
        }
        None
    }

    /// The orchestrator does not handle other jobs' events: stop reading the bus, only
    /// watch for its close.
    pub(crate) fn stop_reading(&mut self, bus: &Bus) {
        if !matches!(self.bus, BusInput::Reading(_)) {
            return;
        }
        if let BusInput::Reading(events) = core::mem::replace(&mut self.bus, BusInput::Gone) {
            self.route.go_direct();
            // Made now, so that a close between here and the end of the drain is seen.
            self.close_watch = Some(bus.watch_close());
            self.bus = BusInput::Draining(events);
        }
    }

    /// The host drains: its command queue is closed and empty; only events come now.
    pub(crate) fn commands_ended(&mut self) {
        self.commands_done = true;
    }

    /// True while the host reads every event of its bus.
    pub(crate) fn reads_bus(&self) -> bool {
        matches!(self.bus, BusInput::Reading(_))
    }

    /// The host ended: no more commands, events are dropped.
    pub(crate) fn close(&mut self) {
        self.commands.close();
        self.bus = BusInput::Gone;
        self.close_watch = None;
        self.route.close();
    }
}
