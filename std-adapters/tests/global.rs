//! The process-wide bus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orchestrator_std::{Dispatcher, Event, global_bus};

#[test]
fn global_bus_is_one_shared_bus() {
    assert!(global_bus().same_bus(global_bus()));
    let from_thread = std::thread::spawn(|| global_bus().clone()).join().unwrap();
    assert!(from_thread.same_bus(global_bus()));

    let mut events = global_bus().subscribe().unwrap();
    let dispatcher = Dispatcher::builder().bus(global_bus().clone()).build().unwrap();
    assert!(dispatcher.bus().same_bus(global_bus()));
    assert!(!Dispatcher::new().bus().same_bus(global_bus()), "dispatchers do not use it implicitly");

    from_thread.emit(Event::custom("hello", 5_u32)).unwrap();
    let event = events.try_next().unwrap();
    assert_eq!(event.job_type(), "hello");
    assert_eq!(event.data_as::<u32>(), Some(&5));
}
