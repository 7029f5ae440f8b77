//! A bounded multi-producer, multi-consumer broadcast channel: one shared ring buffer
//! with a cursor per receiver (the shape of `tokio::sync::broadcast`), not a channel
//! per subscriber.
//!
//! # Design
//!
//! * **One ring, global order.** All handles share one mutex-protected ring of
//!   `capacity` slots. Every sent value gets the next `u64` sequence number (`tail`) and
//!   is written to slot `seq % capacity`. One lock serialises all senders, so every
//!   receiver sees the same global order.
//! * **Cursors.** A receiver is just the sequence number of the next value it wants.
//!   A new receiver starts at `tail`, so it only sees values sent after it subscribed.
//! * **Remaining-reader counts.** Each slot records how many receivers were present
//!   when it was written (`rem`). A read decrements it; the last reader *moves* the
//!   value out instead of cloning it, so a value is freed as soon as everybody who could
//!   see it has seen it. Dropping a receiver releases its claim on every slot it has not
//!   read yet. The ring therefore never holds more than `capacity` values.
//! * **Lag.** The ring keeps the last `capacity` values (`tail - capacity .. tail`); a
//!   writer overwrites the oldest slot whether or not everybody read it. A receiver whose
//!   cursor fell below `tail - capacity` gets [`Lagged(n)`](Lagged) with `n` the exact
//!   number of values it missed, then continues with the oldest retained value. Other
//!   receivers are unaffected.
//! * **Batching.** A poll that finds the local batch empty takes the lock once, takes the
//!   next value and moves up to 32 more into a receiver-local batch, which later polls
//!   drain without locking. Values in the local batch already belong to the receiver, so
//!   they are never counted as lost. The batch is allocated the first time it is needed
//!   (a poll that finds more than one value): a receiver that never receives, or only
//!   ever finds one value at a time, costs its own 32 bytes (on a 64-bit target) and a
//!   waker slot, not the batch.
//! * **Wake-ups.** A receiver that finds nothing registers its [`Waker`] in a per-receiver
//!   slot under the same lock acquisition that found the ring empty, so no wake-up can be
//!   lost. `send` and `close` move the registered wakers out under the lock (into a small
//!   stack buffer) and wake them after releasing it.
//! * **Fast path.** The number of receivers is mirrored in an atomic, so
//!   [`RingSender::send_with`] with nobody listening is one atomic load and never builds
//!   the value.
//!
//! The channel closes when [`RingSender::close`] is called or the last sender handle is
//! dropped. Receivers still get every value already sent to them, then the stream ends.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};

use super::{BroadcastChannel, BroadcastReceiver, Closed, Lagged, TryRecvError};
use crate::sync::Mutex;
use crate::waker_slots::{WakeBatch, WakerSlots};

/// How many values a receiver moves into its local batch per lock acquisition (besides
/// the one it returns at once).
const BATCH: usize = 32;
/// How many values a dropped receiver frees per lock acquisition. The freed values wait on
/// the stack until the lock is released, and [`BATCH`] values of a large `T` could be too
/// much stack.
const RELEASE_CHUNK: usize = 8;
/// [`RingReceiver::next`] of a receiver that returned the end of the stream. No value
/// gets this sequence number: `tail` would first have to count 2^64 sends.
const TERMINATED: u64 = u64::MAX;

/// Creates a broadcast channel that retains the last `capacity` values.
///
/// Receivers are created with [`RingSender::subscribe`]; a receiver that falls more than
/// `capacity` values behind gets [`Lagged`] and skips to the oldest retained value.
///
/// The `capacity` slots are allocated at once, here: each holds a `T` and two counters
/// (24 bytes for an `Arc` on a 64-bit target). The allocation is fallible, so
/// a capacity too large for the address space or for the heap is an error, not a panic
/// or an abort.
///
/// # Errors
///
/// [`AllocError`] when the slots cannot be allocated.
pub(crate) fn ring<T: Clone>(capacity: NonZeroUsize) -> Result<RingSender<T>, AllocError> {
    let mut slots = Vec::new();
    slots.try_reserve_exact(capacity.get()).map_err(|_| AllocError { capacity: capacity.get() })?;
    slots.extend((0..capacity.get()).map(|_| Slot::EMPTY));
    Ok(from_slots(slots.into_boxed_slice()))
}

/// Like [`ring`], for a capacity known to be small (the bus's default): allocation
/// failure is left to the global allocator's handler, as for any `Box::new`.
pub(crate) fn small_ring<T: Clone>(capacity: NonZeroUsize) -> RingSender<T> {
    from_slots((0..capacity.get()).map(|_| Slot::EMPTY).collect())
}

fn from_slots<T>(slots: Box<[Slot<T>]>) -> RingSender<T> {
    let capacity = slots.len();
    RingSender {
        shared: Arc::new(Shared {
            state: Mutex::new(State {
                slots,
                tail: 0,
                tail_idx: 0,
                receivers: 0,
                closed: false,
                waiters: WakerSlots::new(),
                close_waiters: WakerSlots::new(),
            }),
            capacity,
            receivers: AtomicUsize::new(0),
            senders: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
        }),
    }
}

