//! [`EventTag`]: its variant's name, and a custom event's name with it.

use alloc::borrow::Cow;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::EventTag;
use crate::parsed_names::{self, Refused};

/// The written form: `EventTag` with the custom name borrowed (writing) or owned
/// (reading, when the input cannot lend it).
#[derive(Serialize, Deserialize)]
#[serde(rename = "EventTag")]
enum Repr<'a> {
    Queued,
    Joined,
    Started,
    Placeholder,
    CacheHit,
    Progress,
    Retrying,
    Success,
    Failure,
    Cancelled,
    TimedOut,
    Custom(#[serde(borrow)] Cow<'a, str>),
    HooksSuppressed,
}

impl Serialize for EventTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let repr = match *self {
            Self::Queued => Repr::Queued,
            Self::Joined => Repr::Joined,
            Self::Started => Repr::Started,
            Self::Placeholder => Repr::Placeholder,
            Self::CacheHit => Repr::CacheHit,
            Self::Progress => Repr::Progress,
            Self::Retrying => Repr::Retrying,
            Self::Success => Repr::Success,
            Self::Failure => Repr::Failure,
            Self::Cancelled => Repr::Cancelled,
            Self::TimedOut => Repr::TimedOut,
            Self::Custom(name) => Repr::Custom(Cow::Borrowed(name)),
            Self::HooksSuppressed => Repr::HooksSuppressed,
        };
        repr.serialize(serializer)
    }
}

/// A custom event's name is kept as a `&'static str` like the names events are emitted
/// with, in the bounded table of names read from text (see
/// [`JobId::parsed_name_limit`](crate::JobId::parsed_name_limit)).
impl<'de> Deserialize<'de> for EventTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Queued => Self::Queued,
            Repr::Joined => Self::Joined,
            Repr::Started => Self::Started,
            Repr::Placeholder => Self::Placeholder,
            Repr::CacheHit => Self::CacheHit,
            Repr::Progress => Self::Progress,
            Repr::Retrying => Self::Retrying,
            Repr::Success => Self::Success,
            Repr::Failure => Self::Failure,
            Repr::Cancelled => Self::Cancelled,
            Repr::TimedOut => Self::TimedOut,
            Repr::Custom(name) => Self::Custom(parsed_names::intern(&name).map_err(|refused| match refused {
                Refused::TooLong { len } => D::Error::custom(format_args!(
                    "a custom event name of {len} bytes is above the limit of {}",
                    parsed_names::MAX_NAME_LEN
                )),
                Refused::Full { limit } => D::Error::custom(format_args!(
                    "a new custom event name, and {limit} parsed names are already kept (the limit)"
                )),
            })?),
            Repr::HooksSuppressed => Self::HooksSuppressed,
        })
    }
}
