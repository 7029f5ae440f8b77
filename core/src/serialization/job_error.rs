//! [`JobError`]: its kind, its message and (for a refused retry) its cause.

use alloc::string::String;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{JobError, JobErrorKind};

#[derive(Serialize)]
#[serde(rename = "JobError")]
struct Written<'a> {
    kind: JobErrorKind,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'a JobError>,
}

#[derive(Deserialize)]
#[serde(rename = "JobError", deny_unknown_fields)]
struct Read {
    kind: JobErrorKind,
    message: String,
    #[serde(default)]
    cause: Option<JobError>,
}

impl Serialize for JobError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written { kind: self.kind(), message: self.message(), cause: self.cause() }.serialize(serializer)
    }
}

/// The error comes back with its kind, message and cause; a source error it wrapped was
/// not written, so it has none (its message is the error's).
impl<'de> Deserialize<'de> for JobError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Read { kind, message, cause } = Read::deserialize(deserializer)?;
        Ok(JobError::from_parts(kind, message, cause))
    }
}
