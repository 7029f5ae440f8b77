//! [`Registry`]: the dispatcher's executors by job type, each as a [`JobKind`] with the
//! pools of its jobs' empty boxes.

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::TypeId;

use hashbrown::HashMap;

use crate::box_pool::{BoxPool, ReuseLimit};
use crate::error::DispatchError;
use crate::executor::Executor;
use crate::handle::SlotRef;
use crate::job::{Job, short_type_name};
use crate::job_box::{self, JobBoxes, Task};
use crate::job_metrics::{JobMetrics, TypeMetrics};
use crate::pipeline::{self, JobCore, Plan};
use crate::sync::{AnyBox, MaybeSend, MaybeSync, Mutex};

/// Makes the first box of a job of type `J`: what a registered executor is to the
/// dispatcher once its type is erased.
trait Start<J: Job>: MaybeSend + MaybeSync {
    fn start_plain(
        &self,
        boxes: &Arc<JobBoxes<J, JobCore<J::Output>>>,
        job: J,
        core: JobCore<J::Output>,
        slot: SlotRef<J::Output>,
    ) -> Task;
    fn start_full(
        &self,
        boxes: &Arc<JobBoxes<J, Plan<J::Output>>>,
        job: J,
        plan: Plan<J::Output>,
        slot: SlotRef<J::Output>,
    ) -> Task;
}

/// A registered executor (behind the `Arc` each of its boxes shares).
struct Registered<E>(Arc<E>);

impl<J: Job, E: Executor<J>> Start<J> for Registered<E> {
    fn start_plain(
        &self,
        boxes: &Arc<JobBoxes<J, JobCore<J::Output>>>,
        job: J,
        core: JobCore<J::Output>,
        slot: SlotRef<J::Output>,
    ) -> Task {
        job_box::new_task(self.0.clone(), pipeline::run_plain::<J, E>, boxes, job, core, slot)
    }

    fn start_full(
        &self,
        boxes: &Arc<JobBoxes<J, Plan<J::Output>>>,
        job: J,
        plan: Plan<J::Output>,
        slot: SlotRef<J::Output>,
    ) -> Task {
        job_box::new_task(self.0.clone(), pipeline::run::<J, E>, boxes, job, plan, slot)
    }
}

/// One registration of an executor for job type `J`: its name, the executor, and the
/// empty boxes of its jobs, one pool per pipeline (their futures differ in type and
/// size). A new registration for the same type starts with new pools: a box holds the
/// executor it was made for.
pub(crate) struct JobKind<J: Job> {
    pub(crate) name: &'static str,
    start: Box<dyn Start<J>>,
    plain: Arc<JobBoxes<J, JobCore<J::Output>>>,
    full: Arc<JobBoxes<J, Plan<J::Output>>>,
    /// Each job of this type is spawned on its own (`Dispatcher::spawn_per_job`); kept
    /// when the executor is replaced.
    spawn_per_job: AtomicBool,
    /// The type's metrics, when the dispatcher keeps them; kept when the executor is
    /// replaced.
    pub(crate) metrics: Option<Arc<TypeMetrics>>,
}

impl<J: Job> JobKind<J> {
    /// True when each job of this type is spawned on its own.
    pub(crate) fn spawns_per_job(&self) -> bool {
        self.spawn_per_job.load(Ordering::Relaxed)
    }
}

impl<J: Job> Drop for JobKind<J> {
    /// The registration is gone: the boxes of its executor are not reused any more.
    fn drop(&mut self) {
        self.plain.retire();
        self.full.retire();
    }
}

/// What a job of type `J` runs with, its pipeline's input: a [`JobCore`] (no options) or a
/// [`Plan`]. Each has its own pool of boxes in a [`JobKind`].
pub(crate) trait Pipeline<J: Job>: Sized {
    /// A task for `job` with this plan: a kept box refilled, or a new box.
    fn task(self, kind: &JobKind<J>, empty: Option<EmptyBox<J, Self>>, job: J, slot: SlotRef<J::Output>) -> Task;

    /// The pool this pipeline's boxes go back to.
    fn boxes(kind: &JobKind<J>) -> &JobBoxes<J, Self>;
}

/// An empty box for jobs of type `J` with pipeline input `P`.
pub(crate) type EmptyBox<J, P> = core::pin::Pin<Box<dyn job_box::Refill<J, P>>>;

impl<J: Job> Pipeline<J> for JobCore<J::Output> {
    fn task(self, kind: &JobKind<J>, empty: Option<EmptyBox<J, Self>>, job: J, slot: SlotRef<J::Output>) -> Task {
        match empty {
            Some(empty) => empty.refill(job, self, slot),
            None => kind.start.start_plain(&kind.plain, job, self, slot),
        }
    }

