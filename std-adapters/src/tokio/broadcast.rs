//! tokio's `broadcast` channel under a bus: [`TokioBroadcast`].

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll, Waker};

use ::tokio::sync::broadcast::{self, error::RecvError};
use futures_core::Stream;
use orchestrator_core::channel::{BroadcastChannel, BroadcastReceiver};
use orchestrator_core::{BusCapacityError, BusClosed, Lagged, MAX_BUS_CAPACITY, TryNextError};

/// tokio's [`broadcast`] channel as a [`BroadcastChannel`], so that a
/// [`Bus`](orchestrator_core::Bus) runs on it: `Bus::with_channel(TokioBroadcast::new(..)?)`.
///
/// The bus's own ring is faster (docs/performance.md measures both); this is for an
/// application that standardises on tokio's channel, or wants to compare. It keeps the
/// [channel contract](orchestrator_core::channel#the-contract):
///
/// * a receiver that falls behind gets tokio's `RecvError::Lagged(n)` as
///   [`Lagged(n)`](Lagged), then continues with the oldest value retained;
/// * [`close`](BroadcastChannel::close) drops the channel's only tokio `Sender`: receivers
///   get what was already sent, then tokio's `RecvError::Closed` ends their stream;
/// * a send with no receiver is `Ok(0)` (tokio's `send` calls that an error).
///
/// tokio rounds the capacity up to a power of two, and [`capacity`](BroadcastChannel::capacity)
/// answers the rounded value: the number of values a slow receiver really gets before it
/// lags. A receiver that waits allocates the future it waits with (tokio's `recv` is an
/// `async fn`); one that finds a value ready does not.
///
/// Clones share the channel; it closes when [`close`](BroadcastChannel::close) is called
/// or the last clone is dropped.
///
/// ```
/// use std::num::NonZeroUsize;
/// use futures::StreamExt;
/// use orchestrator_std::tokio::TokioBroadcast;
/// use orchestrator_std::{Bus, Event};
///
/// let bus = Bus::with_channel(TokioBroadcast::new(NonZeroUsize::new(64).unwrap()).unwrap());
/// let mut events = bus.subscribe().unwrap();
/// assert_eq!(bus.emit(Event::custom("ping", ())), Ok(1));
/// bus.close();
/// let names: Vec<_> = futures::executor::block_on(events.map(|e| e.unwrap().job_type()).collect::<Vec<_>>());
/// assert_eq!(names, ["ping"]);
/// ```
pub struct TokioBroadcast<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    /// `None` once closed: dropping tokio's only `Sender` is what ends its receivers.
    sender: RwLock<Option<broadcast::Sender<T>>>,
    /// Mirror of `sender.is_none()`, read without the lock.
    closed: AtomicBool,
    /// Live [`TokioBroadcastReceiver`]s. Kept apart from `Shared`, so that receivers do not
    /// keep the sender (and so the channel) open.
    receivers: Arc<AtomicUsize>,
    /// tokio's real capacity: the one asked for, rounded up to a power of two.
    capacity: usize,
}

impl<T: Clone> TokioBroadcast<T> {
    /// A channel that retains `capacity` values for slow receivers (rounded up to a power
    /// of two, as tokio does), at most [`MAX_BUS_CAPACITY`]. tokio allocates every slot
    /// here.
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use orchestrator_std::BusCapacityError;
    /// use orchestrator_std::channel::BroadcastChannel;
    /// use orchestrator_std::tokio::TokioBroadcast;
    ///
    /// let channel = TokioBroadcast::<u32>::new(NonZeroUsize::new(100).unwrap()).unwrap();
    /// assert_eq!(channel.capacity(), 128);
    /// assert!(matches!(TokioBroadcast::<u32>::new(NonZeroUsize::MAX), Err(BusCapacityError::TooLarge { .. })));
    /// ```
    ///
    /// # Errors
    ///
    /// [`BusCapacityError::TooLarge`] above [`MAX_BUS_CAPACITY`]: nothing is allocated.
    pub fn new(capacity: NonZeroUsize) -> Result<Self, BusCapacityError> {
        let requested = capacity.get();
        if requested > MAX_BUS_CAPACITY {
            return Err(BusCapacityError::TooLarge { requested, max: MAX_BUS_CAPACITY });
        }
        let (sender, _) = broadcast::channel(requested);
        Ok(Self {
            shared: Arc::new(Shared {
                sender: RwLock::new(Some(sender)),
                closed: AtomicBool::new(false),
                receivers: Arc::default(),
                capacity: requested.next_power_of_two(),
            }),
        })
    }
}

impl<T> Clone for TokioBroadcast<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> fmt::Debug for TokioBroadcast<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioBroadcast")
            .field("capacity", &self.shared.capacity)
            .field("receivers", &self.shared.receivers.load(Ordering::Acquire))
            .field("closed", &self.shared.closed.load(Ordering::Acquire))
            .finish()
    }
}

