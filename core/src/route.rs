//! [`Route`]: the events of one orchestrator's own jobs, delivered straight to its host.
//!
//! Without routes every host would read the whole bus and look every event up in its
//! table of jobs, so each event would cost one wake-up and one lookup per orchestrator on
//! the bus: a UI with an orchestrator per screen or per row would pay for all of them on
//! every event. With a route, a job dispatched through a host's context carries the host's
//! route on its bus handle.
//!
//! A host starts out reading the whole bus, where it finds its own jobs' events too: its
//! route is *off* and costs an emit two atomic counts. Once the host no longer needs the
//! bus (its orchestrator ignores other jobs' events), it turns its route *direct*: from
//! then on each of its jobs' events is marked with the route's id and pushed into the
//! route as well as sent on the bus. The switch loses nothing: the host waits for the
//! emits that saw the route off (each is a few instructions between its check and its
//! send, never an `await`), reads the bus until it is drained of them, and only then
//! stops reading it. An event then costs one push per route it is marked for, whatever
//! the number of orchestrators.
//!
//! A route holds at most `capacity` events (the bus's capacity): a host that falls
//! further behind loses the oldest and is told how many ([`Lagged`]), exactly as with a
//! bus subscription, and recovers its jobs' outcomes from their handles.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use alloc::collections::VecDeque;
use core::task::{Context, Poll, Waker};

use crate::channel::Lagged;
use crate::event::Event;
use crate::sync::Mutex;

/// Ids of routes: 0 marks an event that was not routed.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

struct Inbox {
    events: VecDeque<Arc<Event>>,
    /// Events dropped to the capacity since the host last read.
    missed: u64,
    waker: Option<Waker>,
    /// The host is gone: later events are not kept.
    closed: bool,
}

/// One host's inbox for the events of the jobs it dispatched.
pub(crate) struct Route {
    id: usize,
    capacity: usize,
    inbox: Mutex<Inbox>,
    /// The host takes its jobs' events from here, not from the bus.
    direct: AtomicBool,
    /// Emits between their check of `direct` and their send on the bus.
    emitting: AtomicUsize,
}

/// An emit through a route, from its check of [`Route::direct`] to the end of its send
/// (see [`Route::begin_emit`]).
pub(crate) struct Emitting<'a> {
    route: &'a Route,
    /// The route was direct: the event must be marked and delivered.
    pub(crate) direct: bool,
}

impl Drop for Emitting<'_> {
    fn drop(&mut self) {
        self.route.emitting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl core::fmt::Debug for Route {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Route").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Route {
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        // Wraps only after `usize::MAX` routes; 0 is skipped.
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed).max(1);
        Arc::new(Self {
            id,
            capacity: capacity.max(1),
            inbox: Mutex::new(Inbox { events: VecDeque::new(), missed: 0, waker: None, closed: false }),
            direct: AtomicBool::new(false),
            emitting: AtomicUsize::new(0),
        })
    }

    /// Starts an emit: says whether the route is direct, and holds the host's switch to
    /// direct until the emit's send is done (the guard's drop).
    pub(crate) fn begin_emit(&self) -> Emitting<'_> {
        self.emitting.fetch_add(1, Ordering::SeqCst);
        Emitting { route: self, direct: self.direct.load(Ordering::SeqCst) }
    }

    /// The host takes its jobs' events from the route from now on. Returns once every
    /// emit that saw the route off has sent its event on the bus: the host then drains
    /// the bus of them before it stops reading it.
    pub(crate) fn go_direct(&self) {
        self.direct.store(true, Ordering::SeqCst);
        let mut spins = 0_u32;
        while self.emitting.load(Ordering::SeqCst) != 0 {
            // Another thread is between its check and its send (no `await` in between).
            spins = spins.wrapping_add(1);
            core::hint::spin_loop();
            #[cfg(feature = "std")]
            if spins % 64 == 0 {
                std::thread::yield_now();
            }
        }
    }

    /// The id the events of this route are marked with.
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Pushes an event for the host and wakes it. Beyond the capacity the oldest event is
    /// dropped and counted as missed.
    pub(crate) fn deliver(&self, event: Arc<Event>) {
        let (waker, dropped) = {
            let mut inbox = self.inbox.lock();
            if inbox.closed {
                return;
            }
            let dropped = if inbox.events.len() >= self.capacity {
                inbox.missed = inbox.missed.saturating_add(1);
                inbox.events.pop_front()
            } else {
                None
            };
            inbox.events.push_back(event);
            (inbox.waker.take(), dropped)
        };
        // Outside the lock: an event's payload is user data, and waking runs executor code.
        drop(dropped);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The next event, or the number of events lost since the last read; `Pending` (with
    /// the waker registered) when there is none.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Result<Arc<Event>, Lagged>> {
        let mut inbox = self.inbox.lock();
        if inbox.missed > 0 {
            let missed = core::mem::take(&mut inbox.missed);
            return Poll::Ready(Err(Lagged(missed)));
        }
        match inbox.events.pop_front() {
            Some(event) => Poll::Ready(Ok(event)),
            None => {
                match &mut inbox.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The host is gone: what is queued is dropped, later events are not kept.
    pub(crate) fn close(&self) {
        let (events, waker) = {
            let mut inbox = self.inbox.lock();
            inbox.closed = true;
            (core::mem::take(&mut inbox.events), inbox.waker.take())
        };
        drop((events, waker));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::job_id::JobId;

    fn event() -> Arc<Event> {
        Arc::new(Event::new(JobId::next("t"), "t", None, EventKind::Started))
    }

    fn poll(route: &Route) -> Poll<Result<Arc<Event>, Lagged>> {
        route.poll_next(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn events_come_out_in_order_then_pending() {
        let route = Route::new(4);
        let (a, b) = (event(), event());
        route.deliver(a.clone());
        route.deliver(b.clone());
        assert!(matches!(poll(&route), Poll::Ready(Ok(e)) if e.id() == a.id()));
        assert!(matches!(poll(&route), Poll::Ready(Ok(e)) if e.id() == b.id()));
        assert!(poll(&route).is_pending());
    }

    #[test]
    fn beyond_the_capacity_the_oldest_are_lost_and_counted() {
        let route = Route::new(2);
        let events: alloc::vec::Vec<_> = (0..5).map(|_| event()).collect();
        events.iter().for_each(|e| route.deliver(e.clone()));
        assert!(matches!(poll(&route), Poll::Ready(Err(Lagged(3)))));
        assert!(matches!(poll(&route), Poll::Ready(Ok(e)) if e.id() == events[3].id()));
        assert!(matches!(poll(&route), Poll::Ready(Ok(e)) if e.id() == events[4].id()));
    }

    #[test]
    fn a_closed_route_keeps_nothing() {
        let route = Route::new(2);
        route.deliver(event());
        route.close();
        route.deliver(event());
        assert!(poll(&route).is_pending());
        assert_ne!(Route::new(1).id(), route.id(), "ids are unique");
    }
}
