//! The reference predictor: LightGBM's own decision rules, on the typed ensemble, and TreeSHAP
//! contributions in LightGBM's layout.

use crate::ensemble::{Child, Condition, Ensemble, Missing, Objective, Tree};

/// LightGBM's `kZeroThreshold` (a float constant, compared as a double).
pub const ZERO_THRESHOLD: f64 = 1e-35f32 as f64;

impl Tree {
    /// The leaf a row falls into.
    pub fn leaf(&self, row: &[f64]) -> usize {
        if self.splits.is_empty() {
            return 0;
        }
        let mut node = 0usize;
        loop {
            let s = &self.splits[node];
            let next = if goes_left(&s.condition, row[s.feature as usize]) {
                s.left
            } else {
                s.right
            };
            match next {
                Child::Node(n) => node = n as usize,
                Child::Leaf(l) => return l as usize,
            }
        }
    }

    /// The tree's output for a row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.leaf_values[self.leaf(row)]
    }

    /// The mean output over the training rows (TreeSHAP's expected value).
    pub fn expected_value(&self) -> f64 {
        if self.splits.is_empty() {
            return self.leaf_values[0];
        }
        let total = self.splits[0].count;
        self.leaf_values
            .iter()
            .zip(&self.leaf_counts)
            .map(|(v, c)| (c / total) * v)
            .sum()
    }
}

/// LightGBM's decision at one split, for a value as LightGBM's predictor sees it: values
/// within the zero band arrive as exactly zero (LightGBM keeps only the non-zero entries of a
/// row, "non-zero" meaning outside the band).
pub fn goes_left(c: &Condition, value: f64) -> bool {
    let value = if value.abs() <= ZERO_THRESHOLD { 0.0 } else { value };
    match c {
        Condition::Numeric {
            threshold,
            missing,
            default_left,
        } => {
            let mut v = value;
            if v.is_nan() && *missing != Missing::NaN {
                v = 0.0;
            }
            let is_missing = match missing {
                Missing::Zero => (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&v),
                Missing::NaN => v.is_nan(),
                Missing::None => false,
            };
            if is_missing { *default_left } else { v <= *threshold }
        }
        Condition::Categorical { categories } => {
            if value.is_nan() {
                return false;
            }
            // C++ `static_cast<int>`: truncation toward zero; out-of-range values are treated
            // as negative (they go right), which is what x86 gives for the overflow.
            if value <= -1.0 || value >= 2_147_483_648.0 {
                return false;
            }
            categories.binary_search(&(value.trunc() as u32)).is_ok()
        }
    }
}

impl Ensemble {
    /// Raw scores of one row (one per class).
    pub fn raw_scores(&self, row: &[f64]) -> Vec<f64> {
        let k = self.trees_per_iteration;
        let mut out = vec![0.0; k];
        for (i, t) in self.trees.iter().enumerate() {
            out[i % k] += t.predict(row);
        }
        if self.average_output {
            let n = self.iterations() as f64;
            out.iter_mut().for_each(|v| *v /= n);
        }
        out
    }

    /// Predictions of one row: probabilities for classifiers (the positive class for binary),
    /// else the transformed score.
    pub fn predict(&self, row: &[f64]) -> Vec<f64> {
        let mut raw = self.raw_scores(row);
        transform(&self.objective, &mut raw);
        raw
    }

    /// TreeSHAP contributions of one row in LightGBM's `predict_contrib` layout: per class, one
    /// value per feature then the expected value; each class block sums to its raw score.
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        let f = self.num_features();
        let k = self.trees_per_iteration;
        let mut out = vec![0.0; k * (f + 1)];
        let mut path = Vec::new();
        for (i, t) in self.trees.iter().enumerate() {
            let block = &mut out[(i % k) * (f + 1)..(i % k + 1) * (f + 1)];
            block[f] += t.expected_value();
            if !t.splits.is_empty() {
                let d = t.depth + 1;
                path.clear();
                path.resize(d * (d + 1) / 2 + d, PathElement::default());
                tree_shap(t, row, block, Child::Node(0), 0, &mut path, 0, 1.0, 1.0, -1);
            }
        }
        out
    }
}

/// LightGBM's output transform.
pub fn transform(objective: &Objective, raw: &mut [f64]) {
    match objective {
        Objective::Binary { sigmoid } | Objective::MulticlassOva { sigmoid, .. } => {
            raw.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-sigmoid * *v).exp()));
        }
        Objective::CrossEntropy => raw.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Objective::Multiclass { .. } => {
            let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for v in raw.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            raw.iter_mut().for_each(|v| *v /= sum);
        }
        Objective::Exponential { .. } => raw.iter_mut().for_each(|v| *v = v.exp()),
        Objective::Identity { .. } => {}
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PathElement {
    feature: i64,
    pub(crate) zero_fraction: f64,
    pub(crate) one_fraction: f64,
    weight: f64,
}

pub(crate) fn count(t: &Tree, c: Child) -> f64 {
    match c {
        Child::Node(n) => t.splits[n as usize].count,
        Child::Leaf(l) => t.leaf_counts[l as usize],
    }
}

