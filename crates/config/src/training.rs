//! The training sections of a pipeline: `[model]` (LightGBM), `[split]`, `[evaluation]`, `[tiers]`,
//! `[tuning]` and `[output]`. Every option has a documented default; checks happen here, once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::raw::{RawEvaluation, RawModel, RawOutput, RawSplit, RawTierRule, RawTiers, RawTuning};
use crate::{Checker, ConfigError, normalize};

/// LightGBM settings. Churn is binary, so the objective is always `binary`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    /// Shrinkage per boosting round (default 0.05).
    pub learning_rate: f64,
    /// Leaves per tree (default 31).
    pub num_leaves: u32,
    /// Depth limit, -1 for none (default -1).
    pub max_depth: i32,
    /// Minimum rows in a leaf (default 20).
    pub min_data_in_leaf: u32,
    /// Share of features tried per tree (default 1.0).
    pub feature_fraction: f64,
    /// Share of rows used per bagging round (default 1.0: no bagging).
    pub bagging_fraction: f64,
    /// Bagging every N rounds, 0 for never (default 0).
    pub bagging_freq: u32,
    /// L1 regularisation (default 0).
    pub lambda_l1: f64,
    /// L2 regularisation (default 0).
    pub lambda_l2: f64,
    /// Histogram bins per feature (default 255).
    pub max_bin: u32,
    /// Most boosting rounds (default 1000); early stopping usually ends sooner.
    pub num_iterations: u32,
    /// Stop after this many rounds without improvement on the validation customers; 0 turns early
    /// stopping off (default 50).
    pub early_stopping_rounds: u32,
    /// What early stopping watches (default `binary_logloss`).
    pub early_stopping_metric: StoppingMetric,
    /// LightGBM threads, 0 for the cores other processes leave idle when training starts (default
    /// 0); a count above the machine's cores is cut to them. The model is the same on any count.
    pub num_threads: u32,
    /// How the rarer class is weighted (default: not at all).
    pub class_weight: ClassWeight,
    /// Any other LightGBM parameter, as LightGBM spells it, with its value in LightGBM's syntax.
    pub lightgbm: Vec<(String, String)>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            learning_rate: 0.05,
            num_leaves: 31,
            max_depth: -1,
            min_data_in_leaf: 20,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            max_bin: 255,
            num_iterations: 1000,
            early_stopping_rounds: 50,
            early_stopping_metric: StoppingMetric::LogLoss,
            num_threads: 0,
            class_weight: ClassWeight::None,
            lightgbm: Vec::new(),
        }
    }
}

impl ModelConfig {
    /// The named settings as LightGBM `(key, value)` pairs, then the `[model.lightgbm]` ones. Rounds
    /// and early stopping are not included: the trainer drives them.
    pub fn lightgbm_params(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = vec![
            ("learning_rate".into(), self.learning_rate.to_string()),
            ("num_leaves".into(), self.num_leaves.to_string()),
            ("max_depth".into(), self.max_depth.to_string()),
            ("min_data_in_leaf".into(), self.min_data_in_leaf.to_string()),
            ("feature_fraction".into(), self.feature_fraction.to_string()),
            ("bagging_fraction".into(), self.bagging_fraction.to_string()),
            ("bagging_freq".into(), self.bagging_freq.to_string()),
            ("lambda_l1".into(), self.lambda_l1.to_string()),
            ("lambda_l2".into(), self.lambda_l2.to_string()),
            ("max_bin".into(), self.max_bin.to_string()),
        ];
        match self.class_weight {
            ClassWeight::None => {}
            ClassWeight::Balanced => out.push(("is_unbalance".into(), "true".into())),
            ClassWeight::ScalePositive(w) => out.push(("scale_pos_weight".into(), w.to_string())),
        }
        out.extend(self.lightgbm.iter().cloned());
        out
    }
}

/// The validation metric early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoppingMetric {
    /// Binary log loss (lower is better).
    #[serde(rename = "binary_logloss")]
    LogLoss,
    /// ROC AUC (higher is better).
    Auc,
}

impl StoppingMetric {
    /// LightGBM's name of the metric.
    pub fn lightgbm_name(self) -> &'static str {
        match self {
            StoppingMetric::LogLoss => "binary_logloss",
            StoppingMetric::Auc => "auc",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, StoppingMetric::Auc)
    }
}

