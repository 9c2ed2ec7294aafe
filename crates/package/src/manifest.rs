//! `manifest.json`: what a package holds and how it was made, enough to reproduce and audit it.
//! One typed struct, written at training and read by every job that scores.

use std::collections::BTreeMap;
use std::path::PathBuf;

use churnguard_config::{Date, Tier, ValueSegment};
use churnguard_eval::{Evaluation, Histogram, Interval};
use churnguard_features::{FeatureSpec, SnapshotReport};
use serde::{Deserialize, Serialize};

/// The whole manifest of a package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`crate::FORMAT`]).
    pub format: u32,
    /// The pipeline that trained the model.
    pub pipeline: String,
    /// The package version, such as `v3` (the folder's name).
    pub version: String,
    /// When the package was written, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    /// Where the config came from and what it resolved to.
    pub config: ConfigRecord,
    /// The input table files.
    pub inputs: Vec<InputFile>,
    /// SHA-256 of every other package file, by file name.
    pub files: BTreeMap<String, String>,
    /// The pipeline seed.
    pub seed: u64,
    /// Rows on each side of the split.
    pub rows: RowCounts,
    /// Training snapshots, then the test snapshot when out of time.
    pub snapshots: Vec<SnapshotReport>,
    /// How the test rows were drawn.
    pub test_design: TestDesign,
    /// LightGBM's parameters and the fit.
    pub lightgbm: LightGbmRecord,
    /// Library versions.
    pub libraries: Libraries,
    /// The features the model reads.
    pub feature_spec: FeatureSpec,
    /// [`FeatureSpec::hash`] of `feature_spec`.
    pub feature_spec_sha256: String,
    /// Figures on the validation customers.
    pub validation: Evaluation,
    /// Figures on the test rows.
    pub test: Evaluation,
    /// Test figures on recently active customers.
    pub segments: Vec<Segment>,
    /// The decision threshold chosen on validation.
    pub threshold: f64,
    /// Risk tier thresholds.
    pub tiers: TierThresholds,
    /// Importance by decreasing gain.
    pub importance: Vec<FeatureImportance>,
    /// Each feature's distribution, for drift checks: on the test customers when
    /// `references_of_test` holds, else (older packages) on the training rows.
    pub reference_histograms: Vec<Reference>,
    /// Whether `reference_histograms` are of the test customers, the score reference's
    /// population (false in packages made before they were).
    #[serde(default)]
    pub references_of_test: bool,
    /// The calibrated probability's distribution on the test customers, for drift checks of
    /// the score (none in packages made before monitoring).
    #[serde(default)]
    pub score_reference: Option<Histogram>,
    /// Tuning trials, when the config asked for tuning.
    pub tuning: Option<Vec<Trial>>,
    /// How closely ONNX Runtime reproduces LightGBM.
    pub parity: Parity,
    /// The calibration `model.onnx` applies, and its figures (format 2; none before).
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// Spend of the test's churners captured at the top of the list (format 2; when the test
    /// is out of time and customers have a value).
    #[serde(default)]
    pub value_capture: Option<ValueCapture>,
    /// The test customers as the list ranks them: the figures the report draws (none in
    /// packages made before the report).
    #[serde(default)]
    pub test_list: Option<TestList>,
    /// What was read from each input table (none in packages made before the report).
    #[serde(default)]
    pub data: Option<DataSummary>,
}

/// The calibration fitted on the validation customers, and what it does on the test.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    /// The method scoring applies (`platt` inside `model.onnx`, `isotonic` after ONNX Runtime).
    #[serde(default)]
    pub method: churnguard_eval::CalibrationMethod,
    /// Platt's map fitted on the validation customers: `sigmoid(a * logit(p) + b)` of
    /// LightGBM's probability.
    pub platt: churnguard_eval::Platt,
    /// The isotonic map fitted on the same customers.
    #[serde(default)]
    pub isotonic_map: Option<churnguard_eval::Isotonic>,
    /// Validation rows it was fitted on.
    pub fitted_on: usize,
    /// Test figures of LightGBM's own probabilities.
    pub before: churnguard_eval::CalibrationFigures,
    /// Test figures after the Platt map.
    pub after: churnguard_eval::CalibrationFigures,
    /// Test figures after the isotonic map.
    pub isotonic: churnguard_eval::CalibrationFigures,
}

impl Calibration {
    /// The map inside `model.onnx`, if the method puts one there.
    pub fn in_graph(&self) -> Option<churnguard_eval::Platt> {
        (self.method == churnguard_eval::CalibrationMethod::Platt).then_some(self.platt)
    }

