//! Reference distributions of features, kept with a model, and the population stability index
//! that compares new data with them.

use serde::{Deserialize, Serialize};

/// Floor on a bin's share in the PSI, so an empty bin does not make it infinite.
const PSI_FLOOR: f64 = 1e-4;

/// A binned distribution: bin `i` holds values in `(edges[i-1], edges[i]]`, the first bin
/// everything up to `edges[0]`, the last everything above the last edge. Shares are of all
/// values, so `fractions` and `missing` sum to 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Inner cut points, increasing and distinct.
    pub edges: Vec<f64>,
    /// Share of values in each of the `edges.len() + 1` bins.
    pub fractions: Vec<f64>,
    /// Share of missing (NaN) values.
    pub missing: f64,
}

impl Histogram {
    /// Cut points at the quantiles of the finite values (`bins` bins at most: heavy ties give
    /// fewer). With no finite value there is one bin, empty, and everything is missing.
    pub fn reference(values: &[f64], bins: usize) -> Histogram {
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        finite.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::new();
        if !finite.is_empty() {
            for i in 1..bins.max(1) {
                let e = finite[(i * finite.len() / bins).min(finite.len() - 1)];
                // An edge at the maximum would leave the last bin empty forever.
                if e < finite[finite.len() - 1] && edges.last().is_none_or(|&l| e > l) {
                    edges.push(e);
                }
            }
        }
        let mut h = Histogram {
            edges,
            fractions: Vec::new(),
            missing: 0.0,
        };
        (h.fractions, h.missing) = h.fractions_of(values);
        h
    }

    /// One bin per category code `0..categories` (codes are whole numbers; NaN is missing).
    pub fn categorical(codes: &[f64], categories: usize) -> Histogram {
        let mut h = Histogram {
            edges: (1..categories).map(|c| c as f64 - 0.5).collect(),
            fractions: Vec::new(),
            missing: 0.0,
        };
        (h.fractions, h.missing) = h.fractions_of(codes);
        h
    }

    /// The shares of `values` in these bins, and the missing share.
    pub fn fractions_of(&self, values: &[f64]) -> (Vec<f64>, f64) {
        let mut counts = vec![0u64; self.edges.len() + 1];
        let mut missing = 0u64;
        for &v in values {
            if v.is_nan() {
                missing += 1;
            } else {
                counts[self.edges.partition_point(|&e| e < v)] += 1;
            }
        }
        let n = values.len().max(1) as f64;
        (counts.iter().map(|&c| c as f64 / n).collect(), missing as f64 / n)
    }

    /// The share (0 to 1) of the reference's known values below `v`, counting half of the
    /// share in `v`'s own bin (a mid-rank percentile, as fine as the bins): where a customer
    /// stands in the population. `None` when `v` is missing or no reference value was known.
    pub fn share_below(&self, v: f64) -> Option<f64> {
        let known = 1.0 - self.missing;
        if v.is_nan() || known <= 0.0 {
            return None;
        }
        let bin = self.edges.partition_point(|&e| e < v);
        let below: f64 = self.fractions[..bin].iter().sum();
        Some(((below + self.fractions.get(bin).copied().unwrap_or(0.0) / 2.0) / known).clamp(0.0, 1.0))
    }

    /// Population stability index of `values` against this reference (missing counted as a bin).
    /// Below 0.1 is usually read as stable, above 0.25 as a shift.
    pub fn psi(&self, values: &[f64]) -> f64 {
        let (now, missing) = self.fractions_of(values);
        self.fractions
            .iter()
            .chain(std::iter::once(&self.missing))
            .zip(now.iter().chain(std::iter::once(&missing)))
            .map(|(&e, &a)| {
                let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
                (a - e) * (a / e).ln()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn share_below_places_a_value_among_the_reference() {
        let values: Vec<f64> = (0..100).map(f64::from).chain([f64::NAN; 25]).collect();
        let h = super::Histogram::reference(&values, 10);
        // Mid-rank within ten bins of about ten values each (the first holds 0..=10, the last
        // 91..=99), missing values left out.
        let near = |v: f64, want: f64| (h.share_below(v).unwrap() - want).abs() < 1e-12;
        assert!(near(95.0, (91.0 + 4.5) / 100.0));
        assert!(near(3.0, 5.5 / 100.0));
        assert!(near(-1.0, 5.5 / 100.0));
        assert_eq!(h.share_below(f64::NAN), None);
        assert_eq!(super::Histogram::reference(&[f64::NAN], 10).share_below(1.0), None);
    }
}
