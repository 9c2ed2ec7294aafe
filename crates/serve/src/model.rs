//! The model being served: a verified package with a pool of ONNX Runtime sessions, and the
//! scoring of customers given as feature vectors or raw histories.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use churnguard_config::{Date, Pipeline, Tier};
use churnguard_features::FeatureKind;
use churnguard_infer::{Judgement, ModelPackage, OnnxModel, OnnxRuntime, reasons};
use serde::{Deserialize, Serialize};

use crate::cells::{Cell, Fields, Id, Rows};
use crate::history::{Found, HistoryIn, features_of};
use crate::{ServeError, in_time};

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
    /// Each feature's place in the spec, by name.
    places: HashMap<String, usize>,
}

/// Where a customer's risk level comes from, in words: the package's cut-offs, fixed at
/// training, the same as in every list.
pub(crate) fn risk_levels(package: &ModelPackage) -> String {
    let t = package.tiers();
    format!(
        "the package's cut-offs, fixed at training: high from probability {}, medium from {}",
        t.high, t.medium
    )
}

/// One customer of a request: a feature vector by name, or a raw history (events, contacts,
/// attributes under the pipeline's column names) whose features are computed at the request's
/// `as_of`. Lists are kept compactly ([`Rows`]): a few bytes more than the JSON that gave them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// The caller's id, echoed in the answer.
    #[serde(default)]
    pub id: Option<Id>,
    /// Feature values by name: numbers (or null for missing); categories as their text.
    #[serde(default)]
    pub features: Option<Features>,
    /// Events: rows of the events table by column name.
    #[serde(default)]
    pub events: Option<Rows>,
    /// Contacts: rows of the interactions table by column name.
    #[serde(default)]
    pub interactions: Option<Rows>,
    /// The customers table's row: attribute columns by name.
    #[serde(default)]
    pub attributes: Option<Fields>,
    /// The customer's value over the horizon, for the value at risk (default: from a history's
    /// spend as the list computes it; 0 for a feature vector).
    #[serde(default)]
    pub value: Option<f64>,
}

impl CustomerIn {
    fn has_history(&self) -> bool {
        self.events.is_some() || self.interactions.is_some() || self.attributes.is_some()
    }

    /// The history, moved out: once in the request's tables it is not needed twice.
    fn take_history(&mut self) -> HistoryIn {
        HistoryIn {
            events: self.events.take(),
            interactions: self.interactions.take(),
            attributes: self.attributes.take(),
        }
    }
}

/// A customer's feature values: by name as a JSON body gives them, or already in the model's
/// order (read from an Arrow stream's columns).
#[derive(Debug)]
pub struct Features(FeatureValues);

#[derive(Debug)]
enum FeatureValues {
    Named(Fields),
    Ordered(Vec<f64>),
}

impl Features {
    /// Values already in the model's feature order (NaN where missing).
    pub(crate) fn ordered(values: Vec<f64>) -> Features {
        Features(FeatureValues::Ordered(values))
    }
}

impl<'de> Deserialize<'de> for Features {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Fields::deserialize(d).map(|f| Features(FeatureValues::Named(f)))
    }
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
    /// The reason in words, with its yardstick.
    pub sentence: String,
    /// The share of customers (percent) whose value is below this one's, on the package's
    /// test customers; none for categories and missing values.
    pub percentile: Option<f64>,
}

/// One customer's answer.
#[derive(Debug, Serialize)]
pub struct CustomerOut {
    /// The caller's id.
    pub id: Option<Id>,
    /// `scored`.
    pub status: &'static str,
    /// Calibrated churn probability.
    pub churn_probability: f64,
    /// Risk level: the calibrated probability against the package's cut-offs (see
    /// [`risk_levels`]), the same as in every list.
    pub tier: String,
    /// The value given, or computed from the history's spend.
    pub value: f64,
    /// Value times probability.
    pub value_at_risk: f64,
    /// Up to three reasons, largest first: for the high and medium tiers (everyone with
    /// `scoring.explain_all`), as the list gives them.
    pub reasons: Vec<ReasonOut>,
    /// The suggested action.
    pub action: String,
    /// The rule that chose it.
    pub action_rule: String,
    /// The model's inputs this customer is missing (risk "unknown" beyond
    /// `scoring.max_missing_share` of them).
    pub missing_inputs: Vec<String>,
}

/// The answer for a customer the early warning does not score.
#[derive(Debug, Serialize)]
pub struct NotScoredOut {
    /// The caller's id.
    pub id: Option<Id>,
    /// `already_churned` (the win-back list's) or `not_known` (no history on or before `as_of`).
    pub status: &'static str,
    /// Why, in words.
    pub message: String,
}

/// A customer made ready to score (its feature vector and value), or the answer for one the
/// early warning does not score.
type Input = Result<(Vec<f64>, f64), NotScoredOut>;

