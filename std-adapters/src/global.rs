//! An optional process-wide bus.

use orchestrator_core::Bus;

/// A process-wide default [`Bus`], created on first use.
///
/// Purely a convenience: nothing in this crate or in the core uses it implicitly;
/// dispatchers have their own bus unless you give them one
/// ([`DispatcherBuilder::bus`](orchestrator_core::DispatcherBuilder::bus)), and every
/// API takes buses explicitly.
///
/// It lives as long as the process and cannot be reset: once [closed](Bus::close), it
/// stays closed for everyone. Prefer explicit buses ([`Bus::new`]) in libraries and tests.
///
/// On `wasm32` and with `--cfg orchestrator_unsync`, where a bus is not `Sync`, there is
/// one such bus per thread instead (in the single-threaded programs these are meant for,
/// the same thing).
///
/// ```
/// use orchestrator_std::{global_bus, Dispatcher, Event};
///
/// let mut events = global_bus().subscribe().unwrap();
/// let dispatcher = Dispatcher::builder().bus(global_bus().clone()).build().unwrap();
/// assert!(dispatcher.bus().same_bus(global_bus()));
/// global_bus().emit(Event::custom("hello", ())).unwrap();
/// assert_eq!(events.try_next().unwrap().job_type(), "hello");
/// ```
pub fn global_bus() -> &'static Bus {
    imp::global_bus()
}

#[cfg(not(any(target_family = "wasm", orchestrator_unsync)))]
mod imp {
    use std::sync::OnceLock;

    use orchestrator_core::Bus;

    static GLOBAL_BUS: OnceLock<Bus> = OnceLock::new();

    pub(super) fn global_bus() -> &'static Bus {
        GLOBAL_BUS.get_or_init(Bus::new)
    }
}

#[cfg(any(target_family = "wasm", orchestrator_unsync))]
mod imp {
    use orchestrator_core::Bus;

    std::thread_local! {
        // Leaked once per thread so it can be handed out as `&'static` (a `Bus` is not
        // `Sync` here, so the reference cannot leave the thread).
        static GLOBAL_BUS: &'static Bus = Box::leak(Box::new(Bus::new()));
    }

    pub(super) fn global_bus() -> &'static Bus {
        GLOBAL_BUS.with(|bus| *bus)
    }
}
