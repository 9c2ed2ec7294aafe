//! The config file exactly as written: every table denies unknown keys, so a typo is an error
//! rather than a silently different pipeline. Nothing here is trusted until `validate` has run.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub pipeline: RawPipeline,
    pub data: RawData,
    #[serde(default)]
    pub privacy: Option<RawPrivacy>,
    #[serde(default)]
    pub label: Option<RawLabel>,
    #[serde(default)]
    pub snapshots: Option<RawSnapshots>,
    #[serde(default)]
    pub features: Option<RawFeatures>,
    #[serde(default)]
    pub model: Option<RawModel>,
    #[serde(default)]
    pub split: Option<RawSplit>,
    #[serde(default)]
    pub evaluation: Option<RawEvaluation>,
    #[serde(default)]
    pub tiers: Option<RawTiers>,
    #[serde(default)]
    pub tuning: Option<RawTuning>,
    #[serde(default)]
    pub output: Option<RawOutput>,
    #[serde(default)]
    pub scoring: Option<RawScoring>,
    #[serde(default)]
    pub monitoring: Option<RawMonitoring>,
    #[serde(default)]
    pub retraining: Option<RawRetraining>,
    #[serde(default)]
    pub distributed: Option<RawDistributed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDistributed {
    pub machines: Vec<String>,
    pub rank: Option<i64>,
    pub coordinator: Option<String>,
    pub timeout_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSnapshots {
    pub train_cutoffs: Option<Vec<RawDate>>,
    pub every_days: Option<i64>,
    pub from: Option<RawDate>,
    pub to: Option<RawDate>,
    pub test_cutoff: Option<RawDate>,
    pub active_within_days: Option<i64>,
    pub population: Option<String>,
    pub alive_within_days: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFeatures {
    pub windows_days: Option<Vec<i64>>,
    pub complaint_kinds: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPipeline {
    pub name: String,
    pub seed: Option<i64>,
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawData {
    pub as_of: Option<RawDate>,
    pub strict: Option<bool>,
    pub batch_rows: Option<i64>,
    pub events: Option<RawEvents>,
    pub customers: Option<RawCustomers>,
    pub interactions: Option<RawInteractions>,
}

/// A date written either as a TOML date (`1998-07-01`) or as a string (`"1998-07-01"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDate {
    Toml(toml::value::Datetime),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvents {
    pub path: String,
    pub format: Option<String>,
    pub customer_id: String,
    pub timestamp: String,
    pub amount: Option<String>,
    pub quantity: Option<String>,
    pub event_type: Option<String>,
    #[serde(default)]
    pub pii_columns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCustomers {
    pub path: String,
    pub format: Option<String>,
    pub customer_id: Option<String>,
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub pii_columns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInteractions {
    pub path: String,
    pub format: Option<String>,
    pub customer_id: String,
    pub timestamp: String,
    pub kind: String,
    pub score: Option<String>,
    #[serde(default)]
    pub pii_columns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrivacy {
    pub pseudonymize: Option<bool>,
    pub key_env: Option<String>,
}

// One flat table rather than a serde-tagged enum: the validator can then say which key does not
// belong to which kind, instead of serde's generic "unknown field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLabel {
    pub kind: String,
    pub horizon_days: Option<i64>,
    pub column: Option<String>,
    pub positive: Option<toml::Value>,
    pub event_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    pub learning_rate: Option<f64>,
    pub num_leaves: Option<i64>,
    pub max_depth: Option<i64>,
    pub min_data_in_leaf: Option<i64>,
    pub feature_fraction: Option<f64>,
    pub bagging_fraction: Option<f64>,
    pub bagging_freq: Option<i64>,
    pub lambda_l1: Option<f64>,
    pub lambda_l2: Option<f64>,
    pub max_bin: Option<i64>,
    pub num_iterations: Option<i64>,
    pub early_stopping_rounds: Option<i64>,
    pub early_stopping_metric: Option<String>,
    pub num_threads: Option<i64>,
    pub is_unbalance: Option<bool>,
    pub scale_pos_weight: Option<f64>,
    #[serde(default)]
    pub lightgbm: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSplit {
    pub validation_fraction: Option<f64>,
    pub test_fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvaluation {
    pub threshold: Option<String>,
    pub calibration: Option<String>,
    pub top_percent: Option<f64>,
    pub cost_missed_churner: Option<f64>,
    pub cost_needless_offer: Option<f64>,
    pub bootstrap_samples: Option<i64>,
    pub calibration_bins: Option<i64>,
    pub active_within_days: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTiers {
    pub high: Option<RawTierRule>,
    pub medium: Option<RawTierRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTierRule {
    pub probability: Option<f64>,
    pub top_percent: Option<f64>,
    pub top: Option<i64>,
    pub lift: Option<f64>,
    pub above_base_rate: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTuning {
    pub method: Option<String>,
    pub trials: Option<i64>,
    pub folds: Option<i64>,
    pub space: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    pub models_dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScoring {
    pub lookback_days: Option<i64>,
    pub horizon_days: Option<i64>,
    pub value_attribute: Option<String>,
    pub value_attribute_days: Option<i64>,
    pub rank_by: Option<String>,
    pub batch_rows: Option<i64>,
    pub explain_all: Option<bool>,
    pub high_value_percent: Option<f64>,
    pub not_actionable: Option<Vec<String>>,
    pub max_missing_share: Option<f64>,
    pub capacity: Option<RawCapacity>,
    #[serde(default)]
    pub actions: Vec<RawAction>,
    pub default_actions: Option<RawDefaultActions>,
    pub high_value_actions: Option<RawDefaultActions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCapacity {
    pub top: Option<i64>,
    pub top_percent: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub tier: String,
    pub value: Option<String>,
    pub reason: Option<String>,
    pub action: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaultActions {
    pub high: Option<String>,
    pub medium: Option<String>,
    pub low: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMonitoring {
    pub psi_warn: Option<f64>,
    pub psi_alert: Option<f64>,
    pub missing_rise: Option<f64>,
    pub unseen_share: Option<f64>,
    pub alive_share_change: Option<f64>,
    pub auc_drop: Option<f64>,
    pub ece_rise: Option<f64>,
    pub keep_lists: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetraining {
    pub auc_margin: Option<f64>,
    pub ece_margin: Option<f64>,
    pub brier_margin: Option<f64>,
    pub roll_cutoffs: Option<bool>,
}
