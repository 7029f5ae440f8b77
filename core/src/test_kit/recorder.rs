//! [`EventRecorder`]: every event of a bus, kept in order, with matchers.

use crate::sync::Arc;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::expect::{Expect, Mismatch};
use super::timeline;
use crate::bus::{Bus, BusClosed, Subscription, TryNextError};
use crate::event::{Event, EventTag};
use crate::job_id::JobId;
use crate::sync::Mutex;

struct Recording {
    subscription: Option<Subscription>,
    events: Vec<Arc<Event>>,
    lagged: u64,
}

impl Recording {
    /// Moves what the subscription holds into `events`.
    fn drain(&mut self) {
        let Some(subscription) = self.subscription.as_mut() else { return };
        loop {
            match subscription.try_next() {
                Ok(event) => self.events.push(event),
                Err(TryNextError::Lagged(n)) => self.lagged = self.lagged.saturating_add(n),
                Err(TryNextError::Empty) => return,
                Err(TryNextError::Closed) => {
                    self.subscription = None;
                    return;
                }
            }
        }
    }
}

/// Records every event of a bus, from its creation on, and checks them with [`Expect`]
/// matchers whose failure messages show the whole timeline.
///
/// A [`TestHarness`](super::TestHarness) records its dispatcher's bus (see
/// [`TestHarness::recorder`](super::TestHarness::recorder)). Clones share the record.
/// Events are taken from the bus whenever the recorder is read, and by the harness after
/// every round of polls; if it still falls more than the bus capacity behind, the lost
/// events are counted ([`lagged`](Self::lagged)) and shown in every timeline.
///
/// ```
/// use orchestrator_core::test_kit::{EventRecorder, Expect};
/// use orchestrator_core::{Bus, Event, EventTag};
///
/// let bus = Bus::new();
/// let recorder = EventRecorder::new(&bus).unwrap();
/// bus.emit(Event::custom("hello", 1_u8)).unwrap();
/// assert_eq!(recorder.tags(), [EventTag::Custom("hello")]);
/// recorder.assert(Expect::exactly_once(EventTag::Custom("hello")));
/// assert!(recorder.check(&Expect::contains(EventTag::Success)).is_err());
/// ```
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Mutex<Recording>>,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("EventRecorder").field("events", &inner.events.len()).field("lagged", &inner.lagged).finish()
    }
}

impl EventRecorder {
    /// Starts recording `bus`.
    ///
    /// # Errors
    ///
    /// [`BusClosed`] when the bus is closed.
    pub fn new(bus: &Bus) -> Result<Self, BusClosed> {
        let subscription = bus.subscribe()?;
        let recording = Recording { subscription: Some(subscription), events: Vec::new(), lagged: 0 };
        Ok(Self { inner: Arc::new(Mutex::new(recording)) })
    }

    /// A recorder of nothing (its bus was closed).
    pub(crate) fn closed() -> Self {
        Self { inner: Arc::new(Mutex::new(Recording { subscription: None, events: Vec::new(), lagged: 0 })) }
    }

    fn read<R>(&self, f: impl FnOnce(&Recording) -> R) -> R {
        let mut inner = self.inner.lock();
        inner.drain();
        f(&inner)
    }

    /// Takes what the bus holds now (the harness calls it after every round of polls).
    pub(crate) fn sync(&self) {
        self.inner.lock().drain();
    }

    /// Every event recorded, in order.
    pub fn events(&self) -> Vec<Arc<Event>> {
        self.read(|r| r.events.clone())
    }

    /// The tags of every event recorded, in order.
    pub fn tags(&self) -> Vec<EventTag> {
        self.read(|r| r.events.iter().map(|e| e.tag()).collect())
    }

    /// The tags of the events of job `id`, in order.
    pub fn job_tags(&self, id: JobId) -> Vec<EventTag> {
        self.read(|r| r.events.iter().filter(|e| e.id() == id).map(|e| e.tag()).collect())
    }

    /// The ids of the jobs seen, in the order of their first event, with their job type
    /// (custom events not sent by a job count too: their id is their own).
    pub fn jobs(&self) -> Vec<(JobId, &'static str)> {
        self.read(|r| {
            let mut jobs: Vec<(JobId, &'static str)> = Vec::new();
            for e in &r.events {
                if !jobs.iter().any(|(id, _)| *id == e.id()) {
                    jobs.push((e.id(), e.job_type()));
                }
            }
            jobs
        })
    }

    /// Events lost because the recorder fell more than the bus capacity behind.
    pub fn lagged(&self) -> u64 {
        self.read(|r| r.lagged)
    }

    /// The timeline: one line per event (virtual time, job, kind, detail).
    pub fn timeline(&self) -> String {
        self.read(|r| timeline::render(&r.events, r.lagged))
    }

    /// Checks `expect` against the events recorded so far.
    ///
    /// # Errors
    ///
    /// [`Mismatch`], whose `Display` says what was expected, what was found, and the
    /// timeline.
    pub fn check(&self, expect: &Expect) -> Result<(), Mismatch> {
        self.read(|r| expect.check(&r.events, r.lagged))
    }

    /// Asserts `expect`.
    ///
    /// # Panics
    ///
    /// When `expect` does not hold, with the [`Mismatch`] as the message (what was
    /// expected, what was found, the timeline). Meant for tests.
    #[track_caller]
    #[allow(clippy::panic)] // an assertion helper: failing the test is its purpose
    pub fn assert(&self, expect: Expect) {
        if let Err(mismatch) = self.check(&expect) {
            panic!("{mismatch}");
        }
    }
}
