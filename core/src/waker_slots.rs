//! [`WakerSlots`]: the wakers of the tasks waiting on one shared structure (the receivers
//! of a ring, the streams of a state cell, the runners of a job queue), and [`WakeBatch`],
//! the wakers taken out under that structure's lock and woken after it is released.
//!
//! Every waiter owns one slot for its whole life, so a waiter that waits again and again
//! reuses its slot (and keeps its waker if it would wake the same task): waiting allocates
//! nothing after the first time. Freed slots are reused by the next waiter. The owner of
//! the slots keeps them under its own lock, so registering a waker and finding nothing to
//! do are one atomic step, and no wake-up is lost.
//!
//! Wakers are never woken under the lock: waking may run arbitrary code (an executor's
//! scheduling, a user's waker), which must not re-enter the structure while it is locked.

use alloc::vec::Vec;
use core::task::Waker;

/// How many wakers a [`WakeBatch`] holds before it allocates.
pub(crate) const INLINE_WAKERS: usize = 8;

/// One waker slot per waiter, indexed by the id [`add`](Self::add) gave it.
#[derive(Debug, Default)]
pub(crate) struct WakerSlots {
    slots: Vec<Option<Waker>>,
    /// Ids free for reuse.
    free: Vec<usize>,
    /// Number of slots that hold a waker: 0 lets a notifier skip the scan.
    waiting: usize,
}

impl WakerSlots {
    pub(crate) const fn new() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), waiting: 0 }
    }

    /// A slot for a new waiter; its id.
    pub(crate) fn add(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len().saturating_sub(1)
        })
    }

    /// The waiter `id` is gone: its waker is dropped and its slot freed.
    pub(crate) fn remove(&mut self, id: usize) {
        if let Some(slot) = self.slots.get_mut(id) {
            if slot.take().is_some() {
                self.waiting = self.waiting.saturating_sub(1);
            }
            self.free.push(id);
        }
    }

    /// Waiter `id` waits: `waker` is woken at the next notification. A waker that would
    /// wake the same task as the one registered is not cloned again.
    pub(crate) fn register(&mut self, id: usize, waker: &Waker) {
        let Some(slot) = self.slots.get_mut(id) else { return };
        match slot {
            Some(old) if old.will_wake(waker) => {}
            Some(old) => old.clone_from(waker),
            None => {
                *slot = Some(waker.clone());
                self.waiting = self.waiting.saturating_add(1);
            }
        }
    }

    /// Number of waiters with a waker registered.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Takes the waker of one waiting waiter (the highest id), to wake one of them only.
    pub(crate) fn take_one(&mut self) -> Option<Waker> {
        if self.waiting == 0 {
            return None;
        }
        let waker = self.slots.iter_mut().rev().find_map(Option::take);
        if waker.is_some() {
            self.waiting = self.waiting.saturating_sub(1);
        }
        waker
    }

    /// Moves every registered waker into `batch`, to be woken once the lock is released.
    /// (`batch` lives in the caller's frame: a returned batch would be copied around.)
    pub(crate) fn take_all(&mut self, batch: &mut WakeBatch) {
        if self.waiting == 0 {
            return;
        }
        for waker in self.slots.iter_mut().filter_map(Option::take) {
            batch.push(waker);
        }
        self.waiting = 0;
    }

    /// Slots allocated, free ones included.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }
}

/// Wakers taken out of [`WakerSlots`] under a lock, woken after it is released. The first
/// few are held inline, so waking a handful of waiters allocates nothing.
#[derive(Debug)]
pub(crate) struct WakeBatch {
    inline: heapless::Vec<Waker, INLINE_WAKERS>,
    spill: Vec<Waker>,
}

impl WakeBatch {
    pub(crate) const fn new() -> Self {
        Self { inline: heapless::Vec::new(), spill: Vec::new() }
    }

    fn push(&mut self, waker: Waker) {
        if let Err(waker) = self.inline.push(waker) {
            self.spill.push(waker);
        }
    }

    /// Wakes every waker taken.
    pub(crate) fn wake_all(&mut self) {
        // `pop` rather than `into_iter`: moving the inline array around is not free.
        while let Some(waker) = self.inline.pop() {
            waker.wake();
        }
        self.spill.drain(..).for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        (count, waker)
    }

    #[test]
    fn a_freed_slot_is_reused_and_its_waker_dropped() {
        let mut slots = WakerSlots::new();
        let (a, b) = (slots.add(), slots.add());
        let (count, waker) = counted();
        slots.register(a, &waker);
        assert_eq!(slots.waiting(), 1);
        slots.remove(a);
        assert_eq!(slots.waiting(), 0);
        assert_eq!(Arc::strong_count(&count), 2, "the slot's clone is dropped");
        assert_eq!(slots.add(), a, "the freed id comes back");
        assert_eq!(slots.capacity(), 2);
        assert_ne!(a, b);
    }

    #[test]
    fn registering_again_keeps_one_waker_per_slot() {
        let mut slots = WakerSlots::new();
        let id = slots.add();
        let (count, waker) = counted();
        for _ in 0..3 {
            slots.register(id, &waker);
        }
        assert_eq!(slots.waiting(), 1);
        assert_eq!(Arc::strong_count(&count), 3, "one clone in the slot, not three");
        let mut batch = WakeBatch::new();
        slots.take_all(&mut batch);
        assert_eq!(slots.waiting(), 0);
        batch.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn take_one_wakes_one_and_take_all_wakes_every_waiter_beyond_the_inline_room() {
        let mut slots = WakerSlots::new();
        let waiters: Vec<_> = (0..INLINE_WAKERS + 3).map(|_| (slots.add(), counted())).collect();
        for (id, (_, waker)) in &waiters {
            slots.register(*id, waker);
        }
        let one = slots.take_one();
        assert!(one.is_some());
        assert_eq!(slots.waiting(), INLINE_WAKERS + 2);
        let mut batch = WakeBatch::new();
        slots.take_all(&mut batch);
        batch.wake_all();
        let woken: usize = waiters.iter().map(|(_, (count, _))| count.0.load(Ordering::SeqCst)).sum();
        assert_eq!(woken, INLINE_WAKERS + 2, "every waiter but the one taken alone");
        assert!(slots.take_one().is_none());
    }
}
