//! The conformance suite: behavioural scenarios written once, generic over the runtime,
//! and instantiated for every runtime (see `tests/`).
