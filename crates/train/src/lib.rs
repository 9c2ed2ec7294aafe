//! LightGBM training for churn pipelines: customer-level splits, early stopping, optional tuning by
//! grouped cross-validation, evaluation, risk tiers, and the versioned model package.

mod fit;
mod join;
pub mod lightgbm;
mod manifest;
mod params;
mod pipeline;
mod rows;
mod test_list;
mod threads;
mod tuning;

use std::path::PathBuf;

use churnguard_model::{Ensemble, ExportOptions, InputType, LogOddsMap};

pub use fit::{Agreement, Alone, Fit, FitSetup, RoundObserver, fit, fit_with, parity_rows, predict};
pub use manifest::{LIGHTGBM_VERSION, ManifestInputs, ONNX_OPSET, input_files, manifest, sha256_file};
pub use params::Params;
pub use pipeline::{
    CAPTURE_PERCENTS, CAPTURE_SPEND_DAYS, Event, Fitter, LocalFit, MIN_HELD_OUT_ROWS, MIN_TRAINING_ROWS, Phase,
    Prepared, Training, final_params, finish, prepare, train,
};
pub use rows::{ByteReader, Draw, Rows, RowsDecodeError, customer_keys, fold_of, gather, held_out_for_test, position};
pub use test_list::{REASON_SAMPLE, SCORE_BINS};
pub use threads::{Threads, settle as settle_threads};
pub use tuning::{best, combinations, tune};

/// Training a pipeline's model failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Features could not be built.
    #[error(transparent)]
    Features(#[from] churnguard_features::FeatureError),
    /// The pipeline has no `[label]`.
    #[error("the pipeline defines no churn label: add a [label] section to train a model")]
    NoLabel,
    /// An events pipeline without training cutoffs.
    #[error(
        "no training snapshot: set [snapshots] train_cutoffs (or every_days, from and to), and test_cutoff for an out-of-time test"
    )]
    NoSnapshots,
    /// A customers-only pipeline has no dates to take a snapshot at.
    #[error(
        "a customers-only table is one snapshot dated by `data.as_of`: set `data.as_of` to the day the table was extracted"
    )]
    NoAsOf,
    /// A snapshot whose labels are all one class.
    #[error("all {customers} customers {} at cutoff {cutoff}: a model needs churners and stayers; choose another cutoff or horizon", if *churned { "churned" } else { "stayed" })]
    SingleClass {
        /// The cutoff.
        cutoff: String,
        /// Labelled customers.
        customers: u64,
        /// Whether they all churned (else all stayed).
        churned: bool,
    },
    /// A snapshot without labels.
    #[error("the snapshot at cutoff {cutoff} has no labels: {reason}")]
    Unlabelled {
        /// The cutoff.
        cutoff: String,
        /// Why.
        reason: String,
    },
    /// Too few rows to train or evaluate.
    #[error("too few {what}: {rows}, at least {min} needed")]
    TooFewRows {
        /// Which rows.
        what: String,
        /// How many there are.
        rows: usize,
        /// The minimum.
        min: usize,
    },
    /// Held-out rows of one class only.
    #[error("all {rows} {what} {}: validation and test figures need churners and stayers (more customers, or another seed)", if *churned { "churned" } else { "stayed" })]
    OneClassHeldOut {
        /// Which rows.
        what: String,
        /// How many.
        rows: usize,
        /// Whether they all churned.
        churned: bool,
    },
    /// A LightGBM parameter from the config was refused.
    #[error("`{key}`: {message}")]
    Parameter {
        /// The config key.
        key: String,
        /// LightGBM's (or churnguard's) reason.
        message: String,
    },
    /// LightGBM failed.
    #[error(transparent)]
    LightGbm(#[from] lightgbm::LightGbmError),
    /// Early stopping kept no round.
    #[error("LightGBM built no tree (every round was a single leaf): the features do not separate churners")]
    NoTrees,
    /// An evaluation could not be computed.
    #[error("evaluation: {0}")]
    Eval(#[from] churnguard_eval::EvalError),
    /// `evaluation.active_within_days` without events.
    #[error("`evaluation.active_within_days` needs the recency feature, which only an events table gives")]
    NoRecency,
    /// Tier rules that give a medium tier above the high one.
    #[error(
        "the tier rules give a medium tier starting at probability {medium:.4}, above the high tier's {high:.4}: check [tiers]"
    )]
    Tiers {
        /// Resolved high threshold.
        high: f64,
        /// Resolved medium threshold.
        medium: f64,
    },
    /// The model could not be exported.
    #[error("ONNX export: {0}")]
    Export(#[from] churnguard_model::ModelError),
    /// An input file could not be hashed.
    #[error("cannot read input {}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// A broken invariant (a bug, reported rather than panicking).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Exports a trained model to ONNX with double input (exact for the f64 features churnguard
/// computes), carrying the feature spec's hash and the pipeline's name.
pub fn export_onnx(p: &churnguard_config::Pipeline, t: &Training) -> Result<Vec<u8>, TrainError> {
    let ensemble = Ensemble::parse(&t.fit.model_text)?;
    let options = ExportOptions {
        input: InputType::F64,
        metadata: vec![
            ("pipeline".into(), p.name.clone()),
            ("feature_spec_sha256".into(), t.spec.hash()),
            ("churnguard_version".into(), env!("CARGO_PKG_VERSION").into()),
            (
                "calibration".into(),
                match t.calibration.method {
                    churnguard_eval::CalibrationMethod::Platt => "platt, inside this graph".into(),
                    churnguard_eval::CalibrationMethod::Isotonic => {
                        "isotonic, applied to this graph's output by churnguard (see manifest.json)".into()
                    }
                    churnguard_eval::CalibrationMethod::None => "none".into(),
                },
            ),
        ],
        calibration: t.calibration.in_graph().map(in_graph),
    };
    Ok(churnguard_model::export(&ensemble, &t.fit.model_text, &options)?)
}

/// Platt's map as the ONNX graph computes it, on the log-odds clamped where [`Platt::apply`]
/// clamps them.
pub fn in_graph(platt: churnguard_eval::Platt) -> LogOddsMap {
    LogOddsMap {
        a: platt.a,
        b: platt.b,
        clamp: churnguard_eval::MAX_LOG_ODDS,
    }
}
