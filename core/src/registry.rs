//! The dispatcher's executors by job type, and the empty job boxes kept for reuse.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::TypeId;

use hashbrown::HashMap;

use crate::error::DispatchError;
use crate::executor::Executor;
use crate::handle::SlotRef;
use crate::job::{Job, short_type_name};
use crate::pipeline::{self, Core, Plan};
use crate::sync::{MaybeSend, MaybeSync, Mutex};
use crate::task::{self, Origin, Task, Variant};

use crate::sync::AnyBox;

/// Starts one job of type `J` on a type-erased executor, in a new box.
pub(crate) trait Start<J: Job>: MaybeSend + MaybeSync {
    fn start_plain(self: Arc<Self>, origin: Origin, input: Input<J, Core<J::Output>>) -> Task;
    fn start_full(self: Arc<Self>, origin: Origin, input: Input<J, Plan<J::Output>>) -> Task;
}

/// A job, its plan, and its result slot (which its box keeps for the next job).
pub(crate) type Input<J, P> = (J, P, SlotRef<<J as Job>::Output>);

impl<J: Job, E: Executor<J>> Start<J> for E {
    fn start_plain(self: Arc<Self>, origin: Origin, input: Input<J, Core<J::Output>>) -> Task {
        task::new_task(self, pipeline::run_plain::<J, E>, origin, input)
    }

    fn start_full(self: Arc<Self>, origin: Origin, input: Input<J, Plan<J::Output>>) -> Task {
        task::new_task(self, pipeline::run::<J, E>, origin, input)
    }
}

/// What a job of type `J` runs with: a [`Core`] (the plain pipeline) or a [`Plan`].
pub(crate) trait Planned<J: Job>: MaybeSend + Sized + 'static {
    const VARIANT: Variant;
    fn start_fresh(start: Arc<dyn Start<J>>, origin: Origin, input: Input<J, Self>) -> Task;
}

impl<J: Job> Planned<J> for Core<J::Output> {
    const VARIANT: Variant = Variant::Plain;
    fn start_fresh(start: Arc<dyn Start<J>>, origin: Origin, input: Input<J, Self>) -> Task {
        start.start_plain(origin, input)
    }
}

impl<J: Job> Planned<J> for Plan<J::Output> {
    const VARIANT: Variant = Variant::Full;
    fn start_fresh(start: Arc<dyn Start<J>>, origin: Origin, input: Input<J, Self>) -> Task {
        start.start_full(origin, input)
    }
}

/// How a job of type `J` gets its box.
pub(crate) enum Starter<J: Job> {
    /// An empty box of this registration, to refill.
    Reuse(Task),
    /// A new box, made by the executor.
    Fresh(Arc<dyn Start<J>>, Origin),
}

impl<J: Job> Starter<J> {
    /// The result slot the reused box kept from its previous job, if any.
    pub(crate) fn kept_slot(&mut self) -> Option<SlotRef<J::Output>> {
        match self {
            Self::Reuse(task) => task.as_mut().kept().downcast_mut::<Option<SlotRef<J::Output>>>()?.take(),
            Self::Fresh(..) => None,
        }
    }

    /// The task of the job in `input` (which is taken).
    pub(crate) fn start<P: Planned<J>>(
        self,
        registry: &Registry,
        input: &mut Option<Input<J, P>>,
    ) -> Result<Task, DispatchError> {
        match self {
            Self::Fresh(start, origin) => {
                let input = input.take().ok_or(DispatchError::NoExecutor { job_type: short_type_name::<J>() })?;
                Ok(P::start_fresh(start, origin, input))
            }
            Self::Reuse(mut task) => {
                if task.as_mut().refill(input) {
                    return Ok(task);
                }
                // Not reached: a pool only holds boxes made by its own registration. The
                // job is still in `input`; start it in a new box.
                let (_, starter) = registry.lookup::<J>(P::VARIANT, false)?;
                starter.start(registry, input)
            }
        }
    }
}

struct Entry {
    name: &'static str,
    registration: u64,
    /// An `Arc<dyn Start<J>>` for the entry's `J`.
    start: AnyBox,
    /// Empty boxes of this registration's jobs, by [`Variant`].
    pools: [Vec<Task>; 2],
}

impl Entry {
    fn pooled(&self) -> usize {
        self.pools.iter().map(Vec::len).sum()
    }
}

