//! Flow control: what happens when jobs with the same key meet (join, latest-wins,
//! drop-while-busy, serial), debounce and throttle per key, concurrency caps per job type
//! and per dispatcher, and priority lanes with aging. See docs/advanced-patterns.md.
//!
//! A job under flow control carries a [`FlowTicket`] in its plan: the pipeline awaits
//! [`FlowTicket::admit`] before `Started`, raced against the job's cancellation, and the
//! ticket is released when the job ends. A job with no policy and no cap gets no ticket
//! and pays one atomic load at dispatch.

mod permits;
mod stats;
mod table;
mod ticket;

pub use stats::FlowStats;
pub use table::SUPERSEDED;

pub(crate) use table::{DEFAULT_PRIORITY_AGING, FlowTable, Resolved};
pub(crate) use ticket::FlowTicket;
