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
