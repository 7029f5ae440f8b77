//! Small synchronisation helpers for the scenarios. None of them waits for a duration to
//! "let things happen": they wait for a fact (a latch opened, a counter reached, a marker
//! event received).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use futures::StreamExt;
use orchestrator_core::{Bus, Dispatcher, Event, EventTag, JobId, Lagged, Subscription};

use crate::runtime::Runtime;

/// A one-way gate: closed until [`open`](Self::open)ed, then open forever. Any number of
/// tasks, on any threads, can [`wait`](Self::wait) for it.
#[derive(Clone, Default)]
pub struct Latch(Arc<Mutex<LatchState>>);

#[derive(Default)]
struct LatchState {
    open: bool,
    wakers: Vec<Waker>,
}

impl std::fmt::Debug for Latch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latch").field("open", &self.is_open()).finish()
    }
}

impl Latch {
    /// A closed latch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the latch and wakes every waiter.
    pub fn open(&self) {
        let wakers = {
            let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            state.open = true;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// True once opened.
    pub fn is_open(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).open
    }

    /// Completes once the latch is open.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let latch = self.clone();
        std::future::poll_fn(move |cx| {
            let mut state = latch.0.lock().unwrap_or_else(PoisonError::into_inner);
            if state.open {
                return Poll::Ready(());
            }
            if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                state.wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
    }
}

/// Yields once to the executor (waking itself first, so every executor, the virtual-time
/// driver included, polls the task again).
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Waits until `dispatcher` has no unfinished job and no job left in a runner: every job
/// future has been dropped, so none of them can emit anything or make another attempt.
///
/// It checks the dispatcher's counters after a yield, then after short sleeps (1 ms): this
/// waits for a fact, not for time, and the runtime's watchdog ends it if the fact never
/// comes.
pub async fn settle<R: Runtime>(rt: &R, dispatcher: &Dispatcher) {
    for round in 0_u32.. {
        let stats = dispatcher.stats();
        if stats.pending == 0 && stats.running == 0 && stats.queued == 0 {
            return;
        }
        if round < 16 {
            yield_now().await;
        } else {
            rt.sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The name of the marker events [`Recorder::collect`] emits.
pub const MARKER: &str = "conformance-marker";

/// A subscription to a bus, read up to a marker event: everything emitted on the bus
/// before the marker, and nothing after.
#[derive(Debug)]
pub struct Recorder {
    bus: Bus,
    sub: Subscription,
}

impl Recorder {
    /// Subscribes to `bus`.
    pub fn new(bus: &Bus) -> Self {
        Self { bus: bus.clone(), sub: bus.subscribe().expect("the bus is open") }
    }

    /// Waits for the next event (panics on a lag or when the bus closed).
    pub async fn next(&mut self) -> Arc<Event> {
        match self.sub.next().await {
            Some(Ok(event)) => event,
            Some(Err(Lagged(n))) => panic!("the recorder lagged by {n} events"),
            None => panic!("the bus closed"),
        }
    }

    /// Waits for the next event of `id` with tag `tag`, returning it (the events skipped on
    /// the way are lost to [`collect`](Self::collect)).
    pub async fn wait_for(&mut self, id: JobId, tag: EventTag) -> Arc<Event> {
        loop {
            let event = self.next().await;
            if event.id() == id && event.tag() == tag {
                return event;
            }
        }
    }

    /// Waits until `dispatcher` has settled (see [`settle`]), then emits a marker on the
    /// bus and returns every event received before it. Since no job can emit after
    /// settling, this is everything the jobs ever emit (from now on), with no wait for time.
    pub async fn collect<R: Runtime>(&mut self, rt: &R, dispatcher: &Dispatcher) -> Vec<Arc<Event>> {
        settle(rt, dispatcher).await;
        self.collect_now().await
    }

    /// Emits a marker and returns every event received before it (without settling).
    pub async fn collect_now(&mut self) -> Vec<Arc<Event>> {
        let marker = Event::custom(MARKER, ());
        let marker_id = marker.id();
        self.bus.emit(marker).expect("the bus is open");
        let mut events = Vec::new();
        loop {
            let event = self.next().await;
            if event.id() == marker_id {
                return events;
            }
            events.push(event);
        }
    }
}

/// The tags of `events`.
pub fn tags(events: &[Arc<Event>]) -> Vec<EventTag> {
    events.iter().map(|e| e.tag()).collect()
}

/// The tags of the events of job `id` in `events`.
pub fn tags_of(events: &[Arc<Event>], id: JobId) -> Vec<EventTag> {
    events.iter().filter(|e| e.id() == id).map(|e| e.tag()).collect()
}

/// Tells whether the type of a value is `Unpin`, decided at compile time at the call site
/// (autoref specialisation): use it through [`is_unpin!`](crate::is_unpin).
#[derive(Debug)]
pub struct UnpinProbe<T: ?Sized>(pub PhantomData<T>);

/// The preferred impl of [`is_unpin!`](crate::is_unpin): applies when `T: Unpin`.
pub trait ViaUnpin {
    /// `true`.
    fn is_unpin(&self) -> bool {
        true
    }
}
impl<T: Unpin + ?Sized> ViaUnpin for &UnpinProbe<T> {}

/// The fallback of [`is_unpin!`](crate::is_unpin): reached when `T` is not `Unpin`.
pub trait ViaAny {
    /// `false`.
    fn is_unpin(&self) -> bool {
        false
    }
}
impl<T: ?Sized> ViaAny for UnpinProbe<T> {}

/// The [`UnpinProbe`] of the type of `_value`.
pub fn probe_of<T>(_value: &T) -> UnpinProbe<T> {
    UnpinProbe(PhantomData)
}

/// `is_unpin!(value)`: `true` when the (concrete) type of `value` is `Unpin`.
#[macro_export]
macro_rules! is_unpin {
    ($value:expr) => {{
        #[allow(unused_imports)]
        use $crate::util::{ViaAny as _, ViaUnpin as _};
        (&&$crate::util::probe_of(&$value)).is_unpin()
    }};
}
