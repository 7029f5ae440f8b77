//! [`JobHandle`]: the caller's end of one dispatched job.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use crate::sync::share_dyn;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::cancel::CancellationToken;
use crate::error::JobError;
use crate::job_id::JobId;
use crate::result::JobResult;
use crate::sync::{MaybeSend, MaybeSync, Mutex};

mod abort_on_drop;
pub use abort_on_drop::{AbortOnDropHandle, HANDLE_DROPPED};

/// Reason given to a job's handle when the job was dropped before it could finish
/// (its runner stopped or was dropped).
pub const ABANDONED: &str = "abandoned: the job was dropped before it finished (its runner stopped)";

/// Counters shared by a dispatcher, its runners and its jobs.
///
/// A job costs two read-modify-writes here: `dispatched` when it is dispatched and
/// `finished` when its handle resolves; `pending` is their difference. (`running` is
/// updated by the runners once per batch, not per job.)
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Dispatched since creation. Wraps on overflow.
    pub(crate) dispatched: AtomicUsize,
    /// Finished (any outcome) since creation. Wraps on overflow.
    pub(crate) finished: AtomicUsize,
    /// Being polled by a runner (may briefly over-count: a runner gives back the jobs it
    /// finished in one poll at the end of that poll, after their futures are dropped).
    pub(crate) running: AtomicUsize,
    /// Runner futures alive.
    pub(crate) runners: AtomicUsize,
    /// Wakes a drain when a job ends.
    pub(crate) drain: crate::drain_signal::DrainSignal,
}

impl Counters {
    /// Dispatched and not yet finished (queued or running). `finished` is read first: it
    /// can only lag `dispatched`, so the difference never underflows; a job finishing
    /// between the two loads is still counted (an over-estimate, never an under-estimate).
    pub(crate) fn pending(&self) -> usize {
        let finished = self.finished.load(Ordering::Acquire);
        self.dispatched.load(Ordering::Acquire).wrapping_sub(finished)
    }
}

/// A job's cancellation token, created on first use.
///
/// Most jobs are never cancelled and nobody asks for their token, so a job without a
/// parent token does not build one (an allocation and its bookkeeping) until its handle or
/// its executor asks for it, or the job has to wait and races its work against
/// cancellation. A job with a parent token (`JobOptions::token`) gets its child token at
/// dispatch, so cancelling the parent reaches it.
pub(crate) struct LazyToken {
    token: Mutex<Option<CancellationToken>>,
    /// Set (under the lock) once the token exists: until then the job cannot be cancelled,
    /// and `is_cancelled` needs no lock.
    created: AtomicBool,
}

impl LazyToken {
    fn new(token: Option<CancellationToken>) -> Self {
        Self { created: AtomicBool::new(token.is_some()), token: Mutex::new(token) }
    }

    /// The token, created now if it did not exist.
    pub(crate) fn get(&self) -> CancellationToken {
        let mut token = self.token.lock();
        match &*token {
            Some(t) => t.clone(),
            None => {
                let t = CancellationToken::new();
                *token = Some(t.clone());
                self.created.store(true, Ordering::Release);
                t
            }
        }
    }

    /// Makes `token` this job's token (replacing any it had).
    fn share(&self, token: CancellationToken) {
        let old = self.token.lock().replace(token);
        self.created.store(true, Ordering::Release);
        drop(old); // outside the lock: dropping a child token locks its parent
    }

