//! A long job from Python: run on a worker thread with the GIL released while the calling
//! thread waits for it and for Ctrl-C. On Ctrl-C the job stops at its next progress report (it
//! unwinds from there, so staged files are dropped and nothing half-written stays) and the call
//! raises `KeyboardInterrupt`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use churnguard_app::{AppError, Progress};
use pyo3::prelude::*;

use crate::errors::raised;

/// How often the waiting thread looks for a signal.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// The payload a job unwinds with when it is stopped.
struct Stopped;

/// Runs `job` with a progress observer (one line per stage on stderr when `progress`), and
/// turns its error into the exception of its kind.
pub fn run_job<T: Send>(
    py: Python<'_>,
    progress: bool,
    job: impl FnOnce(&mut dyn FnMut(Progress)) -> Result<T, AppError> + Send,
) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut report = reporter(progress);
                job(&mut |p| {
                    if stop.load(Ordering::Relaxed) {
                        // resume_unwind skips the panic hook: a stop is not a crash to report.
                        std::panic::resume_unwind(Box::new(Stopped));
                    }
                    report(p)
                })
            }))
        });
        let mut interrupted = None;
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(SIGNAL_POLL));
            if let Err(e) = py.check_signals() {
                stop.store(true, Ordering::Relaxed);
                interrupted = Some(e);
                break;
            }
        }
        let outcome = py.detach(|| worker.join());
        match (outcome, interrupted) {
            // A job that ended before its next report has done its work (a package written,
            // say): its result stands; the interrupt came too late to stop it.
            (Ok(Ok(result)), _) => result.map_err(raised),
            (Err(payload), signal) | (Ok(Err(payload)), signal) if payload.is::<Stopped>() => {
                Err(signal.unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err("the job was stopped")))
            }
            (Err(payload), _) | (Ok(Err(payload)), _) => std::panic::resume_unwind(payload),
        }
    })
}

/// What a job reports as it goes: nothing, or one line per stage on stderr.
fn reporter(progress: bool) -> impl FnMut(Progress) {
    move |p| {
        if !progress {
            return;
        }
        match p {
            Progress::Stage(stage) => eprintln!("churnguard: {}", format!("{stage:?}").to_lowercase()),
            Progress::Note(note) => eprintln!("churnguard: note: {note}"),
            _ => {}
        }
    }
}
