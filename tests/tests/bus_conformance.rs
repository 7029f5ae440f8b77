//! The bus conformance suite (`orchestrator_tests::bus_conformance`) over every channel a
//! bus can run on: test names are `<channel>::<check>`. The orchestrator scenarios on a
//! bus over tokio's `broadcast` are in conformance.rs (`tokio_broadcast_bus::*`).

use orchestrator_core::Bus;
use orchestrator_tests::bus_conformance_suite;

bus_conformance_suite!(ring, |capacity| Bus::with_capacity(capacity).unwrap());

#[cfg(feature = "tokio")]
bus_conformance_suite!(tokio_broadcast, |capacity| {
    Bus::with_channel(orchestrator_std::tokio::TokioBroadcast::new(capacity).unwrap())
});
