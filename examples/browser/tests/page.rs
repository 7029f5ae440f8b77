//! The page in headless Chromium (`.ci/run`'s `browser` step): built in the test's
//! document, driven by clicks, checked in the DOM.
//!
//! Real time, as in a browser: the waits poll the DOM with a watchdog, and the only fixed
//! wait is the one that checks that nothing moves after Cancel (15 chunk times).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use orchestrator_browser_example::{Settings, mount};
use orchestrator_std::browser::BrowserRuntime;
use orchestrator_std::runtime::{Clock, Timer};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlProgressElement};

wasm_bindgen_test_configure!(run_in_browser);

const CHUNK_TIME: Duration = Duration::from_millis(10);

fn new_root() -> (web_sys::Document, Element) {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    (document, root)
}

fn find(root: &Element, id: &str) -> Element {
    root.query_selector(&format!("#{id}")).unwrap().unwrap_or_else(|| panic!("no #{id}"))
}

fn text(root: &Element, id: &str) -> String {
    find(root, id).text_content().unwrap_or_default()
}

fn bar(root: &Element) -> f64 {
    find(root, "bar").dyn_into::<HtmlProgressElement>().unwrap().value()
}

fn click(root: &Element, id: &str) {
    find(root, id).dyn_into::<HtmlElement>().unwrap().click();
}

fn disabled(root: &Element, id: &str) -> bool {
    find(root, id).has_attribute("disabled")
}

/// Polls until `ready` holds; fails after 10 s (a hang, not a timing assertion).
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let clock = BrowserRuntime::new();
    while !ready() {
        assert!(clock.now() < Duration::from_secs(10), "timed out waiting until {what}");
        clock.sleep(Duration::from_millis(2)).await;
    }
}

#[wasm_bindgen_test]
async fn start_then_cancel_stops_the_upload() {
    let (document, root) = new_root();
    let page = mount(&document, &root, Settings { chunks: 1_000, chunk_time: CHUNK_TIME }).unwrap();
    assert_eq!(text(&root, "status"), "Ready");
    assert_eq!(text(&root, "sent"), "chunks sent: 0");
    assert_eq!(bar(&root), 0.0);

    click(&root, "start");
    wait_until("Uploading is shown", || text(&root, "status").starts_with("Uploading")).await;
    assert!(disabled(&root, "start"), "Start is disabled while uploading");
    assert!(!disabled(&root, "cancel"));
    wait_until("the bar reaches 2 %", || bar(&root) >= 2.0).await;

    click(&root, "cancel");
    wait_until("Cancelled is shown", || text(&root, "status").starts_with("Cancelled")).await;
    let sent = page.sent.get();
    let shown = text(&root, "sent");
    let at = bar(&root);
    assert!((2.0..100.0).contains(&at), "the bar stopped part-way: {at}");
    assert_eq!(text(&root, "status"), format!("Cancelled at {at} %"));
    assert!(!disabled(&root, "start") && disabled(&root, "cancel"));

    // The work really stopped: no chunk is sent, nothing on the page moves.
    BrowserRuntime::new().sleep(CHUNK_TIME * 15).await;
    assert_eq!(page.sent.get(), sent, "chunks were sent after Cancel");
    assert_eq!(text(&root, "sent"), shown);
    assert_eq!(bar(&root), at);
    assert!(sent < 1_000);
    assert_eq!(page.dispatcher.stats().pending, 0);
}

#[wasm_bindgen_test]
async fn an_upload_runs_to_the_end() {
    let (document, root) = new_root();
    let page = mount(&document, &root, Settings { chunks: 8, chunk_time: Duration::from_millis(2) }).unwrap();
    click(&root, "start");
    wait_until("Done is shown", || text(&root, "status").starts_with("Done")).await;
    assert_eq!(text(&root, "status"), "Done: 8 chunks");
    assert_eq!(bar(&root), 100.0);
    assert_eq!(text(&root, "sent"), "chunks sent: 8");
    assert_eq!(page.sent.get(), 8);
    // Clicking Start again starts a new upload.
    click(&root, "start");
    wait_until("the second upload ends", || page.sent.get() == 16).await;
    wait_until("Done is shown again", || text(&root, "status") == "Done: 8 chunks").await;
}