/// [`ring`] could not allocate its slots: the capacity asked for more memory than the
/// address space holds, or the allocator refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocError {
    capacity: usize,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not allocate the {} slots of a ring channel", self.capacity)
    }
}

impl core::error::Error for AllocError {}

struct Slot<T> {
    /// Sequence number of the value last written here.
    seq: u64,
    /// Receivers that were present at the send and have not consumed the value yet.
    rem: usize,
    val: Option<T>,
}

impl<T> Slot<T> {
    const EMPTY: Self = Self { seq: 0, rem: 0, val: None };
}

struct State<T> {
    slots: Box<[Slot<T>]>,
    /// Sequence number of the next value to send.
    tail: u64,
    /// `tail % capacity`, kept to avoid a division per send.
    tail_idx: usize,
    receivers: usize,
    closed: bool,
    /// One waker slot per receiver, indexed by its id.
    waiters: WakerSlots,
    /// Wakers of [`CloseWatch`]es: woken by `close` only, never by `send`.
    close_waiters: WakerSlots,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Mirror of `State::receivers`, readable without the lock.
    receivers: AtomicUsize,
    senders: AtomicUsize,
    /// Mirror of `State::closed`, readable without the lock.
    closed: AtomicBool,
}

impl<T> State<T> {
    /// Oldest sequence number still retained.
    fn oldest(&self) -> u64 {
        self.tail.saturating_sub(self.slots.len() as u64)
    }

    /// Index of the slot for `seq`.
    fn index(&self, seq: u64) -> usize {
        let rem = seq.checked_rem(self.slots.len() as u64).unwrap_or(0);
        // Cannot fail: `rem < slots.len()`.
        usize::try_from(rem).unwrap_or(0)
    }

    /// The index after `idx`, wrapping around (cheaper than another `%`).
    fn succ(&self, idx: usize) -> usize {
        let next = idx.saturating_add(1);
        if next < self.slots.len() { next } else { 0 }
    }

    /// The index before `idx`, wrapping around.
    fn pred(&self, idx: usize) -> usize {
        idx.checked_sub(1).unwrap_or_else(|| self.slots.len().saturating_sub(1))
    }

    /// The index `n` slots after `idx`, for `n` at most the capacity.
    fn ahead(&self, idx: usize, n: usize) -> usize {
        let to = idx.saturating_add(n);
        to.checked_sub(self.slots.len()).unwrap_or(to)
    }

    /// The slot at `idx` if it still holds `seq` (it was not overwritten since).
    fn slot(&mut self, idx: usize, seq: u64) -> Option<&mut Slot<T>> {
        self.slots.get_mut(idx).filter(|slot| slot.seq == seq)
    }

    /// Consumes one claim on `seq`: clones the value, or moves it out for the last reader.
    fn read(&mut self, idx: usize, seq: u64) -> Option<T>
    where
        T: Clone,
    {
        let slot = self.slot(idx, seq)?;
        if slot.rem > 1 {
            slot.rem = slot.rem.saturating_sub(1);
            slot.val.clone()
        } else {
            slot.rem = 0;
            slot.val.take()
        }
    }

    /// Gives up one claim on `seq` without reading it; returns the value if it was the last.
    fn release(&mut self, idx: usize, seq: u64) -> Option<T> {
        let slot = self.slot(idx, seq)?;
        slot.rem = slot.rem.saturating_sub(1);
        if slot.rem == 0 { slot.val.take() } else { None }
    }
}

impl<T> Shared<T> {
    fn close(&self) -> bool {
        let mut wakers = WakeBatch::new();
        {
            let mut st = self.state.lock();
            if st.closed {
                return false;
            }
            st.closed = true;
            self.closed.store(true, Ordering::Release);
            st.waiters.take_all(&mut wakers);
            st.close_waiters.take_all(&mut wakers);
        }
        wakers.wake_all();
        true
    }
}

/// The sending half of a [`ring`] channel.
///
/// Cloning gives another handle to the same channel; the channel closes when the last
/// sender handle is dropped (or on [`close`](Self::close)).
pub(crate) struct RingSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for RingSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> Drop for RingSender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T> RingSender<T> {
    /// Broadcasts `value` to every current receiver.
    ///
    /// Returns the number of receivers that will see it; with `Ok(0)` the value was
    /// dropped and nothing was stored.
    ///
    /// # Errors
    ///
    /// [`Closed`] if the channel is closed (the value is dropped).
    pub(crate) fn send(&self, value: T) -> Result<usize, Closed> {
        self.send_value(value).map_err(|_| Closed)
    }

    /// Like [`send`](Self::send), but builds the value only if there is at least one
    /// receiver: with none, returns `Ok(0)` without calling `make`.
    ///
    /// # Errors
    ///
    /// [`Closed`] if the channel is closed (`make` is not called then either).
    pub(crate) fn send_with(&self, make: impl FnOnce() -> T) -> Result<usize, Closed> {
        if !self.listening()? {
            return Ok(0);
        }
        self.send(make())
    }

