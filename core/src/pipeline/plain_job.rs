//! The stages of a job without options (no timeout, retry, placeholder or cache): one
//! attempt of the executor, stopped only by cancellation.

use core::future::{Future, Ready};
use core::pin::Pin;

use crate::executor::Executor;
use crate::job::Job;
use crate::log::Logger;
use crate::sync::BoxFuture;

use super::attempts::guarded;
use super::report::Outcome;
use super::stop_signal::cancellation;
use super::{JobCore, Stages};

impl<T> Stages<T> for JobCore<T> {
    fn core(&self) -> &JobCore<T> {
        self
    }

    fn core_mut(&mut self) -> &mut JobCore<T> {
        self
    }

    const MAY_WAIT: bool = false;

    /// Nothing: flow control always comes with a [`Plan`](super::Plan).
    #[inline(always)]
    fn admit(&self) -> Option<BoxFuture<'_, bool>> {
        None
    }

    #[inline(always)]
    fn leave(&mut self) {}

    /// Nothing: only a [`Plan`](super::Plan) has a placeholder.
    fn announce(&self) {}

    /// One attempt; its result is the outcome, converted by the skeleton (one combinator
    /// less around the executor's future).
    fn work<'a, J, E>(
        &'a self,
        executor: &'a E,
        job: &'a J,
        _: &'a dyn Logger,
    ) -> impl Future<Output = impl Into<Outcome<T>>> + 'a
    where
        J: Job<Output = T>,
        E: Executor<J> + ?Sized,
    {
        guarded(executor.process(job, &self.ctx))
    }

    fn stop(&self) -> impl Future<Output = Outcome<T>> + '_ {
        cancellation(&self.ctx)
    }

    /// Nothing: a result without a cache stage is reported as it is.
    fn after_work<'a, S: Future<Output = Outcome<T>>>(
        &'a self,
        _: &'a Outcome<T>,
        _: Pin<&'a mut S>,
        _: &'a dyn Logger,
    ) -> Option<impl Future<Output = ()> + 'a> {
        None::<Ready<()>>
    }
}
