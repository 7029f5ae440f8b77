//! The plan of a job with options (its timeout, retry, placeholder and cache stage) and
//! what it puts into the pipeline: the placeholder after Started, the cache read and the
//! attempts as the work, cancellation or the deadline as the stop signal, and the cache
//! write of a fresh success after the work.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::{Pin, pin};

use core::time::Duration;
use futures_util::future::{Either, select};

use crate::event::{EventKind, Payload};
use crate::executor::Executor;
use crate::flow::FlowTicket;
use crate::job::Job;
use crate::log::Logger;
use crate::retry::RetryPolicy;
use crate::sync::{BoxFuture, MaybeSend, MaybeSync};

use super::attempts::attempts;
use super::cache_stage::CacheStage;
use super::report::Outcome;
use super::stop_signal::{Deadline, cancellation, stop_signal};
use super::{JobCore, Stages};

/// The plan of a job with options: a timeout, retry, a placeholder or a cache policy.
/// (A job with none of them runs the smaller [`run_plain`](super::run_plain) pipeline on
/// its [`JobCore`].)
pub(crate) struct Plan<T> {
    pub(crate) core: JobCore<T>,
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
    /// Its place in flow control, if any policy or cap applies to it.
    pub(crate) flow: Option<FlowTicket>,
}

impl Extras {
    /// `None` when the job has none of them.
    pub(crate) fn new(
        placeholder: Option<Payload>,
        cache: Option<CacheStage>,
        flow: Option<FlowTicket>,
    ) -> Option<Box<Self>> {
        (placeholder.is_some() || cache.is_some() || flow.is_some())
            .then(|| Box::new(Self { placeholder, cache, flow }))
    }
}

impl<T> Plan<T> {
    fn cache(&self) -> Option<&CacheStage> {
        self.extras.as_deref().and_then(|extras| extras.cache.as_ref())
    }
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> Stages<T> for Plan<T> {
    fn core(&self) -> &JobCore<T> {
        &self.core
    }

    fn core_mut(&mut self) -> &mut JobCore<T> {
        &mut self.core
    }

    const MAY_WAIT: bool = true;

    /// Its turn under flow control, if a policy or cap applies to it, raced against its
    /// cancellation. Boxed: only jobs under flow control wait here, and inline its state
    /// would grow every job's future with options by about a hundred bytes.
    fn admit(&self) -> Option<BoxFuture<'_, bool>> {
        let ticket = self.extras.as_deref().and_then(|extras| extras.flow.as_ref())?;
        let ctx = &self.core.ctx;
        Some(Box::pin(async move {
            let turn = pin!(ticket.admit(ctx));
            matches!(select(turn, pin!(cancellation::<T>(ctx))).await, Either::Left(_))
        }))
    }

    /// Leaves flow control: the ticket's permits and key go back.
    fn leave(&mut self) {
        if let Some(ticket) = self.extras.as_deref_mut().and_then(|extras| extras.flow.as_mut()) {
            ticket.release();
        }
    }

    /// The placeholder, if any.
    fn announce(&self) {
        if let Some(placeholder) = self.extras.as_deref().and_then(|extras| extras.placeholder.as_ref()) {
            let _ = self.core.ctx.emit_kind(|| EventKind::Placeholder(placeholder.clone()));
        }
    }

    /// The cache read (a cache-first hit is the result), then the attempts.
    #[allow(clippy::manual_async_fn)] // on purpose: an `async fn` stores its arguments twice
    fn work<'a, J, E>(
        &'a self,
        executor: &'a E,
        job: &'a J,
        logger: &'a dyn Logger,
    ) -> impl Future<Output = impl Into<Outcome<T>>> + 'a
    where
        J: Job<Output = T>,
        E: Executor<J> + ?Sized,
    {
        async move {
            let ctx = &self.core.ctx;
            if let Some(stage) = self.cache().filter(|stage| !stage.policy.force_refresh()) {
                let hit = stage.read::<T>(ctx, logger).await;
                if let (Some(value), false) = (hit, stage.policy.revalidate()) {
                    return Outcome::Finished { result: Ok(value), retried: false, cached: true };
                }
            }
            let (result, retried) = attempts(executor, job, ctx, self.retry.as_ref(), ctx.env.timer.as_deref()).await;
            Outcome::Finished { result, retried, cached: false }
        }
    }

    /// Cancellation or the timeout, whose deadline counts from now (the work has not
    /// started); its sleep is made only if the job waits.
    fn stop(&self) -> impl Future<Output = Outcome<T>> + '_ {
        let ctx = &self.core.ctx;
        let deadline = match (self.timeout, ctx.env.timer.as_deref()) {
            (Some(after), Some(timer)) => Some(Deadline { timer, start: timer.now(), after }),
            _ => None,
        };
        stop_signal(ctx, deadline)
    }

    /// The cache write of a fresh success (not of a cache-first hit).
    #[inline] // asked of every job with options that finishes; most have nothing to write
    fn after_work<'a, S: Future<Output = Outcome<T>>>(
        &'a self,
        outcome: &'a Outcome<T>,
        stop: Pin<&'a mut S>,
        logger: &'a dyn Logger,
    ) -> Option<impl Future<Output = ()> + 'a> {
        match (outcome, self.cache()) {
            (Outcome::Finished { result: Ok(value), cached: false, .. }, Some(stage)) => {
                Some(stage.write(&self.core.ctx, logger, value, stop))
            }
            _ => None,
        }
    }
}
