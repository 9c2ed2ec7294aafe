//! Calibration: turning a model's scores into probabilities that match observed churn rates,
//! fitted on the validation customers (Platt's logistic map on the log-odds, or isotonic
//! regression), and the figures that say how well probabilities match outcomes.

use serde::{Deserialize, Serialize};

pub use churnguard_config::CalibrationMethod;

use crate::EvalError;
use crate::metrics::{brier, check_probabilities};

/// Newton steps of the Platt fit (it converges in a handful; the cap only guards bad data).
const PLATT_STEPS: usize = 100;
/// Log-odds kept finite for probabilities of exactly 0 or 1 (a double probability below 1
/// holds at most about 36.7).
pub const MAX_LOG_ODDS: f64 = 36.0;

/// Platt scaling: `p' = sigmoid(a * logit(p) + b)`; exact as two ONNX nodes before the sigmoid.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    /// Slope on the log-odds (1 keeps the model's spread).
    pub a: f64,
    /// Offset on the log-odds (0 keeps the model's level).
    pub b: f64,
}

/// The log-odds of a probability, kept finite.
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln().clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS)
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Platt {
    /// The map that changes nothing.
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    /// The maximum-likelihood fit on these outcomes (Newton's method with step halving).
    pub fn fit(labels: &[bool], probabilities: &[f64]) -> Result<Platt, EvalError> {
        check_probabilities(labels, probabilities)?;
        let z: Vec<f64> = probabilities.iter().map(|&p| logit(p)).collect();
        let loss = |a: f64, b: f64| -> f64 {
            z.iter()
                .zip(labels)
                .map(|(&z, &y)| {
                    // log(1 + e^t) - y t, written to stay finite for large |t|.
                    let t = a * z + b;
                    let soft = if t > 0.0 {
                        t + (-t).exp().ln_1p()
                    } else {
                        t.exp().ln_1p()
                    };
                    soft - if y { t } else { 0.0 }
                })
                .sum()
        };
        let (mut a, mut b) = (1.0, 0.0);
        let mut current = loss(a, b);
        for _ in 0..PLATT_STEPS {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (&z, &y) in z.iter().zip(labels) {
                let p = sigmoid(a * z + b);
                let r = p - f64::from(u8::from(y));
                let w = p * (1.0 - p);
                ga += r * z;
                gb += r;
                haa += w * z * z;
                hab += w * z;
                hbb += w;
            }
            let det = haa * hbb - hab * hab;
            if !(det.is_finite() && det > 1e-12) {
                break;
            }
            let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
            let mut step = 1.0;
            let mut improved = false;
            while step > 1e-6 {
                let (na, nb) = (a - step * da, b - step * db);
                let next = loss(na, nb);
                if next <= current {
                    improved = current - next > 1e-12 * current.abs().max(1.0);
                    (a, b, current) = (na, nb, next);
                    break;
                }
                step /= 2.0;
            }
            if !improved {
                break;
            }
        }
        Ok(Platt { a, b })
    }

    /// The calibrated probability.
    pub fn apply(&self, p: f64) -> f64 {
        self.apply_log_odds(logit(p))
    }

    /// The calibrated probability of a model's log-odds `z`, kept within what a double
    /// probability holds: exact where the probability itself has lost digits (|z| above ~20).
    pub fn apply_log_odds(&self, z: f64) -> f64 {
        sigmoid(self.a * z.clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS) + self.b)
    }
}

/// Isotonic regression: the best non-decreasing step map from probability to churn rate
/// (pool-adjacent-violators), interpolated linearly between its steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Isotonic {
    /// Mean input probability of each block, increasing.
    pub x: Vec<f64>,
    /// Observed churn rate of each block, non-decreasing.
    pub y: Vec<f64>,
}

impl Isotonic {
    /// The fit on these outcomes.
    pub fn fit(labels: &[bool], probabilities: &[f64]) -> Result<Isotonic, EvalError> {
        check_probabilities(labels, probabilities)?;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&i, &j| probabilities[i].total_cmp(&probabilities[j]));
        // Blocks of (sum of x, sum of y, count), merged while they decrease.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for i in order {
            blocks.push((probabilities[i], f64::from(u8::from(labels[i])), 1.0));
            while blocks.len() > 1 {
                let (last, before) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if before.1 / before.2 < last.1 / last.2 {
                    break;
                }
                blocks.pop();
                let merged = blocks
                    .last_mut()
                    .ok_or_else(|| EvalError::Invalid("empty isotonic fit".into()))?;
                *merged = (merged.0 + last.0, merged.1 + last.1, merged.2 + last.2);
            }
        }
        Ok(Isotonic {
            x: blocks.iter().map(|b| b.0 / b.2).collect(),
            y: blocks.iter().map(|b| b.1 / b.2).collect(),
        })
    }

    /// The calibrated probability (clipped to the first and last steps outside their range).
    pub fn apply(&self, p: f64) -> f64 {
        let k = self.x.partition_point(|&x| x <= p);
        match k {
            0 => self.y.first().copied().unwrap_or(p),
            k if k == self.x.len() => self.y[k - 1],
            k => {
                let (x0, x1, y0, y1) = (self.x[k - 1], self.x[k], self.y[k - 1], self.y[k]);
                y0 + (y1 - y0) * (p - x0) / (x1 - x0)
            }
        }
    }
}