    /// The calibrated probability of LightGBM's probability `p`: what `model.onnx` computes,
    /// then what scoring applies to its output.
    pub fn apply(&self, p: f64) -> f64 {
        self.after_onnx(self.in_graph().map_or(p, |platt| platt.apply(p)))
    }

    /// What scoring applies to ONNX Runtime's output (isotonic only: Platt is in the graph).
    pub fn after_onnx(&self, p: f64) -> f64 {
        match (self.method, &self.isotonic_map) {
            (churnguard_eval::CalibrationMethod::Isotonic, Some(map)) => map.apply(p),
            _ => p,
        }
    }

    /// The test figures of the method applied.
    pub fn applied(&self) -> &churnguard_eval::CalibrationFigures {
        match self.method {
            churnguard_eval::CalibrationMethod::Platt => &self.after,
            churnguard_eval::CalibrationMethod::Isotonic => &self.isotonic,
            churnguard_eval::CalibrationMethod::None => &self.before,
        }
    }
}

/// The share of the spend of the test customers who then churned that the top of the list
/// holds: the value a retention team working down the list can save.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValueCapture {
    /// The list's order.
    pub ranked_by: String,
    /// Days of spend counted (the year before the test cutoff).
    pub spend_days: u32,
    /// Share captured by each top share of the list: (percent of the list, share of spend).
    pub captured: Vec<(f64, f64)>,
    /// The bootstrap 95% interval of each share (percent of the list, interval); empty without a
    /// bootstrap, and in packages written before intervals were kept.
    #[serde(default)]
    pub intervals: Vec<(f64, Interval)>,
    /// The same by probability alone, for comparison.
    pub by_probability: Vec<(f64, f64)>,
}

impl ValueCapture {
    /// The bootstrap interval of the share at `percent` of the list, if one was kept.
    pub fn interval(&self, percent: f64) -> Option<&Interval> {
        self.intervals.iter().find(|(at, _)| *at == percent).map(|(_, i)| i)
    }
}

/// Where the config came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// The config file.
    pub file: PathBuf,
    /// SHA-256 of its text as read.
    pub file_sha256: String,
    /// The validated config, every default filled in.
    pub resolved: serde_json::Value,
    /// SHA-256 of `resolved` as compact JSON.
    pub resolved_sha256: String,
}

/// One input table file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputFile {
    /// The table's role (`events`, `customers`, `interactions`).
    pub role: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its content.
    pub sha256: String,
}

/// Row counts of each side of the split.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RowCounts {
    /// Training rows (customer-snapshots).
    pub train: usize,
    /// Validation rows (held-out training customers).
    pub validation: usize,
    /// Test rows.
    pub test: usize,
    /// Churners among the training rows.
    pub train_churners: usize,
}

/// Where the test rows come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TestDesign {
    /// Every customer of a later snapshot (out of time).
    OutOfTime {
        /// The test cutoff.
        cutoff: Date,
    },
    /// A share of customers held out (all their rows), scored at the last cutoff.
    HeldOutCustomers {
        /// The share held out.
        fraction: f64,
        /// The snapshot the test rows come from.
        cutoff: Date,
    },
}

impl TestDesign {
    /// The snapshot the test rows come from.
    pub fn cutoff(&self) -> Date {
        match self {
            TestDesign::OutOfTime { cutoff } | TestDesign::HeldOutCustomers { cutoff, .. } => *cutoff,
        }
    }
}

impl std::fmt::Display for TestDesign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestDesign::OutOfTime { cutoff } => write!(f, "out of time, every customer at {cutoff}"),
            TestDesign::HeldOutCustomers { fraction, cutoff } => {
                write!(f, "{:.0}% of customers held out, at {cutoff}", fraction * 100.0)
            }
        }
    }
}

/// LightGBM's parameters and what the fit did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LightGbmRecord {
    /// Parameters as used, by canonical name.
    pub params: BTreeMap<String, String>,
    /// The round kept (trees in the model).
    pub best_round: usize,
    /// Rounds run.
    pub rounds: usize,
    /// The early-stopping metric's LightGBM name.
    pub early_stopping_metric: String,
    /// The validation metric after each round.
    pub validation_history: Vec<f64>,
}

/// Library versions that made the package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Libraries {
    /// churnguard's version.
    pub churnguard: String,
    /// LightGBM's version.
    pub lightgbm: String,
    /// The ONNX operator sets of the export.
    pub onnx: String,
    /// The ONNX Runtime that checked the export.
    pub onnx_runtime: String,
}

/// Figures on the test customers active in the last N days before the cutoff.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Segment {
    /// The activity window, in days.
    pub active_within_days: u32,
    /// The evaluation of those customers.
    pub evaluation: Evaluation,
}

