//! The runtimes the catalogue runs on, behind one small trait.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{Either, select};
use futures::stream::{FuturesUnordered, StreamExt};
use orchestrator_core::runtime::{Timer, VirtualClock, run_virtual};
use orchestrator_core::{BoxFuture, Dispatcher, DispatcherBuilder, Runner};

/// What a scenario needs from a runtime: run a test body to completion, build a
/// [`Dispatcher`] whose jobs run on the runtime, sleep, and a name.
///
/// Implementations are cheap to create: every test makes its own.
pub trait Runtime: Sized + 'static {
    /// The name used in test module names (`tokio_current`, `local_virtual`, ...).
    const NAME: &'static str;

    /// True when time is virtual (it only moves when the test body is idle, by exactly
    /// the amounts slept). Scenarios then also check the clock's exact readings; on real
    /// runtimes they never assert on elapsed time.
    const VIRTUAL_TIME: bool = false;

    /// Creates the runtime (threads, executors) for one test.
    fn new() -> Self;

    /// The runtime's timer (and clock).
    fn timer(&self) -> Arc<dyn Timer>;

    /// The runtime's dispatcher builder, with its timer and spawner (or, for the local
    /// runner, none) set: scenarios add a bus or limits, and
    /// [`build_dispatcher`](Self::build_dispatcher) builds it.
    fn builder(&self) -> DispatcherBuilder;

    /// Builds a dispatcher on this runtime from `configure(self.builder())`, and makes sure
    /// its jobs run: spawned runners, or (local runner) a runner driven by
    /// [`block_on`](Self::block_on) next to the test body.
    fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher;

    /// Runs `future` (a test body) to completion on the calling thread, with the runtime
    /// running.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// A dispatcher with the runtime's defaults.
    fn dispatcher(&self) -> Dispatcher {
        self.build_dispatcher(|b| b)
    }

    /// Sleeps `duration` on the runtime's timer.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.timer().sleep(duration)
    }

    /// Runs a test body under a watchdog: a body that has not finished after
    /// [`WATCHDOG`] (real time) or a virtual year fails the test instead of hanging it.
    /// The watchdog guards against hangs; it is not a timing assertion.
    fn run<F: Future>(&self, future: F) -> F::Output {
        let limit = if Self::VIRTUAL_TIME { Duration::from_secs(365 * 24 * 3600) } else { WATCHDOG };
        let watchdog = self.sleep(limit);
        self.block_on(async move {
            match select(pin!(future), watchdog).await {
                Either::Left((out, _)) => out,
                Either::Right(((), _)) => panic!("{}: the scenario did not finish within {limit:?}", Self::NAME),
            }
        })
    }
}

/// How long a scenario may take on a real runtime before it is declared hung.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// The core's own runner ([`Dispatcher::runner`]) on a [`VirtualClock`], driven by
/// [`run_virtual`]: no spawner, no threads, no real time.
///
/// Every dispatcher built by [`Runtime::build_dispatcher`] gets one runner, polled by
/// [`Runtime::block_on`] next to the test body.
#[derive(Debug)]
pub struct LocalVirtual {
    clock: VirtualClock,
    runners_tx: mpsc::UnboundedSender<Runner>,
    /// New runners, and the runners being driven (kept from one `block_on` to the next).
    runners: RefCell<Option<(mpsc::UnboundedReceiver<Runner>, FuturesUnordered<Runner>)>>,
}

impl LocalVirtual {
    /// The virtual clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }
}

impl Runtime for LocalVirtual {
    const NAME: &'static str = "local_virtual";
    const VIRTUAL_TIME: bool = true;

    fn new() -> Self {
        let (runners_tx, runners_rx) = mpsc::unbounded();
        Self {
            clock: VirtualClock::new(),
            runners_tx,
            runners: RefCell::new(Some((runners_rx, FuturesUnordered::new()))),
        }
    }

    fn timer(&self) -> Arc<dyn Timer> {
        Arc::new(self.clock.clone())
    }

    fn builder(&self) -> DispatcherBuilder {
        Dispatcher::builder().timer(self.clock.clone())
    }

    fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
        let dispatcher = configure(self.builder()).build().expect("no spawner, nothing to refuse");
        self.runners_tx.unbounded_send(dispatcher.runner()).expect("the runtime holds the receiver");
        dispatcher
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let (mut queue, mut runners) =
            self.runners.borrow_mut().take().expect("LocalVirtual::block_on is not reentrant");
        // Polls every runner built so far (and those built while the body runs); never
        // completes.
        let drive = std::future::poll_fn(|cx| {
            while let Poll::Ready(Some(runner)) = queue.poll_next_unpin(cx) {
                runners.push(runner);
            }
            while let Poll::Ready(Some(())) = runners.poll_next_unpin(cx) {}
            Poll::<()>::Pending
        });
        let out = run_virtual(&self.clock, async {
            match select(pin!(future), pin!(drive)).await {
                Either::Left((out, _)) => out,
                Either::Right(((), _)) => unreachable!("the runner driver never completes"),
            }
        });
        // The runners go on in the next `block_on` (they are dropped with the runtime).
        *self.runners.borrow_mut() = Some((queue, runners));
        match out {
            Ok(out) => out,
            Err(stalled) => panic!("local_virtual: {stalled}"),
        }
    }
}

#[cfg(feature = "tokio")]
pub use self::tokio_rt::{TokioBroadcastBus, TokioCurrentThread, TokioMultiThread};

#[cfg(feature = "tokio")]
mod tokio_rt {
    use super::*;
    use orchestrator_std::tokio::TokioRuntime;

    /// A tokio current-thread runtime; the dispatcher's runner runs while the test body
    /// is blocked on.
    #[derive(Debug)]
    pub struct TokioCurrentThread {
        rt: tokio::runtime::Runtime,
        adapter: TokioRuntime,
    }

    /// A tokio multi-thread runtime with 2 workers (and 2 runners per dispatcher).
    #[derive(Debug)]
    pub struct TokioMultiThread {
        rt: tokio::runtime::Runtime,
        adapter: TokioRuntime,
    }

    /// [`TokioMultiThread`] whose dispatchers get a bus on tokio's `broadcast`
    /// ([`TokioBroadcast`](orchestrator_std::tokio::TokioBroadcast)) instead of the
    /// built-in ring: every scenario, orchestrators included, on another channel.
    #[derive(Debug)]
    pub struct TokioBroadcastBus(TokioMultiThread);

    fn build(rt: tokio::runtime::Runtime) -> (tokio::runtime::Runtime, TokioRuntime) {
        let adapter = TokioRuntime::with_handle(rt.handle().clone());
        (rt, adapter)
    }

    impl Runtime for TokioCurrentThread {
        const NAME: &'static str = "tokio_current";

        fn new() -> Self {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("tokio runtime");
            let (rt, adapter) = build(rt);
            Self { rt, adapter }
        }
        fn timer(&self) -> Arc<dyn Timer> {
            Arc::new(self.adapter.clone())
        }
        fn builder(&self) -> DispatcherBuilder {
            self.adapter.dispatcher_builder()
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("the runtime accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            self.rt.block_on(future)
        }
    }

    impl Runtime for TokioMultiThread {
        const NAME: &'static str = "tokio_multi";

        fn new() -> Self {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_time()
                .build()
                .expect("tokio runtime");
            let (rt, adapter) = build(rt);
            Self { rt, adapter }
        }
        fn timer(&self) -> Arc<dyn Timer> {
            Arc::new(self.adapter.clone())
        }
        fn builder(&self) -> DispatcherBuilder {
            // Two runners whatever the machine, so jobs really are spread over threads.
            self.adapter.dispatcher_builder().runners(2)
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("the runtime accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            self.rt.block_on(future)
        }
    }

    impl Runtime for TokioBroadcastBus {
        const NAME: &'static str = "tokio_broadcast_bus";

