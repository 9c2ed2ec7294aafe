//! The model being served: a verified package with a pool of ONNX Runtime sessions, and the
//! scoring of customers given as feature vectors or raw histories.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use churnguard_config::{Date, Pipeline, RankBy, Tier};
use churnguard_features::FeatureKind;
use churnguard_infer::{ModelPackage, OnnxModel, OnnxRuntime, newest_kept_list, sentence};
use churnguard_model::main_reasons;
use serde::{Deserialize, Serialize};

use crate::ServeError;
use crate::history::{Found, HistoryIn, features_of};

/// Up to this many customers in a request are explained one by one.
const ONE_BY_ONE: usize = 16;

/// A verified package ready to answer.
pub struct Served {
    /// The package.
    pub package: ModelPackage,
    /// SHA-256 of `model.onnx`: the package's identity in every answer.
    pub hash: String,
    /// Where customers' tiers come from.
    pub tiers: TierCut,
    sessions: Vec<Mutex<OnnxModel>>,
    next: AtomicUsize,
}

/// How a customer scored alone gets the tier the list would give them. A list's tiers are
/// shares of that list in its order (value at risk, say), which one customer cannot see: the
/// cuts of the newest list this package scored stand in for them.
#[derive(Clone, Debug, PartialEq)]
pub enum TierCut {
    /// The lowest ranking key (value at risk or probability) of the high and medium tiers in
    /// the newest list kept for this package.
    List {
        /// That list's date.
        as_of: Date,
        /// Whether it ranks by value at risk (else by probability).
        by_value: bool,
        /// Lowest key of its high tier.
        high: f64,
        /// Lowest key of its medium tier.
        medium: f64,
    },
    /// The package's probability thresholds, fixed at training (no list kept yet).
    Package,
}

impl TierCut {
    /// The cuts of the newest list `package` scored, else the package's thresholds.
    fn of(package: &ModelPackage, p: &Pipeline) -> TierCut {
        let Some(list) = newest_kept_list(package) else {
            return TierCut::Package;
        };
        let by_value = p.scoring.ranking(list.values_at_risk.iter().any(|v| *v > 0.0)) == RankBy::ValueAtRisk;
        let lowest = |tier: Tier| {
            list.tiers
                .iter()
                .zip(list.probabilities.iter().zip(&list.values_at_risk))
                .filter(|(t, _)| **t == tier)
                .map(|(_, (p, v))| if by_value { *v } else { *p })
                .fold(f64::INFINITY, f64::min)
        };
        let high = lowest(Tier::High);
        TierCut::List {
            as_of: list.as_of,
            by_value,
            high,
            medium: lowest(Tier::Medium).min(high),
        }
    }

    /// Where the tiers come from, in words.
    pub fn describe(&self) -> String {
        match self {
            TierCut::List { as_of, by_value, .. } => format!(
                "the cuts of the list of {as_of} (by {})",
                if *by_value { "value at risk" } else { "probability" }
            ),
            TierCut::Package => "the package's probability thresholds (no list kept yet)".into(),
        }
    }
}

/// One customer of a request: a feature vector by name, or a raw history (events, contacts,
/// attributes under the pipeline's column names) whose features are computed at the request's
/// `as_of`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    /// The caller's id, echoed in the answer.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// Feature values by name: numbers (or null for missing); categories as their text.
    #[serde(default)]
    pub features: Option<BTreeMap<String, serde_json::Value>>,
    /// Events: rows of the events table by column name.
    #[serde(default)]
    pub events: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    /// Contacts: rows of the interactions table by column name.
    #[serde(default)]
    pub interactions: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    /// The customers table's row: attribute columns by name.
    #[serde(default)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The customer's value over the horizon, for the value at risk (default: from a history's
    /// spend as the list computes it; 0 for a feature vector).
    #[serde(default)]
    pub value: Option<f64>,
}

impl CustomerIn {
    fn history(&self) -> Option<HistoryIn<'_>> {
        (self.events.is_some() || self.interactions.is_some() || self.attributes.is_some()).then_some(HistoryIn {
            events: self.events.as_deref(),
            interactions: self.interactions.as_deref(),
            attributes: self.attributes.as_ref(),
        })
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
    /// The reason in words.
    pub sentence: String,
}

/// One customer's answer.
#[derive(Debug, Serialize)]
pub struct CustomerOut {
    /// The caller's id.
    pub id: Option<serde_json::Value>,
    /// `scored`.
    pub status: &'static str,
    /// Calibrated churn probability.
    pub churn_probability: f64,
    /// Risk tier, as the newest kept list drew its tiers (see [`TierCut`]).
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
}