    /// True once the job is cancelled (a job whose token was never created is not).
    pub(crate) fn is_cancelled(&self) -> bool {
        self.created.load(Ordering::Acquire) && self.token.lock().as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Drops the token, once the job has ended and its handle is gone: nobody can cancel
    /// the job any more, and the slot (kept by its task's box for reuse) must not keep
    /// the token alive, nor a child token listed on its parent.
    fn release(&self) {
        if self.created.load(Ordering::Acquire) {
            let token = self.token.lock().take();
            self.created.store(false, Ordering::Release);
            drop(token); // outside the lock: dropping a child token locks its parent
        }
    }

    /// The cancellation reason, if the job was cancelled with one.
    pub(crate) fn reason(&self) -> Option<Arc<str>> {
        if !self.created.load(Ordering::Acquire) {
            return None;
        }
        self.token.lock().as_ref().and_then(CancellationToken::reason)
    }
}

/// Orders a job's late reports against its terminal event: once the terminal event is
/// on its way, [`JobContext`](crate::JobContext) reports (progress, custom events) are
/// refused with a typed error and emit nothing, even from a context clone kept past the
/// job's end or used on another thread.
///
/// Reports and the job's one writer are kept apart. `reports` is one word: bit 0 says
/// reports are closed, the rest counts reports being emitted. A report registers itself
/// before it checks bit 0; the pipeline sets bit 0, then waits for the reports already
/// registered (each is one bus emit, never an `await`) before it emits the terminal event.
/// So no report can land after the terminal event. `flags` are written by one party at a
/// time (the dispatcher before the job is queued, then the job's own future, or the panic
/// boundary on the job's thread), so they need no read-modify-write.
#[derive(Debug)]
pub(crate) struct EmitGate {
    reports: AtomicUsize,
    flags: AtomicU8,
}

const CLOSED: usize = 1;
const ONE_REPORT: usize = 2;
/// The dispatcher accepted the job: it owes a terminal event.
const ACCEPTED: u8 = 1;
/// The job's terminal event was emitted.
const TERMINAL_SENT: u8 = 2;

impl EmitGate {
    /// The gate of a new job: accepted until the dispatcher says otherwise (a job is
    /// refused far less often than accepted, so only a refusal writes the flag).
    pub(crate) fn new_accepted() -> Self {
        Self { reports: AtomicUsize::new(0), flags: AtomicU8::new(ACCEPTED) }
    }

    /// Registers a report; `None` once reports are closed (nothing may be emitted).
    pub(crate) fn enter(&self) -> Option<ReportGuard<'_>> {
        if self.reports.fetch_add(ONE_REPORT, Ordering::AcqRel) & CLOSED != 0 {
            self.reports.fetch_sub(ONE_REPORT, Ordering::AcqRel);
            return None;
        }
        Some(ReportGuard(self))
    }

    /// Closes reports and waits for those in flight: after this, the terminal event may go.
    pub(crate) fn close(&self) {
        if self.reports.fetch_or(CLOSED, Ordering::AcqRel) < ONE_REPORT {
            return;
        }
        let mut spins = 0_u32;
        while self.reports.load(Ordering::Acquire) >= ONE_REPORT {
            // Another thread is between its check and the end of its emit (no `await` in
            // between): back off politely.
            spins = spins.wrapping_add(1);
            core::hint::spin_loop();
            #[cfg(feature = "std")]
            if spins % 64 == 0 {
                std::thread::yield_now();
            }
        }
    }

    /// Records that the terminal event was emitted (or attempted on a closed bus).
    pub(crate) fn set_terminal_sent(&self) {
        let flags = self.flags.load(Ordering::Relaxed);
        self.flags.store(flags | TERMINAL_SENT, Ordering::Release);
    }

    /// True once the job's terminal event was emitted.
    pub(crate) fn terminal_sent(&self) -> bool {
        self.flags.load(Ordering::Acquire) & TERMINAL_SENT != 0
    }

    /// Marks the job refused by its dispatcher after all: it owes no terminal event.
    pub(crate) fn refuse(&self) {
        let flags = self.flags.load(Ordering::Relaxed);
        self.flags.store(flags & !ACCEPTED, Ordering::Release);
    }

    /// True unless the job was refused (see [`refuse`](Self::refuse)).
    pub(crate) fn accepted(&self) -> bool {
        self.flags.load(Ordering::Acquire) & ACCEPTED != 0
    }
}