    /// Whether a send now would reach anybody: `Ok(false)` with no receiver, `Err` once
    /// closed. Two atomic loads, no lock: what [`send_with`](Self::send_with) checks
    /// before it builds the value, for a caller that builds it itself.
    #[inline]
    pub(crate) fn listening(&self) -> Result<bool, Closed> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        Ok(self.shared.receivers.load(Ordering::Acquire) != 0)
    }

    fn send_value(&self, value: T) -> Result<usize, T> {
        let mut st = self.shared.state.lock();
        if st.closed {
            return Err(value);
        }
        let receivers = st.receivers;
        if receivers == 0 {
            drop(st);
            drop(value);
            return Ok(0);
        }
        let seq = st.tail;
        let idx = st.tail_idx;
        let old = match st.slots.get_mut(idx) {
            Some(slot) => {
                slot.seq = seq;
                slot.rem = receivers;
                slot.val.replace(value)
            }
            None => Some(value),
        };
        st.tail = seq.saturating_add(1);
        st.tail_idx = st.succ(idx);
        if st.waiters.waiting() == 0 {
            // The common case in a burst: nobody to wake, no wake list built (moving one
            // around cost more than the rest of a send).
            drop(st);
            drop(old); // outside the lock: `T`'s destructor may touch this channel
            return Ok(receivers);
        }
        let mut wakers = WakeBatch::new();
        st.waiters.take_all(&mut wakers);
        drop(st);
        drop(old);
        wakers.wake_all();
        Ok(receivers)
    }

    /// Creates a receiver that sees every value sent after this call.
    ///
    /// # Errors
    ///
    /// [`Closed`] if the channel is closed.
    pub(crate) fn subscribe(&self) -> Result<RingReceiver<T>, Closed> {
        let mut st = self.shared.state.lock();
        if st.closed {
            return Err(Closed);
        }
        let id = st.waiters.add();
        st.receivers = st.receivers.saturating_add(1);
        self.shared.receivers.store(st.receivers, Ordering::Release);
        Ok(RingReceiver { shared: Arc::clone(&self.shared), id, next: st.tail, batch: None })
    }

    /// A watch that is woken when the channel closes, and never by a send: for a task that
    /// must end with the channel but receives nothing from it. It is not a receiver: values
    /// sent are not kept for it.
    pub(crate) fn watch_close(&self) -> CloseWatch<T> {
        let id = self.shared.state.lock().close_waiters.add();
        CloseWatch { shared: Arc::clone(&self.shared), id }
    }

    /// Closes the channel and wakes every waiting receiver. Returns `true` if this call
    /// closed it, `false` if it was already closed.
    pub(crate) fn close(&self) -> bool {
        self.shared.close()
    }

    /// Whether the channel is closed.
    #[must_use]
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Number of live receivers (read without taking the lock).
    #[must_use]
    pub(crate) fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Acquire)
    }

    /// Maximum number of values the channel retains.
    #[must_use]
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// Whether both handles send to the same channel.
    #[must_use]
    pub(crate) fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> fmt::Debug for RingSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSender")
            .field("receivers", &self.receiver_count())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Woken when its channel closes (see [`RingSender::watch_close`]).
pub(crate) struct CloseWatch<T> {
    shared: Arc<Shared<T>>,
    id: usize,
}

