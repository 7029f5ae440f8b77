//! An upload page in the browser: a progress bar, Start and Cancel. The page is rendered
//! from an orchestrator's state stream; the upload is a job whose executor holds DOM
//! nodes and `Rc`s across `.await`s (not `Send`: fine in the browser), on
//! `orchestrator_std::browser` (`performance.now`, `setTimeout`, `spawn_local`).
//!
//! `start` mounts it for `index.html`; [`mount`] is what `tests/page.rs` drives in headless
//! Chromium (Start, then Cancel, and the upload really stops).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use orchestrator_std::browser::{self, BrowserRuntime};
use orchestrator_std::runtime::Timer;
use orchestrator_std::{
    Context, Dispatcher, Event, Executor, Job, JobBuilder, JobContext, JobError, JobId, Orchestrator,
    OrchestratorHandle,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::{Closure, JsValue, wasm_bindgen};
use web_sys::{Document, Element, HtmlElement, HtmlProgressElement};

/// How the (simulated) upload is paced.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Chunks in the file.
    pub chunks: u32,
    /// Time on the wire per chunk.
    pub chunk_time: Duration,
}

impl Default for Settings {
    /// 50 chunks of 80 ms: four seconds, time to press Cancel.
    fn default() -> Self {
        Self { chunks: 50, chunk_time: Duration::from_millis(80) }
    }
}

/// The job: upload a file of `chunks` chunks. The output is the number of chunks sent.
struct Upload {
    chunks: u32,
}

impl Job for Upload {
    type Output = u32;
}

/// The executor. `sent` and its line on the page are the upload's side effect, updated by
/// the work itself (not by the state stream): after Cancel they must not move.
struct Uploader {
    timer: BrowserRuntime,
    chunk_time: Duration,
    sent: Rc<Cell<u32>>,
    sent_line: Element,
}

impl Executor<Upload> for Uploader {
    async fn process(&self, job: &Upload, ctx: &JobContext) -> Result<u32, JobError> {
        for part in 1..=job.chunks {
            self.timer.sleep(self.chunk_time).await; // one chunk on the wire
            self.sent.set(self.sent.get() + 1);
            self.sent_line.set_text_content(Some(&format!("chunks sent: {}", self.sent.get())));
            ctx.step(part, job.chunks, None)?;
        }
        Ok(job.chunks)
    }
}

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Screen {
    /// Where the upload is.
    pub status: Status,
    /// The upload's progress, from 0 to 1.
    pub progress: f64,
    job: Option<JobId>,
}

/// Where the upload is.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Status {
    /// Not started.
    #[default]
    Ready,
    /// Running.
    Uploading,
    /// Finished: this many chunks were sent.
    Done(u32),
    /// Stopped by Cancel.
    Cancelled,
    /// Failed, with the error.
    Failed(String),
}

/// What the buttons ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start an upload (ignored while one runs).
    Start,
    /// Cancel the running upload.
    Cancel,
}

/// The page's state machine.
#[derive(Debug)]
pub struct UploadScreen {
    chunks: u32,
}

impl Orchestrator for UploadScreen {
    type State = Screen;
    type Command = Command;

    fn handle(&mut self, command: Command, ctx: &mut Context<'_, Self>) {
        let uploading = ctx.state().status == Status::Uploading;
        match command {
            Command::Start if !uploading => {
                let job = JobBuilder::new(Upload { chunks: self.chunks }).timeout(Duration::from_secs(600));
                match ctx.dispatch(job) {
                    Ok(id) => {
                        ctx.update_state(|s| *s = Screen { status: Status::Uploading, progress: 0.0, job: Some(id) })
                    }
                    Err(error) => ctx.update_state(|s| s.status = Status::Failed(error.to_string())),
                }
            }
            Command::Cancel if uploading => {
                if let Some(id) = ctx.state().job {
                    ctx.cancel_job_with_reason(id, "Cancel pressed");
                }
            }
            Command::Start | Command::Cancel => {}
        }
    }

    fn on_progress(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let progress = ctx.job_progress(event.id()).unwrap_or(0.0);
        ctx.update_state(|s| s.progress = progress);
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let chunks = event.data_as::<u32>().copied().unwrap_or(0);
        ctx.update_state(|s| {
            s.status = Status::Done(chunks);
            s.progress = 1.0;
        });
    }

