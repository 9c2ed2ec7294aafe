//! Ranking and probability metrics, each computed exactly as scikit-learn defines it.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::rng::SplitMix64;

/// Checks the inputs shared by every metric: same length, not empty, finite scores.
pub(crate) fn check(labels: &[bool], scores: &[f64]) -> Result<(), EvalError> {
    if labels.len() != scores.len() {
        return Err(EvalError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if labels.is_empty() {
        return Err(EvalError::Empty);
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(EvalError::NotFinite { index, value });
    }
    Ok(())
}

/// As [`check`], and every score must be a probability.
pub(crate) fn check_probabilities(labels: &[bool], probabilities: &[f64]) -> Result<(), EvalError> {
    check(labels, probabilities)?;
    if let Some((index, &value)) = probabilities
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        return Err(EvalError::OutOfRange { index, value });
    }
    Ok(())
}

/// Both classes must be present.
pub(crate) fn check_classes(labels: &[bool]) -> Result<usize, EvalError> {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 || positives == labels.len() {
        return Err(EvalError::SingleClass {
            rows: labels.len(),
            positives,
        });
    }
    Ok(positives)
}

/// Row indices by decreasing score, ties in index order (deterministic).
pub(crate) fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // The index breaks ties, so the order is total and an unstable sort is deterministic.
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

/// Rows by decreasing score and the runs of tied scores: computed once, shared by every ranking
/// metric of an evaluation.
pub(crate) struct Ranking {
    pub order: Vec<usize>,
    pub groups: Vec<(usize, usize)>,
}

impl Ranking {
    pub(crate) fn new(scores: &[f64]) -> Ranking {
        let order = order_desc(scores);
        let groups = tie_groups(scores, &order);
        Ranking { order, groups }
    }

    /// Churners in each tie group.
    fn positives_per_group<'a>(&'a self, labels: &'a [bool]) -> impl Iterator<Item = (f64, f64)> + 'a {
        self.groups.iter().map(|&(start, end)| {
            let pos = self.order[start..end].iter().filter(|&&i| labels[i]).count() as f64;
            (pos, (end - start) as f64 - pos)
        })
    }
}

/// Runs of equal scores in `order`: `(start, end)` ranges.
pub(crate) fn tie_groups(scores: &[f64], order: &[usize]) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        if i == order.len() || scores[order[i]] != scores[order[start]] {
            groups.push((start, i));
            start = i;
        }
    }
    groups
}

/// Area under the ROC curve; tied scores count one half (scikit-learn's `roc_auc_score`).
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64, EvalError> {
    check(labels, scores)?;
    let positives = check_classes(labels)?;
    Ok(auc_ranked(labels, &Ranking::new(scores), positives))
}

pub(crate) fn auc_ranked(labels: &[bool], r: &Ranking, positives: usize) -> f64 {
    let negatives = (labels.len() - positives) as f64;
    // Walking down the scores, each positive outranks every negative below it; a tie with
    // negatives counts half.
    let (mut area, mut neg_above) = (0.0f64, 0.0f64);
    for (pos, neg) in r.positives_per_group(labels) {
        area += pos * (negatives - neg_above - neg / 2.0);
        neg_above += neg;
    }
    area / (positives as f64 * negatives)
}

/// Average precision, the step-wise area under the precision-recall curve (scikit-learn's
/// `average_precision_score`).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64, EvalError> {
    check(labels, scores)?;
    let positives = check_classes(labels)?;
    Ok(ap_ranked(labels, &Ranking::new(scores), positives))
}

pub(crate) fn ap_ranked(labels: &[bool], r: &Ranking, positives: usize) -> f64 {
    let positives = positives as f64;
    let (mut tp, mut fp, mut recall_before, mut ap) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (pos, neg) in r.positives_per_group(labels) {
        tp += pos;
        fp += neg;
        let recall = tp / positives;
        ap += (recall - recall_before) * (tp / (tp + fp));
        recall_before = recall;
    }
    ap
}

