//! Batch scoring: features at the scoring date with the training code and the package's
//! `FeatureSpec`, ONNX Runtime probabilities in bounded batches, risk tiers, the three main
//! reasons (TreeSHAP), value at risk, a ranked list and one action per customer.

use arrow::array::{Array, ArrayRef, Float64Array};
use churnguard_config::{Capacity, Date, MS_PER_DAY, Pipeline, RankBy, Tier, ValueSegment};
use churnguard_eval::Histogram;
use churnguard_features::{Feature, FeatureError, FeatureKind, History, Snapshot, customer_values, snapshot, spend};
use rayon::prelude::*;

use crate::package::{Judgement, ModelPackage};
use crate::session::{OnnxModel, SessionError};

pub use churnguard_model::REASONS;
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
    /// The reason in words, such as "no purchase for 143 days (typical gap 38 days)", with its
    /// yardstick when it has one ("higher than about 90% of customers").
    pub sentence: String,
    /// The yardstick: the share of customers (percent, 0 to 100) whose value is below the
    /// customer's, on the package's test customers; none for categories and missing values.
    pub percentile: Option<f64>,
}

/// One customer's line of the risk list.
#[derive(Clone, Debug)]
pub struct Risk {
    /// Row of the customer in [`RiskList::ids`].
    pub row: usize,
    /// Churn probability (ONNX Runtime).
    pub probability: f64,
    /// Risk level from the probability and the package's cut-offs; `None` (unknown) when too
    /// many of the model's inputs are missing for it to mean anything
    /// ([`churnguard_config::ScoringConfig::risk_unknown`]).
    pub level: Option<Tier>,
    /// Value segment from the value and the package's value cut-off.
    pub segment: ValueSegment,
    /// The model's inputs missing for this customer (feature indices, in spec order).
    pub missing: Vec<u32>,
    /// 1 for the first customer of the list: the priority.
    pub rank: u64,
    /// Whether the customer is among the first the team can reach (`scoring.capacity`); `None`
    /// when no capacity is set.
    pub within_capacity: Option<bool>,
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
    /// Sum of their value at risk: the value expected to be lost.
    pub value_at_risk: f64,
    /// Sum of their probabilities: the churners expected among them.
    pub expected_churners: f64,
}

impl TierTotal {
    /// Counts one customer of this probability and value at risk.
    pub fn add(&mut self, probability: f64, value_at_risk: f64) {
        self.customers += 1;
        self.value_at_risk += value_at_risk;
        self.expected_churners += probability;
    }
}

/// A list's totals: per risk level, unknown risk, per action, per cell of the action matrix
/// (risk level by value segment) and within capacity; the one count a list and a merge of
/// partition lists both keep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListTotals {
    /// Per risk level (high, medium, low), customers of unknown risk apart.
    pub tiers: [TierTotal; 3],
    /// The customers whose risk is unknown (too many inputs missing).
    pub unknown: TierTotal,
    /// Per action, in the order of the list's choices.
    pub actions: Vec<TierTotal>,
    /// Per risk level (rows) and value segment (columns: high, low): the action matrix's cells.
    pub matrix: [[TierTotal; 2]; 3],
    /// The capacity, when set, and the customers within it.
    pub capacity: Option<(Capacity, TierTotal)>,
}

impl ListTotals {
    /// Empty totals for a list with `choices` actions and this capacity.
    pub fn new(choices: usize, capacity: Option<Capacity>) -> ListTotals {
        ListTotals {
            actions: vec![TierTotal::default(); choices],
            capacity: capacity.map(|c| (c, TierTotal::default())),
            ..ListTotals::default()
        }
    }

    /// Counts one customer of the list.
    pub fn add(&mut self, r: &Counted) {
        let level = match r.level {
            None => &mut self.unknown,
            Some(t) => &mut self.tiers[t.index()],
        };
        level.add(r.probability, r.value_at_risk);
        if let Some(t) = r.level {
            self.matrix[t.index()][r.segment.index()].add(r.probability, r.value_at_risk);
        }
        self.actions[r.action].add(r.probability, r.value_at_risk);
        if let (Some((_, total)), Some(true)) = (&mut self.capacity, r.within_capacity) {
            total.add(r.probability, r.value_at_risk);
        }
    }

