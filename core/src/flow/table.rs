//! [`FlowTable`]: a dispatcher's flow-control state: the jobs in flight per key (one O(1)
//! hash lookup per dispatch), the policies and caps of job types, and the global cap.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::TypeId;
use core::time::Duration;

use hashbrown::HashMap;

use crate::cancel::CancellationToken;
use crate::error::DispatchError;
use crate::event::EventKind;
use crate::executor::JobContext;
use crate::handle::Completer;
use crate::handle::{JobHandle, SlotRef};
use crate::job_id::JobId;
use crate::log::{Level, log_at};
use crate::runtime::Timer;
use crate::sync::{AnyBox, MaybeSend, MaybeSync, Mutex};

use super::permits::Permits;
use super::stats::{FlowCounters, FlowStats};
use super::ticket::FlowTicket;
use crate::flow_policy::{FlowKey, FlowPolicy, OnBusy, Priority};

/// The reason given to a job cancelled because a later dispatch with its key superseded
/// it (latest-wins, debounce).
pub const SUPERSEDED: &str = "superseded";

/// Default of [`DispatcherBuilder::priority_aging`](crate::DispatcherBuilder::priority_aging).
pub(crate) const DEFAULT_PRIORITY_AGING: u32 = 8;

/// Which jobs count as "the same": a job type and a key (`None`: the type's keyless jobs).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyId {
    type_id: TypeId,
    key: Option<FlowKey>,
}

/// A [`KeyId`] looked up without cloning its key: hashes and compares as the `KeyId` it
/// stands for (the derived `Hash` of a `KeyId` hashes the same fields, in this order).
#[derive(Hash)]
struct KeyRef<'a> {
    type_id: TypeId,
    key: Option<&'a FlowKey>,
}

impl hashbrown::Equivalent<KeyId> for KeyRef<'_> {
    fn equivalent(&self, id: &KeyId) -> bool {
        self.type_id == id.type_id && self.key == id.key.as_ref()
    }
}

/// The jobs in flight with one key.
#[derive(Default)]
struct KeyState {
    /// Dispatched with a ticket and not yet ended (waiting or running).
    in_flight: usize,
    /// Join: the job the next dispatches join (its id, and its `SlotRef<T>`).
    leader: Option<(JobId, AnyBox)>,
    /// Latest-wins: the key's jobs in dispatch order, with their tokens.
    live: Vec<(JobId, CancellationToken)>,
    /// Debounce: the job waiting out its period, which a later dispatch supersedes.
    debouncing: Option<(JobId, CancellationToken)>,
    /// Serial: one permit.
    serial: Option<Arc<Permits>>,
    /// Throttle: the start reserved for the next dispatch (dispatch order is start order).
    next_start: Duration,
    /// Throttle: when the key's last job actually started (`claim_start`).
    last_start: Option<Duration>,
}

/// A job type's flow settings and counters.
#[derive(Clone, Default)]
struct TypeFlow {
    policy: Option<FlowPolicy>,
    cap: Option<Arc<Permits>>,
    counters: Arc<FlowCounters>,
}

/// What applies to one dispatch: its effective policy, key, lane and gates.
pub(crate) struct Resolved {
    type_id: TypeId,
    policy: FlowPolicy,
    key: Option<FlowKey>,
    priority: Priority,
    cap: Option<Arc<Permits>>,
    counters: Arc<FlowCounters>,
}

impl Resolved {
    /// Checks the effective policy: its combination, and a timer for debounce or throttle.
    pub(crate) fn check(&self, job_type: &'static str, has_timer: bool) -> Result<(), DispatchError> {
        self.policy.check().map_err(|conflict| DispatchError::FlowConflict { job_type, conflict })?;
        if (self.policy.debounce().is_some() || self.policy.throttle().is_some()) && !has_timer {
            return Err(DispatchError::NoTimer { job_type });
        }
        Ok(())
    }
}

/// A dispatcher's flow-control state.
pub(crate) struct FlowTable {
    keys: Mutex<HashMap<KeyId, KeyState>>,
    types: Mutex<HashMap<TypeId, TypeFlow>>,
    /// Some job type has a policy or a cap: every dispatch must look.
    configured: AtomicBool,
    global: Option<Arc<Permits>>,
    aging: u32,
}

