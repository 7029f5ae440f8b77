//! The platform switches, defined once: everything that differs between `std` and
//! `no_std`, between threaded targets and `wasm32` / `--cfg orchestrator_unsync`, or
//! between targets with and without compare-and-swap, is here, and the rest of the crate
//! is written once.
//!
//! * The Send-or-not bounds and the type-erased aliases built on them.
//! * The mutex.
//! * Panic catching.
//! * `Arc` and the atomics.
//!
//! * [`MaybeSend`] / [`MaybeSync`] mean `Send` / `Sync` on threaded targets and nothing on
//!   `wasm32` or with `--cfg orchestrator_unsync`, so executors that call JavaScript (`!Send`
//!   futures) work on WASM while the same code is thread-safe everywhere else.
//! * [`Mutex`] is `std::sync::Mutex` with `std` (poisoning is ignored: our critical
//!   sections never leave data half-updated) and a spin lock without it. Critical sections
//!   in this crate are a few instructions long and never `await`.
//! * [`Arc`], [`Weak`] and [`atomic`] are `alloc::sync`'s and `core::sync::atomic`'s
//!   wherever the target has compare-and-swap, so those builds use exactly the standard
//!   types. On targets without it (thumbv6m-none-eabi), where `alloc::sync` does not exist,
//!   they are `portable-atomic-util`'s `Arc` and `portable-atomic`'s atomics (feature
//!   `portable-atomic`). That `Arc` cannot coerce to `Arc<dyn Trait>` on stable Rust:
//!   such values are built with [`dyn_arc!`].

#[cfg(target_has_atomic = "ptr")]
pub(crate) use alloc::sync::{Arc, Weak};
#[cfg(all(not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
pub(crate) use portable_atomic_util::{Arc, Weak};

/// The atomic types: `core::sync::atomic`'s, or `portable-atomic`'s where the target lacks
/// compare-and-swap (its read-modify-write operations are emulated there).
pub(crate) mod atomic {
    #[cfg(target_has_atomic = "ptr")]
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};
    #[cfg(all(not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
    pub(crate) use portable_atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};
}

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "portable-atomic")))]
compile_error!(
    "orchestrator-core: this target has no compare-and-swap; enable the `portable-atomic` and \
     `critical-section` features and link a critical-section implementation (docs/portability.md)"
);

/// `Arc::new(value)`, for an `Arc<dyn Trait>` that the context expects: an unsized
/// coercion with the standard `Arc`; through a `Box` with `portable-atomic-util`'s, which
/// cannot coerce on stable Rust (one more allocation, on those targets only).
#[cfg(target_has_atomic = "ptr")]
macro_rules! dyn_arc {
    ($value:expr) => {
        $crate::sync::Arc::new($value)
    };
}
#[cfg(not(target_has_atomic = "ptr"))]
macro_rules! dyn_arc {
    ($value:expr) => {
        $crate::sync::arc_from_box(alloc::boxed::Box::new($value))
    };
}
pub(crate) use dyn_arc;

/// `Arc::clone(arc)`, for an `Arc<dyn Trait>` that the context expects: the same
/// allocation, coerced, with the standard `Arc`; with `portable-atomic-util`'s a new `Arc`
/// around the clone, so there `Arc<T>` must implement the trait too (by forwarding).
#[cfg(target_has_atomic = "ptr")]
macro_rules! share_dyn {
    // (A block, so that the clone is typed by `arc` and then coerced, not by the context.)
    ($arc:expr) => {{
        let arc = $crate::sync::Arc::clone($arc);
        arc
    }};
}
#[cfg(not(target_has_atomic = "ptr"))]
macro_rules! share_dyn {
    ($arc:expr) => {
        $crate::sync::dyn_arc!($crate::sync::Arc::clone($arc))
    };
}
pub(crate) use share_dyn;

/// `Arc::from` a box, with the box's type inferred from the `Arc` expected (`From` alone
/// would be ambiguous), so that the box coerces to `Box<dyn Trait>`.
#[cfg(all(not(target_has_atomic = "ptr"), feature = "portable-atomic"))]
pub(crate) fn arc_from_box<T: ?Sized>(value: alloc::boxed::Box<T>) -> Arc<T> {
    Arc::from(value)
}