    fn boxes(kind: &JobKind<J>) -> &JobBoxes<J, Self> {
        &kind.plain
    }
}

impl<J: Job> Pipeline<J> for Plan<J::Output> {
    fn task(self, kind: &JobKind<J>, empty: Option<EmptyBox<J, Self>>, job: J, slot: SlotRef<J::Output>) -> Task {
        match empty {
            Some(empty) => empty.refill(job, self, slot),
            None => kind.start.start_full(&kind.full, job, self, slot),
        }
    }

    fn boxes(kind: &JobKind<J>) -> &JobBoxes<J, Self> {
        &kind.full
    }
}

struct Entry {
    name: &'static str,
    metrics: Option<Arc<TypeMetrics>>,
    /// The `Arc<JobKind<J>>` of the entry's `J`.
    kind: AnyBox,
}

/// The executors by job type (an O(1) `TypeId` lookup). At most `reuse_limit` empty boxes
/// are kept over all job types.
pub(crate) struct Registry {
    entries: Mutex<HashMap<TypeId, Entry>>,
    limit: Arc<ReuseLimit>,
    /// Each type keeps [`TypeMetrics`] (`DispatcherBuilder::metrics`).
    metrics: bool,
}

impl Registry {
    pub(crate) fn new(reuse_limit: usize, metrics: bool) -> Self {
        Self { entries: Mutex::new(HashMap::new()), limit: ReuseLimit::new(reuse_limit), metrics }
    }

    /// Registers `executor` for `J`; returns `true` if it replaced one (whose boxes are
    /// freed: they hold the old executor).
    pub(crate) fn insert<J: Job, E: Executor<J>>(&self, executor: Arc<E>) -> bool {
        let name = short_type_name::<J>();
        let mut entries = self.entries.lock();
        let old = entries.get(&TypeId::of::<J>()).and_then(|e| e.kind.downcast_ref::<Arc<JobKind<J>>>());
        let metrics = match old {
            Some(old) => old.metrics.clone(),
            None => self.metrics.then(|| TypeMetrics::new(name)),
        };
        let kind: Arc<JobKind<J>> = Arc::new(JobKind {
            name,
            start: Box::new(Registered(executor)),
            plain: Arc::new(BoxPool::new(self.limit.clone())),
            full: Arc::new(BoxPool::new(self.limit.clone())),
            spawn_per_job: AtomicBool::new(old.is_some_and(|old| old.spawns_per_job())),
            metrics: metrics.clone(),
        });
        let old = entries.insert(TypeId::of::<J>(), Entry { name, metrics, kind: Box::new(kind) });
        drop(entries);
        // Dropped outside the lock: dropping an executor runs user code.
        old.is_some()
    }

    /// Removes the executor of `J`; returns whether there was one.
    pub(crate) fn remove<J: Job>(&self) -> bool {
        let old = self.entries.lock().remove(&TypeId::of::<J>());
        old.is_some()
    }

    pub(crate) fn contains<J: Job>(&self) -> bool {
        self.entries.lock().contains_key(&TypeId::of::<J>())
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.entries.lock().values().map(|e| e.name).collect()
    }

    /// The registration of `J`'s executor.
    pub(crate) fn kind<J: Job>(&self) -> Result<Arc<JobKind<J>>, DispatchError> {
        self.entries
            .lock()
            .get(&TypeId::of::<J>())
            .and_then(|entry| entry.kind.downcast_ref::<Arc<JobKind<J>>>())
            .cloned()
            // `ok_or_else`: the type name is computed (a string search) only on the error path.
            .ok_or_else(|| DispatchError::NoExecutor { job_type: short_type_name::<J>() })
    }

    /// Sets whether each job of type `J` is spawned on its own.
    pub(crate) fn set_spawn_per_job<J: Job>(&self, on: bool) -> Result<(), DispatchError> {
        let kind = self.kind::<J>()?;
        kind.spawn_per_job.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// The metrics of every registered type (empty with metrics off), by name.
    pub(crate) fn metrics(&self) -> Vec<(&'static str, JobMetrics)> {
        let kept: Vec<(&'static str, Arc<TypeMetrics>)> =
            self.entries.lock().values().filter_map(|e| Some((e.name, e.metrics.clone()?))).collect();
        let mut all: Vec<_> = kept.into_iter().map(|(name, metrics)| (name, metrics.snapshot())).collect();
        all.sort_unstable_by_key(|(name, _)| *name);
        all
    }

    /// Empty boxes kept now.
    pub(crate) fn pooled(&self) -> usize {
        self.limit.kept()
    }
}
