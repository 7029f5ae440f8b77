//! [`CachePolicy`]: its key and settings.

use alloc::string::String;
use core::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cache::CachePolicy;

#[derive(Serialize)]
#[serde(rename = "CachePolicy")]
struct Written<'a> {
    key: &'a str,
    ttl: Option<Duration>,
    revalidate: bool,
    force_refresh: bool,
}

#[derive(Deserialize)]
#[serde(rename = "CachePolicy", deny_unknown_fields)]
struct Read {
    key: String,
    #[serde(default)]
    ttl: Option<Duration>,
    #[serde(default = "yes")]
    revalidate: bool,
    #[serde(default)]
    force_refresh: bool,
}

fn yes() -> bool {
    true
}

impl Serialize for CachePolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Written { key: self.key(), ttl: self.ttl(), revalidate: self.revalidate(), force_refresh: self.force_refresh() }
            .serialize(serializer)
    }
}

/// `key` is required; the other settings default as in [`CachePolicy::new`]. (An empty
/// key or a zero TTL is refused when a job with the policy is dispatched.)
impl<'de> Deserialize<'de> for CachePolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Read { key, ttl, revalidate, force_refresh } = Read::deserialize(deserializer)?;
        Ok(CachePolicy::new(key).with_ttl(ttl).with_revalidate(revalidate).with_force_refresh(force_refresh))
    }
}