/// A report in flight (see [`EmitGate`]).
pub(crate) struct ReportGuard<'a>(&'a EmitGate);

impl Drop for ReportGuard<'_> {
    fn drop(&mut self) {
        self.0.reports.fetch_sub(ONE_REPORT, Ordering::AcqRel);
    }
}

enum State<T> {
    Waiting(Option<Waker>),
    Done(JobResult<T>),
    /// The result was taken, or dropped with the handle.
    Taken,
    /// The handle was dropped before the result came: the result is dropped at once.
    Detached,
}

/// What a job and its handle share: the result (or the handle's waker) and the job's
/// cancellation token.
pub(crate) struct ResultSlot<T> {
    state: Mutex<State<T>>,
    cancel: LazyToken,
    gate: EmitGate,
    /// The handles of dispatches that joined this job (flow control's `join`): each gets
    /// a clone of its result.
    joined: Mutex<Joined<T>>,
    /// Set at dispatch on a job others may join (a join policy's job): only such a job
    /// looks at `joined` when it finishes, so every other job pays one plain load.
    joinable: AtomicBool,
}

/// The handles waiting on another job's result (see [`ResultSlot::join`]).
enum Joined<T> {
    /// Still accepting handles (boxed: most jobs have none, and every slot has this field).
    #[allow(clippy::box_collection)] // one pointer in every slot rather than a `Vec`'s three
    Open(Option<alloc::boxed::Box<alloc::vec::Vec<Completer<T>>>>),
    /// The job's result is being (or was) delivered: too late to join.
    Closed,
}

/// What a handle that joined a job gets if cloning that job's output panicked.
const JOINED_CLONE_PANICKED: &str = "the joined job's output panicked while being cloned for its joined handles";

/// The job's end of the result slot. It resolves the handle exactly once and counts the
/// job as finished; the pipeline's [`Plan`](crate::pipeline::Plan) resolves it as
/// abandoned if the job is dropped before it completes.
pub(crate) struct Completer<T> {
    slot: Option<Arc<ResultSlot<T>>>,
}

impl<T> Completer<T> {
    /// True until the handle is resolved.
    pub(crate) fn is_armed(&self) -> bool {
        self.slot.is_some()
    }

    /// Stores the result and wakes the handle (only the first call does anything).
    pub(crate) fn complete(&mut self, result: JobResult<T>, counters: &Counters)
    where
        T: Clone,
    {
        if let Some(slot) = self.slot.take() {
            slot.finish(result, counters);
        }
    }

    /// Resolves the handle with a `Failure` (for a handle that joined a job, which no
    /// other handle can join in turn).
    fn complete_failed(&mut self, error: JobError, counters: &Counters) {
        if let Some(slot) = self.slot.take() {
            slot.store(JobResult::Failure(error), counters);
        }
    }

    /// Gives up the duty to resolve the handle, to whoever completes the job through its
    /// type-erased slot instead (the panic boundary).
    pub(crate) fn disarm(&mut self) {
        self.slot = None;
    }

    /// Takes the duty to resolve the handle, leaving this completer disarmed.
    pub(crate) fn take(&mut self) -> Self {
        Self { slot: self.slot.take() }
    }
}

impl<T> ResultSlot<T> {
    /// Cancels the job with `reason` (a drain's deadline).
    pub(crate) fn cancel_with(&self, reason: &Arc<str>) {
        self.cancel.get().cancel_with_reason(reason.clone());
    }

    /// Stores the job's result and wakes the handle; counts the job as finished. Called
    /// once per job, by its completer or by the panic boundary.
    #[inline]
    fn finish(&self, result: JobResult<T>, counters: &Counters)
    where
        T: Clone,
    {
        if self.joinable.load(Ordering::Acquire) {
            self.finish_joinable(result, counters);
        } else {
            self.store(result, counters);
        }
    }

