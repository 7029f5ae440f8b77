//! The bound on names read from text (parsed id prefixes, deserialized custom event
//! names). Its own test binary: it changes a process-wide setting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, missing_debug_implementations)]

use orchestrator_core::{JobId, ParseJobIdError};

#[test]
fn new_names_past_the_limit_are_refused_and_known_ones_still_parse() {
    let known = JobId::next("Known");
    let known_text = known.to_string();
    assert_eq!(known_text.parse::<JobId>(), Ok(known));

    let room = 2;
    let limit = JobId::parsed_names() + room;
    JobId::set_parsed_name_limit(limit);
    assert_eq!(JobId::parsed_name_limit(), limit);
    assert!("first-1".parse::<JobId>().is_ok());
    assert!("second-2".parse::<JobId>().is_ok());
    assert_eq!(JobId::parsed_names(), limit);
    assert_eq!("third-3".parse::<JobId>(), Err(ParseJobIdError::TooManyPrefixes { limit }));
    assert_eq!(JobId::parsed_names(), limit, "a refused name is not kept");

    // Names already kept still parse, with any sequence number.
    assert_eq!(known_text.parse::<JobId>(), Ok(known));
    assert!("first-99".parse::<JobId>().is_ok());

    #[cfg(feature = "serde")]
    {
        let error = serde_json::from_str::<orchestrator_core::EventTag>(r#"{"Custom":"fresh"}"#).unwrap_err();
        assert!(error.to_string().contains("the limit"), "{error}");
        let kept = serde_json::from_str::<orchestrator_core::EventTag>(r#"{"Custom":"first"}"#).unwrap();
        assert_eq!(kept, orchestrator_core::EventTag::Custom("first"));
    }

    // Raising the limit lets new names in again.
    JobId::set_parsed_name_limit(limit + 1);
    assert!("third-3".parse::<JobId>().is_ok());
    let error = ParseJobIdError::TooManyPrefixes { limit };
    assert!(error.to_string().contains("limit"));
}
