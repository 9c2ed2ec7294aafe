//! The model package: the contract between training and every job that scores.
//!
//! A package is a folder `models/<pipeline>/v<N>/` holding [`MODEL_ONNX`], [`MODEL_TEXT`] and
//! [`MANIFEST`]; `models/<pipeline>/`[`LATEST`] links to the newest. Training writes it with
//! [`write`] (a hidden folder renamed into place, then `latest` replaced by rename); scoring,
//! serving, comparing and monitoring read it with [`Package::open`], which checks every file
//! against the manifest's SHA-256 before anything trusts it. Nothing else writes or parses a
//! manifest.

mod history;
mod manifest;
mod read;
mod sign;
mod write;

use std::path::PathBuf;

pub use history::{Decision, DecisionGate, append_decision, decisions};
pub use manifest::{
    Calibration, ConfigRecord, DataSummary, FeatureImportance, InputFile, Libraries, LightGbmRecord, Manifest, Parity,
    ReasonCount, ReasonCounts, Reference, RowCounts, ScoreHistogram, Segment, TableSummary, TestDesign, TestList,
    TierRow, TierThresholds, Trial, ValueCapture,
};
pub use read::Package;
pub use sign::{MIN_SIGNING_KEY_BYTES, SIGNATURE, SIGNING_KEY_VAR, SigningKey};
pub use write::{Latest, Written, latest_version, promote, replace_report, versions, write};

/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Name of the exact ONNX export.
pub const MODEL_ONNX: &str = "model.onnx";
/// Name of LightGBM's own text model.
pub const MODEL_TEXT: &str = "model.txt";
/// Name of the report drawn from the manifest: a view, not hashed, so it can be drawn again.
pub const REPORT: &str = "report.html";
/// Name of the link to a pipeline's newest version.
pub const LATEST: &str = "latest";
/// Name of a pipeline's log of retraining decisions, one JSON object per line.
pub const HISTORY: &str = "history.jsonl";
/// Name of a pipeline's folder of kept risk lists, which monitoring reads back.
pub const LISTS: &str = "lists";
/// Files every package holds besides the manifest.
pub const MODEL_FILES: [&str; 2] = [MODEL_ONNX, MODEL_TEXT];
/// Layout version of the manifest this churnguard writes and the newest it reads.
pub const FORMAT: u32 = 2;

/// The name of a pipeline's package version `n`: `v<n>`, its folder's name.
pub fn version_name(n: u32) -> String {
    format!("v{n}")
}

/// The number of a version name (`v3`: 3); `None` for any other name.
pub fn version_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
/// Largest |ONNX Runtime - LightGBM| probability an exported model may have.
pub const PARITY_LIMIT: f64 = 1e-6;

/// A package could not be written or opened.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file or folder could not be read or written.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done: "cannot read", "cannot write".
        action: &'static str,
        /// The path at fault.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not JSON of the expected shape.
    #[error("{} is not a valid package manifest", path.display())]
    Malformed {
        /// The manifest file.
        path: PathBuf,
        /// The parser's reason.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest could not be serialized.
    #[error("cannot serialize the package manifest")]
    Serialize(#[source] serde_json::Error),
    /// The manifest was written by a newer churnguard.
    #[error("{} has manifest format {found}; this churnguard reads formats up to {FORMAT}: upgrade churnguard", path.display())]
    NewerFormat {
        /// The manifest file.
        path: PathBuf,
        /// Its format.
        found: u32,
    },
    /// The manifest contradicts the package.
    #[error("{} is inconsistent: {problem}", path.display())]
    Inconsistent {
        /// The manifest file.
        path: PathBuf,
        /// What does not agree.
        problem: String,
    },
    /// A file's content differs from what the manifest recorded.
    #[error("{} has been modified or corrupted: its SHA-256 is {found}, the manifest says {expected}", path.display())]
    Tampered {
        /// The file.
        path: PathBuf,
        /// SHA-256 in the manifest.
        expected: String,
        /// SHA-256 of the file.
        found: String,
    },
    /// The package was trained for another pipeline.
    #[error(
        "the package was trained for pipeline \"{package}\", not \"{pipeline}\": score with that pipeline's config or its own package"
    )]
    OtherPipeline {
        /// The package's pipeline.
        package: String,
        /// The config's pipeline.
        pipeline: String,
    },
    /// The signing key in the environment cannot be used.
    #[error("{why}")]
    SigningKey {
        /// What is wrong with it.
        why: String,
    },
    /// A signing key is set and the package carries no signature.
    #[error("{} has no signature ({SIGNATURE}), and {SIGNING_KEY_VAR} is set: only signed packages are accepted", dir.display())]
    Unsigned {
        /// The package folder.
        dir: std::path::PathBuf,
    },
    /// The package's signature does not match its manifest under the key set.
    #[error("{} is signed with another key, or its manifest was changed after signing: refused", dir.display())]
    BadSignature {
        /// The package folder.
        dir: std::path::PathBuf,
    },
    /// The pipeline's folder already holds the largest version number.
    #[error("{} already holds version v{}: move old versions away to train again", dir.display(), u32::MAX)]
    VersionsExhausted {
        /// The pipeline's folder.
        dir: PathBuf,
    },
    /// No version number was free after many tries (other writers keep taking them).
    #[error("no free version number under {} after {tries} tries", dir.display())]
    NoFreeVersion {
        /// The pipeline's folder.
        dir: PathBuf,
        /// Attempts made.
        tries: usize,
    },
}

impl PackageError {
    /// Whether the error is in what the user asked for (a package of another pipeline), rather
    /// than a failure of the package or the disk.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PackageError::OtherPipeline { .. } | PackageError::SigningKey { .. }
        )
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let precise = now_utc_ms();
    format!("{}Z", &precise[..19])
}

/// The current UTC time to the millisecond, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_utc_ms() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let day_ms = ms.rem_euclid(churnguard_config::MS_PER_DAY);
    let secs = day_ms / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        churnguard_config::Date::of_ms(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        day_ms % 1000
    )
}

fn io_error<'a>(action: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> PackageError + 'a {
    move |source| PackageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn version_names_and_numbers_are_one_rule() {
        assert_eq!(version_name(3), "v3");
        assert_eq!(version_number("v3"), Some(3));
        assert_eq!(version_number(&version_name(u32::MAX)), Some(u32::MAX));
        for bad in ["3", "v", "vv3", "v-1", "v+1", "v3a", "latest", "V3", "v99999999999"] {
            assert_eq!(version_number(bad), None, "{bad}");
        }
    }
}
