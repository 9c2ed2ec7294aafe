//! What churnguard reads from users, as fuzz targets: the model text parser, the pipeline config,
//! CSV and Parquet ingestion and the service's request body. Two drivers feed them: the
//! coverage-guided libFuzzer targets of `fuzz/` (`make fuzz`, nightly toolchain) and this crate's
//! own mutation fuzzer (`churnguard-fuzz`, stable), which also replays every saved finding in
//! `fuzz/regressions/` in `make test`.

pub mod mutate;
pub mod targets;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use targets::{NAMES, Target};

/// The repository root, where the seeds, the bundled pipelines and the data are.
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the saved findings of target `name` are replayed from.
pub fn regressions(root: &Path, name: &str) -> PathBuf {
    root.join("fuzz/regressions").join(name)
}

thread_local! {
    static OPENED: RefCell<BTreeMap<&'static str, Box<dyn Target>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Feeds one input to target `name`, opening it on first use (libFuzzer calls this per input).
///
/// # Panics
/// When the target cannot be opened (its seeds or package are missing): a broken setup, not a
/// finding, so the fuzzer stops at once with the reason.
pub fn run_one(name: &'static str, input: &[u8]) {
    OPENED.with(|opened| {
        let mut opened = opened.borrow_mut();
        if !opened.contains_key(name) {
            match targets::open(name, &repository()) {
                Ok(t) => {
                    opened.insert(name, t);
                }
                Err(e) => panic!("fuzz target {name} cannot start: {e}"),
            }
        }
        if let Some(t) = opened.get_mut(name) {
            keep_caught_panics();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.run(input))).is_err() {
                let why = LAST_PANIC.lock().map(|p| p.clone()).unwrap_or_default();
                eprintln!("fuzz target {name}: a panic reached the caller: {why}");
                std::process::abort();
            }
        }
    });
}

/// The last panic's message and place, from any thread.
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// libFuzzer's panic hook aborts on every panic, also one the code catches and turns into an
/// error (the parquet crate's on a damaged page): a finding is a panic that reaches the caller,
/// as a user would see it, so the hook only records and `run_one` aborts on what escapes.
fn keep_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = churnguard_ingest::panic_message(info.payload());
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = format!("{message}{place}");
            }
        }));
    });
}