/// Mean binary cross-entropy, probabilities clipped to `[eps, 1 - eps]` (scikit-learn's
/// `log_loss`).
pub fn log_loss(labels: &[bool], probabilities: &[f64]) -> Result<f64, EvalError> {
    check_probabilities(labels, probabilities)?;
    let eps = f64::EPSILON;
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(total / labels.len() as f64)
}

/// Mean squared difference of probability and outcome (scikit-learn's `brier_score_loss`).
pub fn brier(labels: &[bool], probabilities: &[f64]) -> Result<f64, EvalError> {
    check_probabilities(labels, probabilities)?;
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&y, &p)| (p - f64::from(u8::from(y))).powi(2))
        .sum();
    Ok(total / labels.len() as f64)
}

/// Counts of a decision at a threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Churners flagged.
    pub true_positives: u64,
    /// Stayers flagged.
    pub false_positives: u64,
    /// Stayers not flagged.
    pub true_negatives: u64,
    /// Churners missed.
    pub false_negatives: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl Confusion {
    /// Share of flagged customers who churn (0 when nobody is flagged).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// Share of churners flagged.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.false_negatives,
        )
    }

    /// Share of stayers not flagged.
    pub fn specificity(&self) -> f64 {
        ratio(self.true_negatives, self.true_negatives + self.false_positives)
    }

    /// Share of correct decisions.
    pub fn accuracy(&self) -> f64 {
        ratio(
            self.true_positives + self.true_negatives,
            self.true_positives + self.true_negatives + self.false_positives + self.false_negatives,
        )
    }
}

/// The confusion matrix when customers at or above `threshold` are flagged.
pub fn confusion(labels: &[bool], probabilities: &[f64], threshold: f64) -> Result<Confusion, EvalError> {
    check(labels, probabilities)?;
    let mut c = Confusion::default();
    for (&y, &p) in labels.iter().zip(probabilities) {
        match (y, p >= threshold) {
            (true, true) => c.true_positives += 1,
            (false, true) => c.false_positives += 1,
            (false, false) => c.true_negatives += 1,
            (true, false) => c.false_negatives += 1,
        }
    }
    Ok(c)
}

/// Lift and capture among the customers ranked highest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lift {
    /// The share of customers taken, in percent.
    pub top_percent: f64,
    /// Customers taken.
    pub customers: u64,
    /// Churners among them.
    pub churners: u64,
    /// Their churn rate over the overall churn rate.
    pub lift: f64,
    /// Share of all churners they hold.
    pub capture_rate: f64,
}

fn check_percent(top_percent: f64) -> Result<(), EvalError> {
    if !(top_percent > 0.0 && top_percent <= 100.0) {
        return Err(EvalError::Invalid(format!(
            "top percent must be above 0 and at most 100, got {top_percent}"
        )));
    }
    Ok(())
}

/// Customers in the top `top_percent`: at least one.
pub(crate) fn top_count(n: usize, top_percent: f64) -> usize {
    ((n as f64 * top_percent / 100.0).ceil() as usize).clamp(1, n)
}

/// Lift and capture rate of the `top_percent` highest scores (ties broken by row order).
pub fn lift_at(labels: &[bool], scores: &[f64], top_percent: f64) -> Result<Lift, EvalError> {
    check(labels, scores)?;
    lift_ranked(labels, &Ranking::new(scores), top_percent)
}

pub(crate) fn lift_ranked(labels: &[bool], r: &Ranking, top_percent: f64) -> Result<Lift, EvalError> {
    check_percent(top_percent)?;
    let all = labels.iter().filter(|&&l| l).count();
    if all == 0 {
        return Err(EvalError::SingleClass {
            rows: labels.len(),
            positives: 0,
        });
    }
    let k = top_count(labels.len(), top_percent);
    let churners = r.order[..k].iter().filter(|&&i| labels[i]).count();
    let rate = all as f64 / labels.len() as f64;
    Ok(Lift {
        top_percent,
        customers: k as u64,
        churners: churners as u64,
        lift: (churners as f64 / k as f64) / rate,
        capture_rate: churners as f64 / all as f64,
    })
}