    /// Customers counted.
    pub fn customers(&self) -> u64 {
        self.tiers.iter().map(|t| t.customers).sum::<u64>() + self.unknown.customers
    }

    /// Their value at risk.
    pub fn value_at_risk(&self) -> f64 {
        self.tiers.iter().map(|t| t.value_at_risk).sum::<f64>() + self.unknown.value_at_risk
    }
}

/// What [`ListTotals`] counts of one customer.
#[derive(Clone, Copy, Debug)]
pub struct Counted {
    /// Risk level (`None`: unknown).
    pub level: Option<Tier>,
    /// Value segment.
    pub segment: ValueSegment,
    /// Index of the action in the list's choices.
    pub action: usize,
    /// Calibrated probability.
    pub probability: f64,
    /// Value at risk.
    pub value_at_risk: f64,
    /// Within capacity (`None`: no capacity set).
    pub within_capacity: Option<bool>,
}

/// Marks, down the list, who is within capacity: the first `reach` customers of known risk
/// (a customer of unknown risk has no action to spend the team's time on). `None` for every
/// customer without a capacity.
#[derive(Clone, Copy, Debug)]
pub struct CapacityMarker {
    left: Option<u64>,
}

impl CapacityMarker {
    /// A marker for a list of `customers` under `capacity`.
    pub fn new(capacity: Option<Capacity>, customers: u64) -> CapacityMarker {
        CapacityMarker {
            left: capacity.map(|c| c.customers(customers)),
        }
    }

    /// The mark of the next customer of the list, of this risk level.
    pub fn next(&mut self, level: Option<Tier>) -> Option<bool> {
        let left = self.left.as_mut()?;
        let within = level.is_some() && *left > 0;
        if within {
            *left -= 1;
        }
        Some(within)
    }
}

/// A customer the label's own definition already counts as gone at the scoring date: not an
/// early warning, but a win-back prospect, ranked by the value they used to bring.
#[derive(Clone, Debug, PartialEq)]
pub struct WinBack {
    /// Row of the customer in [`RiskList::win_back_ids`].
    pub row: usize,
    /// 1 for the most valuable.
    pub rank: u64,
    /// Their spend over `scoring.lookback_days` before the scoring date.
    pub past_value: f64,
    /// Days since their last event.
    pub days_silent: f64,
}

