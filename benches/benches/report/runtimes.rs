//! The runtimes a row runs on: tokio current-thread, tokio multi-thread (2 workers), smol.

use std::future::Future;
use std::sync::Arc;

use orchestrator_std::DispatcherBuilder;
use orchestrator_std::smol::SmolRuntime;
use orchestrator_std::tokio::TokioRuntime;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Flavor {
    TokioCurrent,
    TokioMulti,
    Smol,
}

impl Flavor {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Flavor::TokioCurrent => "tokio-ct",
            Flavor::TokioMulti => "tokio-mt",
            Flavor::Smol => "smol",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Flavor::TokioCurrent => "tokio current-thread",
            Flavor::TokioMulti => "tokio multi-thread (2 workers)",
            Flavor::Smol => "smol (one `smol::Executor` run by `block_on`)",
        }
    }
}

/// A runtime: runs a future to completion (as a task, so it runs on the runtime's workers
/// on multi-thread), spawns detached tasks, builds dispatchers.
pub(crate) enum Rt {
    Tokio(tokio::runtime::Runtime),
    Smol(Arc<smol::Executor<'static>>),
}

#[derive(Clone)]
pub(crate) enum Spawner {
    Tokio(tokio::runtime::Handle),
    Smol(Arc<smol::Executor<'static>>),
}

impl Spawner {
    #[inline]
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        match self {
            Spawner::Tokio(h) => drop(h.spawn(task)),
            Spawner::Smol(ex) => ex.spawn(task).detach(),
        }
    }
}

impl Rt {
    pub(crate) fn new(flavor: Flavor) -> Self {
        match flavor {
            Flavor::TokioCurrent => {
                Rt::Tokio(tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime"))
            }
            Flavor::TokioMulti => Rt::Tokio(
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("runtime"),
            ),
            Flavor::Smol => Rt::Smol(Arc::new(smol::Executor::new())),
        }
    }

    pub(crate) fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> T {
        match self {
            Rt::Tokio(rt) => rt.block_on(rt.spawn(f)).expect("bench task panicked"),
            Rt::Smol(ex) => smol::block_on(ex.run(f)),
        }
    }

    pub(crate) fn spawner(&self) -> Spawner {
        match self {
            Rt::Tokio(rt) => Spawner::Tokio(rt.handle().clone()),
            Rt::Smol(ex) => Spawner::Smol(ex.clone()),
        }
    }

    /// The adapter's ready-made builder (default runners: 1 on current-thread, else the
    /// workers / available parallelism).
    pub(crate) fn dispatcher_builder(&self) -> DispatcherBuilder {
        match self {
            Rt::Tokio(rt) => TokioRuntime::with_handle(rt.handle().clone()).dispatcher_builder(),
            Rt::Smol(ex) => SmolRuntime::with_executor(ex.clone()).dispatcher_builder(),
        }
    }
}