/// One probability bin of a calibration table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge (inclusive).
    pub lower: f64,
    /// Upper edge (exclusive, inclusive for the last bin).
    pub upper: f64,
    /// Customers in the bin.
    pub customers: u64,
    /// Their mean predicted probability.
    pub mean_predicted: f64,
    /// Their observed churn rate.
    pub observed_rate: f64,
}

/// Calibration over `bins` equal-width probability bins; empty bins are left out.
pub fn calibration(labels: &[bool], probabilities: &[f64], bins: usize) -> Result<Vec<CalibrationBin>, EvalError> {
    check_probabilities(labels, probabilities)?;
    if bins == 0 {
        return Err(EvalError::Invalid("calibration needs at least one bin".into()));
    }
    let mut sums = vec![(0u64, 0.0f64, 0u64); bins];
    for (&y, &p) in labels.iter().zip(probabilities) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += p;
        sums[b].2 += u64::from(y);
    }
    Ok(sums
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, (n, p, y))| CalibrationBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            customers: n,
            mean_predicted: p / n as f64,
            observed_rate: y as f64 / n as f64,
        })
        .collect())
}

/// A two-sided interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Coverage, such as 0.95.
    pub level: f64,
}

/// Percentile 95% interval of the AUC over `samples` resamples of the rows with replacement (rows
/// are customers). A resample holding one class only is drawn again. Resample `b` draws from its
/// own stream of the seed, so the interval does not depend on the number of threads.
pub fn bootstrap_auc(labels: &[bool], scores: &[f64], samples: usize, seed: u64) -> Result<Interval, EvalError> {
    check(labels, scores)?;
    check_classes(labels)?;
    bootstrap_ranked(labels, &Ranking::new(scores), samples, seed)
}

pub(crate) fn bootstrap_ranked(labels: &[bool], r: &Ranking, samples: usize, seed: u64) -> Result<Interval, EvalError> {
    let aucs = resamples(labels, r, samples, seed, &auc_of_counts)?;
    Ok(interval_of(aucs))
}

/// The AUC of a resample given as counts per tie group (see [`resamples`]).
pub(crate) fn auc_of_counts(counts: &[u32], p: u64, q: u64) -> f64 {
    let (mut area, mut neg_above) = (0.0f64, 0.0f64);
    for pair in counts.chunks_exact(2) {
        let (neg, pos) = (f64::from(pair[0]), f64::from(pair[1]));
        area += pos * (q as f64 - neg_above - neg / 2.0);
        neg_above += neg;
    }
    area / (p as f64 * q as f64)
}