/// Weighting of churners against stayers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row counts the same.
    None,
    /// LightGBM's `is_unbalance`: classes weighted to balance.
    Balanced,
    /// LightGBM's `scale_pos_weight`: churners weighted by this factor.
    ScalePositive(f64),
}

/// How customers are held out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitConfig {
    /// Share of training customers held out to choose the number of rounds (default 0.2). A customer
    /// is wholly on one side, in every training snapshot.
    pub validation_fraction: f64,
    /// Share of customers held out for the test when there is no `snapshots.test_cutoff`
    /// (default 0.2); with a test cutoff the test is out of time and this is not used.
    pub test_fraction: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            validation_fraction: 0.2,
            test_fraction: 0.2,
        }
    }
}

/// Evaluation settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvaluationConfig {
    /// How the threshold is chosen (default: maximise F1).
    pub threshold: ThresholdStrategy,
    /// How probabilities are calibrated on the validation customers (default Platt, which
    /// measured best on CDNOW and Telco and is exact inside `model.onnx`).
    pub calibration: CalibrationMethod,
    /// Bootstrap resamples for the AUC interval, 0 for none (default 1000).
    pub bootstrap_samples: u32,
    /// Equal-width probability bins of the calibration table (default 10).
    pub calibration_bins: u32,
    /// Extra test figures restricted to customers active in the last N days before the cutoff
    /// (default none).
    pub active_within_days: Vec<u32>,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            threshold: ThresholdStrategy::MaxF1,
            calibration: CalibrationMethod::Platt,
            bootstrap_samples: 1000,
            calibration_bins: 10,
            active_within_days: Vec::new(),
        }
    }
}

/// Where a risk level starts. Every rule is resolved once, at training, on the test customers
/// ranked by calibrated probability, into the probability cut-off the package stores: a
/// customer's level is then the same alone, in any list and in the service.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierRule {
    /// Customers at or above this churn probability.
    Probability(f64),
    /// The probability of the test customers' top percentage.
    TopPercent(f64),
    /// The probability of the test's first N customers.
    Top(u64),
    /// k times the base rate (the test customers' mean calibrated probability).
    Lift(f64),
    /// This share of the way from the base rate to certain churn: 0 is the base rate itself
    /// (likelier than the average customer to leave), 0.5 halfway to certainty. Adapts to any
    /// base rate, unlike a lift (2x a 54% rate is no probability) or a share of customers (the
    /// top 30% of a population with 14% churn reaches down to probabilities far below 14%).
    AboveBaseRate(f64),
}

/// Risk levels: high, medium, and low for everyone else.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TiersConfig {
    /// Where `high` starts (default: halfway from the base rate to certain churn).
    pub high: TierRule,
    /// Where `medium` starts (default: the base rate).
    pub medium: TierRule,
}

impl TiersConfig {
    /// The probability cut-offs (high, medium) these rules give on the test customers'
    /// calibrated probabilities (any order): a fixed probability as given, a top share or count
    /// at the lowest probability it takes in, a lift or a share above the base rate from the
    /// test's mean. Medium never starts above high; a tier that takes no customer starts
    /// above every probability (1.0 + a margin: no customer is in it).
    pub fn cut_offs(&self, probabilities: &[f64]) -> (f64, f64) {
        let mut ranked = probabilities.to_vec();
        ranked.sort_by(|a, b| b.total_cmp(a));
        let n = ranked.len();
        let mean = if n == 0 {
            0.0
        } else {
            ranked.iter().sum::<f64>() / n as f64
        };
        let lowest_of_first = |k: usize| match k.min(n) {
            0 => NONE_ABOVE,
            k => ranked[k - 1],
        };
        let cut = |rule: TierRule| match rule {
            TierRule::Probability(p) => p,
            TierRule::TopPercent(k) => lowest_of_first((n as f64 * k / 100.0).ceil() as usize),
            TierRule::Top(count) => lowest_of_first(usize::try_from(count).unwrap_or(usize::MAX)),
            TierRule::Lift(k) => k * mean,
            TierRule::AboveBaseRate(share) => mean + share * (1.0 - mean),
        };
        let high = cut(self.high);
        (high, cut(self.medium).min(high))
    }
}

