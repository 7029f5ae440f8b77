//! [`BoxPool`]: empty boxes kept for reuse, and [`ReuseLimit`], the bound they share.
//!
//! A job's future is several hundred bytes, too big for the allocator's fast size
//! classes, and allocating and freeing it was the largest single cost of a short job. So
//! a box is kept when its job ends, and the next job of the same type and executor
//! registration moves into it. This module is all there is to that reuse: a pool hands
//! out an empty box ([`take`](BoxPool::take)) and takes one back
//! ([`put`](BoxPool::put)); what a box holds, and how it is refilled, is the box's own
//! business (see `job_box`).
//!
//! Every pool of a dispatcher counts against one [`ReuseLimit`], so the memory kept is
//! bounded however many job types there are. A pool whose registration is gone (its
//! executor replaced or removed, or the dispatcher dropped) is *retired*: it drops what
//! it holds and refuses the boxes of jobs still running. (A box holds its pool, so a pool
//! that kept boxes after its registration is gone would keep itself alive.)

use crate::sync::Arc;
use crate::sync::atomic::{AtomicUsize, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;

use crate::sync::Mutex;

/// How many empty boxes the pools of one dispatcher may keep in all.
#[derive(Debug)]
pub(crate) struct ReuseLimit {
    max: usize,
    kept: AtomicUsize,
}

impl ReuseLimit {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, kept: AtomicUsize::new(0) })
    }

    /// Boxes kept now, over all pools.
    pub(crate) fn kept(&self) -> usize {
        self.kept.load(Ordering::Acquire)
    }

    /// Claims room for one more box; `false` at the limit.
    fn claim(&self) -> bool {
        self.kept.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then(|| n + 1)).is_ok()
    }

    fn release(&self, n: usize) {
        self.kept.fetch_sub(n, Ordering::AcqRel);
    }
}

struct Kept<B: ?Sized> {
    boxes: Vec<Pin<Box<B>>>,
    retired: bool,
}

/// Empty boxes of one kind (`B`, usually a trait object), kept for reuse.
pub(crate) struct BoxPool<B: ?Sized> {
    kept: Mutex<Kept<B>>,
    limit: Arc<ReuseLimit>,
}

impl<B: ?Sized> BoxPool<B> {
    pub(crate) fn new(limit: Arc<ReuseLimit>) -> Self {
        Self { kept: Mutex::new(Kept { boxes: Vec::new(), retired: false }), limit }
    }

    /// An empty box, if one is kept.
    pub(crate) fn take(&self) -> Option<Pin<Box<B>>> {
        let taken = self.kept.lock().boxes.pop();
        if taken.is_some() {
            self.limit.release(1);
        }
        taken
    }

    /// Keeps an empty box for the next job, unless the limit is reached or the pool is
    /// retired: then it is dropped (after the lock is released).
    pub(crate) fn put(&self, empty: Pin<Box<B>>) {
        let refused = {
            let mut kept = self.kept.lock();
            if !kept.retired && self.limit.claim() {
                kept.boxes.push(empty);
                None
            } else {
                Some(empty)
            }
        };
        drop(refused);
    }

    /// The pool's registration is gone: its boxes are dropped, and later ones refused.
    pub(crate) fn retire(&self) {
        let boxes = {
            let mut kept = self.kept.lock();
            kept.retired = true;
            core::mem::take(&mut kept.boxes)
        };
        self.limit.release(boxes.len());
        drop(boxes); // outside the lock: a box holds its executor, whose drop is user code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(n: u32) -> Pin<Box<u32>> {
        Box::pin(n)
    }

    #[test]
    fn boxes_come_back_until_the_shared_limit() {
        let limit = ReuseLimit::new(2);
        let (a, b) = (BoxPool::new(limit.clone()), BoxPool::new(limit.clone()));
        a.put(boxed(1));
        b.put(boxed(2));
        a.put(boxed(3)); // over the limit shared by both pools: dropped
        assert_eq!(limit.kept(), 2);
        assert_eq!(a.take().map(|n| *n), Some(1));
        assert_eq!(a.take(), None);
        assert_eq!(limit.kept(), 1);
        a.put(boxed(4));
        assert_eq!(limit.kept(), 2);
    }

    #[test]
    fn a_retired_pool_drops_what_it_kept_and_refuses_more() {
        let limit = ReuseLimit::new(8);
        let pool = BoxPool::new(limit.clone());
        pool.put(boxed(1));
        pool.put(boxed(2));
        pool.retire();
        assert_eq!(limit.kept(), 0);
        pool.put(boxed(3));
        assert_eq!(pool.take(), None);
        assert_eq!(limit.kept(), 0);
    }

    #[test]
    fn a_zero_limit_keeps_nothing() {
        let pool = BoxPool::new(ReuseLimit::new(0));
        pool.put(boxed(1));
        assert_eq!(pool.take(), None);
    }
}