/// The risk list, ranked.
#[derive(Debug)]
pub struct RiskList {
    /// Customer ids, by row.
    pub ids: ArrayRef,
    /// One line per customer still with us, in rank order.
    pub risks: Vec<Risk>,
    /// Customers and value at risk per risk level, action, cell and within capacity.
    pub totals: ListTotals,
    /// How the list is ordered.
    pub ranked_by: RankBy,
    /// Categorical values unseen at training (scored as unknown), by feature.
    pub unseen_categories: Vec<(String, u64)>,
    /// The actions customers can get, each with the rule that gives it ([`Risk::action`]).
    pub choices: Vec<(String, String)>,
    /// The snapshot's cutoff (the day after `as_of`).
    pub cutoff: Date,
    /// Whether values come from the customers' spend (false: no spend data, values are 0).
    pub value_known: bool,
    /// The already-churned, most valuable first.
    pub win_back: Vec<WinBack>,
    /// Their ids, by row.
    pub win_back_ids: ArrayRef,
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

/// Scores every customer still with us on `as_of` (rows dated up to and including that day),
/// and lists the already-churned for win-back.
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
    let cutoff = as_of.next_day();
    let mut times = StageTimes::default();
    let clock = std::time::Instant::now();
    let snap = snapshot(p, h, package.spec(), cutoff)?;
    let columns = feature_columns(&snap.batch, package.spec().features.len())?;
    let (values, value_known) = customer_values(p, h, &snap.population, cutoff)?;
    times.features = clock.elapsed().as_secs_f64();
    let probabilities = probabilities(p, package, model, &columns, &mut times, progress)?;
    let clock = std::time::Instant::now();
    let ranked_by = p.scoring.ranking(value_known);
    let order = rank(&probabilities, &values, ranked_by);
    let mut missing_of = missing_inputs(&columns, probabilities.len());
    let judged: Vec<Judgement> = (0..probabilities.len())
        .map(|i| package.judge(&p.scoring, probabilities[i], values[i], missing_of[i].len()))
        .collect();
    let explained: Vec<bool> = judged.iter().map(|j| j.explained).collect();
    times.rank = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    let not_actionable = package.spec().not_actionable(&p.scoring);
    let mut reasons_of = explain(package, &columns, &explained, &not_actionable);
    times.reasons = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    let s = &p.scoring;
    let mut capacity = CapacityMarker::new(s.capacity, order.len() as u64);
    let risks: Vec<Risk> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let reasons = std::mem::take(&mut reasons_of[i]);
            let top = reasons
                .first()
                .map(|r| package.spec().features[r.feature].name.as_str());
            let j = judged[i];
            Risk {
                row: i,
                probability: probabilities[i],
                level: j.level,
                segment: j.segment,
                missing: std::mem::take(&mut missing_of[i]),
                rank: k as u64 + 1,
                within_capacity: capacity.next(j.level),
                reasons,
                value: values[i],
                value_at_risk: values[i] * probabilities[i],
                action: j.action(s, top),
            }
        })
        .collect();
    let choices = s.choices();
    let mut totals = ListTotals::new(choices.len(), s.capacity);
    for r in &risks {
        totals.add(&r.counted());
    }
    let win_back = win_back(p, h, &snap.already_churned, cutoff);
    times.rank += clock.elapsed().as_secs_f64();
    Ok(RiskList {
        ids: snap.batch.column(0).clone(),
        risks,
        totals,
        ranked_by,
        unseen_categories: snap.report.unseen_categories,
        choices,
        cutoff,
        value_known,
        win_back,
        win_back_ids: h.customers.ids(&snap.already_churned),
        times,
    })
}

/// The calibrated probabilities of a snapshot's customers as [`score`] computes them, and the
/// seconds spent in ONNX Runtime's session runs.
pub fn snapshot_probabilities(
    p: &Pipeline,
    package: &ModelPackage,
    model: &mut OnnxModel,
    snap: &Snapshot,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<f64>, f64), ScoreError> {
    let columns = feature_columns(&snap.batch, package.spec().features.len())?;
    let mut times = StageTimes::default();
    let out = probabilities(p, package, model, &columns, &mut times, progress)?;
    Ok((out, times.onnx))
}

/// What a list's summary shows: totals per tier and action, the win-back count, and the top
/// rows; the same from one list in memory ([`RiskList::summary`]) and from merged partitions.
#[derive(Clone, Debug)]
pub struct ListSummary {
    /// Customers in the list (still with us).
    pub customers: u64,
    /// How the list is ordered.
    pub ranked_by: RankBy,
    /// Customers and value at risk per risk level, action, cell and within capacity.
    pub totals: ListTotals,
    /// The actions and their rules.
    pub choices: Vec<(String, String)>,
    /// The snapshot's cutoff (the day after the scoring date).
    pub cutoff: Date,
    /// Whether values come from spend.
    pub value_known: bool,
    /// Categorical values unseen at training, by feature.
    pub unseen_categories: Vec<(String, u64)>,
    /// Customers already churned (the win-back list).
    pub win_back: u64,
    /// Their past value.
    pub win_back_value: f64,
    /// The first rows of the list.
    pub top: Vec<TopRow>,
}

/// One row of a list's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct TopRow {
    /// 1 first.
    pub rank: u64,
    /// The customer id, as text.
    pub id: String,
    /// Calibrated churn probability.
    pub probability: f64,
    /// Risk level from the probability (`None`: unknown, too many inputs missing).
    pub level: Option<Tier>,
    /// Value at risk.
    pub value_at_risk: f64,
    /// Index of the action in `choices`.
    pub action: usize,
    /// The reasons' sentences.
    pub reasons: Vec<String>,
}

impl ListSummary {
    /// The scoring date: the last day whose rows count.
    pub fn as_of(&self) -> Date {
        self.cutoff.previous_day()
    }
}

