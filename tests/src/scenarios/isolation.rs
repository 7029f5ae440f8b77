//! Scoped buses: a job's events go to the bus it was dispatched on, and only there.

use orchestrator_core::Bus;
use orchestrator_core::EventTag::*;

use super::{Work, setup};
use crate::runtime::Runtime;
use crate::util::{Recorder, settle, tags, tags_of};

/// A job dispatched on a scoped bus emits nothing on the dispatcher's default bus, and a
/// job on the default bus emits nothing on the scoped one; two scoped buses are isolated
/// from each other too.
pub fn scoped_isolation<R: Runtime>(rt: &R) {
    let (dispatcher, _, mut default_rec) = setup(rt);
    let scoped = Bus::new();
    let other = Bus::new();
    let mut scoped_rec = Recorder::new(&scoped);
    let mut other_rec = Recorder::new(&other);
    rt.run(async {
        let on_default = dispatcher.dispatch(Work::quick(0)).unwrap();
        let on_scoped = dispatcher.dispatch_on(&scoped, Work::quick(0)).unwrap();
        let on_other = dispatcher.dispatch_on(&other, Work::quick(0)).unwrap();
        let ids = [on_default.id(), on_scoped.id(), on_other.id()];
        assert!(on_default.await.is_success());
        assert!(on_scoped.await.is_success());
        assert!(on_other.await.is_success());
        settle(rt, &dispatcher).await;

        let recorders = [&mut default_rec, &mut scoped_rec, &mut other_rec];
        for (i, rec) in recorders.into_iter().enumerate() {
            let events = rec.collect_now().await;
            assert_eq!(tags(&events), [Started, Success], "bus {i}");
            assert_eq!(tags_of(&events, ids[i]), [Started, Success], "bus {i} has its own job's events");
        }
    });
}

/// A dispatcher built on a bus of the application's uses it as its default bus.
pub fn dispatcher_on_given_bus<R: Runtime>(rt: &R) {
    let app_bus = Bus::new();
    let mut rec = Recorder::new(&app_bus);
    let dispatcher = rt.build_dispatcher(|b| b.bus(app_bus.clone()));
    assert!(dispatcher.bus().same_bus(&app_bus));
    super::register_work(rt, &dispatcher);
    rt.run(async {
        let handle = dispatcher.dispatch(Work::quick(0)).unwrap();
        let id = handle.id();
        assert!(handle.await.is_success());
        let events = rec.collect(rt, &dispatcher).await;
        assert_eq!(tags_of(&events, id), [Started, Success]);
        assert_eq!(events.len(), 2);
    });
}
