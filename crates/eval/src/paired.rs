//! Two models scored on the same customers: DeLong's paired test of their AUCs, and how much
//! their rankings agree.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::metrics::{check, check_classes, order_desc};

/// DeLong's test of the difference of two correlated AUCs (DeLong, DeLong and Clarke-Pearson
/// 1988), computed with midranks in O(n log n) (Sun and Xu 2014).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedAuc {
    /// AUC of the first model.
    pub auc_a: f64,
    /// AUC of the second model.
    pub auc_b: f64,
    /// `auc_b - auc_a`.
    pub difference: f64,
    /// Standard error of the difference.
    pub standard_error: f64,
    /// `difference / standard_error` (0 when both are 0).
    pub z: f64,
    /// Two-sided p-value under the normal approximation (1 when the scores rank alike).
    pub p_value: f64,
}

/// DeLong's paired test of `scores_b` against `scores_a` on the same labelled customers.
pub fn delong(labels: &[bool], scores_a: &[f64], scores_b: &[f64]) -> Result<PairedAuc, EvalError> {
    check(labels, scores_a)?;
    check(labels, scores_b)?;
    let m = check_classes(labels)?;
    let n = labels.len() - m;
    let (va10, va01) = components(labels, scores_a, m, n);
    let (vb10, vb01) = components(labels, scores_b, m, n);
    let auc_a = mean(&va10);
    let auc_b = mean(&vb10);
    // Var(b - a) = (S10_aa + S10_bb - 2 S10_ab) / m + (the same of S01) / n.
    let variance = |x: &[f64], y: &[f64], count: usize| {
        if count < 2 {
            return 0.0;
        }
        let d: Vec<f64> = x.iter().zip(y).map(|(a, b)| b - a).collect();
        sample_variance(&d) / count as f64
    };
    let var = (variance(&va10, &vb10, m) + variance(&va01, &vb01, n)).max(0.0);
    let difference = auc_b - auc_a;
    let standard_error = var.sqrt();
    let z = if standard_error > 0.0 {
        difference / standard_error
    } else if difference == 0.0 {
        0.0
    } else {
        difference.signum() * f64::INFINITY
    };
    Ok(PairedAuc {
        auc_a,
        auc_b,
        difference,
        standard_error,
        z,
        p_value: two_sided_p(z),
    })
}

/// DeLong's structural components: for each churner, the share of non-churners it outranks
/// (ties half), and for each non-churner, the share of churners that outrank it.
fn components(labels: &[bool], scores: &[f64], m: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let pos: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(l, _)| **l)
        .map(|(_, s)| *s)
        .collect();
    let neg: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(l, _)| !**l)
        .map(|(_, s)| *s)
        .collect();
    let all: Vec<f64> = pos.iter().chain(&neg).copied().collect();
    let (tx, ty, tz) = (midranks(&pos), midranks(&neg), midranks(&all));
    let v10 = (0..m).map(|i| (tz[i] - tx[i]) / n as f64).collect();
    let v01 = (0..n).map(|j| 1.0 - (tz[m + j] - ty[j]) / m as f64).collect();
    (v10, v01)
}

/// 1-based ranks, ties given the mean of their ranks.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Variance with the n - 1 denominator.
fn sample_variance(x: &[f64]) -> f64 {
    let mu = mean(x);
    x.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (x.len() - 1) as f64
}

/// `P(|Z| >= |z|)` for a standard normal `Z`.
pub fn two_sided_p(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// The complementary error function, to about 1e-15: a series of positive terms below 3 and a
/// continued fraction above.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    let scale = (-x * x).exp() / std::f64::consts::PI.sqrt();
    if x < 3.0 {
        // erf(x) = 2 exp(-x^2) / sqrt(pi) * sum_k (2 x^2)^k x / (1 * 3 * ... * (2k + 1)).
        let (mut term, mut sum) = (x, x);
        for k in 1..200 {
            term *= 2.0 * x * x / (2 * k + 1) as f64;
            sum += term;
            if term < sum * 1e-17 {
                break;
            }
        }
        1.0 - 2.0 * scale * sum
    } else {
        // erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))).
        let mut t = x;
        for k in (1..=60).rev() {
            t = x + (k as f64 / 2.0) / t;
        }
        scale / t
    }
}

/// How two scorings of the same customers agree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Spearman's rank correlation of the two scores (ties given midranks).
    pub rank_correlation: f64,
    /// Share of the first list's top `top_percent` that is also in the second's.
    pub top_overlap: f64,
    /// The share of the list compared, in percent.
    pub top_percent: f64,
}

/// Rank correlation of two scorings, and the overlap of their top `top_percent` (ties broken by
/// row order, as the lists break them).
pub fn agreement(scores_a: &[f64], scores_b: &[f64], top_percent: f64) -> Result<Agreement, EvalError> {
    if scores_a.len() != scores_b.len() {
        return Err(EvalError::LengthMismatch {
            labels: scores_a.len(),
            scores: scores_b.len(),
        });
    }
    if scores_a.is_empty() {
        return Err(EvalError::Empty);
    }
    let (ra, rb) = (midranks(scores_a), midranks(scores_b));
    let k = crate::metrics::top_count(scores_a.len(), top_percent);
    let mut in_a = vec![false; scores_a.len()];
    for &i in &order_desc(scores_a)[..k] {
        in_a[i] = true;
    }
    let both = order_desc(scores_b)[..k].iter().filter(|&&i| in_a[i]).count();
    Ok(Agreement {
        rank_correlation: pearson(&ra, &rb),
        top_overlap: both as f64 / k as f64,
        top_percent,
    })
}

/// Pearson's correlation; 1 for two constant inputs that are equal, 0 when one is constant.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return if x == y { 1.0 } else { 0.0 };
    }
    sxy / (sxx * syy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_at_known_points() {
        // Values from Abramowitz and Stegun, table 7.1, and the tails.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_034_8e-12),
        ] {
            let got = erfc(x);
            assert!(
                (got - want).abs() <= 1e-14 + 1e-12 * want,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!((two_sided_p(1.959_963_984_540_054) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn identical_scores_give_p_one() {
        let labels = [true, false, true, false, false, true];
        let s = [0.9, 0.2, 0.4, 0.5, 0.1, 0.8];
        let t = delong(&labels, &s, &s).unwrap();
        assert_eq!((t.difference, t.z, t.p_value), (0.0, 0.0, 1.0));
        let a = agreement(&s, &s, 50.0).unwrap();
        assert_eq!((a.rank_correlation, a.top_overlap), (1.0, 1.0));
    }

    #[test]
    fn midranks_average_ties() {
        assert_eq!(midranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }
}