impl<T> CloseWatch<T> {
    /// `Ready` once the channel is closed; else registers the waker for the close.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.shared.state.lock();
        if st.closed {
            return Poll::Ready(());
        }
        st.close_waiters.register(self.id, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for CloseWatch<T> {
    fn drop(&mut self) {
        self.shared.state.lock().close_waiters.remove(self.id);
    }
}

/// The receiving half of a [`ring`] channel, created by [`RingSender::subscribe`].
///
/// It is a [`Stream`] of `Result<T, Lagged>` that ends once the channel is closed and
/// every value sent to this receiver was delivered. It is deliberately not `Clone`:
/// call [`RingSender::subscribe`] for another receiver.
///
/// A receiver is 32 bytes on a 64-bit target (at most 24 on a 32-bit one), plus a waker
/// slot of two words in the channel's shared state. The first poll that finds more than
/// one value waiting allocates its local batch, room for 32 values, which it keeps.
pub(crate) struct RingReceiver<T> {
    shared: Arc<Shared<T>>,
    /// Index of this receiver's waker slot.
    id: usize,
    /// Sequence number of the next value to move out of the shared ring, or
    /// [`TERMINATED`] once the stream has ended (a flag of its own would cost 8 bytes).
    next: u64,
    /// Values already moved out of the ring, handed out without locking, the next one
    /// last. Boxed and allocated on first use, so an idle receiver stays small.
    batch: Option<Box<heapless::Vec<T, BATCH>>>,
}

// The receiver never pins its fields.
impl<T> Unpin for RingReceiver<T> {}

enum Recv<T> {
    Value(T),
    Lagged(u64),
    Empty,
    Closed,
}

impl<T> RingReceiver<T> {
    /// Number of values in the local batch.
    fn buffered(&self) -> usize {
        self.batch.as_ref().map_or(0, |batch| batch.len())
    }

    fn terminated(&self) -> bool {
        self.next == TERMINATED
    }
}

impl<T: Clone> RingReceiver<T> {
    /// Takes the next value without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value is available yet, [`TryRecvError::Lagged`]
    /// once after this receiver missed values, and [`TryRecvError::Closed`] once the
    /// channel is closed and every value sent to this receiver was received.
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.recv(None) {
            Recv::Value(value) => Ok(value),
            Recv::Lagged(n) => Err(TryRecvError::Lagged(n)),
            Recv::Empty => Err(TryRecvError::Empty),
            Recv::Closed => Err(TryRecvError::Closed),
        }
    }

    /// One receive attempt; registers `waker` if nothing is available.
    fn recv(&mut self, waker: Option<&Waker>) -> Recv<T> {
        if let Some(value) = self.batch.as_mut().and_then(|batch| batch.pop()) {
            return Recv::Value(value);
        }
        if self.terminated() {
            return Recv::Closed;
        }
        let mut st = self.shared.state.lock();
        let oldest = st.oldest();
        let lagged = oldest.checked_sub(self.next).filter(|&n| n > 0);
        if lagged.is_some() {
            self.next = oldest;
        }
        let mut idx = st.index(self.next);
        // The value to return now; after a lag, the lag is returned first and every value
        // taken goes to the batch.
        let mut first = None;
        if lagged.is_none() {
            while first.is_none() && self.next < st.tail {
                first = st.read(idx, self.next);
                self.next = self.next.saturating_add(1);
                idx = st.succ(idx);
            }
        }
        let waiting = st.tail.saturating_sub(self.next);
        if waiting > 0 {
            // `take <= waiting <= capacity`: the lag check above moved `next` to `oldest`
            // or later.
            let take = usize::try_from(waiting).map_or(BATCH, |n| n.min(BATCH));
            let end = self.next.saturating_add(take as u64);
            let batch = self.batch.get_or_insert_with(Box::default);
            // Newest first, so that `pop` hands out the oldest.
            let mut idx = st.ahead(idx, take.saturating_sub(1));
            let mut seq = end;
            while seq > self.next {
                seq = seq.saturating_sub(1);
                if let Some(value) = st.read(idx, seq) {
                    // Cannot fail: at most `take <= BATCH` values, into an empty batch.
                    let _ = batch.push(value);
                }
                idx = st.pred(idx);
            }
            self.next = end;
        }
        if let Some(n) = lagged {
            return Recv::Lagged(n);
        }
        if let Some(value) = first {
            return Recv::Value(value);
        }
        if st.closed {
            // Every value was taken (`next == tail`, and `tail` no longer moves): nothing
            // is left to release on drop.
            self.next = TERMINATED;
            return Recv::Closed;
        }
        if let Some(waker) = waker {
            st.waiters.register(self.id, waker);
        }
        Recv::Empty
    }
}

impl<T: Clone> Stream for RingReceiver<T> {
    type Item = Result<T, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().recv(Some(cx.waker())) {
            Recv::Value(value) => Poll::Ready(Some(Ok(value))),
            Recv::Lagged(n) => Poll::Ready(Some(Err(Lagged(n)))),
            Recv::Closed => Poll::Ready(None),
            Recv::Empty => Poll::Pending,
        }
    }
}

impl<T: Clone> FusedStream for RingReceiver<T> {
    fn is_terminated(&self) -> bool {
        // Set only with the batch empty, and nothing refills it then.
        self.terminated()
    }
}

impl<T> Drop for RingReceiver<T> {
    fn drop(&mut self) {
        // Drop buffered values before locking: `T`'s destructor may touch this channel.
        self.batch = None;
        let end = {
            let mut st = self.shared.state.lock();
            st.receivers = st.receivers.saturating_sub(1);
            self.shared.receivers.store(st.receivers, Ordering::Release);
            st.waiters.remove(self.id);
            st.tail
        };
        // Release the claims on the unread values sent while we were registered, in
        // chunks so that the freed values are dropped outside the lock.
        let mut freed = heapless::Vec::<T, RELEASE_CHUNK>::new();
        while self.next < end {
            {
                let mut st = self.shared.state.lock();
                self.next = self.next.max(st.oldest());
                let mut idx = st.index(self.next);
                while self.next < end && !freed.is_full() {
                    if let Some(value) = st.release(idx, self.next) {
                        let _ = freed.push(value);
                    }
                    self.next = self.next.saturating_add(1);
                    idx = st.succ(idx);
                }
            }
            freed.clear();
        }
    }
}

