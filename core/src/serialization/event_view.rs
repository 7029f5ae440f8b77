//! [`EventView`]: what an event says, ready to be written (an SSE stream, a log line, a
//! message to another process).

use core::any::Any;
use core::time::Duration;

use serde::Serialize;

use crate::error::JobError;
use crate::event::{Event, EventKind, EventTag, Progress, Retrying, Suppression};
use crate::job_id::JobId;

/// A serializable view of an [`Event`] whose payload (a job's output, a placeholder, a
/// cached value, a custom event's data) is a `T`; made by [`Event::to_view`]. It borrows
/// the event. Fields that do not apply to the event's kind are left out of the output.
///
/// A payload that is not a `T` is not written: the view says so with
/// `"payload_not_shown": true` (and [`payload_not_shown`](Self::payload_not_shown)), so
/// a reader can tell it from an event without a payload.
///
/// ```
/// use orchestrator_core::{Event, EventTag};
///
/// let event = Event::custom("temperature", 21.5_f64);
/// let json = serde_json::to_value(event.to_view::<f64>()).unwrap();
/// assert_eq!(json["kind"], serde_json::json!({ "Custom": "temperature" }));
/// assert_eq!(json["data"], 21.5);
/// assert_eq!(json["id"], event.id().to_string());
///
/// let other = serde_json::to_value(event.to_view::<String>()).unwrap();
/// assert_eq!(other["payload_not_shown"], true);
/// assert!(other.get("data").is_none());
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename = "Event")]
pub struct EventView<'a, T> {
    /// The job (or custom event) the event belongs to.
    id: JobId,
    /// The job type's name.
    job_type: &'a str,
    /// What happened.
    kind: EventTag,
    /// The event's causal depth ([`Event::causal_depth`]).
    causal_depth: u32,
    /// When it happened, on its dispatcher's clock ([`Event::time`]).
    time: Duration,
    /// The payload of a `Success`, `Placeholder`, `CacheHit` or `Custom` event, if it is a `T`.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a T>,
    /// Set when the event has a payload that is not a `T` (and so is not written).
    #[serde(skip_serializing_if = "core::ops::Not::not")]
    payload_not_shown: bool,
    /// The report of a `Progress` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<&'a Progress>,
    /// The retry of a `Retrying` event (with the failed attempt's error).
    #[serde(skip_serializing_if = "Option::is_none")]
    retrying: Option<&'a Retrying>,
    /// The error of a `Failure` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a JobError>,
    /// Whether a `Failure` came after retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    retried: Option<bool>,
    /// The reason of a `Cancelled` event, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    /// The timeout of a `TimedOut` event.
    #[serde(skip_serializing_if = "Option::is_none")]
    timed_out_after: Option<Duration>,
    /// What a `HooksSuppressed` event reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppression: Option<&'a Suppression>,
}

impl<T> EventView<'_, T> {
    /// True when the event has a payload that is not a `T`, left out of the view.
    pub fn payload_not_shown(&self) -> bool {
        self.payload_not_shown
    }

    /// The payload, if the event has one and it is a `T`.
    pub fn data(&self) -> Option<&T> {
        self.data
    }
}

impl Event {
    /// A serializable view of this event, with its payload if it is a `T` (see
    /// [`EventView`]; feature `serde`). Use `()` as `T` for events whose payload you do
    /// not write.
    pub fn to_view<T: Any>(&self) -> EventView<'_, T> {
        let payload = self.payload();
        let data = payload.and_then(|p| p.get::<T>());
        let mut view = EventView {
            id: self.id(),
            job_type: self.job_type(),
            kind: self.tag(),
            causal_depth: self.causal_depth(),
            time: self.time(),
            data,
            payload_not_shown: payload.is_some() && data.is_none(),
            progress: None,
            retrying: None,
            error: None,
            retried: None,
            reason: None,
            timed_out_after: None,
            suppression: None,
        };
        match self.kind() {
            EventKind::Progress(progress) => view.progress = Some(progress),
            EventKind::Retrying(retrying) => view.retrying = Some(retrying),
            EventKind::Failure { error, retried } => {
                view.error = Some(error);
                view.retried = Some(*retried);
            }
            EventKind::Cancelled { reason } => view.reason = reason.as_deref(),
            EventKind::TimedOut { after } => view.timed_out_after = Some(*after),
            EventKind::HooksSuppressed(suppression) => view.suppression = Some(suppression),
            EventKind::Queued
            | EventKind::Joined
            | EventKind::Started
            | EventKind::Placeholder(_)
            | EventKind::CacheHit(_)
            | EventKind::Success(_)
            | EventKind::Custom { .. } => {}
        }
        view
    }
}
