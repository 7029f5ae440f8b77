//! Shared helpers for the core's integration tests: a dispatcher on a virtual clock,
//! driven by its local runner.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use core::future::Future;
use core::pin::pin;
use std::sync::Arc;

use futures::future::{Either, select};
use orchestrator_core::runtime::{VirtualClock, run_virtual};
use orchestrator_core::{Dispatcher, Event, EventTag, Subscription};

#[derive(Debug)]
pub struct Harness {
    pub clock: VirtualClock,
    pub dispatcher: Dispatcher,
    pub events: Subscription,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let clock = VirtualClock::new();
        let dispatcher = Dispatcher::builder().timer(clock.clone()).build().unwrap();
        let events = dispatcher.bus().subscribe().unwrap();
        Self { clock, dispatcher, events }
    }

    /// Runs `fut` to completion with the dispatcher's runner alongside, on virtual time.
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        let runner = self.dispatcher.runner();
        run_virtual(&self.clock, async move {
            match select(pin!(fut), pin!(runner)).await {
                Either::Left((out, _)) => out,
                Either::Right(((), fut)) => fut.await,
            }
        })
        .expect("the test future stalled")
    }

    /// Every event received so far.
    pub fn drain(&mut self) -> Vec<Arc<Event>> {
        drain(&mut self.events)
    }
}

pub fn drain(sub: &mut Subscription) -> Vec<Arc<Event>> {
    let mut out = Vec::new();
    while let Ok(e) = sub.try_next() {
        out.push(e);
    }
    out
}

pub fn tags(events: &[Arc<Event>]) -> Vec<EventTag> {
    events.iter().map(|e| e.tag()).collect()
}

/// Yields once to the executor (waking itself, so a virtual-time driver keeps polling).
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
