//! Curves of a ranking: ROC and precision-recall with their bootstrap bands, and cumulative
//! gains of a list in any order. Points are thinned to a fixed number so a package stays small
//! whatever the number of test customers.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::metrics::{Interval, Ranking, auc_of_counts, check, check_classes, interval_of, percentile, resamples};

/// Points kept of each curve.
pub const CURVE_POINTS: usize = 201;
/// Points of the grid a bootstrap band is given on.
pub const BAND_POINTS: usize = 101;

/// A curve as `(x, y)` points in drawing order.
pub type Points = Vec<(f64, f64)>;

/// A pointwise bootstrap band: at each `x` of the grid, the 2.5% and 97.5% quantiles of `y`
/// over the resamples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// The grid.
    pub x: Vec<f64>,
    /// Lower quantile at each grid point.
    pub lower: Vec<f64>,
    /// Upper quantile at each grid point.
    pub upper: Vec<f64>,
    /// Coverage, such as 0.95.
    pub level: f64,
}

/// The curves of a model's probabilities on labelled customers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// ROC: (false positive rate, true positive rate), from (0, 0) to (1, 1).
    pub roc: Points,
    /// True positive rate at each false positive rate of the grid.
    pub roc_band: Option<Band>,
    /// Precision-recall: (recall, precision) by decreasing threshold, from (0, 1).
    pub pr: Points,
    /// Precision at each recall of the grid.
    pub pr_band: Option<Band>,
    /// Cumulative gains of the list: (share of customers taken, share of churners among them).
    pub gains: Points,
    /// The AUC's 95% interval over the same resamples as the bands (equal to
    /// [`crate::bootstrap_auc`] with the same seed).
    #[serde(default)]
    pub auc_interval: Option<Interval>,
}

/// Curves of `probabilities` against `labels`; gains follow `list_order` (row indices, first
/// first) when given, else the probabilities. `samples` resamples make the bands (0: none).
pub fn curves(
    labels: &[bool],
    probabilities: &[f64],
    list_order: Option<&[usize]>,
    samples: usize,
    seed: u64,
) -> Result<Curves, EvalError> {
    check(labels, probabilities)?;
    check_classes(labels)?;
    let r = Ranking::new(probabilities);
    let counts = group_counts(labels, &r);
    let gains = match list_order {
        Some(order) => {
            if order.len() != labels.len() {
                return Err(EvalError::LengthMismatch {
                    labels: labels.len(),
                    scores: order.len(),
                });
            }
            let singles: Vec<u32> = order
                .iter()
                .flat_map(|&i| [u32::from(!labels[i]), u32::from(labels[i])])
                .collect();
            gains_of(&singles)
        }
        None => gains_of(&counts),
    };
    let (roc_band, pr_band, auc_interval) = match samples {
        0 => (None, None, None),
        n => {
            let grid: Vec<f64> = (0..BAND_POINTS).map(|k| k as f64 / (BAND_POINTS - 1) as f64).collect();
            let all = resamples(labels, &r, n, seed, &|c: &[u32], p, q| {
                let (roc, pr) = grids_of(c, &grid);
                (roc, pr, auc_of_counts(c, p, q))
            })?;
            let mut rocs = Vec::with_capacity(n);
            let mut prs = Vec::with_capacity(n);
            let mut aucs = Vec::with_capacity(n);
            for (roc, pr, auc) in all {
                rocs.push(roc);
                prs.push(pr);
                aucs.push(auc);
            }
            (
                Some(band(&grid, &rocs)),
                Some(band(&grid, &prs)),
                Some(interval_of(aucs)),
            )
        }
    };
    Ok(Curves {
        roc: thin(roc_of(&counts), CURVE_POINTS),
        roc_band,
        pr: thin(pr_of(&counts), CURVE_POINTS),
        pr_band,
        gains: thin(gains, CURVE_POINTS),
        auc_interval,
    })
}