        fn new() -> Self {
            Self(TokioMultiThread::new())
        }
        fn timer(&self) -> Arc<dyn Timer> {
            self.0.timer()
        }
        fn builder(&self) -> DispatcherBuilder {
            let channel = orchestrator_std::tokio::TokioBroadcast::new(
                std::num::NonZeroUsize::new(orchestrator_core::DEFAULT_BUS_CAPACITY).expect("non-zero"),
            )
            .expect("the default capacity is allowed");
            self.0.builder().bus(orchestrator_core::Bus::with_channel(channel))
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("the runtime accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            self.0.block_on(future)
        }
    }
}

#[cfg(feature = "async-std")]
pub use self::async_std_rt::AsyncStd;

#[cfg(feature = "async-std")]
mod async_std_rt {
    use super::*;
    use orchestrator_std::async_std::AsyncStdRuntime;

    /// async-std's global executor.
    #[derive(Debug)]
    pub struct AsyncStd {
        adapter: AsyncStdRuntime,
    }

    impl Runtime for AsyncStd {
        const NAME: &'static str = "async_std";

        fn new() -> Self {
            Self { adapter: AsyncStdRuntime::new() }
        }
        fn timer(&self) -> Arc<dyn Timer> {
            Arc::new(self.adapter.clone())
        }
        fn builder(&self) -> DispatcherBuilder {
            self.adapter.dispatcher_builder()
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("async-std accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            async_std::task::block_on(future)
        }
    }
}

#[cfg(feature = "smol")]
pub use self::smol_rt::{SmolExecutor, SmolGlobal};

#[cfg(feature = "smol")]
mod smol_rt {
    use super::*;
    use orchestrator_std::smol::SmolRuntime;

    /// smol's global executor (`smol::spawn`); the body runs in `smol::block_on`.
    #[derive(Debug)]
    pub struct SmolGlobal {
        adapter: SmolRuntime,
    }

    impl Runtime for SmolGlobal {
        const NAME: &'static str = "smol_global";

        fn new() -> Self {
            Self { adapter: SmolRuntime::new() }
        }
        fn timer(&self) -> Arc<dyn Timer> {
            Arc::new(self.adapter.clone())
        }
        fn builder(&self) -> DispatcherBuilder {
            self.adapter.dispatcher_builder()
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("smol accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            smol::block_on(future)
        }
    }

    /// A `smol::Executor` of the test's own, run by 2 threads (2 runners per dispatcher);
    /// the body runs on the test thread in `smol::block_on`.
    pub struct SmolExecutor {
        adapter: SmolRuntime,
        stop: Option<smol::channel::Sender<()>>,
        threads: Vec<std::thread::JoinHandle<()>>,
    }

    impl std::fmt::Debug for SmolExecutor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SmolExecutor").field("threads", &self.threads.len()).finish_non_exhaustive()
        }
    }

    impl SmolExecutor {
        /// A new executor run by `threads` threads, until dropped.
        pub fn with_threads(threads: usize) -> Self {
            let executor = Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads = (0..threads)
                .map(|i| {
                    let executor = executor.clone();
                    let stopped = stopped.clone();
                    std::thread::Builder::new()
                        .name(format!("smol-executor-{i}"))
                        .spawn(move || {
                            smol::block_on(executor.run(async move {
                                let _ = stopped.recv().await;
                            }));
                        })
                        .expect("spawn an executor thread")
                })
                .collect();
            Self { adapter: SmolRuntime::with_executor(executor), stop: Some(stop), threads }
        }
    }

    impl Drop for SmolExecutor {
        fn drop(&mut self) {
            // Closing the channel ends every `executor.run`.
            drop(self.stop.take());
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }

    impl Runtime for SmolExecutor {
        const NAME: &'static str = "smol_executor";

        fn new() -> Self {
            Self::with_threads(2)
        }
        fn timer(&self) -> Arc<dyn Timer> {
            Arc::new(self.adapter.clone())
        }
        fn builder(&self) -> DispatcherBuilder {
            self.adapter.dispatcher_builder().runners(2)
        }
        fn build_dispatcher(&self, configure: impl FnOnce(DispatcherBuilder) -> DispatcherBuilder) -> Dispatcher {
            configure(self.builder()).build().expect("smol accepts the runners")
        }
        fn block_on<F: Future>(&self, future: F) -> F::Output {
            smol::block_on(future)
        }
    }
}
