//! Opening a model package for scoring: every file checked against the manifest's SHA-256, the
//! `FeatureSpec`, the tier thresholds, and the typed tree ensemble (for reasons). No LightGBM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use churnguard_features::FeatureSpec;
use churnguard_model::{Ensemble, sha256_hex};
use serde::Deserialize;

/// A package could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The folder or a file is missing or unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest is not a churnguard manifest.
    #[error("{} is not a valid package manifest: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
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
    /// `model.txt` does not parse.
    #[error("{}: {source}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: churnguard_model::ModelError,
    },
}

/// Tier thresholds as stored at training time.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
pub struct TierThresholds {
    /// Lowest probability of the high tier.
    pub high: f64,
    /// Lowest probability of the medium tier.
    pub medium: f64,
}

impl TierThresholds {
    /// The tier of a probability.
    pub fn of(&self, probability: f64) -> churnguard_config::Tier {
        churnguard_config::Tier::of(probability, self.high, self.medium)
    }
}

/// The manifest fields scoring needs.
#[derive(Deserialize)]
struct Manifest {
    format: u32,
    pipeline: String,
    version: String,
    files: BTreeMap<String, String>,
    feature_spec: FeatureSpec,
    tiers: TierThresholds,
}

/// Package files scoring reads, besides the manifest.
const FILES: [&str; 2] = ["model.onnx", "model.txt"];

/// An opened, verified package.
#[derive(Debug)]
pub struct ModelPackage {
    /// The version folder (a `latest` link resolved).
    pub dir: PathBuf,
    /// The pipeline that trained it.
    pub pipeline: String,
    /// Its version (`v3`).
    pub version: String,
    /// The features it reads.
    pub spec: FeatureSpec,
    /// Risk tier thresholds.
    pub tiers: TierThresholds,
    /// The ONNX model's bytes.
    pub onnx: Vec<u8>,
    /// The typed trees (for reasons).
    pub ensemble: Ensemble,
}

impl ModelPackage {
    /// Refuses a pipeline other than the one the package was trained for.
    pub fn check_pipeline(&self, p: &churnguard_config::Pipeline) -> Result<(), crate::ScoreError> {
        if p.name == self.pipeline {
            return Ok(());
        }
        Err(crate::ScoreError::OtherPipeline {
            package: self.pipeline.clone(),
            pipeline: p.name.clone(),
        })
    }

    /// Opens a package folder (or a `latest` link) and checks every file against the manifest.
    pub fn open(path: &Path) -> Result<ModelPackage, PackageError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| PackageError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let dir = std::fs::canonicalize(path).map_err(|source| PackageError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let manifest_path = dir.join("manifest.json");
        let bad = |message: String| PackageError::Manifest {
            path: manifest_path.clone(),
            message,
        };
        let m: Manifest = serde_json::from_slice(&read(&manifest_path)?).map_err(|e| bad(e.to_string()))?;
        if m.format != 1 {
            return Err(bad(format!("format {} is not one this churnguard reads (1)", m.format)));
        }
        let mut contents = BTreeMap::new();
        for name in FILES {
            let expected = m
                .files
                .get(name)
                .ok_or_else(|| bad(format!("no SHA-256 recorded for {name}")))?;
            let path = dir.join(name);
            let bytes = read(&path)?;
            let found = sha256_hex(&bytes);
            if &found != expected {
                return Err(PackageError::Tampered {
                    path,
                    expected: expected.clone(),
                    found,
                });
            }
            contents.insert(name, bytes);
        }
        let text_path = dir.join("model.txt");
        let text =
            String::from_utf8(contents.remove("model.txt").unwrap_or_default()).map_err(|_| PackageError::Model {
                path: text_path.clone(),
                source: churnguard_model::ModelError::Unsupported("the model text is not UTF-8".into()),
            })?;
        let ensemble = Ensemble::parse(&text).map_err(|source| PackageError::Model {
            path: text_path.clone(),
            source,
        })?;
        if ensemble.num_features() != m.feature_spec.features.len() {
            return Err(bad(format!(
                "model.txt reads {} features, the FeatureSpec lists {}",
                ensemble.num_features(),
                m.feature_spec.features.len()
            )));
        }
        Ok(ModelPackage {
            dir,
            pipeline: m.pipeline,
            version: m.version,
            spec: m.feature_spec,
            tiers: m.tiers,
            onnx: contents.remove("model.onnx").unwrap_or_default(),
            ensemble,
        })
    }
}
