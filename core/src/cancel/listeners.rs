//! The listener list of one token: insertion and removal in O(1), iteration in insertion
//! order.
//!
//! A slab: entries live in `slots`, addressed by index, and a removed entry's slot is
//! reused. The occupied slots are threaded, in insertion order, on a doubly linked list of
//! indices (so removing one from the middle keeps the order of the others without moving
//! them); the vacant ones are on a second doubly linked list, the free list, that
//! insertion takes from first. A [`Key`] is an index plus the entry's stamp, a number
//! never given twice by one list, so the key of a removed entry never matches the entry
//! that later takes its slot.
//!
//! Memory is given back: the last slot is never vacant (removing it also drops the vacant
//! slots before it, which is why the free list is doubly linked), and the storage shrinks
//! once it is less than a quarter used. An empty list therefore holds no memory, and a
//! list is as long as its highest occupied index plus one: a long-lived entry inserted at
//! the end of a burst keeps the burst's (vacant) slots until it is removed.
//!
//! Every index is followed with `get` / `get_mut`: an index that pointed nowhere would be
//! a bug here, but it ends a walk instead of panicking.

use alloc::vec::Vec;

/// No slot: the end of a list.
const NIL: usize = usize::MAX;

/// Storage capacity (in slots) under which the list never shrinks, so a token with a few
/// short-lived listeners does not reallocate on every insertion.
const KEEP: usize = 32;

/// Names one entry of one [`Listeners`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    index: usize,
    stamp: u64,
}

struct Slot<T> {
    /// `None` while the slot is vacant.
    value: Option<T>,
    /// The occupant's stamp (meaningless while vacant).
    stamp: u64,
    /// Neighbours in the insertion-order list while occupied, in the free list while
    /// vacant; [`NIL`] at either end.
    prev: usize,
    next: usize,
}

/// Entries in insertion order; see the module documentation.
pub(super) struct Listeners<T> {
    slots: Vec<Slot<T>>,
    /// First and last occupied slot (insertion order).
    head: usize,
    tail: usize,
    /// First vacant slot.
    free: usize,
    /// Occupied slots.
    len: usize,
    /// The stamp of the next entry.
    next_stamp: u64,
}

impl<T> Listeners<T> {
    pub(super) const fn new() -> Self {
        Self { slots: Vec::new(), head: NIL, tail: NIL, free: NIL, len: 0, next_stamp: 0 }
    }

    /// The number of entries.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// A key that matches no entry, now or later (it is not an index).
    pub(super) fn dead_key(&mut self) -> Key {
        Key { index: NIL, stamp: self.stamp() }
    }

    fn stamp(&mut self) -> u64 {
        let stamp = self.next_stamp;
        // 2^64 insertions do not happen; wrapping keeps this free of a panic path.
        self.next_stamp = self.next_stamp.wrapping_add(1);
        stamp
    }

