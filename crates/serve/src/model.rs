//! The model being served: a verified package with a pool of ONNX Runtime sessions, and the
//! scoring of customers given as feature vectors.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use churnguard_config::Pipeline;
use churnguard_features::FeatureKind;
use churnguard_infer::{ModelPackage, OnnxModel, OnnxRuntime, sentence};
use churnguard_model::main_reasons;
use serde::{Deserialize, Serialize};

use crate::ServeError;

/// Up to this many customers in a request are explained one by one.
const ONE_BY_ONE: usize = 16;

/// A verified package ready to answer.
pub struct Served {
    /// The package.
    pub package: ModelPackage,
    /// SHA-256 of `model.onnx`: the package's identity in every answer.
    pub hash: String,
    sessions: Vec<Mutex<OnnxModel>>,
    next: AtomicUsize,
}

/// One customer of a request: a feature vector by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// The caller's id, echoed in the answer.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// Feature values by name: numbers (or null for missing); categories as their text.
    pub features: BTreeMap<String, serde_json::Value>,
    /// The customer's value over the horizon, for the value at risk (default 0).
    #[serde(default)]
    pub value: Option<f64>,
}

/// One reason in an answer.
#[derive(Debug, Serialize)]
pub struct ReasonOut {
    /// The feature.
    pub feature: String,
    /// Its value as read (a category's name for categorical features).
    pub value: Option<String>,
    /// Its TreeSHAP contribution to the log-odds.
    pub contribution: f64,
    /// The reason in words.
    pub sentence: String,
}

/// One customer's answer.
#[derive(Debug, Serialize)]
pub struct CustomerOut {
    /// The caller's id.
    pub id: Option<serde_json::Value>,
    /// Calibrated churn probability.
    pub churn_probability: f64,
    /// Risk tier by the package's thresholds.
    pub tier: String,
    /// The value given.
    pub value: f64,
    /// Value times probability.
    pub value_at_risk: f64,
    /// Up to three reasons, largest first.
    pub reasons: Vec<ReasonOut>,
    /// The suggested action.
    pub action: String,
    /// The rule that chose it.
    pub action_rule: String,
}

impl Served {
    /// Opens and verifies the package at `path` for pipeline `p`, with `sessions` ONNX Runtime
    /// sessions of one thread each.
    pub fn load(path: &Path, p: &Pipeline, runtime: &OnnxRuntime, sessions: usize) -> Result<Served, ServeError> {
        let package = ModelPackage::open(path)?;
        package.package.check_pipeline(p)?;
        let hash = package.hash().to_string();
        let sessions = (0..sessions.max(1))
            .map(|_| OnnxModel::load(runtime, package.onnx(), 1).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Served {
            package,
            hash,
            sessions,
            next: AtomicUsize::new(0),
        })
    }

    /// The package's version.
    pub fn version(&self) -> &str {
        self.package.version()
    }

    /// The rows of the customers in the spec's order, or the first field at fault.
    pub fn rows(&self, customers: &[CustomerIn]) -> Result<Vec<f64>, ServeError> {
        let features = &self.package.spec().features;
        let mut rows = Vec::with_capacity(customers.len() * features.len());
        for (c, customer) in customers.iter().enumerate() {
            let at = |name: &str| format!("customers[{c}].features.{name}");
            if let Some(name) = customer
                .features
                .keys()
                .find(|k| !features.iter().any(|f| &f.name == *k))
            {
                return Err(ServeError::Field {
                    field: at(name),
                    problem: format!(
                        "not a feature of model {} (features: {})",
                        self.version(),
                        self.package.spec().names().join(", ")
                    ),
                });
            }
            if let Some(v) = customer.value
                && !v.is_finite()
            {
                return Err(ServeError::Field {
                    field: format!("customers[{c}].value"),
                    problem: "must be a finite number".into(),
                });
            }
            for f in features {
                rows.push(match customer.features.get(&f.name) {
                    None | Some(serde_json::Value::Null) => f64::NAN,
                    Some(v) => value_of(&f.kind, v).map_err(|problem| ServeError::Field {
                        field: at(&f.name),
                        problem,
                    })?,
                });
            }
        }
        Ok(rows)
    }

    /// Scores the customers: probabilities through ONNX Runtime, then tier, reasons and action.
    pub fn score(&self, p: &Pipeline, customers: Vec<CustomerIn>) -> Result<Vec<CustomerOut>, ServeError> {
        let rows = self.rows(&customers)?;
        let f = self.package.spec().features.len();
        let probabilities = self.probabilities(&rows, f)?;
        let contributions = self.contributions(&rows, f);
        let choices = p.scoring.choices();
        let features = &self.package.spec().features;
        Ok(customers
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let row = &rows[i * f..(i + 1) * f];
                let probability = probabilities[i];
                let tier = self.package.tiers().of(probability);
                let reasons: Vec<ReasonOut> = main_reasons(&contributions[i * (f + 1)..(i + 1) * (f + 1)], f)
                    .into_iter()
                    .map(|j| ReasonOut {
                        feature: features[j].name.clone(),
                        value: features[j].value_text(row[j]),
                        contribution: contributions[i * (f + 1) + j],
                        sentence: sentence(features, j, row),
                    })
                    .collect();
                let action = p.scoring.action_for(tier, reasons.first().map(|r| r.feature.as_str()));
                let value = c.value.unwrap_or(0.0);
                let (action, action_rule) = choices.get(action).cloned().unwrap_or_default();
                CustomerOut {
                    id: c.id,
                    churn_probability: probability,
                    tier: tier.to_string(),
                    value,
                    value_at_risk: value * probability,
                    reasons,
                    action,
                    action_rule,
                }
            })
            .collect())
    }

    /// TreeSHAP contributions of the rows: one by one for a few customers (the batch form's
    /// parallel pattern sharing costs more than it saves on a handful of rows), in one batch
    /// otherwise.
    fn contributions(&self, rows: &[f64], f: usize) -> Vec<f64> {
        let ensemble = &self.package.ensemble;
        if rows.len() / f.max(1) <= ONE_BY_ONE {
            return rows.chunks(f).flat_map(|row| ensemble.contributions(row)).collect();
        }
        let columns: Vec<Vec<f64>> = (0..f)
            .map(|j| rows.iter().skip(j).step_by(f).copied().collect())
            .collect();
        let view: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        ensemble.contributions_batch(&view)
    }

    /// Calibrated probabilities from one free session (or the next in turn when all are busy).
    fn probabilities(&self, rows: &[f64], f: usize) -> Result<Vec<f64>, ServeError> {
        let mut session = match self.sessions.iter().find_map(|s| s.try_lock().ok()) {
            Some(s) => s,
            None => self.sessions[self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len()]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
        Ok(self.package.calibrated(session.scores(rows, f)?.values))
    }
}

/// A JSON value as the model reads a feature: a finite number, or a category's text (its code;
/// unseen text is missing).
fn value_of(kind: &FeatureKind, v: &serde_json::Value) -> Result<f64, String> {
    match (kind, v) {
        (FeatureKind::Numeric, serde_json::Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err("must be a finite number".into()),
        },
        (FeatureKind::Numeric, other) => Err(format!("must be a number or null, got {other}")),
        (FeatureKind::Categorical { values }, serde_json::Value::String(s)) => {
            Ok(values.iter().position(|x| x == s).map_or(f64::NAN, |k| k as f64))
        }
        (FeatureKind::Categorical { values }, other) => Err(format!(
            "must be one of the categories as text ({}) or null, got {other}",
            values.join(", ")
        )),
    }
}