struct State {
    entries: HashMap<TypeId, Entry>,
    next_registration: u64,
    /// Empty boxes kept, over all entries.
    pooled: usize,
}

/// The executors by job type (an O(1) `TypeId` lookup), each with its pool of empty job
/// boxes. At most `reuse_limit` boxes are kept over all job types; beyond that a finished
/// job's box is freed.
pub(crate) struct Registry {
    state: Mutex<State>,
    reuse_limit: usize,
}

impl Registry {
    pub(crate) fn new(reuse_limit: usize) -> Self {
        Self { state: Mutex::new(State { entries: HashMap::new(), next_registration: 0, pooled: 0 }), reuse_limit }
    }

    /// Registers `executor` for `J`; returns `true` if it replaced one (whose pool is
    /// freed: its boxes hold the old executor).
    pub(crate) fn insert<J: Job, E: Executor<J>>(&self, executor: Arc<E>) -> bool {
        let start: Arc<dyn Start<J>> = executor;
        let old = {
            let mut st = self.state.lock();
            let registration = st.next_registration;
            st.next_registration = st.next_registration.wrapping_add(1);
            let entry = Entry {
                name: short_type_name::<J>(),
                registration,
                start: Box::new(start),
                pools: [Vec::new(), Vec::new()],
            };
            let old = st.entries.insert(TypeId::of::<J>(), entry);
            st.pooled -= old.as_ref().map_or(0, Entry::pooled);
            old
        };
        // Dropped outside the lock: dropping an executor runs user code.
        old.is_some()
    }

    /// Removes the executor of `J`; returns whether there was one.
    pub(crate) fn remove<J: Job>(&self) -> bool {
        let old = {
            let mut st = self.state.lock();
            let old = st.entries.remove(&TypeId::of::<J>());
            st.pooled -= old.as_ref().map_or(0, Entry::pooled);
            old
        };
        old.is_some()
    }

    pub(crate) fn contains<J: Job>(&self) -> bool {
        self.state.lock().entries.contains_key(&TypeId::of::<J>())
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.state.lock().entries.values().map(|e| e.name).collect()
    }

    /// The job type's name and how to start a job of it with the `variant` pipeline: an
    /// empty box if one is kept, else the executor.
    pub(crate) fn starter<J: Job>(&self, variant: Variant) -> Result<(&'static str, Starter<J>), DispatchError> {
        self.lookup(variant, true)
    }

    /// [`starter`](Self::starter), taking a kept box only if `reuse`.
    fn lookup<J: Job>(&self, variant: Variant, reuse: bool) -> Result<(&'static str, Starter<J>), DispatchError> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        // `ok_or_else`: the type name is computed (a string search) only on the error path.
        let entry = st
            .entries
            .get_mut(&TypeId::of::<J>())
            .ok_or_else(|| DispatchError::NoExecutor { job_type: short_type_name::<J>() })?;
        if let Some(task) = reuse.then(|| entry.pools[variant as usize].pop()).flatten() {
            st.pooled -= 1;
            return Ok((entry.name, Starter::Reuse(task)));
        }
        Self::fresh_of(entry, variant)
    }

    fn fresh_of<J: Job>(entry: &Entry, variant: Variant) -> Result<(&'static str, Starter<J>), DispatchError> {
        let start = entry
            .start
            .downcast_ref::<Arc<dyn Start<J>>>()
            .ok_or(DispatchError::NoExecutor { job_type: entry.name })?;
        let origin = Origin { job_type: TypeId::of::<J>(), registration: entry.registration, variant };
        Ok((entry.name, Starter::Fresh(start.clone(), origin)))
    }

    /// Takes back the empty boxes of finished jobs (one lock for all of them). Those that
    /// are not kept (limit reached, executor replaced or removed) are freed after the
    /// lock is released; `tasks` is empty afterwards.
    pub(crate) fn give_back(&self, tasks: &mut Vec<Task>) {
        {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            let mut i = 0;
            while i < tasks.len() && st.pooled < self.reuse_limit {
                let origin = tasks[i].origin();
                match st.entries.get_mut(&origin.job_type) {
                    Some(entry) if entry.registration == origin.registration => {
                        entry.pools[origin.variant as usize].push(tasks.swap_remove(i));
                        st.pooled += 1;
                    }
                    _ => i += 1,
                }
            }
        }
        tasks.clear();
    }

    /// Empty boxes kept now.
    pub(crate) fn pooled(&self) -> usize {
        self.state.lock().pooled
    }
}
