//! A job's cache stage: the read before its attempts (a hit is emitted as `CacheHit`, and
//! ends a cache-first job), and the write of a fresh success after them.
//!
//! Cache errors never change the outcome: a failed read is a miss, a failed (or cut
//! short) write leaves the Success standing; both are logged and counted.

use crate::sync::Arc;
use crate::sync::atomic::Ordering;
use core::fmt::Display;
use core::future::Future;
use core::pin::Pin;

use futures_util::future::{Either, select};

use crate::cache::{CachePolicy, CacheProvider};
use crate::event::{EventKind, Payload};
use crate::executor::JobContext;
use crate::log::{Level, Logger, log_at};
use crate::sync::{MaybeSend, MaybeSync};

use super::report::Outcome;

/// A job's cache stage: its policy and the provider.
pub(crate) struct CacheStage {
    pub(crate) policy: CachePolicy,
    pub(crate) provider: Arc<dyn CacheProvider>,
}

impl CacheStage {
    /// Reads the job's cache entry. A value of the job's output type is emitted as
    /// CacheHit and returned; anything else (no value, a value of another type, a read
    /// error) is a miss.
    pub(super) async fn read<T: Clone + 'static>(&self, ctx: &JobContext, logger: &dyn Logger) -> Option<T> {
        match self.provider.read(self.policy.key()).await {
            Ok(Some(payload)) => {
                let value = payload.get::<T>().cloned();
                match value {
                    Some(_) => {
                        log_at!(
                            logger,
                            Level::Debug,
                            "job {} ({}) cache hit `{}`",
                            ctx.id,
                            ctx.job_type,
                            self.policy.key()
                        );
                        let _ = ctx.emit_kind(|| EventKind::CacheHit(payload));
                    }
                    None => log_at!(
                        logger,
                        Level::Warning,
                        "job {} ({}) cache entry `{}` holds another type than the job's output; treated as a miss",
                        ctx.id,
                        ctx.job_type,
                        self.policy.key()
                    ),
                }
                value
            }
            Ok(None) => None,
            Err(error) => {
                self.report_error(ctx, logger, "read", &error);
                None
            }
        }
    }

    /// Writes a fresh success, raced against the job's `stop` signal: a provider that
    /// hangs cannot hold the job beyond its cancellation or deadline. A write cut short
    /// is reported like a failed one; the Success stands either way.
    pub(super) fn write<'a, T, S>(
        &'a self,
        ctx: &'a JobContext,
        logger: &'a dyn Logger,
        value: &T,
        stop: Pin<&'a mut S>,
    ) -> impl Future<Output = ()> + 'a
    where
        T: Clone + MaybeSend + MaybeSync + 'static,
        S: Future<Output = Outcome<T>>,
    {
        let write = self.provider.write(self.policy.key(), Payload::new(value.clone()), self.policy.ttl());
        async move {
            match select(write, stop).await {
                Either::Left((Ok(()), _)) => {}
                Either::Left((Err(error), _)) => self.report_error(ctx, logger, "write", &error),
                Either::Right((Outcome::TimedOut(_), _)) => {
                    self.report_error(ctx, logger, "write", &"the job timed out during the write");
                }
                Either::Right(_) => self.report_error(ctx, logger, "write", &"the job was cancelled during the write"),
            }
        }
    }

    /// A cache error that does not change the job's outcome: counted and logged.
    fn report_error(&self, ctx: &JobContext, logger: &dyn Logger, op: &str, error: &dyn Display) {
        ctx.env.cache_errors.fetch_add(1, Ordering::Relaxed);
        log_at!(
            logger,
            Level::Warning,
            "job {} ({}) cache {} of `{}` failed: {}",
            ctx.id,
            ctx.job_type,
            op,
            self.policy.key(),
            error
        );
    }
}