/// A customer's answer: scored, or why not.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// Probability, tier, reasons, value and action.
    Scored(CustomerOut),
    /// Already gone or not known yet.
    NotScored(NotScoredOut),
}

impl Served {
    /// Opens and verifies the package at `path` for pipeline `p`, with `sessions` ONNX Runtime
    /// sessions of one thread each.
    pub fn load(path: &Path, p: &Pipeline, runtime: &OnnxRuntime, sessions: usize) -> Result<Served, ServeError> {
        let package = ModelPackage::open(path)?;
        package.package.check_pipeline(p)?;
        let hash = package.hash().to_string();
        let places = (package.spec().features.iter().enumerate())
            .map(|(j, f)| (f.name.clone(), j))
            .collect();
        let sessions = (0..sessions.max(1))
            .map(|_| OnnxModel::load(runtime, package.onnx(), 1).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Served {
            package,
            hash,
            sessions,
            next: AtomicUsize::new(0),
            places,
        })
    }

    /// The package's version.
    pub fn version(&self) -> &str {
        self.package.version()
    }

    /// Customer `c`'s feature vector in the spec's order from values by name, or the first
    /// field at fault: a name that is not a feature (the first in alphabetical order, as a JSON
    /// map lists them), else the first feature in the spec's order with a wrong value.
    pub(crate) fn vector_of<'a>(
        &self,
        c: usize,
        given: impl Iterator<Item = (&'a str, Cell<'a>)>,
    ) -> Result<Vec<f64>, ServeError> {
        let features = &self.package.spec().features;
        let mut cells = vec![Cell::Null; features.len()];
        let mut unknown: Option<&str> = None;
        for (name, cell) in given {
            match self.places.get(name) {
                Some(&j) => cells[j] = cell,
                None => unknown = Some(unknown.map_or(name, |u| u.min(name))),
            }
        }
        let at = |name: &str| format!("customers[{c}].features.{name}");
        if let Some(name) = unknown {
            return Err(ServeError::Field {
                field: at(name),
                problem: format!(
                    "not a feature of model {} (features: {})",
                    self.version(),
                    self.package.spec().names().join(", ")
                ),
            });
        }
        features
            .iter()
            .zip(cells)
            .map(|(f, cell)| match cell {
                Cell::Null => Ok(f64::NAN),
                v => value_of(&f.kind, v).map_err(|problem| ServeError::Field {
                    field: at(&f.name),
                    problem,
                }),
            })
            .collect()
    }

    fn resolve(&self, c: usize, features: Features) -> Result<Vec<f64>, ServeError> {
        match features.0 {
            FeatureValues::Named(given) => self.vector_of(c, given.entries()),
            FeatureValues::Ordered(values) => Ok(values),
        }
    }

    /// Each customer's feature vector and value, or the answer for one not scored (`Err`).
    fn inputs(
        &self,
        p: &Pipeline,
        customers: &mut [CustomerIn],
        as_of: Date,
        max_events: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<Input>, ServeError> {
        for (i, c) in customers.iter().enumerate() {
            let field = || format!("customers[{i}]");
            match (&c.features, c.has_history()) {
                (Some(_), true) => {
                    return Err(ServeError::Field {
                        field: field(),
                        problem: "give either features or a history (events, interactions, attributes), not both"
                            .into(),
                    });
                }
                (None, false) => {
                    return Err(ServeError::Field {
                        field: field(),
                        problem: "give features, or a history (events, interactions, attributes)".into(),
                    });
                }
                _ => {}
            }
            if let Some(v) = c.value
                && !v.is_finite()
            {
                return Err(ServeError::Field {
                    field: format!("customers[{i}].value"),
                    problem: "must be a finite number".into(),
                });
            }
        }
        // Checked above: a customer without features has a history.
        let histories: Vec<(usize, HistoryIn)> = customers
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| c.features.is_none())
            .map(|(i, c)| (i, c.take_history()))
            .collect();
        let mut found = if histories.is_empty() {
            Vec::new()
        } else {
            features_of(p, self.package.spec(), histories, as_of, max_events, deadline)?
        }
        .into_iter();
        in_time(deadline)?;
        customers
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                if let Some(given) = c.features.take() {
                    return Ok(Ok((self.resolve(i, given)?, c.value.unwrap_or(0.0))));
                }
                let not_scored = |status, message: String| {
                    Ok(Err(NotScoredOut {
                        id: c.id.clone(),
                        status,
                        message,
                    }))
                };
                match found.next() {
                    Some(Found::Scored { features, value }) => Ok(Ok((features, c.value.unwrap_or(value)))),
                    Some(Found::AlreadyChurned) => not_scored(
                        "already_churned",
                        format!("by the label's definition this customer has already churned at {as_of}: a win-back case, not an early warning"),
                    ),
                    _ => not_scored("not_known", format!("no history on or before {as_of}")),
                }
            })
            .collect()
    }

    /// Scores the customers at `as_of` (the day whose rows count, for raw histories):
    /// probabilities through ONNX Runtime, then tier, reasons and action.
    pub fn score(
        &self,
        p: &Pipeline,
        customers: Vec<CustomerIn>,
        as_of: Date,
        max_events: usize,
    ) -> Result<Vec<Answer>, ServeError> {
        self.score_until(p, customers, as_of, max_events, None)
    }

    /// [`Served::score`], stopping with [`ServeError::TimedOut`] between its stages once
    /// `deadline` has passed: a request already answered 503 stops taking memory and time.
    pub(crate) fn score_until(
        &self,
        p: &Pipeline,
        mut customers: Vec<CustomerIn>,
        as_of: Date,
        max_events: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<Answer>, ServeError> {
        let inputs = self.inputs(p, &mut customers, as_of, max_events, deadline)?;
        let f = self.package.spec().features.len();
        let scored: Vec<&(Vec<f64>, f64)> = inputs.iter().filter_map(|i| i.as_ref().ok()).collect();
        let rows: Vec<f64> = scored.iter().flat_map(|(row, _)| row.iter().copied()).collect();
        let probabilities = if rows.is_empty() {
            Vec::new()
        } else {
            self.probabilities(&rows, f)?
        };
        drop(rows);
        in_time(deadline)?;
        // Reasons as the list gives them (`ModelPackage::judge`). TreeSHAP is most of a
        // request's work; a customer no action reaches skips it.
        let missing: Vec<Vec<usize>> = scored
            .iter()
            .map(|(row, _)| (0..row.len()).filter(|&j| row[j].is_nan()).collect())
            .collect();
        let judged: Vec<Judgement> = (0..scored.len())
            .map(|k| {
                self.package
                    .judge(&p.scoring, probabilities[k], scored[k].1, missing[k].len())
            })
            .collect();
        let explained: Vec<usize> = (0..scored.len()).filter(|&k| judged[k].explained).collect();
        let explained_rows: Vec<f64> = explained.iter().flat_map(|&k| scored[k].0.iter().copied()).collect();
        let contributions = if explained_rows.is_empty() {
            Vec::new()
        } else {
            self.contributions(&explained_rows, f)
        };
        drop(explained_rows);
        in_time(deadline)?;
        let mut contributions_of: Vec<Option<&[f64]>> = vec![None; scored.len()];
        for (n, &k) in explained.iter().enumerate() {
            contributions_of[k] = Some(&contributions[n * (f + 1)..(n + 1) * (f + 1)]);
        }
        let choices = p.scoring.choices();
        let features = &self.package.spec().features;
        let not_actionable = self.package.spec().not_actionable(&p.scoring);
        let yardsticks = self.package.yardsticks();
        let mut k = 0;
        Ok(customers
            .into_iter()
            .zip(&inputs)
            .map(|(c, input)| {
                let (row, value) = match input {
                    Ok((row, value)) => (row, *value),
                    Err(out) => {
                        return Answer::NotScored(NotScoredOut {
                            id: out.id.clone(),
                            status: out.status,
                            message: out.message.clone(),
                        });
                    }
                };
                let (probability, judged, contributions) = (probabilities[k], judged[k], contributions_of[k]);
                k += 1;
                let reasons: Vec<ReasonOut> = contributions
                    .map(|contributions| {
                        reasons(features, &yardsticks, &not_actionable, row, contributions)
                            .into_iter()
                            .map(|r| ReasonOut {
                                feature: features[r.feature].name.clone(),
                                value: features[r.feature].value_text(r.value),
                                contribution: r.contribution,
                                sentence: r.sentence,
                                percentile: r.percentile,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let action = judged.action(&p.scoring, reasons.first().map(|r| r.feature.as_str()));
                let (action, action_rule) = choices.get(action).cloned().unwrap_or_default();
                Answer::Scored(CustomerOut {
                    id: c.id,
                    status: "scored",
                    churn_probability: probability,
                    tier: Tier::name_of(judged.level).to_string(),
                    missing_inputs: missing[k - 1].iter().map(|&j| features[j].name.clone()).collect(),
                    value,
                    value_at_risk: value * probability,
                    reasons,
                    action,
                    action_rule,
                })
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

/// A value as the model reads a feature: a finite number, or a category's text (its code;
/// unseen text is missing).
fn value_of(kind: &FeatureKind, v: Cell<'_>) -> Result<f64, String> {
    match (kind, v) {
        (FeatureKind::Numeric, Cell::Int(_) | Cell::UInt(_) | Cell::Float(_)) => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err("must be a finite number".into()),
        },
        (FeatureKind::Numeric, other) => Err(format!("must be a number or null, got {other}")),
        (FeatureKind::Categorical { values }, Cell::Text(s)) => {
            Ok(values.iter().position(|x| x == s).map_or(f64::NAN, |k| k as f64))
        }
        (FeatureKind::Categorical { values }, other) => Err(format!(
            "must be one of the categories as text ({}) or null, got {other}",
            values.join(", ")
        )),
    }
}