    /// [`finish`](Self::finish) of a job others may have joined: out of line, so that
    /// every other job's finish stays small enough to inline.
    #[cold]
    #[inline(never)]
    fn finish_joinable(&self, result: JobResult<T>, counters: &Counters)
    where
        T: Clone,
    {
        let joined = core::mem::replace(&mut *self.joined.lock(), Joined::Closed);
        match joined {
            Joined::Open(Some(joined)) => self.deliver(result, *joined, counters),
            _ => self.store(result, counters),
        }
    }

    /// Resolves the handles that joined this job with clones of its result, then its own.
    /// If a clone panics, the guard resolves the rest (and this job's own handle) with a
    /// `Failure` as it unwinds: no handle is left waiting.
    #[cold]
    fn deliver(&self, result: JobResult<T>, joined: alloc::vec::Vec<Completer<T>>, counters: &Counters)
    where
        T: Clone,
    {
        struct Delivery<'a, T> {
            slot: &'a ResultSlot<T>,
            rest: alloc::vec::IntoIter<Completer<T>>,
            counters: &'a Counters,
            done: bool,
        }
        impl<T> Drop for Delivery<'_, T> {
            fn drop(&mut self) {
                if self.done {
                    return;
                }
                for mut completer in self.rest.by_ref() {
                    completer.complete_failed(JobError::msg(JOINED_CLONE_PANICKED), self.counters);
                }
                self.slot.store(JobResult::Failure(JobError::msg(JOINED_CLONE_PANICKED)), self.counters);
            }
        }
        let mut delivery = Delivery { slot: self, rest: joined.into_iter(), counters, done: false };
        while delivery.rest.len() > 0 {
            // Cloned before the completer is taken out: a panicking clone leaves it to the guard.
            let copy = result.clone();
            if let Some(mut completer) = delivery.rest.next() {
                completer.complete(copy, counters);
            }
        }
        delivery.done = true;
        self.store(result, counters);
    }

    /// Lets other dispatches join this job (before it is queued: its finish then sees it).
    pub(crate) fn make_joinable(&self) {
        self.joinable.store(true, Ordering::Release);
    }

    /// Makes the handle of a dispatch that joins this job (`id`), if its result is not on
    /// its way yet: it carries this job's id, shares its token, and gets a clone of its
    /// result.
    pub(crate) fn join_new(&self, id: JobId, counters: &Counters) -> Option<JobHandle<T>>
    where
        T: Clone + MaybeSend + MaybeSync + 'static,
    {
        let mut joined = self.joined.lock();
        let Joined::Open(list) = &mut *joined else { return None };
        let (completer, handle, _, _) = pair(id, Some(self.cancel.get()), counters, None);
        list.get_or_insert_with(Default::default).push(completer);
        Some(handle)
    }

    /// Adds the handle of a dispatch that joins this job: it will get a clone of this
    /// job's result. Gives it back if the result is already on its way.
    pub(crate) fn join(&self, follower: Completer<T>) -> Result<(), Completer<T>> {
        match &mut *self.joined.lock() {
            Joined::Open(list) => {
                list.get_or_insert_with(Default::default).push(follower);
                Ok(())
            }
            Joined::Closed => Err(follower),
        }
    }

    /// This job's cancellation token (created now if it did not exist).
    pub(crate) fn token(&self) -> CancellationToken {
        self.cancel.get()
    }

    /// Stores the job's result and wakes the handle; counts the job as finished.
    #[inline]
    fn store(&self, result: JobResult<T>, counters: &Counters) {
        let (waker, detached) = {
            let mut state = self.state.lock();
            match &mut *state {
                State::Waiting(w) => {
                    let waker = w.take();
                    *state = State::Done(result);
                    (waker, false)
                }
                // Nobody will read it (and a reused slot must not keep it alive).
                State::Detached => {
                    *state = State::Taken;
                    (None, true)
                }
                // Unreachable in practice: only one completer exists per slot.
                State::Done(_) | State::Taken => (None, false),
            }
        };
        if detached {
            // The handle was gone before the job ended: nobody can cancel it any more.
            self.cancel.release();
        }
        // `SeqCst`: a drain reads it after announcing itself (see `drain`).
        counters.finished.fetch_add(1, Ordering::SeqCst);
        counters.drain.job_ended();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A job's result slot, as the box of its task keeps it for the next job (see `reuse` in
/// [`pair`]).
pub(crate) type SlotRef<T> = Arc<ResultSlot<T>>;

/// A new job's ends: its completer, its handle, the slot its context keeps for the token,
/// and a reference for its task's box to keep. `token` is the job's child of a parent
/// token, if it has one.
///
/// `reuse` is the slot of the previous job in the same box: if nothing else holds it any
/// more (its handle, context and completer are gone), it is reset and reused instead of
/// allocating a new one.
pub(crate) fn pair<T: Clone + MaybeSend + MaybeSync + 'static>(
    id: JobId,
    token: Option<CancellationToken>,
    counters: &Counters,
    reuse: Option<SlotRef<T>>,
) -> (Completer<T>, JobHandle<T>, Arc<dyn ErasedSlot>, SlotRef<T>) {
    let slot = match reuse {
        Some(mut slot) => match Arc::get_mut(&mut slot) {
            Some(unique) => {
                *unique.state.get_mut() = State::Waiting(None);
                *unique.joined.get_mut() = Joined::Open(None);
                *unique.joinable.get_mut() = false;
                unique.cancel = LazyToken::new(token);
                unique.gate = EmitGate::new_accepted();
                slot
            }
            None => new_slot(token),
        },
        None => new_slot(token),
    };
    counters.dispatched.fetch_add(1, Ordering::AcqRel);
    let shared: Arc<dyn ErasedSlot> = share_dyn!(&slot);
    (
        Completer { slot: Some(slot.clone()) },
        JobHandle { id, slot: slot.clone(), taken: false, erased: false },
        shared,
        slot,
    )
}