    fn set_prev(&mut self, index: usize, prev: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.prev = prev;
        }
    }

    fn set_next(&mut self, index: usize, next: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.next = next;
        }
    }

    /// Appends `value` (it comes after every entry already in the list).
    pub(super) fn insert(&mut self, value: T) -> Key {
        let stamp = self.stamp();
        let tail = self.tail;
        let occupant = Slot { value: Some(value), stamp, prev: tail, next: NIL };
        let index = match self.slots.get_mut(self.free) {
            Some(slot) => {
                let index = self.free;
                let next_free = slot.next;
                *slot = occupant;
                self.free = next_free;
                self.set_prev(next_free, NIL);
                index
            }
            None => {
                self.slots.push(occupant);
                self.slots.len() - 1
            }
        };
        if tail == NIL {
            self.head = index;
        } else {
            self.set_next(tail, index);
        }
        self.tail = index;
        self.len += 1;
        Key { index, stamp }
    }

    /// Removes and returns the entry `key` names, if it is still there and `accept`
    /// accepts it; otherwise leaves the list unchanged.
    pub(super) fn remove_if(&mut self, key: Key, accept: impl FnOnce(&T) -> bool) -> Option<T> {
        let slot = self.slots.get_mut(key.index)?;
        if slot.stamp != key.stamp || !slot.value.as_ref().is_some_and(accept) {
            return None;
        }
        let value = slot.value.take();
        let (prev, next) = (slot.prev, slot.next);
        // Out of the insertion-order list.
        if prev == NIL {
            self.head = next;
        } else {
            self.set_next(prev, next);
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.set_prev(next, prev);
        }
        self.len -= 1;
        if key.index + 1 == self.slots.len() {
            self.slots.pop();
            self.trim();
        } else {
            // Onto the free list.
            let free = self.free;
            if let Some(slot) = self.slots.get_mut(key.index) {
                slot.prev = NIL;
                slot.next = free;
            }
            self.set_prev(free, key.index);
            self.free = key.index;
        }
        value
    }

    /// Drops the vacant slots at the end, then shrinks the storage if it is mostly unused.
    /// Each slot is dropped at most once per insertion, so this is O(1) amortised.
    fn trim(&mut self) {
        while let Some(last) = self.slots.last() {
            if last.value.is_some() {
                break;
            }
            let (prev, next) = (last.prev, last.next);
            self.slots.pop();
            // Out of the free list.
            if prev == NIL {
                self.free = next;
            } else {
                self.set_next(prev, next);
            }
            self.set_prev(next, prev);
        }
        let capacity = self.slots.capacity();
        if capacity > KEEP && self.slots.len() < capacity / 4 {
            // Twice the length, so growing back costs as many insertions as it copies.
            self.slots.shrink_to(self.slots.len() * 2);
        }
    }

    /// Empties the list and returns its entries, in insertion order. Stamps keep counting,
    /// so keys handed out before stay dead.
    pub(super) fn take(&mut self) -> Drain<T> {
        let drain = Drain { slots: core::mem::take(&mut self.slots), next: self.head };
        (self.head, self.tail, self.free, self.len) = (NIL, NIL, NIL, 0);
        drain
    }

    /// Storage capacity in slots.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Checks every invariant (tests only): both lists well linked and together covering
    /// every slot once, the last slot occupied, `len` right.
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut seen = alloc::vec![false; self.slots.len()];
        let mut walk = |start: usize, occupied: bool| {
            let (mut prev, mut at, mut count) = (NIL, start, 0);
            while at != NIL {
                let slot = &self.slots[at];
                assert!(!seen[at], "slot {at} on a list twice");
                seen[at] = true;
                assert_eq!(slot.value.is_some(), occupied, "slot {at} on the wrong list");
                assert_eq!(slot.prev, prev, "slot {at}: bad back link");
                (prev, at) = (at, slot.next);
                count += 1;
            }
            (prev, count)
        };
        let (tail, len) = walk(self.head, true);
        assert_eq!((tail, len), (self.tail, self.len));
        walk(self.free, false);
        assert!(seen.iter().all(|&s| s), "a slot on no list");
        assert!(self.slots.last().is_none_or(|s| s.value.is_some()), "a vacant last slot");
    }
}

/// The entries of an emptied [`Listeners`], in insertion order. Whatever is not taken is
/// dropped with it.
pub(super) struct Drain<T> {
    slots: Vec<Slot<T>>,
    next: usize,
}

impl<T> Iterator for Drain<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        while let Some(slot) = self.slots.get_mut(self.next) {
            self.next = slot.next;
            if let Some(value) = slot.value.take() {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A small deterministic generator (xorshift64*): the same sequence on every target,
    /// Miri included, without a dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        }
    }

    fn values(list: &mut Listeners<u32>) -> Vec<u32> {
        list.take().collect()
    }

    #[test]
    fn keeps_insertion_order_across_removals_and_reuse() {
        let mut list = Listeners::new();
        let keys: Vec<_> = (0..5).map(|v| list.insert(v)).collect();
        assert_eq!(list.remove_if(keys[1], |_| true), Some(1));
        assert_eq!(list.remove_if(keys[3], |_| true), Some(3));
        list.check();
        // 5 and 6 reuse the freed slots but still come last, in their own order.
        let five = list.insert(5);
        list.insert(6);
        list.check();
        assert!(five.index == keys[1].index || five.index == keys[3].index);
        assert_eq!(list.len(), 5);
        assert_eq!(values(&mut list), [0, 2, 4, 5, 6]);
        assert_eq!(list.len(), 0);
        list.check();
    }