impl Risk {
    /// What the list's totals count of this customer.
    pub fn counted(&self) -> Counted {
        Counted {
            level: self.level,
            segment: self.segment,
            action: self.action,
            probability: self.probability,
            value_at_risk: self.value_at_risk,
            within_capacity: self.within_capacity,
        }
    }
}

impl RiskList {
    /// The list's summary with its first `top` rows.
    pub fn summary(&self, top: usize) -> ListSummary {
        ListSummary {
            customers: self.risks.len() as u64,
            ranked_by: self.ranked_by,
            totals: self.totals.clone(),
            choices: self.choices.clone(),
            cutoff: self.cutoff,
            value_known: self.value_known,
            unseen_categories: self.unseen_categories.clone(),
            win_back: self.win_back.len() as u64,
            win_back_value: self.win_back_value(),
            top: self
                .risks
                .iter()
                .take(top)
                .map(|r| TopRow {
                    rank: r.rank,
                    id: arrow::util::display::array_value_to_string(self.ids.as_ref(), r.row).unwrap_or_default(),
                    probability: r.probability,
                    level: r.level,
                    value_at_risk: r.value_at_risk,
                    action: r.action,
                    reasons: r.reasons.iter().map(|x| x.sentence.clone()).collect(),
                })
                .collect(),
        }
    }

    /// The scoring date: the last day whose rows count (the day before the cutoff).
    pub fn as_of(&self) -> Date {
        self.cutoff.previous_day()
    }

    /// The win-back list's total past value.
    pub fn win_back_value(&self) -> f64 {
        self.win_back.iter().map(|w| w.past_value).sum()
    }
}

/// The snapshot's feature columns, in spec order.
fn feature_columns(batch: &arrow::record_batch::RecordBatch, f: usize) -> Result<Vec<&Float64Array>, ScoreError> {
    (0..f)
        .map(|j| {
            batch
                .column(j + 2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| ScoreError::Internal(format!("feature column {j} is not Float64")))
        })
        .collect()
}

/// ONNX Runtime's (calibrated) probabilities in bounded batches: memory follows the batch, not
/// the customers.
fn probabilities(
    p: &Pipeline,
    package: &ModelPackage,
    model: &mut OnnxModel,
    columns: &[&Float64Array],
    times: &mut StageTimes,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f64>, ScoreError> {
    let (f, n) = (columns.len(), columns.first().map_or(0, |c| c.len()));
    let batch_rows = p.scoring.batch_rows;
    let mut out = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(batch_rows.min(n) * f);
    let mut start = 0;
    progress(0, n);
    while start < n {
        let end = (start + batch_rows).min(n);
        rows.clear();
        for i in start..end {
            rows.extend(columns.iter().map(|c| feature_value(c, i)));
        }
        let clock = std::time::Instant::now();
        out.extend(package.calibrated(model.scores(&rows, f)?.values));
        times.onnx += clock.elapsed().as_secs_f64();
        start = end;
        progress(start, n);
    }
    Ok(out)
}

/// The rows in list order, sorted in parallel (a million customers).
fn rank(probabilities: &[f64], values: &[f64], by: RankBy) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.par_sort_unstable_by(|&a, &b| by.compare(probabilities, Some(values), a, b));
    order
}

/// TreeSHAP reasons of the rows `explained` marks ([`churnguard_config::ScoringConfig::explains`],
/// or every row), in large groups: rows that decide alike in a tree share their work, and
/// TreeSHAP costs about twice as much per customer as scoring.
fn explain(
    package: &ModelPackage,
    columns: &[&Float64Array],
    explained: &[bool],
    not_actionable: &[bool],
) -> Vec<Vec<Reason>> {
    let f = columns.len();
    let n = explained.len();
    let explained: Vec<usize> = (0..n).filter(|&i| explained[i]).collect();
    let mut reasons_of: Vec<Vec<Reason>> = vec![Vec::new(); n];
    let trees = package.ensemble.trees.len().max(1);
    let group_rows = (EXPLAIN_BYTES / (4 * trees)).clamp(4096, EXPLAIN_ROWS);
    let mut group_columns: Vec<Vec<f64>> = vec![Vec::new(); f];
    let yardsticks = package.yardsticks();
    for group in explained.chunks(group_rows) {
        group_columns.par_iter_mut().zip(columns).for_each(|(values, c)| {
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
                reasons(&package.spec().features, &yardsticks, not_actionable, row, c)
            })
            .collect();
        for (&i, r) in group.iter().zip(found) {
            reasons_of[i] = r;
        }
    }
    reasons_of
}

