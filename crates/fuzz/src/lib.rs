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
            t.run(input);
        }
    });
}