/// The answer for a customer the early warning does not score.
#[derive(Debug, Serialize)]
pub struct NotScoredOut {
    /// The caller's id.
    pub id: Option<serde_json::Value>,
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
        let tiers = TierCut::of(&package, p);
        let sessions = (0..sessions.max(1))
            .map(|_| OnnxModel::load(runtime, package.onnx(), 1).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Served {
            package,
            hash,
            tiers,
            sessions,
            next: AtomicUsize::new(0),
        })
    }

    /// The package's version.
    pub fn version(&self) -> &str {
        self.package.version()
    }

    /// Customer `c`'s feature vector in the spec's order, or the first field at fault.
    fn row(&self, c: usize, given: &BTreeMap<String, serde_json::Value>) -> Result<Vec<f64>, ServeError> {
        let features = &self.package.spec().features;
        let at = |name: &str| format!("customers[{c}].features.{name}");
        if let Some(name) = given.keys().find(|k| !features.iter().any(|f| &f.name == *k)) {
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
            .map(|f| match given.get(&f.name) {
                None | Some(serde_json::Value::Null) => Ok(f64::NAN),
                Some(v) => value_of(&f.kind, v).map_err(|problem| ServeError::Field {
                    field: at(&f.name),
                    problem,
                }),
            })
            .collect()
    }

    /// Each customer's feature vector and value, or the answer for one not scored (`Err`).
    fn inputs(
        &self,
        p: &Pipeline,
        customers: &[CustomerIn],
        as_of: Date,
        max_events: usize,
    ) -> Result<Vec<Input>, ServeError> {
        let histories: Vec<(usize, HistoryIn<'_>)> = customers
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.history().map(|h| (i, h)))
            .collect();
        for (i, c) in customers.iter().enumerate() {
            let field = format!("customers[{i}]");
            match (&c.features, c.history().is_some()) {
                (Some(_), true) => {
                    return Err(ServeError::Field {
                        field,
                        problem: "give either features or a history (events, interactions, attributes), not both"
                            .into(),
                    });
                }
                (None, false) => {
                    return Err(ServeError::Field {
                        field,
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
        let mut found = if histories.is_empty() {
            Vec::new()
        } else {
            features_of(p, self.package.spec(), &histories, as_of, max_events)?
        }
        .into_iter();
        customers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if let Some(given) = &c.features {
                    return Ok(Ok((self.row(i, given)?, c.value.unwrap_or(0.0))));
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
        let inputs = self.inputs(p, &customers, as_of, max_events)?;
        let f = self.package.spec().features.len();
        let scored: Vec<&(Vec<f64>, f64)> = inputs.iter().filter_map(|i| i.as_ref().ok()).collect();
        let rows: Vec<f64> = scored.iter().flat_map(|(row, _)| row.iter().copied()).collect();
        let probabilities = if rows.is_empty() {
            Vec::new()
        } else {
            self.probabilities(&rows, f)?
        };
        let tiers: Vec<Tier> = scored
            .iter()
            .zip(&probabilities)
            .map(|((_, value), &probability)| self.tier(probability, *value))
            .collect();
        // Reasons as the list gives them: for the high and medium tiers, everyone with
        // `scoring.explain_all`. TreeSHAP is most of a request's work; the low tier skips it.
        let explained: Vec<usize> = (0..scored.len())
            .filter(|&k| p.scoring.explain_all || tiers[k] != Tier::Low)
            .collect();
        let explained_rows: Vec<f64> = explained.iter().flat_map(|&k| scored[k].0.iter().copied()).collect();
        let contributions = if explained_rows.is_empty() {
            Vec::new()
        } else {
            self.contributions(&explained_rows, f)
        };
        let mut contributions_of: Vec<Option<&[f64]>> = vec![None; scored.len()];
        for (n, &k) in explained.iter().enumerate() {
            contributions_of[k] = Some(&contributions[n * (f + 1)..(n + 1) * (f + 1)]);
        }
        let choices = p.scoring.choices();
        let features = &self.package.spec().features;
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
                let (probability, tier, contributions) = (probabilities[k], tiers[k], contributions_of[k]);
                k += 1;
                let reasons: Vec<ReasonOut> = contributions
                    .map(|contributions| {
                        main_reasons(contributions, f)
                            .into_iter()
                            .map(|j| ReasonOut {
                                feature: features[j].name.clone(),
                                value: features[j].value_text(row[j]),
                                contribution: contributions[j],
                                sentence: sentence(features, j, row),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let action = p.scoring.action_for(tier, reasons.first().map(|r| r.feature.as_str()));
                let (action, action_rule) = choices.get(action).cloned().unwrap_or_default();
                Answer::Scored(CustomerOut {
                    id: c.id,
                    status: "scored",
                    churn_probability: probability,
                    tier: tier.to_string(),
                    value,
                    value_at_risk: value * probability,
                    reasons,
                    action,
                    action_rule,
                })
            })
            .collect())
    }

    /// The tier a customer of this probability and value gets (see [`TierCut`]).
    fn tier(&self, probability: f64, value: f64) -> Tier {
        match &self.tiers {
            TierCut::List {
                by_value, high, medium, ..
            } => Tier::of(
                if *by_value { value * probability } else { probability },
                *high,
                *medium,
            ),
            TierCut::Package => self.package.tiers().of(probability),
        }
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