/// The already-churned, most valuable first (their spend over the look-back).
fn win_back(p: &Pipeline, h: &History, churned: &[u32], cutoff: Date) -> Vec<WinBack> {
    let past = spend(h, churned, cutoff, p.scoring.lookback_days);
    let end = cutoff.start_ms();
    let mut out: Vec<WinBack> = churned
        .iter()
        .zip(past)
        .enumerate()
        .map(|(row, (&c, past_value))| WinBack {
            row,
            rank: 0,
            past_value,
            days_silent: h.events.as_ref().map_or(f64::NAN, |e| {
                let (before, _) = e.split(c, end);
                before
                    .last()
                    .map_or(f64::NAN, |k| (end - e.ts[k]) as f64 / MS_PER_DAY as f64)
            }),
        })
        .collect();
    out.sort_by(|a, b| b.past_value.total_cmp(&a.past_value).then(a.row.cmp(&b.row)));
    for (k, w) in out.iter_mut().enumerate() {
        w.rank = k as u64 + 1;
    }
    out
}

/// Each row's missing inputs (feature indices): a null or NaN value.
fn missing_inputs(columns: &[&Float64Array], rows: usize) -> Vec<Vec<u32>> {
    let mut missing = vec![Vec::new(); rows];
    for (j, c) in columns.iter().enumerate() {
        for (i, m) in missing.iter_mut().enumerate() {
            if feature_value(c, i).is_nan() {
                m.push(j as u32);
            }
        }
    }
    missing
}

/// A feature of one customer as the model reads it: a missing value is NaN.
fn feature_value(column: &Float64Array, i: usize) -> f64 {
    if column.is_null(i) { f64::NAN } else { column.value(i) }
}

/// The main reasons of one row (see [`churnguard_model::main_reasons`]), each with its
/// yardstick (see [`ModelPackage::yardsticks`]).
pub fn reasons(
    features: &[Feature],
    yardsticks: &[Option<&Histogram>],
    not_actionable: &[bool],
    row: &[f64],
    contributions: &[f64],
) -> Vec<Reason> {
    churnguard_model::main_reasons(contributions, not_actionable)
        .into_iter()
        .map(|j| {
            let percentile = yardsticks[j].and_then(|h| h.share_below(row[j])).map(|q| q * 100.0);
            Reason {
                feature: j,
                value: row[j],
                contribution: contributions[j],
                sentence: with_yardstick(sentence(features, j, row), percentile),
                percentile,
            }
        })
        .collect()
}

/// A reason's sentence with where the customer stands among all customers, to the nearest 5%.
fn with_yardstick(sentence: String, percentile: Option<f64>) -> String {
    let Some(p) = percentile else { return sentence };
    let round = |x: f64| (x / 5.0).round() * 5.0;
    if p >= 50.0 {
        format!("{sentence} (higher than about {:.0}% of customers)", round(p))
    } else {
        format!("{sentence} (lower than about {:.0}% of customers)", round(100.0 - p))
    }
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
        "last_gap_days" if v < 1.0 => "the last two purchases on the same day".to_string(),
        "last_gap_days" => format!("{} days between the last two purchases", number(v.round())),
        "gap_mean_days" if v < 1.0 => "every purchase on the same day".to_string(),
        "gap_mean_days" => format!("typical gap between purchases {} days", number(v.round())),
        _ => {
            if let Some(w) = window("events_") {
                format!("{} purchases in the last {w} days", number(v))
            } else if let Some(w) = window("amount_") {
                format!("spent {} in the last {w} days", number(v))
            } else if let Some(w) = window("active_days_") {
                let days = if v == 1.0 { "day" } else { "days" };
                format!("active on {} {days} in the last {w} days", number(v))
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
