//! The cache stage, on the runtime's clock: miss then write, cache-first hit,
//! stale-while-revalidate, forced refresh.

use std::sync::Arc;
use std::time::Duration;

use orchestrator_core::EventTag::*;
use orchestrator_core::JobBuilder;
use orchestrator_core::cache::InMemoryCache;
use orchestrator_core::runtime::{Clock, Timer};

use super::{Work, register_work};
use crate::runtime::Runtime;
use crate::util::{Recorder, tags};

/// The runtime's timer seen as a [`Clock`] (for the cache's TTLs).
struct TimerClock(Arc<dyn Timer>);

impl Clock for TimerClock {
    fn now(&self) -> Duration {
        self.0.now()
    }
}

/// With an `InMemoryCache` on the runtime's clock: a miss runs the executor and writes
/// (Started, Success); cache-first then answers from the cache without running it
/// (Started, CacheHit, Success); stale-while-revalidate shows the cached value then the
/// fresh one (Started, CacheHit, Success); a forced refresh skips the read (Started,
/// Success).
pub fn cache_round_trip<R: Runtime>(rt: &R) {
    let dispatcher = rt.build_dispatcher(|b| b.cache(InMemoryCache::new(TimerClock(rt.timer()))));
    let probe = register_work(rt, &dispatcher);
    let mut rec = Recorder::new(dispatcher.bus());
    let ttl = Duration::from_secs(3600);
    rt.run(async {
        let cached = || JobBuilder::new(Work::quick(0)).cache("work", ttl);

        assert_eq!(dispatcher.dispatch(cached().revalidate(false)).unwrap().await.ok(), Some(0));
        assert_eq!(tags(&rec.collect(rt, &dispatcher).await), [Started, Success]);
        assert_eq!(probe.calls(), 1);

        assert_eq!(dispatcher.dispatch(cached().revalidate(false)).unwrap().await.ok(), Some(0));
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, CacheHit, Success]);
        assert_eq!(events[1].data_as::<u32>(), Some(&0));
        assert_eq!(probe.calls(), 1, "a cache-first hit does not run the executor");

        assert_eq!(dispatcher.dispatch(cached().revalidate(true)).unwrap().await.ok(), Some(1));
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags(&events), [Started, CacheHit, Success]);
        assert_eq!((events[1].data_as::<u32>(), events[2].data_as::<u32>()), (Some(&0), Some(&1)));

        assert_eq!(dispatcher.dispatch(cached().force_refresh(true)).unwrap().await.ok(), Some(2));
        assert_eq!(tags(&rec.collect(rt, &dispatcher).await), [Started, Success]);

        // The refreshed value is what the cache now holds.
        assert_eq!(dispatcher.dispatch(cached().revalidate(false)).unwrap().await.ok(), Some(2));
        assert_eq!(probe.calls(), 3);
        assert_eq!(dispatcher.stats().cache_errors, 0);
    });
}