/// Observed against predicted churn in one tenth of the customers (by predicted probability).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// Customers in it.
    pub customers: u64,
    /// Their mean predicted probability.
    pub predicted: f64,
    /// Their observed churn rate.
    pub observed: f64,
}

/// How well probabilities match outcomes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFigures {
    /// Expected calibration error: |observed - predicted| per decile, weighted by customers.
    pub ece: f64,
    /// Brier score.
    pub brier: f64,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Observed churn rate.
    pub observed_rate: f64,
    /// Observed against predicted per decile of predicted probability, lowest first.
    pub deciles: Vec<Decile>,
}

/// Calibration figures of these probabilities on these outcomes.
pub fn calibration_figures(labels: &[bool], probabilities: &[f64]) -> Result<CalibrationFigures, EvalError> {
    check_probabilities(labels, probabilities)?;
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| probabilities[i].total_cmp(&probabilities[j]));
    let deciles: Vec<Decile> = (0..10)
        .map(|d| &order[d * n / 10..(d + 1) * n / 10])
        .filter(|rows| !rows.is_empty())
        .map(|rows| {
            let k = rows.len() as f64;
            Decile {
                customers: rows.len() as u64,
                predicted: rows.iter().map(|&i| probabilities[i]).sum::<f64>() / k,
                observed: rows.iter().filter(|&&i| labels[i]).count() as f64 / k,
            }
        })
        .collect();
    let ece = deciles
        .iter()
        .map(|d| d.customers as f64 * (d.observed - d.predicted).abs())
        .sum::<f64>()
        / n as f64;
    Ok(CalibrationFigures {
        ece,
        brier: brier(labels, probabilities)?,
        mean_predicted: probabilities.iter().sum::<f64>() / n as f64,
        observed_rate: labels.iter().filter(|&&y| y).count() as f64 / n as f64,
        deciles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;

    /// Outcomes drawn with probability `truth(p)` for model probabilities `p`.
    fn sample(truth: impl Fn(f64) -> f64) -> (Vec<bool>, Vec<f64>) {
        let mut r = SplitMix64::new(3);
        let p: Vec<f64> = (0..20_000).map(|_| 0.02 + 0.96 * r.unit()).collect();
        let y = p.iter().map(|&p| r.unit() < truth(p)).collect();
        (y, p)
    }

    #[test]
    fn platt_recovers_a_known_distortion() {
        // The truth is sigmoid(0.5 * logit(p) - 1): the fit must find a = 0.5, b = -1.
        let (y, p) = sample(|p| sigmoid(0.5 * logit(p) - 1.0));
        let fit = Platt::fit(&y, &p).unwrap();
        assert!((fit.a - 0.5).abs() < 0.05 && (fit.b + 1.0).abs() < 0.05, "{fit:?}");
        let before = calibration_figures(&y, &p).unwrap();
        let calibrated: Vec<f64> = p.iter().map(|&x| fit.apply(x)).collect();
        let after = calibration_figures(&y, &calibrated).unwrap();
        assert!(after.brier < before.brier && after.ece < 0.02, "{before:?} {after:?}");
    }

    #[test]
    fn platt_of_calibrated_probabilities_is_near_identity() {
        let (y, p) = sample(|p| p);
        let fit = Platt::fit(&y, &p).unwrap();
        assert!((fit.a - 1.0).abs() < 0.06 && fit.b.abs() < 0.06, "{fit:?}");
    }

    #[test]
    fn isotonic_is_monotone_and_calibrates() {
        let (y, p) = sample(|p| p * p);
        let iso = Isotonic::fit(&y, &p).unwrap();
        assert!(iso.y.windows(2).all(|w| w[0] <= w[1]));
        assert!(iso.x.windows(2).all(|w| w[0] < w[1]));
        let calibrated: Vec<f64> = p.iter().map(|&x| iso.apply(x)).collect();
        let after = calibration_figures(&y, &calibrated).unwrap();
        assert!(after.ece < 0.02, "{after:?}");
        // Outside the fitted range the map holds its end values.
        assert_eq!(iso.apply(0.0), iso.y[0]);
        assert_eq!(iso.apply(1.0), *iso.y.last().unwrap());
    }

    #[test]
    fn figures_count_every_customer_once() {
        let (y, p) = sample(|p| p);
        let f = calibration_figures(&y, &p).unwrap();
        assert_eq!(f.deciles.iter().map(|d| d.customers).sum::<u64>(), 20_000);
        assert!(
            f.ece < 0.03 && (f.mean_predicted - f.observed_rate).abs() < 0.02,
            "{f:?}"
        );
    }
}
