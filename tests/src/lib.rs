//! The conformance suite of the orchestrator crates: behavioural scenarios written once,
//! generic over the runtime, and instantiated for every runtime.
//!
//! * [`Runtime`] is what a scenario needs from a runtime: run a test body
//!   ([`Runtime::block_on`]), build a dispatcher whose jobs run on it
//!   ([`Runtime::build_dispatcher`]), sleep, and a name. It is implemented for tokio
//!   (current-thread and a 2-worker multi-thread runtime), async-std, smol (the global
//!   executor and a 2-thread `smol::Executor`) and the core's local runner on a virtual
//!   clock ([`LocalVirtual`]). `tests/tests/custom_runtime.rs` implements it for a
//!   hand-written executor too.
//! * [`scenarios`] is the catalogue.
//! * [`soak`] is the soak of `tests/tests/soak.rs`: a seeded random mix of job outcomes,
//!   every one checked, on any [`Runtime`].
//! * [`bus_conformance`] is what every channel under a bus must do, and
//!   [`bus_conformance_suite!`] instantiates it for one (`tests/tests/bus_conformance.rs`:
//!   the built-in ring and tokio's `broadcast`).
//! * [`conformance_suite!`] stamps out `mod <runtime> { #[test] fn <scenario>() }` for a
//!   runtime: `tests/tests/conformance.rs` does it for every runtime whose feature is on,
//!   so `cargo test -p orchestrator-tests --all-features` runs every scenario everywhere,
//!   with test names such as `tokio_current::timeout_drops_work`.
//!
//! A scenario that passes on one runtime and fails on another is a bug, never a skip.
//!
//! Features (all on by default): `tokio`, `async-std`, `smol`. The local runner is always
//! there.

// This library is test code: its scenarios assert, and a failed `unwrap` is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bus_conformance;
pub mod runtime;
pub mod scenarios;
pub mod soak;
pub mod spawn_per_job;
pub mod util;

#[cfg(feature = "async-std")]
pub use runtime::AsyncStd;
pub use runtime::{LocalVirtual, Runtime, WATCHDOG};
#[cfg(feature = "smol")]
pub use runtime::{SmolExecutor, SmolGlobal};
#[cfg(feature = "tokio")]
pub use runtime::{TokioBroadcastBus, TokioCurrentThread, TokioMultiThread};
pub use spawn_per_job::SpawnPerJob;

/// Instantiates the whole catalogue for a runtime: `conformance_suite!(name, Type)`
/// expands to `mod name { #[test] fn <scenario>() { ... } ... }`, one test per scenario,
/// each on a fresh `Type::new()`. `Type` is resolved from the invoking module.
///
/// ```ignore
/// orchestrator_tests::conformance_suite!(tokio_current, orchestrator_tests::TokioCurrentThread);
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $runtime:ty) => {
        $crate::conformance_suite!(@list [mod $module, $runtime]);
    };
    // The one list of the catalogue.
    (@list $what:tt) => {
        $crate::conformance_suite!(@expand $what [
            // Event sequences.
            success_events,
            failure_events,
            retries_then_success,
            exhausted_retries,
            timeout_drops_work,
            timeout_covers_back_off,
            placeholder_and_progress,
            // Cancellation.
            cancel_while_running,
            cancel_before_start,
            cancel_during_back_off,
            shared_token_cancels_all,
            // JobHandle.
            handle_late_await,
            handle_cancel_only_its_job,
            handle_after_bus_closed,
            handle_drop_does_not_cancel,
            // Scoped buses.
            scoped_isolation,
            dispatcher_on_given_bus,
            // Bad input and panics.
            zero_timeout_is_refused,
            unregistered_type_is_refused,
            overload_is_refused,
            executor_panic_is_failure,
            // Future shapes and load.
            large_future,
            not_unpin_future,
            long_running_job,
            many_concurrent_jobs,
            // Cache stage.
            cache_round_trip,
            // Flow control: one scenario per policy.
            flow_join,
            flow_latest_wins,
            flow_drop_while_busy,
            flow_serial,
            flow_cap_per_type,
            flow_global_cap,
            flow_priority,
            flow_debounce,
            flow_throttle,
            // Orchestrators.
            orchestrator_routing,
            orchestrator_isolation,
            orchestrator_ends_with_its_bus,
        ]);
    };
    (@expand [mod $module:ident, $runtime:ty] [$($scenario:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    let rt = <$runtime as $crate::Runtime>::new();
                    $crate::scenarios::$scenario(&rt);
                }
            )*
        }
    };
    (@expand [names] [$($scenario:ident),* $(,)?]) => {
        /// The names of every scenario of the catalogue, in order.
        pub const SCENARIOS: &[&str] = &[$(stringify!($scenario)),*];
    };
}

conformance_suite!(@list [names]);

/// `docs/runtimes.md`, whose examples are compiled and run as doctests of this crate so
/// they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../docs/runtimes.md")]
struct RuntimesDoc;

/// `docs/getting-started.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/getting-started.md")]
struct GettingStartedDoc;

/// `docs/concepts.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/concepts.md")]
struct ConceptsDoc;

/// `docs/advanced-patterns.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/advanced-patterns.md")]
struct AdvancedPatternsDoc;

/// `docs/no-std-wasm.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/no-std-wasm.md")]
struct NoStdWasmDoc;

/// `docs/migrating-from-dart.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/migrating-from-dart.md")]
struct MigratingFromDartDoc;

/// `docs/testing.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/testing.md")]
struct TestingDoc;
