//! `serde` support (feature `serde`, `no_std`-capable): how the crate's values are
//! written and read back.
//!
//! * [`JobId`](crate::JobId): its text, `"FetchUser-7"` (parsed back with `FromStr`).
//! * [`EventTag`](crate::EventTag): `"Started"`, ..., `{"Custom": "name"}`.
//! * [`JobError`](crate::JobError): `{"kind": "Failed", "message": "..."}`, plus
//!   `"cause"` for a refused retry. A wrapped source error is not written (it is not
//!   serializable); its message is the error's message.
//! * [`JobResult<T>`](crate::JobResult), [`AsyncState<T, E>`](crate::AsyncState) and
//!   [`AsyncStatus`](crate::AsyncStatus), when `T` (and `E`) are serializable. Reading an
//!   `AsyncState` checks its invariants (`Success` has data, `Failure` an error, ...).
//! * [`RetryPolicy`](crate::RetryPolicy) (with [`Backoff`](crate::retry::Backoff) and
//!   [`Jitter`](crate::retry::Jitter)) and [`CachePolicy`](crate::cache::CachePolicy): their
//!   settings; missing fields take the defaults, unknown ones are refused. A policy with a
//!   predicate or a budget refuses to be written (a closure and a shared budget are not
//!   data), rather than being written without them.
//! * [`EventView`](crate::EventView): a serializable view of an [`Event`](crate::Event)
//!   whose payload is a `T`, from [`Event::to_view`](crate::Event::to_view).
//! * [`Progress`](crate::Progress), [`Retrying`](crate::Retrying),
//!   [`SuppressionReason`](crate::SuppressionReason) (and, written only,
//!   [`Suppression`](crate::Suppression)).

mod async_state;
mod cache_policy;
mod event_tag;
mod event_view;
mod job_error;
mod job_id;
mod retry_policy;

pub use event_view::EventView;
