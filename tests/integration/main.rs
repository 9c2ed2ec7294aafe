//! The one integration-test harness: runs the real `churnguard` binary as a user would.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

mod cli;
mod export;
mod score;
mod train;
mod validate;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `churnguard` with the given arguments from the repository root.
pub fn churnguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_churnguard"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the churnguard binary runs")
}

/// Exit code, stdout and stderr of a run.
pub fn outcome(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// A temporary folder holding a pipeline config (and whatever else a test writes there).
pub struct Scratch(pub tempfile::TempDir);

impl Scratch {
    /// A fresh empty folder.
    pub fn new() -> Self {
        Scratch(tempfile::tempdir().expect("temp dir"))
    }

    /// Writes `pipeline.toml` and returns its path as a string.
    pub fn pipeline(&self, text: &str) -> String {
        let p = self.0.path().join("pipeline.toml");
        std::fs::write(&p, text).expect("write config");
        p.display().to_string()
    }
}

/// The `[data]`, `[data.events]` and `[label]` tables of a pipeline reading the bundled CDNOW
/// sample (inactivity label, 90-day horizon), for configs written in a scratch folder.
pub fn cdnow_sample_tables(as_of: &str) -> String {
    format!(
        r#"[data]
as_of = {as_of}
[data.events]
path = "{}"
customer_id = "customer_id"
timestamp = "date"
amount = "dollar_value"
quantity = "number_of_cds"
pii_columns = ["orig_customer_id"]
[label]
kind = "inactivity"
horizon_days = 90
"#,
        cdnow_sample()
    )
}

/// The bundled CDNOW sample as an absolute path, for configs written elsewhere.
pub fn cdnow_sample() -> String {
    root().join("data/cdnow/cdnow_sample.parquet").display().to_string()
}
