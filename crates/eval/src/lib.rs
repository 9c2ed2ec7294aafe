//! Evaluation of churn models: metrics (AUC, PR AUC, log loss, Brier, lift and capture at
//! top-k%, calibration, confusion at a threshold, PSI), ROC, PR and gains curves, threshold
//! strategies, bootstrap intervals and bands, and DeLong's paired test of two models' AUCs.
//! Pure Rust: neither LightGBM nor ONNX Runtime is linked here.
//!
//! Definitions follow scikit-learn's, and the tests check them against its figures.

mod calibrate;
mod comparison;
mod curves;
mod histogram;
mod metrics;
mod monitoring;
mod paired;
mod rng;
mod threshold;

use serde::{Deserialize, Serialize};

pub use calibrate::{
    CalibrationFigures, CalibrationMethod, Decile, Isotonic, MAX_LOG_ODDS, Platt, calibration_figures, logit,
};
pub use comparison::{COMPARE_PERCENTS, Compared, Comparison, FailIfWorse, Gate, Metric, Paired};
pub use curves::{BAND_POINTS, Band, CURVE_POINTS, Curves, Points, curves};
pub use histogram::Histogram;
pub use metrics::{
    CalibrationBin, Confusion, Interval, Lift, average_precision, bootstrap_auc, bootstrap_value_captured, brier,
    calibration, confusion, lift_at, log_loss, roc_auc, value_captured,
};
pub use monitoring::{Drift, FeatureDrift, Matured, Monitoring, PopulationShape, ScoreDrift};
pub use paired::{Agreement, PairedAuc, agreement, delong, two_sided_p};
pub use rng::{SplitMix64, mix};
pub use threshold::{ThresholdStrategy, choose_threshold};

/// An evaluation could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// No rows.
    #[error("no rows to evaluate")]
    Empty,
    /// Labels and scores differ in number.
    #[error("{labels} labels but {scores} scores")]
    LengthMismatch {
        /// Labels given.
        labels: usize,
        /// Scores given.
        scores: usize,
    },
    /// One class only.
    #[error("{}: AUC and related figures are undefined", if *positives == 0 { format!("none of the {rows} rows is a churner") } else { format!("all {rows} rows are churners") })]
    SingleClass {
        /// Rows.
        rows: usize,
        /// Churners among them.
        positives: usize,
    },
    /// A score that is NaN or infinite.
    #[error("score {value} at row {index} is not a finite number")]
    NotFinite {
        /// Row.
        index: usize,
        /// Value.
        value: f64,
    },
    /// A probability outside [0, 1].
    #[error("probability {value} at row {index} is outside [0, 1]")]
    OutOfRange {
        /// Row.
        index: usize,
        /// Value.
        value: f64,
    },
    /// An option out of range.
    #[error("{0}")]
    Invalid(String),
}

/// What [`evaluate`] computes besides the fixed metrics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalOptions {
    /// How the threshold is chosen.
    pub strategy: ThresholdStrategy,
    /// Bootstrap resamples for the AUC interval (0: no interval).
    pub bootstrap_samples: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Bins of the calibration table.
    pub calibration_bins: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            strategy: ThresholdStrategy::MaxF1,
            bootstrap_samples: 1000,
            seed: 42,
            calibration_bins: 10,
        }
    }
}

/// Shares of customers at which lift and capture are reported.
pub const LIFT_PERCENTS: [f64; 4] = [1.0, 5.0, 10.0, 20.0];

/// Every figure of a model on a set of customers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluation {
    /// Customers (rows).
    pub rows: u64,
    /// Churners among them.
    pub churners: u64,
    /// Their share.
    pub churn_rate: f64,
    /// ROC AUC.
    pub auc: f64,
    /// Bootstrap 95% interval of the AUC.
    pub auc_interval: Option<Interval>,
    /// Average precision (PR AUC).
    pub pr_auc: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Brier score.
    pub brier: f64,
    /// The decision threshold.
    pub threshold: f64,
    /// How it was chosen.
    pub strategy: ThresholdStrategy,
    /// Counts at the threshold.
    pub confusion: Confusion,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Specificity at the threshold.
    pub specificity: f64,
    /// Accuracy at the threshold.
    pub accuracy: f64,
    /// Lift and capture at the top 1, 5, 10 and 20%.
    pub lift: Vec<Lift>,
    /// Calibration table.
    pub calibration: Vec<CalibrationBin>,
}

impl Evaluation {
    /// The lift at a top share, if computed.
    pub fn lift_at(&self, top_percent: f64) -> Option<&Lift> {
        self.lift.iter().find(|l| l.top_percent == top_percent)
    }
}

/// Every figure of `probabilities` against `labels`, with the threshold chosen on these rows.
pub fn evaluate(labels: &[bool], probabilities: &[f64], options: &EvalOptions) -> Result<Evaluation, EvalError> {
    evaluate_with(labels, probabilities, options, None)
}

/// Every figure of `probabilities` against `labels` at a threshold chosen elsewhere (for example
/// on validation customers, so that test figures are honest); `options.strategy` is recorded as
/// the rule that chose it.
pub fn evaluate_at(
    labels: &[bool],
    probabilities: &[f64],
    options: &EvalOptions,
    threshold: f64,
) -> Result<Evaluation, EvalError> {
    evaluate_with(labels, probabilities, options, Some(threshold))
}

fn evaluate_with(
    labels: &[bool],
    probabilities: &[f64],
    options: &EvalOptions,
    threshold: Option<f64>,
) -> Result<Evaluation, EvalError> {
    metrics::check_probabilities(labels, probabilities)?;
    let churners = metrics::check_classes(labels)?;
    let ranking = metrics::Ranking::new(probabilities);
    let auc = metrics::auc_ranked(labels, &ranking, churners);
    let threshold = match threshold {
        Some(t) => t,
        None => threshold::threshold_ranked(labels, probabilities, &ranking, &options.strategy)?,
    };
    let c = confusion(labels, probabilities, threshold)?;
    Ok(Evaluation {
        rows: labels.len() as u64,
        churners: churners as u64,
        churn_rate: churners as f64 / labels.len() as f64,
        auc,
        auc_interval: match options.bootstrap_samples {
            0 => None,
            n => Some(metrics::bootstrap_ranked(labels, &ranking, n, options.seed)?),
        },
        pr_auc: metrics::ap_ranked(labels, &ranking, churners),
        log_loss: log_loss(labels, probabilities)?,
        brier: brier(labels, probabilities)?,
        threshold,
        strategy: options.strategy.clone(),
        confusion: c,
        precision: c.precision(),
        recall: c.recall(),
        f1: c.f1(),
        specificity: c.specificity(),
        accuracy: c.accuracy(),
        lift: LIFT_PERCENTS
            .iter()
            .map(|&k| metrics::lift_ranked(labels, &ranking, k))
            .collect::<Result<_, _>>()?,
        calibration: calibration(labels, probabilities, options.calibration_bins.max(1))?,
    })
}
