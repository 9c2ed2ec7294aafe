//! Batch scoring: features at the scoring date with the training code and the package's
//! `FeatureSpec`, ONNX Runtime probabilities in bounded batches, risk tiers, the three main
//! reasons (TreeSHAP), value at risk, a ranked list and one action per customer.

use arrow::array::{Array, ArrayRef, Float64Array};
use churnguard_config::{Date, MS_PER_DAY, Pipeline, RankBy, Tier};
use churnguard_features::{Attribute, Feature, FeatureError, FeatureKind, History, snapshot};
use rayon::prelude::*;

use crate::package::ModelPackage;
use crate::session::{OnnxModel, SessionError};

/// Reasons given per customer.
pub const REASONS: usize = 3;
/// Bytes of pattern ids (4 per customer and tree) while a group of customers is explained: the
/// larger the group, the more of it shares TreeSHAP work per tree.
const EXPLAIN_BYTES: usize = 64 << 20;
/// The most customers explained together (about 80 MB of features and 80 MB of contributions
/// at 38 features).
const EXPLAIN_ROWS: usize = 262_144;

/// Scoring failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// Features could not be built (including a `FeatureSpec` that differs from the package's).
    #[error(transparent)]
    Features(#[from] FeatureError),
    /// The package was trained for another pipeline.
    #[error(transparent)]
    Package(#[from] churnguard_package::PackageError),
    /// ONNX Runtime failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `scoring.value_attribute` names no numeric attribute.
    #[error("`scoring.value_attribute` \"{0}\" is not a numeric column of the customers table")]
    ValueAttribute(String),
    /// The snapshot's layout is not the one expected (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a customer is at risk: one feature's push towards churn.
#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    /// Index of the feature in the spec.
    pub feature: usize,
    /// The customer's value (NaN when missing; a category code for categorical features).
    pub value: f64,
    /// Its TreeSHAP contribution to the raw score (log-odds), positive: towards churn.
    pub contribution: f64,
    /// The reason in words, such as "no purchase for 143 days (typical gap 38 days)".
    pub sentence: String,
}

/// One customer's line of the risk list.
#[derive(Clone, Debug)]
pub struct Risk {
    /// Row of the customer in [`RiskList::ids`].
    pub row: usize,
    /// Churn probability (ONNX Runtime).
    pub probability: f64,
    /// Risk tier.
    pub tier: Tier,
    /// 1 for the first customer of the list.
    pub rank: u64,
    /// Up to three largest positive contributions, largest first.
    pub reasons: Vec<Reason>,
    /// Estimated value over the horizon.
    pub value: f64,
    /// `value` times the churn probability.
    pub value_at_risk: f64,
    /// The suggested action and the rule that chose it: an index in [`RiskList::choices`].
    pub action: usize,
}

/// Customers and value of one tier.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TierTotal {
    /// Customers.
    pub customers: u64,
    /// Sum of their value at risk.
    pub value_at_risk: f64,
}

/// The risk list, ranked.
#[derive(Debug)]
pub struct RiskList {
    /// Customer ids, by row.
    pub ids: ArrayRef,
    /// One line per customer, in rank order.
    pub risks: Vec<Risk>,
    /// Totals per tier (high, medium, low).
    pub tiers: [TierTotal; 3],
    /// Categorical values unseen at training (scored as unknown), by feature.
    pub unseen_categories: Vec<(String, u64)>,
    /// The actions customers can get, each with the rule that gives it ([`Risk::action`]).
    pub choices: Vec<(String, String)>,
    /// The snapshot's cutoff (the day after `as_of`).
    pub cutoff: Date,
    /// Whether values come from the customers' spend (false: no spend data, values are 0).
    pub value_known: bool,
    /// Seconds spent building features, in ONNX Runtime, and on reasons.
    pub times: StageTimes,
}

/// Where scoring spent its time, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Features of every customer.
    pub features: f64,
    /// ONNX Runtime sessions runs.
    pub onnx: f64,
    /// TreeSHAP reasons.
    pub reasons: f64,
    /// Values at risk, actions and the ranking.
    pub rank: f64,
}