impl<T: Clone + Send + Sync + 'static> BroadcastChannel<T> for TokioBroadcast<T> {
    type Receiver = TokioBroadcastReceiver<T>;

    fn send(&self, value: T) -> Result<usize, BusClosed> {
        let sender = self.shared.sender.read().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Err(BusClosed);
        };
        match sender.send(value) {
            Ok(receivers) => Ok(receivers),
            // tokio refuses a value nobody would receive; the contract drops it.
            Err(broadcast::error::SendError(_nobody)) => Ok(0),
        }
    }

    fn subscribe(&self) -> Result<TokioBroadcastReceiver<T>, BusClosed> {
        let sender = self.shared.sender.read().unwrap_or_else(PoisonError::into_inner);
        let receiver = sender.as_ref().ok_or(BusClosed)?.subscribe();
        self.shared.receivers.fetch_add(1, Ordering::AcqRel);
        Ok(TokioBroadcastReceiver { state: State::Ready(receiver), live: Arc::clone(&self.shared.receivers) })
    }

    fn close(&self) -> bool {
        let sender = {
            let mut sender = self.shared.sender.write().unwrap_or_else(PoisonError::into_inner);
            self.shared.closed.store(true, Ordering::Release);
            sender.take()
        };
        // Dropped outside the lock: this wakes every waiting receiver.
        sender.is_some()
    }

    fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// A receiver of a [`TokioBroadcast`]: a [`Stream`] of `Ok(value)` and `Err(Lagged(n))`
/// that ends once the channel is closed and drained.
///
/// [`try_recv`](BroadcastReceiver::try_recv) after a poll that returned `Pending` polls
/// the waiting receive once more with a no-op waker: poll the stream again before waiting
/// on it.
///
/// ```
/// use std::num::NonZeroUsize;
/// use orchestrator_std::TryNextError;
/// use orchestrator_std::channel::{BroadcastChannel, BroadcastReceiver};
/// use orchestrator_std::tokio::TokioBroadcast;
///
/// let channel = TokioBroadcast::new(NonZeroUsize::new(8).unwrap()).unwrap();
/// let mut receiver = channel.subscribe().unwrap();
/// assert_eq!(channel.send(1_u32), Ok(1));
/// assert_eq!(receiver.try_recv(), Ok(1));
/// assert_eq!(receiver.try_recv(), Err(TryNextError::Empty));
/// ```
pub struct TokioBroadcastReceiver<T> {
    state: State<T>,
    /// The channel's count of live receivers, which this one is part of.
    live: Arc<AtomicUsize>,
}

/// tokio's receive, waiting: it owns the receiver while it waits and gives it back.
type Wait<T> = Pin<Box<dyn Future<Output = (Result<T, RecvError>, broadcast::Receiver<T>)> + Send + Sync>>;

enum State<T> {
    /// Between receives.
    Ready(broadcast::Receiver<T>),
    /// A receive found nothing and waits.
    Waiting(Wait<T>),
    /// The stream ended.
    Ended,
}

impl<T: Clone + Send + Sync + 'static> TokioBroadcastReceiver<T> {
    /// Moves the receiver into the future that waits for its next value.
    fn start_waiting(&mut self) {
        self.state = match std::mem::replace(&mut self.state, State::Ended) {
            State::Ready(mut receiver) => State::Waiting(Box::pin(async move {
                let result = receiver.recv().await;
                (result, receiver)
            })),
            other => other,
        };
    }
}

impl<T: Clone + Send + Sync + 'static> Stream for TokioBroadcastReceiver<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let received = match &mut this.state {
                // Values that are ready are taken in place, without moving the receiver.
                State::Ready(receiver) => match receiver.try_recv() {
                    Ok(value) => Ok(value),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                    Err(broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
                    Err(broadcast::error::TryRecvError::Empty) => {
                        this.start_waiting();
                        continue;
                    }
                },
                State::Waiting(wait) => match wait.as_mut().poll(cx) {
                    Poll::Ready((result, receiver)) => {
                        this.state = State::Ready(receiver);
                        result
                    }
                    Poll::Pending => return Poll::Pending,
                },
                State::Ended => return Poll::Ready(None),
            };
            return Poll::Ready(match received {
                Ok(value) => Some(Ok(value)),
                Err(RecvError::Lagged(n)) => Some(Err(Lagged(n))),
                Err(RecvError::Closed) => {
                    this.state = State::Ended;
                    None
                }
            });
        }
    }
}

impl<T: Clone + Send + Sync + 'static> BroadcastReceiver<T> for TokioBroadcastReceiver<T> {
    fn try_recv(&mut self) -> Result<T, TryNextError> {
        if let State::Ready(receiver) = &mut self.state {
            // The common case, without the waiting future `poll_next` would make.
            return match receiver.try_recv() {
                Ok(value) => Ok(value),
                Err(broadcast::error::TryRecvError::Empty) => Err(TryNextError::Empty),
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(TryNextError::Lagged(n)),
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.state = State::Ended;
                    Err(TryNextError::Closed)
                }
            };
        }
        match Pin::new(self).poll_next(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Some(Ok(value))) => Ok(value),
            Poll::Ready(Some(Err(Lagged(n)))) => Err(TryNextError::Lagged(n)),
            Poll::Ready(None) => Err(TryNextError::Closed),
            Poll::Pending => Err(TryNextError::Empty),
        }
    }
}

impl<T> Drop for TokioBroadcastReceiver<T> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T> fmt::Debug for TokioBroadcastReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Ready(_) => "ready",
            State::Waiting(_) => "waiting",
            State::Ended => "ended",
        };
        f.debug_struct("TokioBroadcastReceiver").field("state", &state).finish()
    }
}
