//! Progress and cancellation: an upload screen on tokio.
//!
//! Two files upload at the same time. The screen's orchestrator turns the jobs' progress
//! events into a progress bar per file; when the second upload reaches 40 % the user
//! presses Cancel. Its upload future is dropped at once (its connection closes, no more
//! progress arrives) and it ends `Cancelled` with the reason, while the first upload
//! completes.
//!
//! Run it from the repository root with `cargo run --example upload`.

use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::tokio::{self as rt, TokioRuntime};
use orchestrator_std::{Context, Event, Executor, Job, JobBuilder, JobContext, JobError, JobId, Orchestrator};

/// Bytes per chunk.
const CHUNK: u64 = 64 * 1024;

/// The job: upload a file in chunks. The output is the number of bytes sent.
struct Upload {
    file: &'static str,
    chunks: u32,
}

impl Job for Upload {
    type Output = u64;
}

/// A (simulated) connection to the server. Closing it is visible: the drop prints.
struct Connection(&'static str);

impl Connection {
    fn open(file: &'static str) -> Self {
        println!("  [{file}] connection opened");
        Self(file)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        println!("  [{}] connection closed", self.0);
    }
}

/// The executor: sends the chunks and reports a step after each one.
struct Uploader;

impl Executor<Upload> for Uploader {
    async fn process(&self, job: &Upload, ctx: &JobContext) -> Result<u64, JobError> {
        let _connection = Connection::open(job.file);
        for part in 1..=job.chunks {
            tokio::time::sleep(Duration::from_millis(25)).await; // one chunk on the wire
            let message = format!("part {part}/{}", job.chunks);
            ctx.step(part, job.chunks, Some(&message))?;
        }
        Ok(u64::from(job.chunks) * CHUNK)
    }
}

/// One row of the screen.
#[derive(Clone, Debug)]
struct FileRow {
    name: &'static str,
    job: Option<JobId>,
    progress: f64,
    status: Status,
}

#[derive(Clone, Debug, PartialEq)]
enum Status {
    Uploading,
    Done(u64),
    Cancelled(String),
    Failed(String),
}

/// The screen's state: one row per file.
#[derive(Clone, Debug, Default)]
struct Screen {
    files: Vec<FileRow>,
}

impl Screen {
    fn row(&mut self, job: JobId) -> Option<&mut FileRow> {
        self.files.iter_mut().find(|row| row.job == Some(job))
    }

    fn all_finished(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(|row| row.status != Status::Uploading)
    }

    fn render(&self) -> String {
        let rows: Vec<String> = self
            .files
            .iter()
            .map(|row| {
                let filled = (row.progress * 20.0).round() as usize;
                let bar = format!("{}{}", "#".repeat(filled), "-".repeat(20 - filled));
                let status = match &row.status {
                    Status::Uploading => String::new(),
                    Status::Done(bytes) => format!(" done, {} KiB", bytes / 1024),
                    Status::Cancelled(reason) => format!(" cancelled: {reason}"),
                    Status::Failed(error) => format!(" failed: {error}"),
                };
                format!("{:<11} [{bar}] {:>3.0}%{status}", row.name, row.progress * 100.0)
            })
            .collect();
        rows.join("  |  ")
    }
}

/// What the screen can be asked to do.
enum Command {
    Upload { file: &'static str, chunks: u32 },
    Cancel(&'static str),
}

/// The upload screen's state machine.
struct UploadScreen;

impl Orchestrator for UploadScreen {
    type State = Screen;
    type Command = Command;

    fn handle(&mut self, command: Command, ctx: &mut Context<'_, Self>) {
        match command {
            Command::Upload { file, chunks } => {
                let job = JobBuilder::new(Upload { file, chunks }).timeout(Duration::from_secs(30));
                let (job, status) = match ctx.dispatch(job) {
                    Ok(id) => (Some(id), Status::Uploading),
                    Err(e) => (None, Status::Failed(e.to_string())),
                };
                ctx.update_state(|s| s.files.push(FileRow { name: file, job, progress: 0.0, status }));
            }
            Command::Cancel(file) => {
                let job = ctx.state().files.iter().find(|row| row.name == file).and_then(|row| row.job);
                if let Some(job) = job {
                    ctx.cancel_job_with_reason(job, "user pressed Cancel");
                }
            }
        }
    }

    fn on_progress(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        // The host records the last progress of every active job.
        let progress = ctx.job_progress(event.id()).unwrap_or(0.0);
        ctx.update_state(|s| {
            if let Some(row) = s.row(event.id()) {
                row.progress = progress;
            }
        });
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let bytes = event.data_as::<u64>().copied().unwrap_or(0);
        ctx.update_state(|s| {
            if let Some(row) = s.row(event.id()) {
                row.status = Status::Done(bytes);
            }
        });
    }

    fn on_active_cancelled(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let reason = match event.kind() {
            orchestrator_std::EventKind::Cancelled { reason: Some(reason) } => reason.to_string(),
            _ => "no reason".to_string(),
        };
        ctx.update_state(|s| {
            if let Some(row) = s.row(event.id()) {
                row.status = Status::Cancelled(reason);
            }
        });
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let error = event.error().map_or_else(|| "unknown".to_string(), ToString::to_string);
        ctx.update_state(|s| {
            if let Some(row) = s.row(event.id()) {
                row.status = Status::Failed(error);
            }
        });
    }

    fn on_active_timeout(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        ctx.update_state(|s| {
            if let Some(row) = s.row(event.id()) {
                row.status = Status::Failed("timed out".to_string());
            }
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dispatcher = rt::dispatcher()?;
    dispatcher.register(Uploader);
    let screen = UploadScreen.builder(Screen::default(), &dispatcher).spawn(&TokioRuntime::new())?;

    let mut states = screen.states();
    screen.send(Command::Upload { file: "holiday.jpg", chunks: 12 }).await?;
    screen.send(Command::Upload { file: "video.mp4", chunks: 40 }).await?;

    let mut cancel_pressed = false;
    let mut last = String::new();
    while let Some(state) = states.next().await {
        let line = state.render();
        if line != last {
            println!("{line}");
            last = line;
        }
        let video = state.files.iter().find(|row| row.name == "video.mp4");
        if !cancel_pressed && video.is_some_and(|row| row.progress >= 0.4) {
            println!("  (the user presses Cancel on video.mp4)");
            screen.send(Command::Cancel("video.mp4")).await?;
            cancel_pressed = true;
        }
        if state.all_finished() {
            break;
        }
    }

    let final_state = screen.state();
    println!();
    for row in &final_state.files {
        println!("{}: {:?} at {:.0}%", row.name, row.status, row.progress * 100.0);
    }
    let holiday = &final_state.files[0];
    let video = &final_state.files[1];
    assert_eq!(holiday.status, Status::Done(12 * CHUNK));
    assert_eq!(video.status, Status::Cancelled("user pressed Cancel".to_string()));
    assert!(video.progress < 1.0);

    screen.shutdown();
    dispatcher.shutdown();
    Ok(())
}