/// Negatives and churners of each tie group, in score order.
fn group_counts(labels: &[bool], r: &Ranking) -> Vec<u32> {
    let mut counts = vec![0u32; 2 * r.groups.len()];
    for (g, &(start, end)) in r.groups.iter().enumerate() {
        for &i in &r.order[start..end] {
            counts[2 * g + usize::from(labels[i])] += 1;
        }
    }
    counts
}

fn totals(counts: &[u32]) -> (f64, f64) {
    counts
        .chunks_exact(2)
        .fold((0.0, 0.0), |(n, p), c| (n + f64::from(c[0]), p + f64::from(c[1])))
}

/// ROC points after each group, from (0, 0) (scikit-learn's `roc_curve` without dropping
/// intermediate points).
fn roc_of(counts: &[u32]) -> Points {
    let (negatives, positives) = totals(counts);
    let mut out = vec![(0.0, 0.0)];
    let (mut fp, mut tp) = (0.0, 0.0);
    for c in counts.chunks_exact(2) {
        fp += f64::from(c[0]);
        tp += f64::from(c[1]);
        out.push((fp / negatives, tp / positives));
    }
    out
}

/// Precision-recall points after each group, from recall 0 and precision 1.
fn pr_of(counts: &[u32]) -> Points {
    let (_, positives) = totals(counts);
    let mut out = vec![(0.0, 1.0)];
    let (mut fp, mut tp) = (0.0, 0.0);
    for c in counts.chunks_exact(2) {
        fp += f64::from(c[0]);
        tp += f64::from(c[1]);
        out.push((tp / positives, tp / (tp + fp)));
    }
    out
}

/// Cumulative gains after each group, from (0, 0).
fn gains_of(counts: &[u32]) -> Points {
    let (negatives, positives) = totals(counts);
    let all = negatives + positives;
    let mut out = vec![(0.0, 0.0)];
    let (mut taken, mut tp) = (0.0, 0.0);
    for c in counts.chunks_exact(2) {
        taken += f64::from(c[0] + c[1]);
        tp += f64::from(c[1]);
        out.push((taken / all, tp / positives));
    }
    out
}

/// The ROC and PR curves of a resample read on the grid in one pass over its groups, without
/// building the curves (a resample of a million customers has up to a million points): the ROC's
/// true positive rate at the last point at or below each grid rate, and PR's precision at the
/// first point at or above each grid recall.
fn grids_of(counts: &[u32], grid: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (negatives, positives) = totals(counts);
    let mut roc = Vec::with_capacity(grid.len());
    let mut pr = Vec::with_capacity(grid.len());
    // Both curves start at their first point: (0, 0) for ROC, (0, 1) for PR.
    let (mut last_tpr, mut last_precision) = (0.0, 1.0);
    fill_first_at_or_above(&mut pr, grid, 0.0, 1.0);
    let (mut fp, mut tp) = (0.0, 0.0);
    for c in counts.chunks_exact(2) {
        fp += f64::from(c[0]);
        tp += f64::from(c[1]);
        let (fpr, tpr) = (fp / negatives, tp / positives);
        while roc.len() < grid.len() && grid[roc.len()] < fpr {
            roc.push(last_tpr);
        }
        last_tpr = tpr;
        last_precision = tp / (tp + fp);
        fill_first_at_or_above(&mut pr, grid, tpr, last_precision);
    }
    roc.resize(grid.len(), last_tpr);
    pr.resize(grid.len(), last_precision);
    (roc, pr)
}

/// Gives `y` to every grid point not yet given a value whose `x` is at most `x` (the first
/// point at or above it).
fn fill_first_at_or_above(out: &mut Vec<f64>, grid: &[f64], x: f64, y: f64) {
    while out.len() < grid.len() && grid[out.len()] <= x {
        out.push(y);
    }
}

fn band(grid: &[f64], curves: &[Vec<f64>]) -> Band {
    let mut lower = Vec::with_capacity(grid.len());
    let mut upper = Vec::with_capacity(grid.len());
    let mut column = Vec::with_capacity(curves.len());
    for g in 0..grid.len() {
        column.clear();
        column.extend(curves.iter().map(|c| c[g]));
        column.sort_by(f64::total_cmp);
        lower.push(percentile(&column, 0.025));
        upper.push(percentile(&column, 0.975));
    }
    Band {
        x: grid.to_vec(),
        lower,
        upper,
        level: 0.95,
    }
}