fn new_slot<T>(token: Option<CancellationToken>) -> SlotRef<T> {
    Arc::new(ResultSlot {
        state: Mutex::new(State::Waiting(None)),
        cancel: LazyToken::new(token),
        gate: EmitGate::new_accepted(),
        joined: Mutex::new(Joined::Open(None)),
        joinable: AtomicBool::new(false),
    })
}

/// The caller's end of a dispatched job: a `Future` of its [`JobResult`], plus
/// [`cancel`](Self::cancel).
///
/// The result is stored for the handle, so it is never missed however late the handle is
/// awaited, and whatever happens to the bus. Dropping the handle does **not** cancel the
/// job: call `cancel` for that, or make it an [`AbortOnDropHandle`] with
/// [`abort_on_drop`](Self::abort_on_drop). Awaiting a handle again after it returned its
/// result yields a `Failure` saying so (it never panics).
pub struct JobHandle<T> {
    id: JobId,
    slot: Arc<ResultSlot<T>>,
    /// The result was returned: nothing is left in the slot for the drop to clear.
    taken: bool,
    /// Turned into an [`ErasedHandle`], which does the drop's work instead.
    erased: bool,
}

impl<T> Drop for JobHandle<T> {
    /// A result nobody took is dropped now, and one still to come will be dropped as soon
    /// as it arrives: the slot outlives the handle (its task's box keeps it for reuse),
    /// the result must not.
    fn drop(&mut self) {
        if !self.erased {
            self.slot.detach(self.taken);
        }
    }
}

impl<T> ResultSlot<T> {
    /// The handle is gone (`taken`: after it returned the result). The job's token goes
    /// when the job has ended and the handle is gone, whichever comes second (the
    /// completer does it if the job ends after this).
    fn detach(&self, taken: bool) {
        if taken {
            self.cancel.release();
            return;
        }
        let old = {
            let mut state = self.state.lock();
            match &*state {
                State::Waiting(_) => core::mem::replace(&mut *state, State::Detached),
                State::Done(_) => core::mem::replace(&mut *state, State::Taken),
                State::Taken | State::Detached => State::Taken,
            }
        };
        if !matches!(old, State::Waiting(_)) {
            self.cancel.release();
        }
        drop(old); // the result (user code) is dropped outside the lock
    }
}

