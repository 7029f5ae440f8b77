//! [`RetryPolicy`] and [`Jitter`]: their settings.

use core::time::Duration;

use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::retry::{Backoff, Jitter, RetryPolicy};

#[derive(Serialize, Deserialize)]
#[serde(rename = "Jitter", deny_unknown_fields)]
struct JitterRepr {
    ratio: f64,
    seed: u64,
}

impl Serialize for Jitter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        JitterRepr { ratio: self.ratio(), seed: self.seed() }.serialize(serializer)
    }
}

/// Through [`Jitter::new`], so the ratio is clamped into `0..=1` as always.
impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let JitterRepr { ratio, seed } = JitterRepr::deserialize(deserializer)?;
        Ok(Jitter::new(ratio, seed))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "RetryPolicy", default, deny_unknown_fields)]
struct PolicyRepr {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    backoff: Backoff,
    jitter: Option<Jitter>,
}

impl Default for PolicyRepr {
    fn default() -> Self {
        let policy = RetryPolicy::new();
        Self {
            max_retries: policy.max_retries(),
            base_delay: policy.base_delay(),
            max_delay: policy.max_delay(),
            backoff: policy.backoff(),
            jitter: policy.jitter(),
        }
    }
}

/// Writes the settings. A policy with a predicate ([`RetryPolicy::retry_if`]) or a
/// budget ([`RetryPolicy::budget`]) is refused with an error: neither is data, and
/// writing the policy without them would read back as another policy.
impl Serialize for RetryPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.has_predicate() {
            return Err(S::Error::custom("a RetryPolicy with a predicate (retry_if) cannot be serialized"));
        }
        if self.budget().is_some() {
            return Err(S::Error::custom("a RetryPolicy with a budget cannot be serialized"));
        }
        PolicyRepr {
            max_retries: self.max_retries(),
            base_delay: self.base_delay(),
            max_delay: self.max_delay(),
            backoff: self.backoff(),
            jitter: self.jitter(),
        }
        .serialize(serializer)
    }
}

/// Missing settings take [`RetryPolicy::new`]'s values; unknown ones are refused.
impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = PolicyRepr::deserialize(deserializer)?;
        let mut policy = RetryPolicy::new()
            .with_max_retries(repr.max_retries)
            .with_base_delay(repr.base_delay)
            .with_max_delay(repr.max_delay)
            .with_backoff(repr.backoff);
        if let Some(jitter) = repr.jitter {
            policy = policy.with_jitter(jitter);
        }
        Ok(policy)
    }
}