/// The cut-off of a tier no customer can reach.
const NONE_ABOVE: f64 = 2.0;

impl Default for TiersConfig {
    fn default() -> Self {
        TiersConfig {
            high: TierRule::AboveBaseRate(0.5),
            medium: TierRule::AboveBaseRate(0.0),
        }
    }
}

/// How tuning trials are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuningMethod {
    /// Every combination of the listed values.
    Grid,
    /// This many combinations drawn at random (seeded) from the listed values.
    Random {
        /// Number of trials.
        trials: u32,
    },
}

/// Hyper-parameter search, scored by cross-validation grouped by customer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TuningConfig {
    /// Grid or random search (default random, 20 trials).
    pub method: TuningMethod,
    /// Folds of the cross-validation (default 5).
    pub folds: u32,
    /// LightGBM parameters and the values to try, in LightGBM's syntax.
    pub space: Vec<(String, Vec<String>)>,
}

impl Default for TuningConfig {
    fn default() -> Self {
        TuningConfig {
            method: TuningMethod::Random { trials: 20 },
            folds: 5,
            space: Vec::new(),
        }
    }
}

impl TuningConfig {
    /// Number of combinations in the space.
    pub fn combinations(&self) -> u64 {
        self.space
            .iter()
            .map(|(_, v)| v.len() as u64)
            .fold(1u64, |a, b| a.saturating_mul(b))
    }
}

/// Where packages go.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OutputConfig {
    /// The models folder, resolved against the config file's folder; `models` in the working
    /// directory when not set.
    pub models_dir: Option<PathBuf>,
}

/// LightGBM parameters churnguard refuses before training, with the reason.
pub const UNSUPPORTED_LIGHTGBM: [(&str, &str); 3] = [
    (
        "linear_tree",
        "linear leaves cannot be exported exactly to ONNX's tree ensemble",
    ),
    (
        "linear_lambda",
        "it belongs to linear leaves, which cannot be exported exactly to ONNX",
    ),
    (
        "objective",
        "churnguard trains a binary churn model; the objective is fixed",
    ),
];

/// The most combinations a grid may have.
const MAX_GRID: u64 = 10_000;

/// A LightGBM value written in TOML, in LightGBM's own syntax.
fn lightgbm_value(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| match i {
                    toml::Value::Array(_) | toml::Value::Table(_) => None,
                    other => lightgbm_value(other),
                })
                .collect();
            parts.map(|p| p.join(","))
        }
        _ => None,
    }
}