/// The percentile 95% interval of resampled figures.
pub(crate) fn interval_of(mut figures: Vec<f64>) -> Interval {
    figures.sort_by(f64::total_cmp);
    Interval {
        lower: percentile(&figures, 0.025),
        upper: percentile(&figures, 0.975),
        level: 0.95,
    }
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics (numpy's
/// default percentile).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Runs `figure` on `samples` resamples of the rows with replacement. A resample is given as
/// counts per tie group of `r` (negatives then churners, in score order) with its churner and
/// non-churner totals; one holding a single class is drawn again. Resample `b` draws from its
/// own stream of the seed, so results do not depend on the number of threads.
pub(crate) fn resamples<T: Send>(
    labels: &[bool],
    r: &Ranking,
    samples: usize,
    seed: u64,
    figure: &(dyn Fn(&[u32], u64, u64) -> T + Sync),
) -> Result<Vec<T>, EvalError> {
    if samples < 2 {
        return Err(EvalError::Invalid(format!(
            "the bootstrap needs at least 2 resamples, got {samples}"
        )));
    }
    let n = labels.len();
    // Each row's tie group with its label in the low bit, so a resample is scored from counts
    // without sorting.
    let mut key = vec![0u32; n];
    for (g, &(start, end)) in r.groups.iter().enumerate() {
        for &i in &r.order[start..end] {
            key[i] = (g as u32) << 1 | u32::from(labels[i]);
        }
    }
    let groups = r.groups.len();
    let one = |b: usize| -> Option<T> {
        let mut rng = SplitMix64::new(seed ^ (b as u64).wrapping_mul(0xd134_2543_de82_ef95));
        let mut counts = vec![0u32; 2 * groups];
        for _ in 0..100 {
            counts.iter_mut().for_each(|c| *c = 0);
            for _ in 0..n {
                counts[key[rng.below(n)] as usize] += 1;
            }
            let p: u64 = counts.iter().skip(1).step_by(2).map(|&c| u64::from(c)).sum();
            let q = n as u64 - p;
            if p == 0 || q == 0 {
                continue;
            }
            return Some(figure(&counts, p, q));
        }
        None
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(samples);
    let chunk = samples.div_ceil(threads);
    let mut out: Vec<Option<T>> = (0..samples).map(|_| None).collect();
    std::thread::scope(|s| {
        for (t, slots) in out.chunks_mut(chunk).enumerate() {
            let one = &one;
            s.spawn(move || {
                for (j, slot) in slots.iter_mut().enumerate() {
                    *slot = one(t * chunk + j);
                }
            });
        }
    });
    out.into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| EvalError::Invalid("almost every resample holds one class only".into()))
}

/// Percentile 95% intervals of [`value_captured`] at each top share (percent), over `samples`
/// resamples of the rows with replacement ([`bootstrap_auc`]'s streams; every share from the same
/// draws): how far a share could move on another set of customers of the same kind. Empty when
/// the churners of most resamples hold no value.
pub fn bootstrap_value_captured(
    labels: &[bool],
    order: &[usize],
    value: &[f64],
    percents: &[f64],
    samples: usize,
    seed: u64,
) -> Result<Vec<(f64, Interval)>, EvalError> {
    if order.len() != labels.len() || value.len() != labels.len() {
        return Err(EvalError::Invalid(format!(
            "{} labels, {} rows in order and {} values",
            labels.len(),
            order.len(),
            value.len()
        )));
    }
    check_classes(labels)?;
    // Each row its own group, in the list's order: a resample's counts say how often each row was drawn.
    let r = Ranking {
        order: order.to_vec(),
        groups: (0..order.len()).map(|g| (g, g + 1)).collect(),
    };
    let tops: Vec<usize> = percents.iter().map(|&k| top_count(order.len(), k)).collect();
    let shares = |counts: &[u32], _: u64, _: u64| -> Option<Vec<f64>> {
        let mut held = vec![0.0; tops.len()];
        let (mut place, mut lost) = (0usize, 0.0);
        for (pair, &i) in counts.chunks_exact(2).zip(order) {
            let drawn = (pair[0] + pair[1]) as usize;
            if labels[i] {
                for (h, &top) in held.iter_mut().zip(&tops) {
                    *h += (drawn.min(top.saturating_sub(place))) as f64 * value[i];
                }
                lost += drawn as f64 * value[i];
            }
            place += drawn;
        }
        (lost > 0.0 && lost.is_finite()).then(|| held.into_iter().map(|h| h / lost).collect())
    };
    let found: Vec<Vec<f64>> = resamples(labels, &r, samples, seed, &shares)?
        .into_iter()
        .flatten()
        .collect();
    if found.len() * 2 <= samples {
        return Ok(Vec::new());
    }
    Ok(percents
        .iter()
        .enumerate()
        .map(|(j, &k)| (k, interval_of(found.iter().map(|f| f[j]).collect())))
        .collect())
}

/// The share of the churners' value held by the top of a list, at each top share (percent):
/// `order` lists the rows first to last, `value` is by row (a past spend, say). `None` when the
/// churners hold no value.
pub fn value_captured(labels: &[bool], order: &[usize], value: &[f64], percents: &[f64]) -> Option<Vec<(f64, f64)>> {
    let lost: f64 = value.iter().zip(labels).filter(|(_, y)| **y).map(|(v, _)| v).sum();
    if lost.is_nan() || lost <= 0.0 {
        return None;
    }
    Some(
        percents
            .iter()
            .map(|&k| {
                let top = top_count(order.len(), k);
                let held: f64 = order[..top].iter().filter(|&&i| labels[i]).map(|&i| value[i]).sum();
                (k, held / lost)
            })
            .collect(),
    )
}