impl<T> fmt::Debug for RingReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingReceiver")
            .field("next", &self.next)
            .field("buffered", &self.buffered())
            .field("terminated", &self.terminated())
            .finish_non_exhaustive()
    }
}

/// The ring through the channel traits: the same calls, so a test or a caller written
/// against the traits runs on the ring unchanged. (The bus calls the ring directly.)
impl<T: Clone> BroadcastChannel<T> for RingSender<T> {
    type Receiver = RingReceiver<T>;

    fn send(&self, value: T) -> Result<usize, Closed> {
        RingSender::send(self, value)
    }

    fn send_with(&self, make: impl FnOnce() -> T) -> Result<usize, Closed> {
        RingSender::send_with(self, make)
    }

    fn subscribe(&self) -> Result<RingReceiver<T>, Closed> {
        RingSender::subscribe(self)
    }

    fn close(&self) -> bool {
        RingSender::close(self)
    }

    fn is_closed(&self) -> bool {
        RingSender::is_closed(self)
    }

    fn receiver_count(&self) -> usize {
        RingSender::receiver_count(self)
    }

    fn capacity(&self) -> usize {
        RingSender::capacity(self)
    }
}

impl<T: Clone> BroadcastReceiver<T> for RingReceiver<T> {
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        RingReceiver::try_recv(self)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    #[allow(unused_extern_crates)] // needed when the crate is `no_std`
    extern crate std;

    use super::*;
    use crate::sync::{MaybeSend, MaybeSync};
    use alloc::task::Wake;
    use alloc::vec;
    use core::sync::atomic::AtomicUsize;
    use std::format;

