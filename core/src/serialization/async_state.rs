//! [`AsyncState`]: its status, data and error, checked when read back.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::{AsyncState, AsyncStatus};

#[derive(Serialize)]
#[serde(rename = "AsyncState")]
struct Written<'a, T, E> {
    status: AsyncStatus,
    data: Option<&'a T>,
    error: Option<&'a E>,
}

#[derive(Deserialize)]
#[serde(rename = "AsyncState", deny_unknown_fields)]
struct Read<T, E> {
    status: AsyncStatus,
    #[serde(default = "none")]
    data: Option<T>,
    #[serde(default = "none")]
    error: Option<E>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T: Serialize, E: Serialize> Serialize for AsyncState<T, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written { status: self.status(), data: self.data(), error: self.error() }.serialize(serializer)
    }
}

/// Refuses a combination no sequence of transitions makes: `Success` without data, an
/// error outside `Failure`, `Failure` without an error, `Initial` with data.
impl<'de, T: Deserialize<'de>, E: Deserialize<'de>> Deserialize<'de> for AsyncState<T, E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Read { status, data, error } = Read::<T, E>::deserialize(deserializer)?;
        let state = match (status, data, error) {
            (AsyncStatus::Initial, None, None) => Self::new(),
            (AsyncStatus::Loading, None, None) => Self::loading(),
            (AsyncStatus::Loading, Some(data), None) => Self::success(data).to_loading(),
            (AsyncStatus::Refreshing, None, None) => Self::new().to_refreshing(),
            (AsyncStatus::Refreshing, Some(data), None) => Self::success(data).to_refreshing(),
            (AsyncStatus::Success, Some(data), None) => Self::success(data),
            (AsyncStatus::Failure, None, Some(error)) => Self::failure(error),
            (AsyncStatus::Failure, Some(data), Some(error)) => Self::success(data).to_failure(error),
            (status, data, error) => {
                return Err(D::Error::custom(format_args!(
                    "an AsyncState cannot be {status:?} {} data and {} error",
                    if data.is_some() { "with" } else { "without" },
                    if error.is_some() { "with an" } else { "without an" },
                )));
            }
        };
        Ok(state)
    }
}