    #[test]
    fn stale_and_rejected_keys_remove_nothing() {
        let mut list = Listeners::new();
        let a = list.insert(1);
        assert_eq!(list.remove_if(a, |&v| v == 2), None, "rejected by the predicate");
        assert_eq!(list.remove_if(a, |_| true), Some(1));
        assert_eq!(list.remove_if(a, |_| true), None, "already removed");
        // The same slot, a new entry: the old key must not match it.
        let _keep = list.insert(0);
        let b = list.insert(2);
        assert_eq!(b.index, a.index + 1);
        list.remove_if(b, |_| true);
        let c = list.insert(3);
        assert_eq!(c.index, b.index, "the slot is reused");
        assert_eq!(list.remove_if(b, |_| true), None, "a stale key for a reused slot");
        let dead = list.dead_key();
        assert_eq!(list.remove_if(dead, |_| true), None);
        // Keys stay dead after `take`.
        assert_eq!(values(&mut list), [0, 3]);
        let d = list.insert(4);
        assert_eq!(list.remove_if(c, |_| true), None);
        assert_eq!(list.remove_if(d, |_| true), Some(4));
    }

    #[test]
    fn storage_is_given_back() {
        const N: usize = if cfg!(miri) { 300 } else { 10_000 };
        let mut list = Listeners::new();
        let mut rng = Rng(7);
        // A burst, removed in a shuffled order: nothing left.
        let mut keys: Vec<_> = (0..N as u32).map(|v| list.insert(v)).collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.below(i + 1));
        }
        for key in keys {
            assert!(list.remove_if(key, |_| true).is_some());
        }
        list.check();
        assert_eq!(list.capacity(), 0);

        // A long-lived entry before a burst: the burst's storage goes when it ends.
        let first = list.insert(u32::MAX);
        let keys: Vec<_> = (0..N as u32).map(|v| list.insert(v)).collect();
        for key in keys {
            list.remove_if(key, |_| true);
        }
        list.check();
        assert!(list.capacity() <= KEEP, "capacity {}", list.capacity());

        // A long-lived entry after a burst keeps the burst's slots until it goes.
        let keys: Vec<_> = (0..N as u32).map(|v| list.insert(v)).collect();
        let last = list.insert(u32::MAX - 1);
        for key in keys {
            list.remove_if(key, |_| true);
        }
        list.check();
        assert_eq!(list.len(), 2);
        assert!(list.capacity() > N);
        assert_eq!(list.remove_if(last, |_| true), Some(u32::MAX - 1));
        list.check();
        assert!(list.capacity() <= KEEP, "capacity {}", list.capacity());
        assert_eq!(list.remove_if(first, |_| true), Some(u32::MAX));
        list.check();
        assert_eq!(list.len(), 0);
    }

    /// Random insertions and removals against a `Vec` model.
    #[test]
    fn matches_a_vec_model() {
        let rounds = if cfg!(miri) { 200 } else { 20_000 };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut list = Listeners::new();
        let mut model: Vec<(Key, u32)> = Vec::new();
        let mut stale: Vec<Key> = Vec::new();
        for round in 0..rounds {
            match rng.below(10) {
                // Insertion outweighs removal in phases, so the list grows and shrinks.
                0..=4 if (round / 1000) % 2 == 0 || model.is_empty() => {
                    let value = round as u32;
                    model.push((list.insert(value), value));
                }
                0..=6 if !model.is_empty() => {
                    let (key, value) = model.remove(rng.below(model.len()));
                    assert_eq!(list.remove_if(key, |_| true), Some(value));
                    stale.push(key);
                }
                7 if !stale.is_empty() => {
                    let key = stale[rng.below(stale.len())];
                    assert_eq!(list.remove_if(key, |_| true), None);
                }
                8 if round % 97 == 0 => {
                    let (keys, expected): (Vec<Key>, Vec<u32>) = model.drain(..).unzip();
                    stale.extend(keys);
                    stale.push(list.dead_key());
                    assert_eq!(values(&mut list), expected);
                }
                _ => {
                    let value = round as u32;
                    model.push((list.insert(value), value));
                }
            }
            assert_eq!(list.len(), model.len());
            if round % 64 == 0 {
                list.check();
            }
        }
        list.check();
        let expected: Vec<_> = model.iter().map(|&(_, v)| v).collect();
        assert_eq!(values(&mut list), expected);
    }
}