    fn on_active_cancelled(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| s.status = Status::Cancelled);
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let error = event.error().map_or_else(|| "unknown error".to_string(), ToString::to_string);
        ctx.update_state(|s| s.status = Status::Failed(error));
    }

    fn on_active_timeout(&mut self, _: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| s.status = Status::Failed("timed out".to_string()));
    }
}

/// A mounted page.
#[derive(Debug)]
pub struct Page {
    /// The page's orchestrator: what the buttons send commands to.
    pub screen: OrchestratorHandle<UploadScreen>,
    /// Chunks really sent so far (the executor's side effect).
    pub sent: Rc<Cell<u32>>,
    /// The dispatcher running the uploads.
    pub dispatcher: Dispatcher,
}

/// The page's elements.
struct View {
    bar: HtmlProgressElement,
    status: Element,
    start: HtmlElement,
    cancel: HtmlElement,
}

impl View {
    /// Shows `screen`: the only place the page changes, apart from the "chunks sent" line.
    fn render(&self, screen: &Screen) {
        let percent = (screen.progress * 100.0).round();
        self.bar.set_value(percent);
        let text = match &screen.status {
            Status::Ready => "Ready".to_string(),
            Status::Uploading => format!("Uploading… {percent} %"),
            Status::Done(chunks) => format!("Done: {chunks} chunks"),
            Status::Cancelled => format!("Cancelled at {percent} %"),
            Status::Failed(error) => format!("Failed: {error}"),
        };
        self.status.set_text_content(Some(&text));
        let uploading = screen.status == Status::Uploading;
        let _ = self.start.toggle_attribute_with_force("disabled", uploading);
        let _ = self.cancel.toggle_attribute_with_force("disabled", !uploading);
    }
}

/// Builds the page inside `root`: a progress bar (`#bar`), a status line (`#status`),
/// Start (`#start`) and Cancel (`#cancel`) buttons, and a "chunks sent" line (`#sent`).
///
/// # Errors
///
/// A DOM call failed, or the orchestrator could not start.
pub fn mount(document: &Document, root: &Element, settings: Settings) -> Result<Page, JsValue> {
    let element = |tag: &str, id: &str, text: &str| -> Result<Element, JsValue> {
        let element = document.create_element(tag)?;
        element.set_id(id);
        element.set_text_content(Some(text));
        root.append_child(&element)?;
        Ok(element)
    };
    let bar: HtmlProgressElement = element("progress", "bar", "")?.dyn_into()?;
    bar.set_max(100.0);
    let status = element("p", "status", "Ready")?;
    status.set_class_name("status");
    let start: HtmlElement = element("button", "start", "Start")?.dyn_into()?;
    let cancel: HtmlElement = element("button", "cancel", "Cancel")?.dyn_into()?;
    let sent_line = element("p", "sent", "chunks sent: 0")?;

    let runtime = BrowserRuntime::new();
    let dispatcher = browser::dispatcher().map_err(|e| JsValue::from_str(&e.to_string()))?;
    let sent = Rc::new(Cell::new(0));
    dispatcher.register(Uploader {
        timer: runtime.clone(),
        chunk_time: settings.chunk_time,
        sent: sent.clone(),
        sent_line,
    });
    let screen = UploadScreen { chunks: settings.chunks }
        .builder(Screen::default(), &dispatcher)
        .spawn(&runtime)
        .map_err(|e| JsValue::from_str(&e.to_string()))?;

    for (button, command) in [(&start, Command::Start), (&cancel, Command::Cancel)] {
        let screen = screen.clone();
        let on_click = Closure::<dyn FnMut()>::new(move || {
            // The queue holds 256 commands: a click is never lost to it.
            let _ = screen.try_send(command);
        });
        button.set_onclick(Some(on_click.as_ref().unchecked_ref()));
        on_click.forget(); // the handler lives as long as the button
    }

    let view = View { bar, status, start, cancel };
    let mut states = screen.states();
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(state) = states.next().await {
            view.render(&state);
        }
    });
    Ok(Page { screen, sent, dispatcher })
}

/// The entry point of `index.html`: mounts the page in the element `root_id`.
///
/// # Errors
///
/// No such element, or [`mount`] failed.
#[allow(unsafe_code)] // wasm-bindgen's export glue
#[wasm_bindgen]
pub fn start(root_id: &str) -> Result<(), JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let root = document.get_element_by_id(root_id).ok_or("no root element")?;
    let page = mount(&document, &root, Settings::default())?;
    std::mem::forget(page); // the page lives until it is unloaded
    Ok(())
}
