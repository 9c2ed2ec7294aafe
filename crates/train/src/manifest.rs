//! Building a package's manifest from a training run: the config, the input files' hashes, the
//! fit, the evaluation and the parity figure.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use churnguard_config::Pipeline;
use churnguard_model::{hex, sha256_hex};
use churnguard_package::{ConfigRecord, FORMAT, InputFile, Libraries, LightGbmRecord, Manifest, Parity};
use sha2::{Digest, Sha256};

use crate::TrainError;
use crate::pipeline::Training;

/// The LightGBM churnguard links (vendored by `lightgbm3-sys`).
pub const LIGHTGBM_VERSION: &str = "4.7.0 (lightgbm3-sys 1.0.11)";
/// The ONNX operator set of exported models.
pub const ONNX_OPSET: &str = "ai.onnx.ml 5 (TreeEnsemble), ai.onnx 21";

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

/// Bytes and SHA-256 of a table's input: a file's own, or for a folder table the SHA-256 of its
/// Parquet files' `sha256sum` lines (`<hash>  <path inside the folder>`, in path order).
fn sha256_input(path: &Path) -> Result<(u64, String), std::io::Error> {
    if !path.is_dir() {
        return sha256_file(path);
    }
    let mut lines = String::new();
    let mut total = 0u64;
    for file in churnguard_ingest::parquet_files(path)? {
        let (bytes, sha) = sha256_file(&file)?;
        total += bytes;
        let inside = file.strip_prefix(path).unwrap_or(&file);
        lines.push_str(&format!("{sha}  {}\n", inside.display()));
    }
    Ok((total, hex(&Sha256::digest(lines.as_bytes()))))
}

/// The hashes of a pipeline's input files.
pub fn input_files(p: &Pipeline) -> Result<Vec<InputFile>, TrainError> {
    p.tables()
        .into_iter()
        .map(|(role, source)| {
            let (bytes, sha256) = sha256_input(&source.path).map_err(|e| TrainError::Input {
                path: source.path.clone(),
                source: e,
            })?;
            Ok(InputFile {
                role: role.name().to_string(),
                path: source.path.clone(),
                bytes,
                sha256,
            })
        })
        .collect()
}

/// The parts of a manifest that are not in [`Training`].
pub struct ManifestInputs<'a> {
    /// The package version (`v3`).
    pub version: &'a str,
    /// The config file's text as read.
    pub config_text: &'a str,
    /// The input files.
    pub inputs: &'a [InputFile],
    /// SHA-256 of every other package file, by name.
    pub files: &'a BTreeMap<String, String>,
    /// ONNX parity.
    pub parity: &'a Parity,
}

/// The manifest of a package.
pub fn manifest(p: &Pipeline, t: &Training, m: &ManifestInputs<'_>) -> Manifest {
    // Serializing a validated config cannot fail: its types are plain data.
    let resolved = serde_json::to_value(p).unwrap_or_default();
    let resolved_text = serde_json::to_vec(p).unwrap_or_default();
    Manifest {
        format: FORMAT,
        pipeline: p.name.clone(),
        version: m.version.to_string(),
        created_at: churnguard_package::now_utc(),
        config: ConfigRecord {
            file: p.file.clone(),
            file_sha256: sha256_hex(m.config_text.as_bytes()),
            resolved_sha256: sha256_hex(&resolved_text),
            resolved,
        },
        inputs: m.inputs.to_vec(),
        files: m.files.clone(),
        seed: p.seed,
        rows: t.rows.clone(),
        snapshots: t.snapshots.clone(),
        test_design: t.test_design.clone(),
        lightgbm: LightGbmRecord {
            params: t.params.iter().cloned().collect(),
            best_round: t.fit.best_round,
            rounds: t.fit.rounds,
            early_stopping_metric: p.model.early_stopping_metric.lightgbm_name().to_string(),
            validation_history: t.fit.history.clone(),
        },
        libraries: Libraries {
            churnguard: env!("CARGO_PKG_VERSION").to_string(),
            lightgbm: LIGHTGBM_VERSION.to_string(),
            onnx: ONNX_OPSET.to_string(),
            onnx_runtime: m.parity.onnx_runtime.clone(),
        },
        feature_spec: t.spec.clone(),
        feature_spec_sha256: t.spec.hash(),
        validation: t.validation.clone(),
        test: t.test.clone(),
        segments: t.segments.clone(),
        threshold: t.test.threshold,
        tiers: t.tiers.clone(),
        importance: t.importance.clone(),
        reference_histograms: t.references.clone(),
        references_of_test: true,
        score_reference: Some(t.score_reference.clone()),
        tuning: t.trials.clone(),
        parity: m.parity.clone(),
        calibration: Some(t.calibration.clone()),
        value_capture: t.value_capture.clone(),
        test_list: Some(t.test_list.clone()),
        data: Some(t.data.clone()),
    }
}
