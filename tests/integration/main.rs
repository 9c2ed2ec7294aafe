//! The one integration-test harness: runs the real `churnguard` binary as a user would.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

mod arrives;
mod cli;
mod compare;
mod distributed;
mod export;
mod fixtures;
mod monitor;
mod openapi;
mod partition;
mod readme;
mod report;
mod score;
mod serve;
mod train;
mod validate;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Variables a run may inherit: what finds programs and libraries, and the OpenMP wait policy.
/// Everything else (a pseudonymization key, a locale, a stray `RUST_LOG`) is cleared, so a test
/// gives the same result on every machine.
pub const KEPT_ENV: [&str; 5] = ["PATH", "HOME", "TMPDIR", "ORT_DYLIB_PATH", "OMP_WAIT_POLICY"];

/// One finished run of the binary, with what a failing test needs to report it.
pub struct Run {
    /// The command line, as a shell would show it.
    pub command: String,
    /// The folder it ran in.
    pub dir: PathBuf,
    /// Its exit status and output.
    pub output: Output,
}

impl Run {
    /// The command, its folder, its exit code and both outputs, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "\n--- command: {}\n--- folder: {}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.command,
            self.dir.display(),
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Runs `churnguard` with the given arguments from the repository root.
pub fn churnguard(args: &[&str]) -> Run {
    churnguard_in(&root(), args, &[])
}

/// Runs `churnguard` in `dir` with a cleared environment plus `env`.
pub fn churnguard_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    churnguard_in_without(dir, args, env, &[])
}

/// [`churnguard_in`] without the inherited variables `removed`.
pub fn churnguard_in_without(dir: &Path, args: &[&str], env: &[(&str, &str)], removed: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churnguard"));
    cmd.args(args).current_dir(dir).env_clear();
    for key in KEPT_ENV.iter().filter(|k| !removed.contains(k)) {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.envs(env.iter().copied());
    let command = std::iter::once("churnguard")
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let output = cmd.output().expect("the churnguard binary runs");
    Run {
        command,
        dir: dir.to_path_buf(),
        output,
    }
}

/// A run's stderr that reads as text (`contains`, `lines`) and prints, in a failed assertion,
/// the whole run: command, folder, exit code, stdout and stderr.
pub struct Stderr {
    text: String,
    report: String,
}

impl std::ops::Deref for Stderr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Stderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report)
    }
}

impl std::fmt::Debug for Stderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.report)
    }
}

/// Exit code, stdout and stderr of a run (the stderr reports the whole run when printed).
pub fn outcome(r: &Run) -> (i32, String, Stderr) {
    (
        r.output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&r.output.stdout).into_owned(),
        Stderr {
            text: String::from_utf8_lossy(&r.output.stderr).into_owned(),
            report: r.report(),
        },
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

/// The `[data]`, `[data.events]` and `[label]` tables of `pipelines/cdnow_sample.toml` (the
/// bundled CDNOW sample, inactivity label), with `data.as_of` set and the table path made
/// absolute, for configs written in a scratch folder.
pub fn cdnow_sample_tables(as_of: &str) -> String {
    let text = std::fs::read_to_string(root().join("pipelines/cdnow_sample.toml")).expect("the sample pipeline");
    let start = text.find("[data]").expect("the sample pipeline has [data]");
    // Its tables and label, not the sections after them.
    let end = text[start..].find("\n[snapshots]").map_or(text.len(), |e| start + e);
    text[start..end]
        .lines()
        .map(|line| match line.split('=').next().map(str::trim) {
            Some("as_of") => format!("as_of = {as_of}"),
            Some("path") => format!("path = \"{}\"", cdnow_sample()),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The bundled CDNOW sample as an absolute path, for configs written elsewhere.
pub fn cdnow_sample() -> String {
    root().join("data/cdnow/cdnow_sample.parquet").display().to_string()
}

/// `pipelines/cdnow.toml` written as `dir/file` with the data path made absolute, the keys
/// `keys` (name, value) set where the file sets them, and `extra` appended; returns its path.
pub fn cdnow_variant(dir: &Path, file: &str, keys: &[(&str, &str)], extra: &str) -> String {
    let text = std::fs::read_to_string(root().join("pipelines/cdnow.toml")).expect("the CDNOW pipeline");
    let data = root().join("data/cdnow/cdnow_master.parquet");
    let mut text = text
        .lines()
        .map(|l| {
            let key = l.split('=').next().map(str::trim).unwrap_or_default();
            match keys.iter().find(|(k, _)| *k == key) {
                _ if key == "path" => format!("path = \"{}\"", data.display()),
                Some((k, v)) => format!("{k} = {v}"),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text.push_str(extra);
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}
