//! The spawner: `embassy-executor` tasks from a static pool.

use core::fmt;

use orchestrator_core::BoxFuture;
use orchestrator_core::runtime::{Spawn, SpawnError};

/// How many tasks an [`EmbassySpawner`] can run at once, across all its instances: 4, or
/// 8 / 16 with the features `task-pool-8` / `task-pool-16`.
///
/// embassy allocates tasks statically, one slot per task that may run at the same time.
/// A dispatcher takes one slot per runner for its whole life (until `shutdown` and the
/// runner's last job), and an orchestrator host started with `OrchestratorBuilder::spawn`
/// one more. When the pool is full, [`Spawn::spawn`] returns [`SpawnError`] (so the
/// dispatcher's `build`, or the host's `spawn`, fails visibly): nothing is dropped.
pub const TASK_POOL_SIZE: usize = if cfg!(feature = "task-pool-16") {
    16
} else if cfg!(feature = "task-pool-8") {
    8
} else {
    4
};

/// The pool's task: runs one boxed future of the core (a runner, a host).
// The task macro expands to `unsafe` code (its static pool); nothing else here is unsafe.
#[allow(unsafe_code)]
#[embassy_executor::task(pool_size = TASK_POOL_SIZE)]
async fn pooled(task: BoxFuture<'static, ()>) {
    task.await;
}

/// [`Spawn`] on an `embassy-executor` executor.
///
/// Each task runs in a slot of a static pool of [`TASK_POOL_SIZE`] tasks; when none is
/// free, `spawn` returns [`SpawnError`]. On threaded targets the futures of the core are
/// `Send`, and the spawner is a `SendSpawner` (so it can be shared with the dispatcher);
/// on `wasm32` and with `--cfg orchestrator_unsync` they need not be, and it is a
/// `Spawner`.
#[derive(Clone, Copy)]
pub struct EmbassySpawner {
    #[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
    spawner: embassy_executor::SendSpawner,
    #[cfg(any(target_family = "wasm", orchestrator_unsync))]
    spawner: embassy_executor::Spawner,
}

impl fmt::Debug for EmbassySpawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbassySpawner").field("pool_size", &TASK_POOL_SIZE).finish_non_exhaustive()
    }
}

impl EmbassySpawner {
    /// A spawner on `spawner`'s executor (the `Spawner` that `#[embassy_executor::main]`
    /// or `Executor::run` hands you).
    ///
    /// ```no_run
    /// use orchestrator_core::Dispatcher;
    /// use orchestrator_embassy::{EmbassySpawner, EmbassyTime};
    ///
    /// #[embassy_executor::task]
    /// async fn app(spawner: embassy_executor::Spawner) {
    ///     let dispatcher = Dispatcher::builder()
    ///         .timer(EmbassyTime)
    ///         .spawner(EmbassySpawner::new(spawner))
    ///         .runners(1)
    ///         .build();
    ///     assert!(dispatcher.is_ok());
    /// }
    /// # fn main() {}
    /// ```
    pub fn new(spawner: embassy_executor::Spawner) -> Self {
        #[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
        let spawner = spawner.make_send();
        Self { spawner }
    }
}

impl Spawn for EmbassySpawner {
    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), SpawnError> {
        // `Busy`: every slot of the pool runs a task.
        let token = pooled(task).map_err(|_busy| SpawnError)?;
        self.spawner.spawn(token);
        Ok(())
    }
}
