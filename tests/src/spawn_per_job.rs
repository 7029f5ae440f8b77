//! [`SpawnPerJob`]: any runtime of the catalogue with its dispatchers in spawn-per-job
//! mode, so that every scenario also runs with each job spawned as its own task.

use std::future::Future;
use std::sync::Arc;

use orchestrator_core::runtime::Timer;
use orchestrator_core::{Dispatcher, DispatcherBuilder};

use crate::Runtime;

/// The runtime `R` whose dispatchers spawn every job on its own
/// ([`DispatcherBuilder::spawn_per_job`]) instead of queueing it for their runners. `R`
/// must have a spawner (not [`LocalVirtual`](crate::LocalVirtual)).
#[derive(Debug)]
pub struct SpawnPerJob<R>(R);

impl<R: Runtime> Runtime for SpawnPerJob<R> {
    const NAME: &'static str = "spawn_per_job";

    fn new() -> Self {
        Self(R::new())
    }
    fn timer(&self) -> Arc<dyn Timer> {
        self.0.timer()
    }
    fn builder(&self) -> DispatcherBuilder {
        self.0.builder().spawn_per_job()
    }
    fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
        self.0.build_dispatcher(|b| configure(b.spawn_per_job()))
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}