impl Checker<'_> {
    fn fraction(&self, key: &str, v: Option<f64>, default: f64, max: f64) -> Result<f64, ConfigError> {
        let v = v.unwrap_or(default);
        self.ensure(v > 0.0 && v <= max, key, || {
            format!("must be above 0 and at most {max}, got {v}")
        })?;
        Ok(v)
    }

    fn count(
        &self,
        key: &str,
        v: Option<i64>,
        default: u32,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<u32, ConfigError> {
        let v = v.unwrap_or(i64::from(default));
        self.ensure(range.contains(&v), key, || {
            format!("must be between {} and {}, got {v}", range.start(), range.end())
        })?;
        Ok(v as u32)
    }

    fn non_negative(&self, key: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        let v = v.unwrap_or(default);
        self.ensure(v.is_finite() && v >= 0.0, key, || format!("must be 0 or more, got {v}"))?;
        Ok(v)
    }

    pub(crate) fn model(&self, m: RawModel) -> Result<ModelConfig, ConfigError> {
        let d = ModelConfig::default();
        let learning_rate = self.fraction("model.learning_rate", m.learning_rate, d.learning_rate, 1.0)?;
        let max_depth = m.max_depth.unwrap_or(i64::from(d.max_depth));
        self.ensure(
            max_depth == -1 || (1..=64).contains(&max_depth),
            "model.max_depth",
            || format!("must be -1 (no limit) or between 1 and 64, got {max_depth}"),
        )?;
        let early_stopping_metric = match m.early_stopping_metric.as_deref() {
            None | Some("binary_logloss") => StoppingMetric::LogLoss,
            Some("auc") => StoppingMetric::Auc,
            Some(other) => {
                return Err(self.err(
                    "model.early_stopping_metric",
                    format!("\"{other}\" is not a stopping metric (binary_logloss, auc)"),
                ));
            }
        };
        let class_weight = match (m.is_unbalance, m.scale_pos_weight) {
            (Some(true), Some(_)) => {
                return Err(self.err(
                    "model.scale_pos_weight",
                    "give either `is_unbalance = true` or `scale_pos_weight`, not both",
                ));
            }
            (_, Some(w)) => {
                self.ensure(w.is_finite() && w > 0.0, "model.scale_pos_weight", || {
                    format!("must be above 0, got {w}")
                })?;
                ClassWeight::ScalePositive(w)
            }
            (Some(true), None) => ClassWeight::Balanced,
            _ => ClassWeight::None,
        };
        let mut lightgbm = Vec::new();
        for (k, v) in m.lightgbm.unwrap_or_default() {
            let key = format!("model.lightgbm.{k}");
            if let Some((_, why)) = UNSUPPORTED_LIGHTGBM.iter().find(|(name, _)| *name == k) {
                return Err(self.err(&key, format!("is not supported: {why}")));
            }
            let value = lightgbm_value(&v)
                .ok_or_else(|| self.err(&key, "must be a string, number, boolean or a list of them"))?;
            lightgbm.push((k, value));
        }
        Ok(ModelConfig {
            learning_rate,
            num_leaves: self.count("model.num_leaves", m.num_leaves, d.num_leaves, 2..=131_072)?,
            max_depth: max_depth as i32,
            min_data_in_leaf: self.count(
                "model.min_data_in_leaf",
                m.min_data_in_leaf,
                d.min_data_in_leaf,
                0..=1_000_000,
            )?,
            feature_fraction: self.fraction("model.feature_fraction", m.feature_fraction, d.feature_fraction, 1.0)?,
            bagging_fraction: self.fraction("model.bagging_fraction", m.bagging_fraction, d.bagging_fraction, 1.0)?,
            bagging_freq: self.count("model.bagging_freq", m.bagging_freq, d.bagging_freq, 0..=1_000_000)?,
            lambda_l1: self.non_negative("model.lambda_l1", m.lambda_l1, d.lambda_l1)?,
            lambda_l2: self.non_negative("model.lambda_l2", m.lambda_l2, d.lambda_l2)?,
            max_bin: self.count("model.max_bin", m.max_bin, d.max_bin, 2..=65_535)?,
            num_iterations: self.count("model.num_iterations", m.num_iterations, d.num_iterations, 1..=100_000)?,
            early_stopping_rounds: self.count(
                "model.early_stopping_rounds",
                m.early_stopping_rounds,
                d.early_stopping_rounds,
                0..=100_000,
            )?,
            early_stopping_metric,
            num_threads: self.count("model.num_threads", m.num_threads, d.num_threads, 0..=1024)?,
            class_weight,
            lightgbm,
        })
    }

    pub(crate) fn split(&self, s: RawSplit) -> Result<SplitConfig, ConfigError> {
        let d = SplitConfig::default();
        Ok(SplitConfig {
            validation_fraction: self.fraction(
                "split.validation_fraction",
                s.validation_fraction,
                d.validation_fraction,
                0.5,
            )?,
            test_fraction: self.fraction("split.test_fraction", s.test_fraction, d.test_fraction, 0.5)?,
        })
    }

    fn percent(&self, key: &str, v: f64) -> Result<f64, ConfigError> {
        self.ensure(v > 0.0 && v <= 100.0, key, || {
            format!("must be above 0 and at most 100, got {v}")
        })?;
        Ok(v)
    }

    pub(crate) fn evaluation(&self, e: RawEvaluation) -> Result<EvaluationConfig, ConfigError> {
        let d = EvaluationConfig::default();
        let only = |key: &str, present: bool, rule: &str| {
            self.ensure(!present, &format!("evaluation.{key}"), || {
                format!("applies only to threshold = \"{rule}\"")
            })
        };
        let threshold = match e.threshold.as_deref() {
            None | Some("max_f1") => {
                only("top_percent", e.top_percent.is_some(), "top_percent")?;
                only("cost_missed_churner", e.cost_missed_churner.is_some(), "min_cost")?;
                only("cost_needless_offer", e.cost_needless_offer.is_some(), "min_cost")?;
                ThresholdStrategy::MaxF1
            }
            Some("top_percent") => {
                only("cost_missed_churner", e.cost_missed_churner.is_some(), "min_cost")?;
                only("cost_needless_offer", e.cost_needless_offer.is_some(), "min_cost")?;
                let p = e.top_percent.ok_or_else(|| {
                    self.err("evaluation.top_percent", "is required when threshold = \"top_percent\"")
                })?;
                ThresholdStrategy::TopPercent(self.percent("evaluation.top_percent", p)?)
            }
            Some("min_cost") => {
                only("top_percent", e.top_percent.is_some(), "top_percent")?;
                let cost = |key: &str, v: Option<f64>| -> Result<f64, ConfigError> {
                    let k = format!("evaluation.{key}");
                    let v = v.ok_or_else(|| self.err(&k, "is required when threshold = \"min_cost\""))?;
                    self.ensure(v.is_finite() && v > 0.0, &k, || format!("must be above 0, got {v}"))?;
                    Ok(v)
                };
                ThresholdStrategy::MinCost {
                    missed_churner: cost("cost_missed_churner", e.cost_missed_churner)?,
                    needless_offer: cost("cost_needless_offer", e.cost_needless_offer)?,
                }
            }
            Some(other) => {
                return Err(self.err(
                    "evaluation.threshold",
                    format!("\"{other}\" is not a threshold rule (max_f1, top_percent, min_cost)"),
                ));
            }
        };
        let calibration = match e.calibration.as_deref() {
            None => d.calibration,
            Some("platt") => CalibrationMethod::Platt,
            Some("isotonic") => CalibrationMethod::Isotonic,
            Some("none") => CalibrationMethod::None,
            Some(other) => {
                return Err(self.err(
                    "evaluation.calibration",
                    format!("\"{other}\" is not a calibration (platt, isotonic, none)"),
                ));
            }
        };
        let mut active = Vec::new();
        for (i, days) in e.active_within_days.unwrap_or_default().into_iter().enumerate() {
            active.push(self.count(&format!("evaluation.active_within_days[{i}]"), Some(days), 0, 1..=3650)?);
        }
        Ok(EvaluationConfig {
            threshold,
            calibration,
            bootstrap_samples: self.count(
                "evaluation.bootstrap_samples",
                e.bootstrap_samples,
                d.bootstrap_samples,
                0..=100_000,
            )?,
            calibration_bins: self.count(
                "evaluation.calibration_bins",
                e.calibration_bins,
                d.calibration_bins,
                2..=100,
            )?,
            active_within_days: active,
        })
    }

    fn tier_rule(&self, key: &str, r: RawTierRule) -> Result<TierRule, ConfigError> {
        match (r.probability, r.top_percent, r.top, r.lift, r.above_base_rate) {
            (None, None, None, None, Some(share)) => {
                self.ensure((0.0..1.0).contains(&share), key, || {
                    format!("above_base_rate is a share of the way to certain churn, from 0 to below 1, got {share}")
                })?;
                Ok(TierRule::AboveBaseRate(share))
            }
            (Some(p), None, None, None, None) => {
                self.ensure(p > 0.0 && p < 1.0, key, || {
                    format!("probability must be between 0 and 1, got {p}")
                })?;
                Ok(TierRule::Probability(p))
            }
            (None, Some(t), None, None, None) => Ok(TierRule::TopPercent(self.percent(key, t)?)),
            (None, None, Some(n), None, None) => {
                self.ensure(n >= 1, key, || format!("top must be 1 or more customers, got {n}"))?;
                Ok(TierRule::Top(n as u64))
            }
            (None, None, None, Some(k), None) => {
                self.ensure(k.is_finite() && k > 0.0, key, || {
                    format!("lift must be above 0, got {k}")
                })?;
                Ok(TierRule::Lift(k))
            }
            _ => Err(self.err(
                key,
                "give exactly one of `probability`, `top_percent`, `top`, `lift` or `above_base_rate`",
            )),
        }
    }

    pub(crate) fn tiers(&self, t: RawTiers) -> Result<TiersConfig, ConfigError> {
        let d = TiersConfig::default();
        let high = t
            .high
            .map(|r| self.tier_rule("tiers.high", r))
            .transpose()?
            .unwrap_or(d.high);
        let medium = t
            .medium
            .map(|r| self.tier_rule("tiers.medium", r))
            .transpose()?
            .unwrap_or(d.medium);
        let ordered = match (high, medium) {
            (TierRule::Probability(h), TierRule::Probability(m)) => h > m,
            (TierRule::TopPercent(h), TierRule::TopPercent(m)) => h < m,
            (TierRule::Top(h), TierRule::Top(m)) => h < m,
            (TierRule::Lift(h), TierRule::Lift(m)) => h > m,
            (TierRule::AboveBaseRate(h), TierRule::AboveBaseRate(m)) => h > m,
            // Mixed rules are ordered on each list: medium never takes a high customer.
            _ => true,
        };
        self.ensure(ordered, "tiers.medium", || {
            "the medium tier must start below the high tier".into()
        })?;
        Ok(TiersConfig { high, medium })
    }

    pub(crate) fn tuning(&self, t: RawTuning) -> Result<TuningConfig, ConfigError> {
        let d = TuningConfig::default();
        let default_trials = match d.method {
            TuningMethod::Random { trials } => trials,
            TuningMethod::Grid => 0,
        };
        let method = match t.method.as_deref() {
            None | Some("random") => TuningMethod::Random {
                trials: self.count("tuning.trials", t.trials, default_trials, 1..=1000)?,
            },
            Some("grid") => {
                self.ensure(t.trials.is_none(), "tuning.trials", || {
                    "applies only to method = \"random\" (a grid tries every combination)".into()
                })?;
                TuningMethod::Grid
            }
            Some(other) => {
                return Err(self.err(
                    "tuning.method",
                    format!("\"{other}\" is not a search method (grid, random)"),
                ));
            }
        };
        self.ensure(!t.space.is_empty(), "tuning.space", || {
            "name at least one LightGBM parameter and the values to try".into()
        })?;
        let mut space = Vec::new();
        for (k, v) in t.space {
            let key = format!("tuning.space.{k}");
            let values: Option<Vec<String>> = match &v {
                toml::Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|i| match i {
                        toml::Value::Array(_) => None,
                        other => lightgbm_value(other),
                    })
                    .collect(),
                _ => None,
            };
            let values = values.ok_or_else(|| self.err(&key, "must be a non-empty list of values to try"))?;
            space.push((k, values));
        }
        let tuning = TuningConfig {
            method,
            folds: self.count("tuning.folds", t.folds, d.folds, 2..=20)?,
            space,
        };
        if method == TuningMethod::Grid {
            let n = tuning.combinations();
            self.ensure(n <= MAX_GRID, "tuning.space", || {
                format!("the grid has {n} combinations, more than {MAX_GRID}: use method = \"random\"")
            })?;
        }
        Ok(tuning)
    }

    pub(crate) fn output(&self, o: RawOutput) -> Result<OutputConfig, ConfigError> {
        let models_dir = match o.models_dir {
            None => None,
            Some(d) => {
                self.ensure(!d.trim().is_empty(), "output.models_dir", || "must not be empty".into())?;
                let base = self.path.parent().unwrap_or(Path::new(""));
                Some(normalize(&base.join(d)))
            }
        };
        Ok(OutputConfig { models_dir })
    }
}

/// How the decision threshold is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdStrategy {
    /// The threshold with the highest F1.
    MaxF1,
    /// Flag about this percentage of customers, those with the highest probability.
    TopPercent(f64),
    /// The threshold of least expected cost.
    MinCost {
        /// Cost of a churner not flagged.
        missed_churner: f64,
        /// Cost of an offer to a customer who would have stayed.
        needless_offer: f64,
    },
}

/// How a model's probabilities are calibrated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// Platt's logistic map on the log-odds: two parameters, exact inside the ONNX graph.
    #[default]
    Platt,
    /// Isotonic regression: a monotone step map, applied after ONNX Runtime.
    Isotonic,
    /// LightGBM's own probabilities.
    None,
}

impl std::fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CalibrationMethod::Platt => "platt",
            CalibrationMethod::Isotonic => "isotonic",
            CalibrationMethod::None => "none",
        })
    }
}