/// A [`JobHandle`] of any output type, without an allocation: its slot behind a
/// type-erased `Arc` (what an orchestrator host keeps for each job it tracks).
pub(crate) struct ErasedHandle {
    slot: Arc<dyn ErasedSlot>,
    taken: bool,
}

/// A job's [`ResultSlot`] with its output type erased, as the job's
/// [`JobContext`](crate::JobContext) (for the token) and an [`ErasedHandle`] see it: no
/// extra allocation, the slot's own `Arc` coerced (but on targets without
/// compare-and-swap).
pub(crate) trait ErasedSlot: MaybeSend + MaybeSync {
    fn token(&self) -> &LazyToken;
    fn gate(&self) -> &EmitGate;
    /// Resolves the handle with `error` (for a job whose completer was disarmed by the
    /// panic boundary, which exists only with `std`).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    fn fail(&self, error: JobError, counters: &Counters);
    /// Resolves the handle `Cancelled` (for a job dropped before it completed, whose
    /// core knows its output type only through this slot).
    fn abandon(&self, reason: Arc<str>, counters: &Counters);
    fn is_finished(&self) -> bool;
    fn take_outcome(&self) -> Option<crate::event::EventKind>;
    fn detach(&self, taken: bool);
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> ErasedSlot for ResultSlot<T> {
    fn token(&self) -> &LazyToken {
        &self.cancel
    }

    fn gate(&self) -> &EmitGate {
        &self.gate
    }

    fn fail(&self, error: JobError, counters: &Counters) {
        self.finish(JobResult::Failure(error), counters);
    }

    fn abandon(&self, reason: Arc<str>, counters: &Counters) {
        self.finish(JobResult::Cancelled(Some(reason)), counters);
    }

    fn is_finished(&self) -> bool {
        !matches!(*self.state.lock(), State::Waiting(_))
    }

    fn take_outcome(&self) -> Option<crate::event::EventKind> {
        use crate::event::{EventKind, Payload};
        let result = {
            let mut state = self.state.lock();
            match core::mem::replace(&mut *state, State::Taken) {
                State::Done(r) => r,
                other => {
                    *state = other;
                    return None;
                }
            }
        };
        Some(match result {
            JobResult::Success(value) => EventKind::Success(Payload::new(value)),
            // `retried` is not known from the result.
            JobResult::Failure(error) => EventKind::Failure { error, retried: false },
            JobResult::Cancelled(reason) => EventKind::Cancelled { reason },
            JobResult::TimedOut(after) => EventKind::TimedOut { after },
        })
    }

    fn detach(&self, taken: bool) {
        ResultSlot::detach(self, taken);
    }
}

/// Where `Arc` cannot coerce (targets without compare-and-swap), the erased slot is a
/// second `Arc` around the slot's (see [`share_dyn!`](crate::sync::share_dyn)).
#[cfg(not(target_has_atomic = "ptr"))]
impl<S: ErasedSlot + ?Sized> ErasedSlot for Arc<S> {
    fn token(&self) -> &LazyToken {
        (**self).token()
    }

    fn gate(&self) -> &EmitGate {
        (**self).gate()
    }

    fn fail(&self, error: JobError, counters: &Counters) {
        (**self).fail(error, counters);
    }

    fn abandon(&self, reason: Arc<str>, counters: &Counters) {
        (**self).abandon(reason, counters);
    }

    fn is_finished(&self) -> bool {
        (**self).is_finished()
    }

    fn take_outcome(&self) -> Option<crate::event::EventKind> {
        (**self).take_outcome()
    }

