//! The counting global allocator: bytes and allocations of the measuring thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread. Const-initialised, no destructor:
    /// usable from inside the allocator.
    static NET: Cell<isize> = const { Cell::new(0) };
    /// Allocations (`alloc`, `alloc_zeroed`, `realloc`) made by this thread.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the bytes each thread allocates and frees, and its
/// allocations (a plain thread-local add, so the timing benches pay about a nanosecond per
/// allocation, ours and the peers' alike). Memory is measured on a current-thread runtime,
/// where every allocation and free of the measured work happens on the measuring thread.
struct Counting;

/// Counts one allocation that changed the thread's net bytes by `delta`.
fn count(delta: isize) {
    let _ = NET.try_with(|n| n.set(n.get().wrapping_add(delta)));
    let _ = CALLS.try_with(|c| c.set(c.get().wrapping_add(1)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counting touches only const thread-local
// `Cell`s (no allocation, no destructor, no re-entrancy).
#[allow(unsafe_code)] // the benches crate denies unsafe code; this is its only exception
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = NET.try_with(|n| n.set(n.get().wrapping_sub(layout.size() as isize)));
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Net bytes allocated by this thread so far.
pub(crate) fn live() -> isize {
    NET.with(Cell::get)
}

/// Allocations made by this thread so far.
pub(crate) fn allocations() -> u64 {
    CALLS.with(Cell::get)
}
