//! [`Logger`]s for `std` programs: [`StderrLogger`] (always available), `TracingLogger`
//! (feature `tracing`) and `LogLogger` (feature `log`). They live in
//! [`orchestrator_core::log`] (this crate's features `tracing` and `log` turn on the
//! core's); they are re-exported here and at the crate root.
//!
//! A dispatcher not given a logger uses the core's
//! [`DefaultLogger`](orchestrator_core::log::DefaultLogger): `TracingLogger` with the
//! `tracing` feature, else `LogLogger` with `log`, else `StderrLogger` at `Warning`. Give
//! another one with
//! [`DispatcherBuilder::logger`](orchestrator_core::DispatcherBuilder::logger), or turn
//! logging off with [`NoopLogger`](orchestrator_core::log::NoopLogger):
//!
//! ```
//! use orchestrator_std::{Dispatcher, StderrLogger};
//! use orchestrator_std::log::{Level, NoopLogger};
//!
//! let dispatcher = Dispatcher::builder().logger(StderrLogger::new(Level::Info)).build().unwrap();
//! assert!(dispatcher.logger().enabled(Level::Info));
//! assert!(!dispatcher.logger().enabled(Level::Debug));
//!
//! let quiet = Dispatcher::builder().logger(NoopLogger).build().unwrap();
//! assert!(!quiet.logger().enabled(Level::Error));
//! ```
//!
//! [`Logger`]: orchestrator_core::log::Logger

#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use orchestrator_core::log::LogLogger;
pub use orchestrator_core::log::StderrLogger;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use orchestrator_core::log::TracingLogger;
pub use orchestrator_core::log::{TARGET, level_name};
