//! Placeholder and cache on tokio: stale-while-revalidate (miss, then hit), cache-first and
//! force refresh, with the events each one emits.
//!
//! Run it from the repository root with `cargo run --example cache_placeholder`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orchestrator_std::cache::InMemoryCache;
use orchestrator_std::tokio::{self as rt, TokioRuntime};
use orchestrator_std::{Executor, Job, JobBuilder, JobContext, JobError, Subscription};

/// Fetch a user's profile.
struct FetchProfile {
    user: u64,
}

impl Job for FetchProfile {
    type Output = String;
}

/// The (simulated) network: every call returns a new revision of the profile.
#[derive(Default)]
struct ProfileApi {
    calls: AtomicU32,
}

impl Executor<FetchProfile> for ProfileApi {
    async fn process(&self, job: &FetchProfile, _ctx: &JobContext) -> Result<String, JobError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let revision = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!("user #{} (revision {revision})", job.user))
    }
}

/// Prints the events received so far, with their values.
fn print_events(events: &mut Subscription) {
    while let Ok(event) = events.try_next() {
        let value = event.data_as::<String>().map(|v| format!(": {v:?}")).unwrap_or_default();
        println!("    {event}{value}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The cache measures its TTLs on the runtime's clock; the dispatcher gets it injected.
    let cache = Arc::new(InMemoryCache::new(TokioRuntime::new()));
    let dispatcher = rt::dispatcher_builder().cache_shared(cache.clone()).build()?;
    let api = Arc::new(ProfileApi::default());
    dispatcher.register_shared::<FetchProfile, _>(api.clone());
    let mut events = dispatcher.bus().subscribe()?;

    // A profile screen: show a placeholder, cache the profile for 5 minutes.
    let profile = || {
        JobBuilder::new(FetchProfile { user: 7 })
            .placeholder("loading…".to_string())
            .cache("profile:7", Duration::from_secs(300))
    };
    let scenarios = [
        ("stale-while-revalidate, nothing cached yet", profile()),
        ("stale-while-revalidate, cached: show it, then the fresh one", profile()),
        ("cache-first, cached: the API is not called", profile().revalidate(false)),
        ("force refresh: no cache read, the fresh value is written", profile().force_refresh(true)),
    ];
    for (n, (title, job)) in scenarios.into_iter().enumerate() {
        println!("{}. {title}", n + 1);
        let result = dispatcher.dispatch(job)?.await;
        print_events(&mut events);
        let calls = api.calls.load(Ordering::SeqCst);
        println!("    => {:?} (API calls so far: {calls})\n", result.ok().unwrap_or_default());
    }

    let stats = cache.stats();
    println!("cache: entries {}, hits {}, misses {}", stats.entries, stats.hits, stats.misses);
    dispatcher.shutdown();
    Ok(())
}