    fn cap(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn drain<T: Clone>(rx: &mut RingReceiver<T>) -> Vec<Result<T, TryRecvError>> {
        let mut out = Vec::new();
        loop {
            match rx.try_recv() {
                Err(TryRecvError::Empty | TryRecvError::Closed) => return out,
                item => out.push(item),
            }
        }
    }

    #[derive(Default)]
    struct CountWaker(AtomicUsize);

    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T: Clone>(rx: &mut RingReceiver<T>, waker: &Waker) -> Poll<Option<Result<T, Lagged>>> {
        Pin::new(rx).poll_next(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_capacity_beyond_memory_is_an_error() {
        let err = ring::<u32>(NonZeroUsize::MAX).unwrap_err();
        assert_eq!(err, AllocError { capacity: usize::MAX });
        assert_eq!(format!("{err}"), format!("could not allocate the {} slots of a ring channel", usize::MAX));
        // A count that fits in a `usize` but whose bytes (16 or more per slot) do not.
        assert!(ring::<u32>(cap(isize::MAX as usize / 8 + 1)).is_err());
        assert_eq!(small_ring::<u32>(cap(3)).capacity(), 3);
    }

    /// The bus documents what its ring allocates up front (24 bytes per slot of an
    /// `Arc` on 64-bit targets); this keeps the documentation honest.
    #[test]
    fn a_slot_of_an_arc_is_a_u64_and_two_words() {
        assert!(core::mem::size_of::<Slot<Arc<u8>>>() <= 8 + 2 * core::mem::size_of::<usize>());
        #[cfg(target_pointer_width = "64")]
        assert_eq!(core::mem::size_of::<Slot<Arc<u8>>>(), 24);
    }

    /// An idle receiver is 32 bytes on a 64-bit target, the rest of the 64-byte budget of
    /// an idle subscriber being its waker slot; the batch it fills when busy is on the heap.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn an_idle_receiver_is_32_bytes() {
        assert_eq!(core::mem::size_of::<RingReceiver<Arc<u8>>>(), 32);
        assert_eq!(core::mem::size_of::<Option<Waker>>(), 16, "the receiver's slot in the shared state");
    }

    #[test]
    fn batches_wrap_around_the_ring() {
        let tx = ring::<u32>(cap(5)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        let mut sent = 0;
        for burst in 1..=5 {
            for round in 0..7 {
                let values: Vec<_> = (sent..sent + burst).collect();
                values.iter().for_each(|&i| assert_eq!(tx.send(i), Ok(1)));
                sent += burst;
                let got: Vec<_> = drain(&mut rx).into_iter().map(Result::unwrap).collect();
                assert_eq!(got, values, "burst of {burst}, round {round}");
            }
        }
    }

    #[test]
    fn the_batch_is_allocated_only_when_more_than_one_value_waits() {
        let tx = ring::<u32>(cap(64)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        let waker = Waker::noop();
        assert_eq!(poll(&mut rx, waker), Poll::Pending);
        assert!(rx.batch.is_none(), "an idle receiver has no batch");
        for i in 0..3 {
            tx.send(i).unwrap();
            assert_eq!(poll(&mut rx, waker), Poll::Ready(Some(Ok(i))));
        }
        assert!(rx.batch.is_none(), "one value at a time is handed out directly");

        // A burst: one lock takes the first value and moves the next BATCH to the batch.
        (0..40).for_each(|i| assert_eq!(tx.send(i), Ok(1)));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.buffered(), BATCH);
        assert_eq!(format!("{rx:?}"), "RingReceiver { next: 36, buffered: 32, terminated: false, .. }");
        let rest: Vec<_> = drain(&mut rx).into_iter().map(Result::unwrap).collect();
        assert_eq!(rest, (1..40).collect::<Vec<_>>());
        assert!(rx.batch.is_some(), "kept for the next burst");
    }

    /// A value that records whether it was dropped while its channel's lock was held.
    #[derive(Clone)]
    struct Probe {
        chan: alloc::sync::Weak<Shared<Probe>>,
        under_lock: Arc<AtomicUsize>,
        live: Arc<()>,
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            if self.chan.upgrade().is_some_and(|shared| shared.state.is_locked()) {
                self.under_lock.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn values_are_dropped_outside_the_lock() {
        let tx = ring::<Probe>(cap(64)).unwrap();
        let probe = Probe { chan: Arc::downgrade(&tx.shared), under_lock: Arc::default(), live: Arc::new(()) };
        let (mut reader, idle) = (tx.subscribe().unwrap(), tx.subscribe().unwrap());
        (0..40).for_each(|_| assert_eq!(tx.send(probe.clone()).ok(), Some(2)));
        drop(reader.try_recv().unwrap());
        assert_eq!(reader.buffered(), BATCH);
        // Drops its batch, releases its last claims (the idle receiver keeps the values).
        drop(reader);
        assert_eq!(Arc::strong_count(&probe.live), 41);
        // The last reader of all 40: frees them, more than one chunk's worth.
        drop(idle);
        assert_eq!(Arc::strong_count(&probe.live), 1);

        // Values overwritten by a send.
        let _never_reads = tx.subscribe().unwrap();
        (0..100).for_each(|_| assert_eq!(tx.send(probe.clone()).ok(), Some(1)));
        assert_eq!(Arc::strong_count(&probe.live), 65);
        assert_eq!(probe.under_lock.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: MaybeSend + MaybeSync>() {}
        check::<RingSender<Arc<u32>>>();
        check::<RingReceiver<Arc<u32>>>();
    }

    /// What the bus does through the traits for a custom channel, on the ring, directly
    /// and behind an `Arc`.
    #[test]
    fn the_ring_through_the_channel_traits() {
        fn exercise<C: BroadcastChannel<u32>>(tx: &C) {
            assert_eq!(tx.send_with(|| panic!("nobody listens")), Ok(0));
            let mut rx = tx.subscribe().unwrap();
            assert_eq!((tx.receiver_count(), tx.capacity()), (1, 4));
            assert_eq!(tx.send(1), Ok(1));
            assert_eq!(tx.send_with(|| 2), Ok(1));
            assert_eq!(BroadcastReceiver::try_recv(&mut rx), Ok(1));
            assert!(tx.close());
            assert!(tx.is_closed());
            assert_eq!(tx.send(3), Err(Closed));
            assert!(tx.subscribe().is_err());
            let rest = futures::executor::block_on(futures::StreamExt::collect::<Vec<_>>(&mut rx));
            assert_eq!(rest, vec![Ok(2)]);
            assert_eq!(BroadcastReceiver::try_recv(&mut rx), Err(TryRecvError::Closed));
        }
        exercise(&ring::<u32>(cap(4)).unwrap());
        exercise(&Arc::new(ring::<u32>(cap(4)).unwrap()));
    }

    #[test]
    fn every_receiver_gets_every_value_in_global_order() {
        let tx = ring::<u32>(cap(16)).unwrap();
        let tx2 = tx.clone();
        assert!(tx.same_channel(&tx2));
        assert!(!tx.same_channel(&ring(cap(16)).unwrap()));
        let mut rxs = [tx.subscribe().unwrap(), tx.subscribe().unwrap(), tx2.subscribe().unwrap()];
        assert_eq!(tx.receiver_count(), 3);
        for i in 0..10 {
            let sender = if i % 3 == 0 { &tx2 } else { &tx };
            assert_eq!(sender.send(i), Ok(3));
        }
        for rx in &mut rxs {
            let got: Vec<_> = drain(rx).into_iter().map(Result::unwrap).collect();
            assert_eq!(got, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn new_receiver_sees_only_later_values() {
        let tx = ring::<u32>(cap(4)).unwrap();
        let mut early = tx.subscribe().unwrap();
        tx.send(1).unwrap();
        let mut late = tx.subscribe().unwrap();
        tx.send(2).unwrap();
        assert_eq!(drain(&mut early), vec![Ok(1), Ok(2)]);
        assert_eq!(drain(&mut late), vec![Ok(2)]);
    }

    #[test]
    fn slow_receiver_lags_by_exact_count() {
        let tx = ring::<u32>(cap(4)).unwrap();
        let mut slow = tx.subscribe().unwrap();
        let mut fast = tx.subscribe().unwrap();
        let mut fast_seen = Vec::new();
        for i in 0..10 {
            tx.send(i).unwrap();
            fast_seen.push(fast.try_recv().unwrap());
        }
        assert_eq!(fast_seen, (0..10).collect::<Vec<_>>());
        assert_eq!(fast.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(slow.try_recv(), Err(TryRecvError::Lagged(6)));
        assert_eq!(drain(&mut slow), vec![Ok(6), Ok(7), Ok(8), Ok(9)]);
        assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn batched_values_are_not_counted_as_lost() {
        let tx = ring::<u32>(cap(4)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        (0..4).for_each(|i| assert_eq!(tx.send(i), Ok(1)));
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.buffered(), 3, "one lock moved the rest into the local batch");
        (4..12).for_each(|i| assert_eq!(tx.send(i), Ok(1)));
        assert_eq!(
            drain(&mut rx),
            vec![Ok(1), Ok(2), Ok(3), Err(TryRecvError::Lagged(4)), Ok(8), Ok(9), Ok(10), Ok(11)]
        );
    }

    #[test]
    fn stream_yields_lagged_then_values() {
        let tx = ring::<u32>(cap(2)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        (0..5).for_each(|i| assert_eq!(tx.send(i), Ok(1)));
        drop(tx);
        let items = futures::executor::block_on(futures::StreamExt::collect::<Vec<_>>(&mut rx));
        assert_eq!(items, vec![Err(Lagged(3)), Ok(3), Ok(4)]);
        assert!(rx.is_terminated());
    }

    #[test]
    fn close_delivers_buffered_values_then_ends() {
        let tx = ring::<u32>(cap(8)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(!tx.is_closed());
        assert!(tx.close());
        assert!(!tx.close(), "close is idempotent");
        assert!(tx.is_closed());
        assert_eq!(tx.send(3), Err(Closed));
        assert_eq!(tx.send_with(|| 4), Err(Closed));
        assert!(tx.subscribe().is_err());
        let waker = Waker::noop();
        assert_eq!(poll(&mut rx, waker), Poll::Ready(Some(Ok(1))));
        assert!(!rx.is_terminated());
        assert_eq!(poll(&mut rx, waker), Poll::Ready(Some(Ok(2))));
        assert_eq!(poll(&mut rx, waker), Poll::Ready(None));
        assert!(rx.is_terminated());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(poll(&mut rx, waker), Poll::Ready(None));
    }

    #[test]
    fn last_sender_drop_closes() {
        let tx = ring::<u32>(cap(8)).unwrap();
        let mut rx = tx.subscribe().unwrap();
        let tx2 = tx.clone();
        tx.send(7).unwrap();
        drop(tx);
        assert!(!tx2.is_closed(), "a clone is still alive");
        tx2.send(8).unwrap();
        drop(tx2);
        assert_eq!(rx.try_recv(), Ok(7));
        assert_eq!(rx.try_recv(), Ok(8));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn values_are_freed_once_every_reader_is_done() {
        let value = Arc::new(0u8);
        let tx = ring::<Arc<u8>>(cap(4)).unwrap();
        let mut a = tx.subscribe().unwrap();
        let mut b = tx.subscribe().unwrap();
        tx.send(Arc::clone(&value)).unwrap();
        assert_eq!(Arc::strong_count(&value), 2);
        let got = a.try_recv().unwrap();
        assert_eq!(Arc::strong_count(&value), 3, "a cloned it, the slot keeps one for b");
        drop(got);
        let got = b.try_recv().unwrap();
        assert_eq!(Arc::strong_count(&value), 2, "b, the last reader, moved it out");
        drop(got);
        assert_eq!(Arc::strong_count(&value), 1);

        // A receiver dropped without reading releases its claims.
        tx.send(Arc::clone(&value)).unwrap();
        tx.send(Arc::clone(&value)).unwrap();
        drain(&mut a);
        assert_eq!(Arc::strong_count(&value), 3, "b still has claims on both");
        drop(b);
        assert_eq!(Arc::strong_count(&value), 1);

        // Bounded: a receiver that never reads keeps at most `capacity` values alive.
        for _ in 0..100 {
            tx.send(Arc::clone(&value)).unwrap();
        }
        assert_eq!(Arc::strong_count(&value), 5);
        drop(a);
        assert_eq!(Arc::strong_count(&value), 1);
        drop(tx);
    }

    #[test]
    fn no_receivers_means_nothing_is_built_or_stored() {
        let value = Arc::new(0u8);
        let tx = ring::<Arc<u8>>(cap(4)).unwrap();
        assert_eq!(tx.send(Arc::clone(&value)), Ok(0));
        assert_eq!(Arc::strong_count(&value), 1, "value dropped, nothing stored");
        assert_eq!(tx.send_with(|| panic!("must not be called")), Ok(0));
        let mut rx = tx.subscribe().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(tx.send_with(|| Arc::clone(&value)), Ok(1));
        assert_eq!(rx.try_recv(), Ok(Arc::clone(&value)));
        drop(rx);
        assert_eq!(tx.receiver_count(), 0);
        assert_eq!(tx.send_with(|| panic!("must not be called")), Ok(0));
    }

    #[test]
    fn send_and_close_wake_waiting_receivers() {
        let tx = ring::<u32>(cap(4)).unwrap();
        let mut a = tx.subscribe().unwrap();
        let mut b = tx.subscribe().unwrap();
        let wa = Arc::new(CountWaker::default());
        let wb = Arc::new(CountWaker::default());
        let (waker_a, waker_b) = (Waker::from(Arc::clone(&wa)), Waker::from(Arc::clone(&wb)));
        assert_eq!(poll(&mut a, &waker_a), Poll::Pending);
        assert_eq!(poll(&mut a, &waker_a), Poll::Pending, "re-registering the same waker");
        assert_eq!(poll(&mut b, &waker_b), Poll::Pending);
        tx.send(1).unwrap();
        assert_eq!(wa.0.load(Ordering::SeqCst), 1);
        assert_eq!(wb.0.load(Ordering::SeqCst), 1);
        tx.send(2).unwrap();
        assert_eq!(wa.0.load(Ordering::SeqCst), 1, "not re-registered, not woken again");
        assert_eq!(poll(&mut a, &waker_a), Poll::Ready(Some(Ok(1))));
        assert_eq!(poll(&mut a, &waker_a), Poll::Ready(Some(Ok(2))));
        assert_eq!(poll(&mut a, &waker_a), Poll::Pending);
        drop(b);
        assert!(tx.close());
        assert_eq!(wa.0.load(Ordering::SeqCst), 2, "close wakes everyone");
        assert_eq!(poll(&mut a, &waker_a), Poll::Ready(None));
    }

    #[test]
    fn many_waiters_are_all_woken() {
        let tx = ring::<u32>(cap(4)).unwrap();
        let count = Arc::new(CountWaker::default());
        let waker = Waker::from(Arc::clone(&count));
        let mut rxs: Vec<_> = (0..crate::waker_slots::INLINE_WAKERS + 5).map(|_| tx.subscribe().unwrap()).collect();
        for rx in &mut rxs {
            assert_eq!(poll(rx, &waker), Poll::Pending);
        }
        tx.send(1).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), crate::waker_slots::INLINE_WAKERS + 5);
    }

    #[test]
    fn receiver_ids_are_reused() {
        let tx = ring::<u32>(cap(4)).unwrap();
        for _ in 0..10 {
            let rx = tx.subscribe().unwrap();
            drop(rx);
        }
        assert_eq!(tx.shared.state.lock().waiters.capacity(), 1);
    }

    #[test]
    fn debug_needs_no_bound_on_t() {
        struct NotDebug;
        impl Clone for NotDebug {
            fn clone(&self) -> Self {
                NotDebug
            }
        }
        let tx = ring::<NotDebug>(cap(3)).unwrap();
        let rx = tx.subscribe().unwrap();
        assert_eq!(format!("{tx:?}"), "RingSender { receivers: 1, capacity: 3, closed: false }");
        assert!(format!("{rx:?}").starts_with("RingReceiver"));
        assert_eq!(format!("{Closed}"), "channel closed");
        assert_eq!(format!("{}", Lagged(3)), "receiver lagged behind and missed 3 values");
        assert_eq!(format!("{}", TryRecvError::Lagged(3)), "receiver lagged behind and missed 3 values");
    }

    #[cfg(all(feature = "std", not(target_family = "wasm")))]
    #[test]
    fn threads_see_ordered_values_and_exact_lag_counts() {
        use futures::StreamExt;

        const SENDERS: usize = 4;
        // Fewer values under Miri, which interprets every step (the interleavings still vary).
        const PER_SENDER: u64 = if cfg!(miri) { 100 } else { 10_000 };
        let tx = ring::<(usize, u64)>(cap(64)).unwrap();
        let receivers: Vec<_> = (0..4)
            .map(|_| {
                let mut rx = tx.subscribe().unwrap();
                std::thread::spawn(move || {
                    futures::executor::block_on(async move {
                        let mut last = [None::<u64>; SENDERS];
                        let (mut seen, mut lost) = (0u64, 0u64);
                        while let Some(item) = rx.next().await {
                            match item {
                                Ok((sender, seq)) => {
                                    assert!(last[sender].is_none_or(|prev| prev < seq));
                                    last[sender] = Some(seq);
                                    seen += 1;
                                }
                                Err(Lagged(n)) => lost += n,
                            }
                        }
                        (seen, lost)
                    })
                })
            })
            .collect();
        let senders: Vec<_> = (0..SENDERS)
            .map(|id| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for seq in 0..PER_SENDER {
                        assert_eq!(tx.send((id, seq)), Ok(4));
                    }
                })
            })
            .collect();
        drop(tx);
        for sender in senders {
            sender.join().unwrap();
        }
        for receiver in receivers {
            let (seen, lost) = receiver.join().unwrap();
            assert_eq!(seen + lost, SENDERS as u64 * PER_SENDER);
        }
    }
}
