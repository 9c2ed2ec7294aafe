//! `manifest.json`: what a package holds and how it was made, enough to reproduce and to audit it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use churnguard_config::{Date, MS_PER_DAY, Pipeline, Role};
use churnguard_model::{hex, sha256_hex};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::TrainError;
use crate::pipeline::Training;

/// Layout version of the manifest.
pub const MANIFEST_FORMAT: u32 = 1;
/// The LightGBM churnguard links (vendored by `lightgbm3-sys`).
pub const LIGHTGBM_VERSION: &str = "4.7.0 (lightgbm3-sys 1.0.11)";
/// The ONNX operator set of exported models.
pub const ONNX_OPSET: &str = "ai.onnx.ml 5 (TreeEnsemble), ai.onnx 21";

/// One input table file.
#[derive(Clone, Debug, Serialize)]
pub struct InputFile {
    /// The table's role.
    pub role: Role,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its content.
    pub sha256: String,
}

/// SHA-256 of a file's content, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, String), std::io::Error> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((total, hex(&hasher.finalize())))
}

/// The hashes of a pipeline's input files.
pub fn input_files(p: &Pipeline) -> Result<Vec<InputFile>, TrainError> {
    p.tables()
        .into_iter()
        .map(|(role, source)| {
            let (bytes, sha256) = sha256_file(&source.path).map_err(|e| TrainError::Input {
                path: source.path.clone(),
                source: e,
            })?;
            Ok(InputFile {
                role,
                path: source.path.clone(),
                bytes,
                sha256,
            })
        })
        .collect()
}

/// How closely ONNX Runtime reproduces LightGBM on the test rows.
#[derive(Clone, Debug, Serialize)]
pub struct Parity {
    /// Largest |ONNX Runtime - LightGBM| churn probability.
    pub max_abs_difference: f64,
    /// Rows compared: test rows, then rows probing every split.
    pub rows: usize,
    /// Test rows among them (evenly spread over the test snapshot).
    pub test_rows: usize,
    /// Rows of the test snapshot.
    pub test_rows_of: usize,
    /// The ONNX model's input element type.
    pub input_type: String,
    /// The ONNX Runtime version that scored them.
    pub onnx_runtime: String,
}

/// Where the config came from.
#[derive(Serialize)]
struct ConfigRecord<'a> {
    file: &'a Path,
    file_sha256: String,
    resolved: &'a Pipeline,
    resolved_sha256: String,
}

#[derive(Serialize)]
struct LightGbmRecord<'a> {
    params: BTreeMap<&'a str, &'a str>,
    best_round: usize,
    rounds: usize,
    early_stopping_metric: &'static str,
    validation_history: &'a [f64],
}

#[derive(Serialize)]
struct Libraries<'a> {
    churnguard: &'static str,
    lightgbm: &'static str,
    onnx: &'static str,
    onnx_runtime: &'a str,
}

/// The parts of a manifest that are not in [`Training`].
pub struct ManifestInputs<'a> {
    /// The package version (`v3`).
    pub version: &'a str,
    /// The config file's text as read.
    pub config_text: &'a str,
    /// The input files.
    pub inputs: &'a [InputFile],
    /// `(file name, sha256)` of every other package file.
    pub files: &'a [(String, String)],
    /// ONNX parity.
    pub parity: &'a Parity,
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
fn now_utc() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        Date::of_ms(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The manifest of a package, as pretty JSON.
pub fn manifest(p: &Pipeline, t: &Training, m: &ManifestInputs<'_>) -> Result<Vec<u8>, TrainError> {
    let resolved = serde_json::to_vec(p).map_err(|e| TrainError::Internal(e.to_string()))?;
    let value = serde_json::json!({
        "format": MANIFEST_FORMAT,
        "pipeline": p.name,
        "version": m.version,
        "created_at": now_utc(),
        "config": ConfigRecord {
            file: &p.file,
            file_sha256: sha256_hex(m.config_text.as_bytes()),
            resolved: p,
            resolved_sha256: sha256_hex(&resolved),
        },
        "inputs": m.inputs,
        "files": m.files.iter().cloned().collect::<BTreeMap<String, String>>(),
        "seed": p.seed,
        "rows": t.rows,
        "snapshots": t.snapshots,
        "test_design": t.test_design,
        "lightgbm": LightGbmRecord {
            params: t.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            best_round: t.fit.best_round,
            rounds: t.fit.rounds,
            early_stopping_metric: p.model.early_stopping_metric.lightgbm_name(),
            validation_history: &t.fit.history,
        },
        "libraries": Libraries {
            churnguard: env!("CARGO_PKG_VERSION"),
            lightgbm: LIGHTGBM_VERSION,
            onnx: ONNX_OPSET,
            onnx_runtime: &m.parity.onnx_runtime,
        },
        "feature_spec": t.spec,
        "feature_spec_sha256": t.spec.hash(),
        "validation": t.validation,
        "test": t.test,
        "segments": t.segments,
        "threshold": t.test.threshold,
        "tiers": t.tiers,
        "importance": t.importance,
        "reference_histograms": t.references,
        "tuning": t.trials,
        "parity": m.parity,
    });
    serde_json::to_vec_pretty(&value).map_err(|e| TrainError::Internal(e.to_string()))
}