/// Risk tiers as fixed probability thresholds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TierThresholds {
    /// Lowest probability of the high tier.
    pub high: f64,
    /// Lowest probability of the medium tier.
    pub medium: f64,
    /// The `[tiers]` rules they came from.
    pub rules: serde_json::Value,
    /// Test customers per tier (high, medium, low).
    pub test_counts: [u64; 3],
    /// The lowest value of a high-value customer: the top `scoring.high_value_percent` of the
    /// test customers by value (none when values are unknown, or in older packages).
    #[serde(default)]
    pub high_value: Option<f64>,
}

impl TierThresholds {
    /// The tier of a probability.
    pub fn of(&self, probability: f64) -> Tier {
        Tier::of(probability, self.high, self.medium)
    }

    /// The value segment of a customer's value (low when the package has no value cut-off or
    /// the customer's value is unknown).
    pub fn segment(&self, value: Option<f64>) -> ValueSegment {
        match (self.high_value, value) {
            (Some(cut), Some(v)) if v > 0.0 && v >= cut => ValueSegment::High,
            _ => ValueSegment::Low,
        }
    }
}

/// One feature's importance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// The feature.
    pub feature: String,
    /// Total split gain.
    pub gain: f64,
    /// Number of splits.
    pub splits: u64,
}

/// A feature's distribution on the training rows, for drift checks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reference {
    /// The feature.
    pub feature: String,
    /// Its histogram.
    pub histogram: Histogram,
}

/// One tried combination of a tuning search and its cross-validated score.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trial {
    /// 1-based trial number.
    pub number: usize,
    /// The parameters tried, as LightGBM names them.
    pub params: Vec<(String, String)>,
    /// Held-out AUC of each fold.
    pub fold_auc: Vec<f64>,
    /// Mean of `fold_auc`: the trial's score.
    pub mean_auc: f64,
    /// Rounds early stopping kept in each fold.
    pub rounds: Vec<usize>,
}

/// How closely ONNX Runtime reproduces LightGBM.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

/// The test customers ranked as `score` ranks a list, with what happened to them: the data of
/// the report's charts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TestList {
    /// The list's order (`probability` or `value_at_risk`).
    pub ranked_by: String,
    /// Whether customers have a value (spend); without one every value at risk is 0.
    #[serde(default)]
    pub values_known: bool,
    /// ROC and PR curves with bootstrap bands; gains in list order.
    pub curves: churnguard_eval::Curves,
    /// Each tier of the list: high, medium, low.
    pub tiers: Vec<TierRow>,
    /// Customers per probability bin and tier.
    pub scores: ScoreHistogram,
    /// How often each feature is among the reasons given.
    pub reasons: ReasonCounts,
}

/// One tier of the test list and what its customers did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TierRow {
    /// `high`, `medium` or `low`.
    pub tier: String,
    /// Customers.
    pub customers: u64,
    /// Of those, churned over the horizon.
    pub churners: u64,
    /// Their observed churn rate (0 for an empty tier).
    pub observed_rate: f64,
    /// Their mean calibrated probability (0 for an empty tier).
    pub mean_probability: f64,
    /// Sum of value times probability.
    pub value_at_risk: f64,
}

/// Customers per equal-width probability bin, by tier.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScoreHistogram {
    /// Bin edges, from 0 to 1 (one more than the bins).
    pub edges: Vec<f64>,
    /// Per bin: customers of the high, medium and low tier.
    pub counts: Vec<[u64; 3]>,
}

/// How often each feature is among the main reasons of the customers given reasons.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReasonCounts {
    /// Customers whose reasons were counted.
    pub explained: u64,
    /// Customers the list gives reasons to (the high and medium tiers); `explained` is all of
    /// them or an even spread over them.
    #[serde(default)]
    pub given: u64,
    /// Per feature with at least one mention, most mentioned first.
    pub features: Vec<ReasonCount>,
}

/// One feature's mentions among the reasons.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReasonCount {
    /// The feature.
    pub feature: String,
    /// Customers whose first reason it is.
    pub first: u64,
    /// Customers with it among their reasons.
    pub any: u64,
}

/// What was read from the input tables.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataSummary {
    /// One entry per table read.
    pub tables: Vec<TableSummary>,
    /// Customers known across the tables.
    pub customers: u64,
}

/// One input table as read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableSummary {
    /// `events`, `customers` or `interactions`.
    pub role: String,
    /// Rows in the file.
    pub rows_read: u64,
    /// Rows used.
    pub rows_kept: u64,
    /// Rows rejected, all reasons together.
    pub rows_rejected: u64,
    /// Distinct customers among the rows used.
    pub customers: u64,
    /// Earliest timestamp, for tables with one.
    pub first: Option<String>,
    /// Latest timestamp.
    pub last: Option<String>,
}