    fn detach(&self, taken: bool) {
        (**self).detach(taken);
    }
}

impl ErasedHandle {
    /// Cancels the job (with `reason`); `true` if this call cancelled it.
    pub(crate) fn cancel(&self, reason: Option<&Arc<str>>) -> bool {
        let token = self.slot.token().get();
        match reason {
            Some(reason) => token.cancel_with_reason(reason.clone()),
            None => token.cancel(),
        }
    }

    /// True once the job's result is available.
    pub(crate) fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }

    /// The job's outcome as the kind of the terminal event it emitted, if it has ended
    /// (`retried` of a failure is reported as `false`).
    pub(crate) fn take_outcome(&mut self) -> Option<crate::event::EventKind> {
        let outcome = self.slot.take_outcome();
        self.taken |= outcome.is_some();
        outcome
    }
}

impl Drop for ErasedHandle {
    fn drop(&mut self) {
        self.slot.detach(self.taken);
    }
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> JobHandle<T> {
    /// The job's result slot, type-erased (to cancel the job where its output type is
    /// unknown).
    pub(crate) fn erased_slot(&self) -> Arc<dyn ErasedSlot> {
        crate::sync::share_dyn!(&self.slot)
    }

    /// The handle with its output type erased (no allocation).
    pub(crate) fn erase(mut self) -> ErasedHandle {
        self.erased = true;
        ErasedHandle { slot: share_dyn!(&self.slot), taken: self.taken }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle").field("id", &self.id).field("finished", &self.is_finished()).finish()
    }
}

impl<T> JobHandle<T> {
    /// Makes this the handle of a dispatch that joined job `leader` (whose token is
    /// `token`): it carries that job's id, and cancelling it cancels that job, which
    /// every handle joined to it shares.
    pub(crate) fn follow(&mut self, leader: JobId, token: CancellationToken) {
        self.id = leader;
        self.slot.cancel.share(token);
    }

    /// The job's report gate (see [`EmitGate`]).
    pub(crate) fn gate(&self) -> &EmitGate {
        &self.slot.gate
    }

    /// The job's id (the one on its events).
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Cancels this job only (not other jobs sharing a token given in its options).
    /// Returns `true` if this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.slot.cancel.get().cancel()
    }

    /// Cancels this job with a reason, reported in its `Cancelled` event and result.
    pub fn cancel_with_reason(&self, reason: impl Into<Arc<str>>) -> bool {
        self.slot.cancel.get().cancel_with_reason(reason)
    }

    /// The job's own cancellation token (a clone: tokens are shared handles). Cancelling
    /// it cancels this job only, like [`cancel`](Self::cancel).
    pub fn token(&self) -> CancellationToken {
        self.slot.cancel.get()
    }

    /// True once the result is available (or was taken).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.slot.state.lock(), State::Waiting(_))
    }

    /// Takes the result if the job has finished, without waiting.
    pub fn try_result(&mut self) -> Option<JobResult<T>> {
        let result = {
            let mut state = self.slot.state.lock();
            match core::mem::replace(&mut *state, State::Taken) {
                State::Done(r) => Some(r),
                other => {
                    *state = other;
                    None
                }
            }
        };
        self.taken |= result.is_some();
        result
    }
}

impl<T> Future for JobHandle<T> {
    type Output = JobResult<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobResult<T>> {
        let result = {
            let mut state = self.slot.state.lock();
            match &mut *state {
                State::Waiting(waker) => {
                    match waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
                State::Done(_) => match core::mem::replace(&mut *state, State::Taken) {
                    State::Done(r) => r,
                    _ => return Poll::Pending,
                },
                // (`Detached` only exists once the handle is gone.)
                State::Taken | State::Detached => {
                    return Poll::Ready(JobResult::Failure(JobError::msg(
                        "job handle polled after it returned its result",
                    )));
                }
            }
        };
        self.taken = true;
        Poll::Ready(result)
    }
}