/// At most `max` of the points, evenly spread over them, the first and last always kept.
fn thin(points: Points, max: usize) -> Points {
    if points.len() <= max || max < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..max).map(|k| points[k * last / (max - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a curve given as points is read at an `x` between them.
    #[derive(Clone, Copy)]
    enum Step {
        /// The `y` of the last point whose `x` is at most the grid's (ROC: `x` never decreases).
        LastAtOrBelow,
        /// The `y` of the first point whose `x` is at least the grid's (precision at a recall).
        FirstAtOrAbove,
    }

    fn on_grid(points: &[(f64, f64)], grid: &[f64], step: Step) -> Vec<f64> {
        let mut out = Vec::with_capacity(grid.len());
        let mut k = 0;
        for &x in grid {
            match step {
                Step::LastAtOrBelow => {
                    while k + 1 < points.len() && points[k + 1].0 <= x {
                        k += 1;
                    }
                }
                Step::FirstAtOrAbove => {
                    while k + 1 < points.len() && points[k].0 < x {
                        k += 1;
                    }
                }
            }
            out.push(points[k].1);
        }
        out
    }

    #[test]
    fn curves_by_hand() {
        let labels = [true, false, true, false];
        let scores = [0.9, 0.8, 0.8, 0.1];
        let c = curves(&labels, &scores, None, 0, 1).unwrap();
        assert_eq!(c.roc, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert_eq!(c.pr, vec![(0.0, 1.0), (0.5, 1.0), (1.0, 2.0 / 3.0), (1.0, 0.5)]);
        assert_eq!(c.gains, vec![(0.0, 0.0), (0.25, 0.5), (0.75, 1.0), (1.0, 1.0)]);
        let by_list = curves(&labels, &scores, Some(&[3, 1, 0, 2]), 0, 1).unwrap();
        assert_eq!(
            by_list.gains,
            vec![(0.0, 0.0), (0.25, 0.0), (0.5, 0.0), (0.75, 0.5), (1.0, 1.0)]
        );
    }

    #[test]
    fn grid_steps() {
        let pts = [(0.0, 0.0), (0.2, 0.5), (0.6, 0.9), (1.0, 1.0)];
        assert_eq!(
            on_grid(&pts, &[0.0, 0.1, 0.2, 0.7, 1.0], Step::LastAtOrBelow),
            vec![0.0, 0.0, 0.5, 0.9, 1.0]
        );
        assert_eq!(
            on_grid(&pts, &[0.0, 0.1, 0.2, 0.7, 1.0], Step::FirstAtOrAbove),
            vec![0.0, 0.5, 0.5, 1.0, 1.0]
        );
    }

    #[test]
    fn one_pass_grids_equal_the_curves_read_on_the_grid() {
        let grid: Vec<f64> = (0..BAND_POINTS).map(|k| k as f64 / (BAND_POINTS - 1) as f64).collect();
        let mut rng = crate::SplitMix64::new(5);
        for groups in [1usize, 2, 7, 50, 400] {
            let counts: Vec<u32> = (0..2 * groups).map(|_| rng.below(4) as u32).collect();
            let (n, p) = totals(&counts);
            if n == 0.0 || p == 0.0 {
                continue;
            }
            let (roc, pr) = grids_of(&counts, &grid);
            assert_eq!(
                roc,
                on_grid(&roc_of(&counts), &grid, Step::LastAtOrBelow),
                "{groups} groups"
            );
            assert_eq!(
                pr,
                on_grid(&pr_of(&counts), &grid, Step::FirstAtOrAbove),
                "{groups} groups"
            );
        }
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let pts: Points = (0..1000).map(|i| (i as f64, i as f64)).collect();
        let t = thin(pts, 11);
        assert_eq!(t.len(), 11);
        assert_eq!(t[0], (0.0, 0.0));
        assert_eq!(t[10], (999.0, 999.0));
    }
}
