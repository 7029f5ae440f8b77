//! Many concurrent jobs.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use orchestrator_core::EventTag::*;
use orchestrator_core::runtime::Timer;
use orchestrator_core::{Bus, EventTag, Executor, Job, JobContext, JobError, JobId};

use crate::runtime::Runtime;
use crate::util::{Recorder, yield_now};

/// How many jobs [`many_concurrent_jobs`] dispatches at once.
pub const MANY: u32 = 1_000;

/// Yields a few times and sleeps 1 ms, then returns twice its value.
#[derive(Debug)]
pub struct Double(pub u32);
impl Job for Double {
    type Output = u32;
}

struct DoubleExecutor(Arc<dyn Timer>);
impl Executor<Double> for DoubleExecutor {
    async fn process(&self, job: &Double, _: &JobContext) -> Result<u32, JobError> {
        for _ in 0..3 {
            yield_now().await;
        }
        self.0.sleep(Duration::from_millis(1)).await;
        Ok(job.0 * 2)
    }
}

/// 1 000 jobs dispatched at once (each yielding and sleeping) all succeed with their own
/// result; every job has exactly Started then Success on the bus; the counters add up.
pub fn many_concurrent_jobs<R: Runtime>(rt: &R) {
    // Room for every event, so the recorder, read at the end, cannot lag.
    let capacity = NonZeroUsize::new(4 * MANY as usize).unwrap();
    let dispatcher = rt.build_dispatcher(|b| b.bus(Bus::with_capacity(capacity).unwrap()));
    dispatcher.register(DoubleExecutor(rt.timer()));
    let mut rec = Recorder::new(dispatcher.bus());
    rt.run(async {
        let handles: Vec<_> = (0..MANY).map(|i| dispatcher.dispatch(Double(i)).unwrap()).collect();
        let ids: Vec<JobId> = handles.iter().map(|h| h.id()).collect();
        let results = futures::future::join_all(handles).await;
        for (i, result) in (0..MANY).zip(results) {
            assert_eq!(result.ok(), Some(i * 2));
        }
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(events.len(), 2 * MANY as usize);
        let mut per_job: HashMap<JobId, Vec<EventTag>> = HashMap::new();
        for event in &events {
            per_job.entry(event.id()).or_default().push(event.tag());
        }
        assert_eq!(per_job.len(), MANY as usize);
        for id in ids {
            assert_eq!(per_job.get(&id).map(Vec::as_slice), Some(&[Started, Success][..]), "{id}");
        }
        let stats = dispatcher.stats();
        assert_eq!((stats.pending, stats.running, stats.queued), (0, 0, 0));
        assert_eq!(stats.finished, MANY as usize);
    });
}