/// `Send` on threaded targets; no bound on `wasm32` or with `--cfg orchestrator_unsync`.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub trait MaybeSend: Send {}
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on threaded targets; no bound on `wasm32` or with `--cfg orchestrator_unsync`.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub trait MaybeSend {}
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` on threaded targets; no bound on `wasm32` or with `--cfg orchestrator_unsync`.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub trait MaybeSync: Sync {}
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// `Sync` on threaded targets; no bound on `wasm32` or with `--cfg orchestrator_unsync`.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub trait MaybeSync {}
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future that is `Send` where [`MaybeSend`] means `Send`.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub type BoxFuture<'a, T> = core::pin::Pin<alloc::boxed::Box<dyn core::future::Future<Output = T> + Send + 'a>>;
/// A boxed future that is `Send` where [`MaybeSend`] means `Send`.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub type BoxFuture<'a, T> = core::pin::Pin<alloc::boxed::Box<dyn core::future::Future<Output = T> + 'a>>;

// ---------------------------------------------------------------------------------------
// Type-erased values: `Send + Sync` where `MaybeSend` means `Send`. (A trait object can
// name only one non-auto trait, so `dyn Any + MaybeSend` is not possible: each shape is
// spelled out twice, here.)

/// A shared value of any type.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub(crate) type AnyArc = Arc<dyn core::any::Any + Send + Sync>;
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub(crate) type AnyArc = Arc<dyn core::any::Any>;

/// An owned value of any type.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub(crate) type AnyBox = alloc::boxed::Box<dyn core::any::Any + Send + Sync>;
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub(crate) type AnyBox = alloc::boxed::Box<dyn core::any::Any>;

/// A `dyn Error` that is `Send + Sync` where [`MaybeSend`] means `Send`.
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub type DynError = dyn core::error::Error + Send + Sync + 'static;
/// A `dyn Error` that is `Send + Sync` where [`MaybeSend`] means `Send`.
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub type DynError = dyn core::error::Error + 'static;

/// A predicate over cache keys (`Sync` where [`MaybeSync`] means `Sync`).
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub type KeyFilter<'a> = dyn Fn(&str) -> bool + Sync + 'a;
/// A predicate over cache keys (`Sync` where [`MaybeSync`] means `Sync`).
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub type KeyFilter<'a> = dyn Fn(&str) -> bool + 'a;

/// A shared predicate over a value of type `A` (`Send + Sync` where [`MaybeSend`] means
/// `Send`).
#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
pub(crate) type SharedPredicate<A> = Arc<dyn Fn(&A) -> bool + Send + Sync + 'static>;
#[cfg(any(target_family = "wasm", orchestrator_unsync))]
pub(crate) type SharedPredicate<A> = Arc<dyn Fn(&A) -> bool + 'static>;

// ---------------------------------------------------------------------------------------
// Panic catching: with `std`, a panic in user code is caught where the crate calls it;
// without `std` there is nothing to catch with (`panic = "abort"` aborts; with unwinding
// the panic propagates as in any other future).

/// Runs `f`; with `std`, a panic inside it is caught and its payload returned.
#[cfg(feature = "std")]
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, alloc::boxed::Box<dyn core::any::Any + Send>> {
    // Unwind safety is asserted: every caller either drops what the panic may have left
    // half-updated (a job's future) or holds user state only the user can judge.
    std::panic::catch_unwind(core::panic::AssertUnwindSafe(f))
}

/// Without `std`, runs `f`.
#[cfg(not(feature = "std"))]
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, alloc::boxed::Box<dyn core::any::Any + Send>> {
    Ok(f())
}

/// Drops a caught panic's payload inside a boundary of its own: its `Drop` is user code
/// too. Only a payload whose `Drop` panics again has that second payload leaked (dropping
/// it could panic without end).
pub(crate) fn drop_payload(payload: alloc::boxed::Box<dyn core::any::Any + Send>) {
    if let Err(again) = catch_panic(move || drop(payload)) {
        core::mem::forget(again);
    }
}

/// Polls `fut`; with `std`, a panic inside a poll ends it with the panic's payload.
#[cfg(feature = "std")]
pub(crate) fn catch_panic_future<F: core::future::Future>(
    fut: F,
) -> impl core::future::Future<Output = Result<F::Output, alloc::boxed::Box<dyn core::any::Any + Send>>> {
    futures_util::FutureExt::catch_unwind(core::panic::AssertUnwindSafe(fut))
}

/// Without `std`, `fut` itself.
#[cfg(not(feature = "std"))]
pub(crate) fn catch_panic_future<F: core::future::Future>(
    fut: F,
) -> impl core::future::Future<Output = Result<F::Output, alloc::boxed::Box<dyn core::any::Any + Send>>> {
    futures_util::FutureExt::map(fut, Ok)
}

// ---------------------------------------------------------------------------------------
// Locks

/// A mutual-exclusion lock that works with and without `std`.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized> {
    #[cfg(feature = "std")]
    inner: std::sync::Mutex<T>,
    #[cfg(not(feature = "std"))]
    inner: spin::Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            #[cfg(feature = "std")]
            inner: std::sync::Mutex::new(value),
            #[cfg(not(feature = "std"))]
            inner: spin::Mutex::new(value),
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// The value, through a unique reference (no locking).
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(feature = "std")]
        {
            self.inner.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        #[cfg(not(feature = "std"))]
        {
            self.inner.get_mut()
        }
    }

    /// Locks the mutex. A poisoned std mutex is recovered: no critical section in this
    /// crate can panic half-way through an update.
    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(feature = "std")]
        {
            self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }
        #[cfg(not(feature = "std"))]
        {
            self.inner.lock()
        }
    }

    /// Whether the lock is held, by anybody: tests check that destructors of user values
    /// never run under a lock.
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        #[cfg(feature = "std")]
        {
            matches!(self.inner.try_lock(), Err(std::sync::TryLockError::WouldBlock))
        }
        #[cfg(not(feature = "std"))]
        {
            self.inner.is_locked()
        }
    }
}

#[cfg(feature = "std")]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(not(feature = "std"))]
pub(crate) type MutexGuard<'a, T> = spin::MutexGuard<'a, T>;
