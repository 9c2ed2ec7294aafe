//! A verified package made ready to score: the ONNX model's bytes and the typed tree ensemble
//! (for reasons), from a [`Package`] that checked every file. No LightGBM.

use std::path::{Path, PathBuf};

use churnguard_config::{ScoringConfig, Tier, ValueSegment};
use churnguard_features::FeatureSpec;
use churnguard_model::Ensemble;
use churnguard_package::{MODEL_ONNX, MODEL_TEXT, Package, PackageError, TierThresholds};

/// A package could not be made ready to score.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The package itself is missing, damaged or inconsistent.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// `model.txt` does not parse as a LightGBM model.
    #[error("{} is not a usable LightGBM model", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        #[source]
        source: churnguard_model::ModelError,
    },
    /// `model.txt` and the FeatureSpec disagree on the features.
    #[error("{} reads {model} features, the package's FeatureSpec lists {spec}", path.display())]
    FeatureCount {
        /// The model file.
        path: PathBuf,
        /// Features the trees read.
        model: usize,
        /// Features in the spec.
        spec: usize,
    },
}

impl OpenError {
    /// Whether the error is in what the user asked for rather than in the package.
    pub fn is_usage(&self) -> bool {
        matches!(self, OpenError::Package(e) if e.is_usage())
    }
}

/// An opened, verified package ready to score.
#[derive(Debug)]
pub struct ModelPackage {
    /// The verified package (manifest and files).
    pub package: Package,
    /// The typed trees (for reasons).
    pub ensemble: Ensemble,
}

impl ModelPackage {
    /// Each feature's yardstick, in spec order: its distribution on the package's test
    /// customers (training rows in older packages), for numeric features.
    pub fn yardsticks(&self) -> Vec<Option<&churnguard_eval::Histogram>> {
        let m = &self.package.manifest;
        self.spec()
            .features
            .iter()
            .map(|f| match f.kind {
                churnguard_features::FeatureKind::Numeric => m
                    .reference_histograms
                    .iter()
                    .find(|r| r.feature == f.name)
                    .map(|r| &r.histogram),
                churnguard_features::FeatureKind::Categorical { .. } => None,
            })
            .collect()
    }

    /// Opens a package folder (or a `latest` link), verifies it and parses its trees.
    pub fn open(path: &Path) -> Result<ModelPackage, OpenError> {
        let package = Package::open(path)?;
        let text_path = package.dir.join(MODEL_TEXT);
        let model_error = |source| OpenError::Model {
            path: text_path.clone(),
            source,
        };
        let text = std::str::from_utf8(package.file(MODEL_TEXT)).map_err(|_| {
            model_error(churnguard_model::ModelError::Unsupported(
                "the model text is not UTF-8".into(),
            ))
        })?;
        let ensemble = Ensemble::parse(text).map_err(model_error)?;
        let spec = package.manifest.feature_spec.features.len();
        if ensemble.num_features() != spec {
            return Err(OpenError::FeatureCount {
                path: text_path,
                model: ensemble.num_features(),
                spec,
            });
        }
        Ok(ModelPackage { package, ensemble })
    }

    /// The pipeline that trained it.
    pub fn pipeline(&self) -> &str {
        &self.package.manifest.pipeline
    }

    /// Its version (`v3`).
    pub fn version(&self) -> &str {
        &self.package.manifest.version
    }

    /// The features it reads.
    pub fn spec(&self) -> &FeatureSpec {
        &self.package.manifest.feature_spec
    }

    /// Risk tier thresholds fixed at training.
    pub fn tiers(&self) -> &TierThresholds {
        &self.package.manifest.tiers
    }

    /// The SHA-256 of `model.onnx`: what identifies the model an answer or a list came from.
    pub fn hash(&self) -> &str {
        self.package.manifest.files.get(MODEL_ONNX).map_or("", String::as_str)
    }

    /// The ONNX model's bytes.
    pub fn onnx(&self) -> &[u8] {
        self.package.file(MODEL_ONNX)
    }

    /// What the package's rules make of one scored customer of this calibrated `probability`,
    /// `value` and count of `missing` inputs: the one place the list, the merge and the service
    /// get a risk level (unknown when too many inputs are missing), a value segment, and whether
    /// the customer is given reasons.
    pub fn judge(&self, s: &ScoringConfig, probability: f64, value: f64, missing: usize) -> Judgement {
        let cut = self.tiers();
        let inputs = self.spec().features.len();
        let level = (!s.risk_unknown(missing, inputs)).then(|| cut.of(probability));
        let segment = cut.segment(Some(value));
        Judgement {
            level,
            segment,
            explained: s.explains(level, segment),
        }
    }

    /// ONNX Runtime's outputs as calibrated probabilities: the map scoring applies after the
    /// graph (isotonic; Platt is inside `model.onnx`, and older packages have none).
    pub fn calibrated(&self, scores: Vec<f64>) -> Vec<f64> {
        match &self.package.manifest.calibration {
            Some(c) => scores.into_iter().map(|x| c.after_onnx(x)).collect(),
            None => scores,
        }
    }
}

/// A scored customer as the package's rules see it ([`ModelPackage::judge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// Risk level; `None` when it is unknown (too many inputs missing).
    pub level: Option<Tier>,
    /// Value segment.
    pub segment: ValueSegment,
    /// Whether the customer is given reasons ([`ScoringConfig::explains`]).
    pub explained: bool,
}

impl Judgement {
    /// The action (an index in [`ScoringConfig::choices`]) of a customer so judged whose first
    /// reason is the feature `top_reason`.
    pub fn action(&self, s: &ScoringConfig, top_reason: Option<&str>) -> usize {
        s.action_for(self.level, self.segment, top_reason)
    }
}
