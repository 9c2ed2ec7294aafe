//! `history.jsonl`: every retraining decision of a pipeline, appended one JSON object per line,
//! so an audit can say why the model serving today is the one it is.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{HISTORY, PackageError, io_error};

/// One decision of `churnguard retrain`: was the challenger promoted, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// When it was decided, `YYYY-MM-DDTHH:MM:SSZ`.
    pub decided_at: String,
    /// The version serving before (none for a pipeline's first model).
    pub champion: Option<String>,
    /// The version trained.
    pub challenger: String,
    /// Whether `latest` now points at the challenger.
    pub promoted: bool,
    /// Why, in a sentence.
    pub reason: String,
    /// The labelled snapshot both were scored on (none without a champion).
    pub cutoff: Option<String>,
    /// Customers of that snapshot.
    pub customers: u64,
    /// Each figure checked, and whether the challenger was worse beyond its margin.
    pub gates: Vec<DecisionGate>,
    /// DeLong's p-value of the AUC difference (none without a champion).
    pub auc_p_value: Option<f64>,
}

/// One figure of a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionGate {
    /// The figure, as `compare --fail-if-worse` names it.
    pub metric: String,
    /// The champion's value.
    pub champion: f64,
    /// The challenger's value.
    pub challenger: f64,
    /// How much worse the challenger may be.
    pub margin: f64,
    /// Whether it is worse by more than the margin.
    pub failed: bool,
}

/// Appends a decision to `pipeline_dir/history.jsonl` as one line written at once and synced,
/// so concurrent writers never interleave inside a line and a crash never loses a decision that
/// was reported.
pub fn append_decision(pipeline_dir: &Path, d: &Decision) -> Result<PathBuf, PackageError> {
    let path = pipeline_dir.join(HISTORY);
    let mut line = serde_json::to_vec(d).map_err(PackageError::Serialize)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_error("cannot write", &path))?;
    f.write_all(&line).map_err(io_error("cannot write", &path))?;
    f.sync_all().map_err(io_error("cannot write", &path))?;
    Ok(path)
}

/// The decisions of a pipeline, oldest first (none when it was never retrained). A line that
/// is not a decision (a crash mid-line on a file system without atomic appends) is skipped.
pub fn decisions(pipeline_dir: &Path) -> Result<Vec<Decision>, PackageError> {
    let path = pipeline_dir.join(HISTORY);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("cannot read", &path)(e)),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn decision(n: u32) -> Decision {
        Decision {
            decided_at: "2026-12-02T00:00:00Z".into(),
            champion: Some(crate::version_name(n)),
            challenger: crate::version_name(n + 1),
            promoted: n.is_multiple_of(2),
            reason: "a \"quoted\"\nreason".into(),
            cutoff: Some("1998-04-01".into()),
            customers: 10,
            gates: vec![DecisionGate {
                metric: "auc".into(),
                champion: 0.7,
                challenger: 0.71,
                margin: 0.005,
                failed: false,
            }],
            auc_p_value: Some(0.5),
        }
    }

    #[test]
    fn decisions_are_appended_one_line_each_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(decisions(dir.path()).unwrap().is_empty());
        for n in 1..=3 {
            append_decision(dir.path(), &decision(n)).unwrap();
        }
        // A torn last line is skipped, not an error.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(HISTORY))
            .unwrap()
            .write_all(b"{\"decided_at\":")
            .unwrap();
        let read = decisions(dir.path()).unwrap();
        assert_eq!(read, (1..=3).map(decision).collect::<Vec<_>>());
        let text = std::fs::read_to_string(dir.path().join(HISTORY)).unwrap();
        assert_eq!(text.lines().count(), 4);
    }
}