/// Scores every customer known on `as_of` (rows dated up to and including that day).
pub fn score(
    p: &Pipeline,
    h: &History,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Date,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RiskList, ScoreError> {
    package.package.check_pipeline(p)?;
    // `snapshot` refuses data whose features differ from the package's spec, listing how.
    let cutoff = Date::from_days(as_of.days() + 1);
    let mut times = StageTimes::default();
    let clock = std::time::Instant::now();
    let snap = snapshot(p, h, package.spec(), cutoff)?;
    let batch = &snap.batch;
    let f = package.spec().features.len();
    let n = batch.num_rows();
    let columns: Vec<&Float64Array> = (0..f)
        .map(|j| {
            batch
                .column(j + 2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| ScoreError::Internal(format!("feature column {j} is not Float64")))
        })
        .collect::<Result<_, _>>()?;
    let (values, value_known) = customer_values(p, h, &snap.population, cutoff)?;
    times.features = clock.elapsed().as_secs_f64();
    let s = &p.scoring;
    let row_of = |i: usize, out: &mut Vec<f64>| out.extend(columns.iter().map(|c| feature_value(c, i)));
    // Probabilities in bounded batches: memory follows the batch, not the customers.
    let mut probabilities = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(s.batch_rows.min(n) * f);
    let mut start = 0;
    progress(0, n);
    while start < n {
        let end = (start + s.batch_rows).min(n);
        rows.clear();
        (start..end).for_each(|i| row_of(i, &mut rows));
        let clock = std::time::Instant::now();
        probabilities.extend(model.scores(&rows, f)?.values);
        times.onnx += clock.elapsed().as_secs_f64();
        start = end;
        progress(start, n);
    }
    let tiers: Vec<Tier> = probabilities.iter().map(|&p| package.tiers().of(p)).collect();
    // TreeSHAP costs about twice as much per customer as scoring: explain the customers the list
    // is for, in large groups, because rows that decide alike in a tree share their work.
    let clock = std::time::Instant::now();
    let explained: Vec<usize> = (0..n).filter(|&i| s.explain_all || tiers[i] != Tier::Low).collect();
    let mut reasons_of: Vec<Vec<Reason>> = vec![Vec::new(); n];
    let trees = package.ensemble.trees.len().max(1);
    let group_rows = (EXPLAIN_BYTES / (4 * trees)).clamp(4096, EXPLAIN_ROWS);
    let mut group_columns: Vec<Vec<f64>> = vec![Vec::new(); f];
    for group in explained.chunks(group_rows) {
        group_columns.par_iter_mut().zip(&columns).for_each(|(values, c)| {
            values.clear();
            values.extend(group.iter().map(|&i| feature_value(c, i)));
        });
        let view: Vec<&[f64]> = group_columns.iter().map(Vec::as_slice).collect();
        let contributions = package.ensemble.contributions_batch(&view);
        let found: Vec<Vec<Reason>> = contributions
            .par_chunks(f + 1)
            .enumerate()
            .map_init(Vec::new, |row, (e, c)| {
                row.clear();
                row.extend(view.iter().map(|v| v[e]));
                reasons(package, row, c)
            })
            .collect();
        for (&i, r) in group.iter().zip(found) {
            reasons_of[i] = r;
        }
    }
    times.reasons = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    let mut risks: Vec<Risk> = reasons_of
        .into_iter()
        .enumerate()
        .map(|(i, reasons)| {
            let (probability, tier) = (probabilities[i], tiers[i]);
            let action = s.action_for(
                tier,
                reasons
                    .first()
                    .map(|r| package.spec().features[r.feature].name.as_str()),
            );
            Risk {
                row: i,
                probability,
                tier,
                rank: 0,
                reasons,
                value: values[i],
                value_at_risk: values[i] * probability,
                action,
            }
        })
        .collect();
    // Rows are unique, so an unstable sort still gives one order.
    match s.rank_by {
        RankBy::Probability => {
            risks.par_sort_unstable_by(|a, b| b.probability.total_cmp(&a.probability).then(a.row.cmp(&b.row)))
        }
        RankBy::ValueAtRisk => {
            risks.par_sort_unstable_by(|a, b| b.value_at_risk.total_cmp(&a.value_at_risk).then(a.row.cmp(&b.row)))
        }
    }
    let mut tiers = [TierTotal::default(); 3];
    for (k, r) in risks.iter_mut().enumerate() {
        r.rank = k as u64 + 1;
        let t = &mut tiers[r.tier.index()];
        t.customers += 1;
        t.value_at_risk += r.value_at_risk;
    }
    times.rank = clock.elapsed().as_secs_f64();
    Ok(RiskList {
        ids: batch.column(0).clone(),
        risks,
        tiers,
        unseen_categories: snap.report.unseen_categories,
        choices: s.choices(),
        cutoff,
        value_known,
        times,
    })
}

impl RiskList {
    /// The scoring date: the last day whose rows count (the day before the cutoff).
    pub fn as_of(&self) -> Date {
        Date::from_days(self.cutoff.days() - 1)
    }
}

/// Each customer's expected value over the horizon: spend per day over the look-back times the
/// horizon, from events; else a customers-table attribute; else 0 (and `false`).
fn customer_values(
    p: &Pipeline,
    h: &History,
    population: &[u32],
    cutoff: Date,
) -> Result<(Vec<f64>, bool), ScoreError> {
    let s = &p.scoring;
    if let Some(name) = &s.value_attribute {
        let Some((_, Attribute::Numeric(v))) = h.attributes.iter().find(|(a, _)| a == name) else {
            return Err(ScoreError::ValueAttribute(name.clone()));
        };
        let per_day = f64::from(s.horizon_days) / f64::from(s.value_attribute_days);
        let values = population
            .iter()
            .map(|&c| v.get(c as usize).copied().filter(|x| x.is_finite()).unwrap_or(0.0) * per_day)
            .collect();
        return Ok((values, true));
    }
    match (&h.events, h.event_columns.0) {
        (Some(e), true) => {
            let end = cutoff.start_ms();
            let from = end - i64::from(s.lookback_days) * MS_PER_DAY;
            let scale = f64::from(s.horizon_days) / f64::from(s.lookback_days);
            let values = population
                .par_iter()
                .map(|&c| {
                    let (before, _) = e.split(c, end);
                    let spent: f64 = before
                        .filter(|&k| e.ts[k] >= from)
                        .map(|k| e.value[k])
                        .filter(|v| v.is_finite())
                        .sum();
                    spent * scale
                })
                .collect();
            Ok((values, true))
        }
        _ => Ok((vec![0.0; population.len()], false)),
    }
}

/// A feature of one customer as the model reads it: a missing value is NaN.
fn feature_value(column: &Float64Array, i: usize) -> f64 {
    if column.is_null(i) { f64::NAN } else { column.value(i) }
}

/// The largest positive TreeSHAP contributions of one row, largest first.
fn reasons(package: &ModelPackage, row: &[f64], contributions: &[f64]) -> Vec<Reason> {
    let f = row.len();
    let mut order: Vec<usize> = (0..f).filter(|&j| contributions[j] > 0.0).collect();
    order.sort_by(|&a, &b| contributions[b].total_cmp(&contributions[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(REASONS)
        .map(|j| Reason {
            feature: j,
            value: row[j],
            contribution: contributions[j],
            sentence: sentence(&package.spec().features, j, row),
        })
        .collect()
}

fn number(v: f64) -> String {
    // Whole numbers and large amounts read better without decimals.
    if (v == v.trunc() && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A feature's value in words, with context from the same row where it helps.
pub fn sentence(features: &[Feature], j: usize, row: &[f64]) -> String {
    let feature = &features[j];
    let v = row[j];
    let other = |name: &str| {
        features
            .iter()
            .position(|f| f.name == name)
            .map(|k| row[k])
            .filter(|x| x.is_finite())
    };
    let name = feature.name.as_str();
    if let FeatureKind::Categorical { values } = &feature.kind {
        let attr = name.strip_prefix("attr_").unwrap_or(name);
        let value = if v.is_finite() && v >= 0.0 {
            values.get(v as usize).map_or("unknown", String::as_str)
        } else {
            "unknown"
        };
        return format!("{attr} is {value}");
    }
    if v.is_nan() {
        return match name {
            "gap_mean_days" | "gap_std_days" | "gap_max_days" | "last_gap_days" => {
                "fewer than two purchases: no buying rhythm yet".to_string()
            }
            "recency_over_gap" => "no buying rhythm yet (every purchase on one day)".to_string(),
            _ => format!("{} is unknown", feature.description),
        };
    }
    let window = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|w| w.strip_suffix('d'))
            .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
    };
    match name {
        "recency_days" => match other("gap_mean_days").filter(|&g| g >= 1.0) {
            Some(gap) => format!(
                "no purchase for {} days (typical gap {} days)",
                number(v.floor()),
                number(gap.round())
            ),
            None => format!("no purchase for {} days", number(v.floor())),
        },
        "tenure_days" => format!("customer for {} days", number(v.floor())),
        "frequency" => format!("{} purchases in all", number(v)),
        "monetary_total" => format!("spent {} in all", number(v)),
        "amount_mean" => format!("average purchase {}", number(v)),
        "amount_max" => format!("largest purchase {}", number(v)),
        "recency_over_gap" => format!("silent for {:.1}x the usual gap between purchases", v),
        "days_since_complaint" => format!("complained {} days ago", number(v.floor())),
        "gap_max_days" => format!("longest pause between purchases {} days", number(v.round())),
        "gap_mean_days" if v < 1.0 => "every purchase on the same day".to_string(),
        "gap_mean_days" => format!("typical gap between purchases {} days", number(v.round())),
        _ => {
            if let Some(w) = window("events_") {
                format!("{} purchases in the last {w} days", number(v))
            } else if let Some(w) = window("amount_") {
                format!("spent {} in the last {w} days", number(v))
            } else if let Some(w) = window("active_days_") {
                format!("active on {} days in the last {w} days", number(v))
            } else if let Some(w) = window("trend_") {
                format!("activity in the last {w} days at {v:.2}x the {w} days before")
            } else if let Some(w) = window("complaints_") {
                format!("{} complaints in the last {w} days", number(v))
            } else if let Some(w) = window("contacts_") {
                format!("{} support contacts in the last {w} days", number(v))
            } else if let Some(attr) = name.strip_prefix("attr_") {
                format!("{attr} is {}", number(v))
            } else {
                format!("{}: {}", feature.description, number(v))
            }
        }
    }
}
