//! The catalogue of `orchestrator_tests::scenarios`, run on every runtime whose feature is
//! enabled (all by default): test names are `<runtime>::<scenario>`.

use orchestrator_tests::conformance_suite;

conformance_suite!(local_virtual, orchestrator_tests::LocalVirtual);

#[cfg(feature = "tokio")]
conformance_suite!(tokio_current, orchestrator_tests::TokioCurrentThread);
#[cfg(feature = "tokio")]
conformance_suite!(tokio_multi, orchestrator_tests::TokioMultiThread);
// The same scenarios with every dispatcher's bus on tokio's `broadcast` channel.
#[cfg(feature = "tokio")]
conformance_suite!(tokio_broadcast_bus, orchestrator_tests::TokioBroadcastBus);

// Every scenario again with each job spawned as its own task (spawn-per-job mode).
#[cfg(feature = "tokio")]
conformance_suite!(tokio_multi_spawn_per_job, orchestrator_tests::SpawnPerJob<orchestrator_tests::TokioMultiThread>);
#[cfg(feature = "tokio")]
conformance_suite!(
    tokio_current_spawn_per_job,
    orchestrator_tests::SpawnPerJob<orchestrator_tests::TokioCurrentThread>
);

#[cfg(feature = "async-std")]
conformance_suite!(async_std, orchestrator_tests::AsyncStd);

#[cfg(feature = "smol")]
conformance_suite!(smol_global, orchestrator_tests::SmolGlobal);
#[cfg(feature = "smol")]
conformance_suite!(smol_executor, orchestrator_tests::SmolExecutor);
#[cfg(feature = "smol")]
conformance_suite!(smol_executor_spawn_per_job, orchestrator_tests::SpawnPerJob<orchestrator_tests::SmolExecutor>);

/// Every runtime module above runs exactly the catalogue.
#[test]
fn the_catalogue_is_not_empty() {
    assert!(orchestrator_tests::SCENARIOS.len() >= 25);
}