impl FlowTable {
    pub(crate) fn new(max_concurrent: Option<usize>, aging: u32) -> Arc<Self> {
        Arc::new(Self {
            keys: Mutex::new(HashMap::new()),
            types: Mutex::new(HashMap::new()),
            configured: AtomicBool::new(false),
            global: max_concurrent.map(|n| Permits::new(n, aging)),
            aging,
        })
    }

    /// Sets (or with `None` removes) the policy of a job type.
    pub(crate) fn set_policy(&self, type_id: TypeId, policy: Option<FlowPolicy>) {
        self.types.lock().entry(type_id).or_default().policy = policy;
        self.configured.store(true, Ordering::Release);
    }

    /// Sets (or with `None` removes) the cap of a job type. Jobs holding a permit of the
    /// old cap keep it until they end.
    pub(crate) fn set_cap(&self, type_id: TypeId, cap: Option<usize>) {
        let cap = cap.map(|n| Permits::new(n, self.aging));
        self.types.lock().entry(type_id).or_default().cap = cap;
        self.configured.store(true, Ordering::Release);
    }

    /// What flow control did to a job type's dispatches so far.
    pub(crate) fn stats(&self, type_id: TypeId) -> FlowStats {
        self.types.lock().get(&type_id).map(|t| t.counters.snapshot()).unwrap_or_default()
    }

    /// The sum over all job types.
    pub(crate) fn totals(&self) -> FlowStats {
        let types = self.types.lock();
        types.values().map(|t| t.counters.snapshot()).fold(FlowStats::default(), |mut sum, s| {
            sum.waiting += s.waiting;
            sum.queued = sum.queued.wrapping_add(s.queued);
            sum.joined = sum.joined.wrapping_add(s.joined);
            sum.superseded = sum.superseded.wrapping_add(s.superseded);
            sum.dropped = sum.dropped.wrapping_add(s.dropped);
            sum.total_wait = sum.total_wait.saturating_add(s.total_wait);
            sum.max_wait = sum.max_wait.max(s.max_wait);
            sum
        })
    }

    /// True when a dispatch without a policy of its own must still be looked at: some job
    /// type has a policy or a cap, or the dispatcher has a cap. (Else the dispatch skips
    /// flow control for one load.)
    #[inline]
    pub(crate) fn is_active(&self) -> bool {
        self.global.is_some() || self.configured.load(Ordering::Acquire)
    }

    /// What applies to a dispatch of type `type_id` whose own policy is `policy`: `None`
    /// when nothing does (no policy that changes anything, no cap).
    pub(crate) fn resolve(
        &self,
        type_id: TypeId,
        policy: Option<FlowPolicy>,
        key: Option<FlowKey>,
        priority: Priority,
    ) -> Option<Resolved> {
        if policy.is_none() && !self.is_active() {
            return None;
        }
        let flow = self.types.lock().entry(type_id).or_default().clone();
        let policy = policy.or(flow.policy).unwrap_or_default();
        if policy.is_concurrent() && flow.cap.is_none() && self.global.is_none() {
            return None;
        }
        Some(Resolved { type_id, policy, key, priority, cap: flow.cap, counters: flow.counters })
    }

