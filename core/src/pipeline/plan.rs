//! The plan of a job with options: its timeout, retry, placeholder and cache stage.

use alloc::boxed::Box;
use core::time::Duration;

use crate::event::Payload;
use crate::retry::RetryPolicy;

use super::Core;
use super::cache_stage::CacheStage;

/// The plan of a job with options: a timeout, retry, a placeholder or a cache policy.
/// (A job with none of them runs the smaller [`run_plain`](super::run_plain) pipeline on
/// its [`Core`].)
pub(crate) struct Plan<T> {
    pub(crate) core: Core<T>,
    /// `None`, or a deadline that can actually expire (`Duration::MAX` is filtered out).
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    /// Placeholder and cache, boxed: fewer jobs have them, and the plan is part of every
    /// job's future (copied into its box, read from memory that has gone cold since the
    /// box's last job). Retry stays inline: a job with retry usually has a timeout too,
    /// and would pay an allocation for it.
    pub(crate) extras: Option<Box<Extras>>,
}

/// The options of a job that fewer jobs have.
pub(crate) struct Extras {
    pub(crate) placeholder: Option<Payload>,
    pub(crate) cache: Option<CacheStage>,
}

impl Extras {
    /// `None` when the job has neither.
    pub(crate) fn new(placeholder: Option<Payload>, cache: Option<CacheStage>) -> Option<Box<Self>> {
        (placeholder.is_some() || cache.is_some()).then(|| Box::new(Self { placeholder, cache }))
    }
}
