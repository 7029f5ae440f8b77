//! An optional process-wide bus.

use std::sync::OnceLock;

use orchestrator_core::Bus;

static GLOBAL_BUS: OnceLock<Bus> = OnceLock::new();

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
/// ```
/// use orchestrator_std::{global_bus, Dispatcher, Event};
///
/// let mut events = global_bus().subscribe().unwrap();
/// let dispatcher = Dispatcher::builder().bus(global_bus().clone()).build().unwrap();
/// assert!(dispatcher.bus().same_bus(global_bus()));
/// global_bus().emit(Event::custom("hello", ())).unwrap();
/// # let _ = &mut events;
/// ```
pub fn global_bus() -> &'static Bus {
    GLOBAL_BUS.get_or_init(Bus::new)
}