    /// A join without a new job: if the dispatch's policy is join and a job with its key
    /// is in flight, a handle to that job (and the `Joined` event on `bus`). Nothing else
    /// of a job is built for it: no context, no task.
    pub(crate) fn try_join<T: Clone + MaybeSend + MaybeSync + 'static>(
        &self,
        resolved: &Resolved,
        job_type: &'static str,
        env: &crate::job_env::JobEnv,
        bus: &crate::bus::Bus,
    ) -> Option<JobHandle<T>> {
        if resolved.policy.on_busy() != OnBusy::Join {
            return None;
        }
        let keys = self.keys.lock();
        let state = keys.get(&KeyRef { type_id: resolved.type_id, key: resolved.key.as_ref() })?;
        let (leader, slot) = state.leader.as_ref()?;
        let leader = *leader;
        let handle = slot.downcast_ref::<SlotRef<T>>()?.join_new(leader, &env.counters)?;
        drop(keys);
        resolved.counters.update(|s| s.joined = s.joined.wrapping_add(1));
        log_at!(&*env.logger, Level::Info, "a dispatch of {job_type} joined job {leader}");
        // The clock is read only if somebody listens (the event is built only then).
        let _ = bus.emit_with(|| {
            let now = env.timer.as_ref().map_or(Duration::ZERO, |timer| timer.now());
            crate::event::Event::new(leader, job_type, Some(resolved.type_id), EventKind::Joined).at(now)
        });
        Some(handle)
    }

    /// Enters a job into flow control once its core and handle exist. `Ok(None)`: the
    /// dispatch joined a job in flight, and `handle` is now that job's (the new core,
    /// whose completer was taken, is for the caller to drop). `Ok(Some(ticket))`: the job runs
    /// with this ticket, which it keeps until it ends.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Busy`] or [`DispatchError::KeyQueueFull`]: the job is refused (its
    /// core is marked so, and emits nothing when dropped).
    ///
    /// (`this`, not `self: &Arc<Self>`: portable-atomic-util's `Arc` is no method receiver.)
    pub(crate) fn enter<T: Clone + MaybeSend + MaybeSync + 'static>(
        this: &Arc<Self>,
        resolved: Resolved,
        ctx: &mut JobContext,
        completer: &mut Completer<T>,
        handle: &mut JobHandle<T>,
        slot: &SlotRef<T>,
    ) -> Result<Option<FlowTicket>, DispatchError> {
        let Resolved { type_id, policy, key, priority, cap, counters } = resolved;
        let logger = &*ctx.env.logger.clone();
        let timer = ctx.env.timer.clone();
        let now = timer.as_ref().map(|t| t.now());
        let id = KeyId { type_id, key };
        let mut keys = this.keys.lock();
        let state = keys.entry(id.clone()).or_default();
        match policy.on_busy() {
            OnBusy::DropWhileBusy if state.in_flight > 0 => {
                drop(keys);
                counters.update(|s| s.dropped = s.dropped.wrapping_add(1));
                log_at!(
                    logger,
                    Level::Warning,
                    "job {} ({}) dropped: a job with its key is busy",
                    ctx.id,
                    ctx.job_type
                );
                handle.gate().refuse();
                return Err(DispatchError::Busy { job_type: ctx.job_type });
            }
            OnBusy::Serial { max_queued } if state.in_flight > max_queued => {
                drop(keys);
                counters.update(|s| s.dropped = s.dropped.wrapping_add(1));
                log_at!(
                    logger,
                    Level::Warning,
                    "job {} ({}) dropped: {max_queued} jobs with its key are queued already",
                    ctx.id,
                    ctx.job_type
                );
                handle.gate().refuse();
                return Err(DispatchError::KeyQueueFull { job_type: ctx.job_type, limit: max_queued });
            }
            OnBusy::Join => {
                let leader =
                    state.leader.as_ref().and_then(|(id, slot)| Some((*id, slot.downcast_ref::<SlotRef<T>>()?)));
                if let Some((leader, leader_slot)) = leader {
                    match leader_slot.join(completer.take()) {
                        Ok(()) => {
                            handle.follow(leader, leader_slot.token());
                            drop(keys);
                            counters.update(|s| s.joined = s.joined.wrapping_add(1));
                            log_at!(logger, Level::Info, "job {} ({}) joined job {leader}", ctx.id, ctx.job_type);
                            ctx.id = leader;
                            let _ = ctx.emit_kind(|| EventKind::Joined);
                            handle.gate().refuse();
                            return Ok(None);
                        }
                        // The leader's result is on its way: this job leads from now on.
                        Err(taken) => *completer = taken,
                    }
                }
            }
            _ => {}
        }
        state.in_flight += 1;
        match policy.on_busy() {
            OnBusy::Join => {
                slot.make_joinable();
                state.leader = Some((ctx.id, Box::new(slot.clone())));
            }
            OnBusy::LatestWins => state.live.push((ctx.id, slot.token())),
            _ => {}
        }
        // Latest-wins supersedes the key's jobs now, at dispatch; with a debounce, only
        // once the debounce is over (the ticket does it then).
        let superseded: alloc::vec::Vec<(JobId, CancellationToken)> =
            if policy.on_busy() == OnBusy::LatestWins && policy.debounce().is_none() {
                let mine = state.live.len().saturating_sub(1);
                state.live.drain(..mine).collect()
            } else {
                alloc::vec::Vec::new()
            };
        let mut start_at = None;
        if let (Some(period), Some(now)) = (policy.debounce(), now) {
            start_at = Some(now.saturating_add(period));
            if let Some((earlier, token)) = state.debouncing.replace((ctx.id, slot.token())) {
                supersede(&counters, logger, earlier, ctx.job_type, &token);
            }
        }
        if let (Some(period), Some(now)) = (policy.throttle(), now) {
            let at = state.next_start.max(now);
            state.next_start = at.saturating_add(period);
            start_at = Some(at);
        }
        let serial = match policy.on_busy() {
            OnBusy::Serial { .. } => Some(state.serial.get_or_insert_with(|| Permits::new(1, this.aging)).clone()),
            _ => None,
        };
        drop(keys);
        // Cancelled outside the lock: a cancellation runs the token's listeners.
        for (earlier, token) in superseded {
            supersede(&counters, logger, earlier, ctx.job_type, &token);
        }
        Ok(Some(FlowTicket {
            table: this.clone(),
            key: id,
            job: ctx.id,
            policy,
            priority,
            start_at,
            timer,
            gates: [serial, cap, this.global.clone()],
            held: Mutex::new(alloc::vec::Vec::new()),
            counters,
            dispatched_at: now,
            released: false,
        }))
    }

    /// A throttled job is about to start at `now`: it may if the key's last start was at
    /// least `period` ago (then `now` is the last start), else it must wait until the
    /// returned time. The reservation made at dispatch orders the key's jobs; this makes
    /// the period hold between actual starts, however late a job got its turn.
    pub(crate) fn claim_start(&self, key: &KeyId, now: Duration, period: Duration) -> Option<Duration> {
        let mut keys = self.keys.lock();
        let state = keys.get_mut(key)?;
        if let Some(due) = state.last_start.map(|last| last.saturating_add(period)) {
            if due > now {
                return Some(due);
            }
        }
        state.last_start = Some(now);
        state.next_start = state.next_start.max(now.saturating_add(period));
        None
    }

    /// A debounced job's period is over: a later dispatch can no longer supersede it.
    pub(crate) fn end_debounce(&self, key: &KeyId, job: JobId) {
        if let Some(state) = self.keys.lock().get_mut(key) {
            if state.debouncing.as_ref().is_some_and(|(id, _)| *id == job) {
                state.debouncing = None;
            }
        }
    }

    /// A latest-wins job starts: every job of its key dispatched before it is superseded.
    pub(crate) fn supersede_earlier(
        &self,
        key: &KeyId,
        job: JobId,
        counters: &FlowCounters,
        ctx_name: &'static str,
        logger: &dyn crate::log::Logger,
    ) {
        let earlier: Vec<(JobId, CancellationToken)> = {
            let mut keys = self.keys.lock();
            let Some(state) = keys.get_mut(key) else { return };
            let Some(position) = state.live.iter().position(|(id, _)| *id == job) else { return };
            state.live.drain(..position).collect()
        };
        // Cancelled outside the lock: a cancellation runs the token's listeners.
        for (id, token) in earlier {
            supersede(counters, logger, id, ctx_name, &token);
        }
    }

    /// A job with a ticket ended (or was refused after all).
    pub(crate) fn leave(&self, key: &KeyId, job: JobId, now: Option<Duration>) {
        let mut keys = self.keys.lock();
        let Some(state) = keys.get_mut(key) else { return };
        state.in_flight = state.in_flight.saturating_sub(1);
        state.live.retain(|(id, _)| *id != job);
        if state.leader.as_ref().is_some_and(|(id, _)| *id == job) {
            state.leader = None;
        }
        if state.debouncing.as_ref().is_some_and(|(id, _)| *id == job) {
            state.debouncing = None;
        }
        // A throttled key is kept until its next start is due, so the period holds.
        if state.in_flight == 0 && now.is_none_or(|now| state.next_start <= now) {
            let removed = keys.remove(key);
            drop(keys);
            drop(removed); // tokens and slots are dropped outside the lock
        }
    }

    /// Keys with state now (for tests of the table's memory).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.keys.lock().len()
    }
}

/// Cancels a job superseded by a later dispatch with its key, and says so.
fn supersede(
    counters: &FlowCounters,
    logger: &dyn crate::log::Logger,
    job: JobId,
    job_type: &str,
    token: &CancellationToken,
) {
    if token.cancel_with_reason(SUPERSEDED) {
        counters.update(|s| s.superseded = s.superseded.wrapping_add(1));
        log_at!(logger, Level::Warning, "job {job} ({job_type}) superseded by a later dispatch with its key");
    }
}

/// The dispatcher's timer as a ticket keeps it.
pub(crate) type SharedTimer = Option<Arc<dyn Timer>>;