/// Lundberg's polynomial-time TreeSHAP, step for step as LightGBM computes it, so the sums
/// agree to rounding. `path[start..]` is this call's copy of the unique path.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tree_shap(
    t: &Tree,
    row: &[f64],
    phi: &mut [f64],
    node: Child,
    depth: usize,
    path: &mut [PathElement],
    start: usize,
    zero_fraction: f64,
    one_fraction: f64,
    feature: i64,
) {
    let here = start + depth;
    if depth > 0 {
        path.copy_within(start..start + depth, here);
    }
    let mut depth = depth;
    extend(&mut path[here..], depth, zero_fraction, one_fraction, feature);
    match node {
        Child::Leaf(l) => {
            let unique = &path[here..];
            for i in 1..=depth {
                let w = unwound_sum(unique, depth, i);
                let el = unique[i];
                phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * t.leaf_values[l as usize];
            }
        }
        Child::Node(n) => {
            let s = &t.splits[n as usize];
            let (hot, cold) = if goes_left(&s.condition, row[s.feature as usize]) {
                (s.left, s.right)
            } else {
                (s.right, s.left)
            };
            let w = s.count;
            let hot_zero = count(t, hot) / w;
            let cold_zero = count(t, cold) / w;
            let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
            let split_feature = i64::from(s.feature);
            if let Some(k) = (0..=depth).find(|&k| path[here + k].feature == split_feature) {
                incoming_zero = path[here + k].zero_fraction;
                incoming_one = path[here + k].one_fraction;
                unwind(&mut path[here..], depth, k);
                depth -= 1;
            }
            let next = here;
            tree_shap(
                t,
                row,
                phi,
                hot,
                depth + 1,
                path,
                next,
                hot_zero * incoming_zero,
                incoming_one,
                split_feature,
            );
            tree_shap(
                t,
                row,
                phi,
                cold,
                depth + 1,
                path,
                next,
                cold_zero * incoming_zero,
                0.0,
                split_feature,
            );
        }
    }
}

pub(crate) fn extend(p: &mut [PathElement], depth: usize, zero_fraction: f64, one_fraction: f64, feature: i64) {
    p[depth] = PathElement {
        feature,
        zero_fraction,
        one_fraction,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        p[i + 1].weight += one_fraction * p[i].weight * (i + 1) as f64 / d1;
        p[i].weight = zero_fraction * p[i].weight * (depth - i) as f64 / d1;
    }
}

fn unwind(p: &mut [PathElement], depth: usize, index: usize) {
    let one = p[index].one_fraction;
    let zero = p[index].zero_fraction;
    let mut next_one = p[depth].weight;
    let d1 = (depth + 1) as f64;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = p[i].weight;
            // The quotient is formed off the loop-carried chain through `next_one`: dividing
            // the running value instead made TreeSHAP wait on one division per step.
            p[i].weight = next_one * (d1 / ((i + 1) as f64 * one));
            next_one = tmp - p[i].weight * zero * (depth - i) as f64 / d1;
        } else {
            p[i].weight = (p[i].weight * d1) / (zero * (depth - i) as f64);
        }
    }
    for i in index..depth {
        p[i].feature = p[i + 1].feature;
        p[i].zero_fraction = p[i + 1].zero_fraction;
        p[i].one_fraction = p[i + 1].one_fraction;
    }
}

pub(crate) fn unwound_sum(p: &[PathElement], depth: usize, index: usize) -> f64 {
    let one = p[index].one_fraction;
    let zero = p[index].zero_fraction;
    let mut next_one = p[depth].weight;
    let d1 = (depth + 1) as f64;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next_one * (d1 / ((i + 1) as f64 * one));
            total += tmp;
            next_one = p[i].weight - tmp * zero * ((depth - i) as f64 / d1);
        } else {
            total += (p[i].weight / zero) / ((depth - i) as f64 / d1);
        }
    }
    total
}

impl Ensemble {
    /// Rows that probe every split: each sets one feature of an all-zero row to a threshold, its
    /// double and float32 neighbours, or a category; plus zeros, NaNs and out-of-range values.
    /// At most about `limit` rows, spread over the splits.
    pub fn probe_rows(&self, limit: usize) -> Vec<f64> {
        let f = self.num_features();
        let mut points: Vec<(usize, f64)> = Vec::new();
        for s in self.trees.iter().flat_map(|t| &t.splits) {
            let j = s.feature as usize;
            match &s.condition {
                Condition::Numeric { threshold: t, .. } => {
                    points.extend(threshold_neighbours(*t).map(|v| (j, v)));
                }
                Condition::Categorical { categories } => {
                    points.extend(categories.iter().map(|&c| (j, f64::from(c))));
                }
            }
        }
        for j in 0..f {
            for v in [0.0, f64::NAN, -1.0, 0.5, 1e-36, 1e6, -1e6] {
                points.push((j, v));
            }
        }
        let step = points.len().div_ceil(limit.max(1)).max(1);
        let mut out = Vec::new();
        for (j, v) in points.into_iter().step_by(step) {
            let start = out.len();
            out.resize(start + f, 0.0);
            out[start + j] = v;
        }
        out
    }
}

/// The largest |a - b| over paired values, the parity figure of an export (equal values, equal
/// infinities included, count 0).
pub fn max_abs_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| if x == y { 0.0 } else { (x - y).abs() })
        .fold(0.0, f64::max)
}

/// A threshold and the values beside it where an export could go wrong: its double neighbours,
/// the largest float32 not above it and the next float32 up.
pub fn threshold_neighbours(t: f64) -> [f64; 5] {
    let narrow = t as f32;
    let below = if f64::from(narrow) > t {
        narrow.next_down()
    } else {
        narrow
    };
    [
        t,
        t.next_up(),
        t.next_down(),
        f64::from(below),
        f64::from(below.next_up()),
    ]
}
