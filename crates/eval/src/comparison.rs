//! What `churnguard compare` finds (packages' figures on the same customers, paired tests) and
//! the verdict of its gates (`--fail-if-worse`, and retraining's promotion): decisions made here,
//! drawn by the report.

use serde::Serialize;

use crate::{Agreement, CalibrationFigures, Curves, Evaluation, PairedAuc};

/// Top shares of the list (percent) at which comparisons report lift and value captured.
pub const COMPARE_PERCENTS: [f64; 3] = [5.0, 10.0, 20.0];

/// Packages scored on the same labelled customers.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The pipeline.
    pub pipeline: String,
    /// The snapshot's cutoff.
    pub cutoff: String,
    /// Who the figures are measured on, in words: customers no package trained on.
    pub population: String,
    /// Customers scored (the same for every package).
    pub customers: u64,
    /// Churners among them.
    pub churners: u64,
    /// Each package, the first being the baseline.
    pub models: Vec<Compared>,
    /// Each later package against the baseline.
    pub paired: Vec<Paired>,
    /// The `--fail-if-worse` checks.
    pub gates: Vec<Gate>,
}

/// One package's figures on the shared customers.
#[derive(Clone, Debug, Serialize)]
pub struct Compared {
    /// The package folder as given.
    pub package: String,
    /// Its version.
    pub version: String,
    /// Features its FeatureSpec reads.
    pub features: usize,
    /// AUC with its bootstrap interval, PR AUC, log loss, Brier, lift, at the package's own
    /// threshold.
    pub evaluation: Evaluation,
    /// Calibration on these customers.
    pub calibration: CalibrationFigures,
    /// Share of the churners' spend captured at each top share in [`COMPARE_PERCENTS`], in
    /// the list's order (none when customers have no value).
    pub value_captured: Option<Vec<(f64, f64)>>,
    /// ROC and PR with bands, gains in list order.
    pub curves: Curves,
    /// Customers per second through ONNX Runtime, measured in this run.
    pub rows_per_second: f64,
    /// Size of `model.onnx` in bytes.
    pub model_bytes: u64,
    /// Trees in the model.
    pub trees: usize,
}

/// A package against the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Paired {
    /// Index of the package in [`Comparison::models`].
    pub model: usize,
    /// DeLong's test of its AUC against the baseline's.
    pub delong: PairedAuc,
    /// Rank correlation and overlap of the top 10%.
    pub agreement: Agreement,
    /// Customers by baseline tier (rows: high, medium, low) and this package's tier (columns).
    pub migration: [[u64; 3]; 3],
}

/// A figure `--fail-if-worse` can check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ROC AUC (higher is better).
    Auc,
    /// Average precision (higher is better).
    PrAuc,
    /// Log loss (lower is better).
    LogLoss,
    /// Brier score (lower is better).
    Brier,
    /// Expected calibration error (lower is better).
    Ece,
    /// Lift at the top 10% (higher is better).
    Lift10,
}

impl Metric {
    const ALL: [(Metric, &'static str); 6] = [
        (Metric::Auc, "auc"),
        (Metric::PrAuc, "pr_auc"),
        (Metric::LogLoss, "log_loss"),
        (Metric::Brier, "brier"),
        (Metric::Ece, "ece"),
        (Metric::Lift10, "lift10"),
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        Metric::ALL.iter().find(|(m, _)| *m == self).map_or("", |(_, n)| n)
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Metric::Auc | Metric::PrAuc | Metric::Lift10)
    }

    /// Its value for a package.
    pub fn of(self, c: &Compared) -> f64 {
        let e = &c.evaluation;
        match self {
            Metric::Auc => e.auc,
            Metric::PrAuc => e.pr_auc,
            Metric::LogLoss => e.log_loss,
            Metric::Brier => e.brier,
            Metric::Ece => c.calibration.ece,
            Metric::Lift10 => e.lift_at(10.0).map_or(f64::NAN, |l| l.lift),
        }
    }
}

/// Margins by which a package may be worse than the baseline: `auc=0.01,brier=0.005`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailIfWorse(pub Vec<(Metric, f64)>);

impl std::str::FromStr for FailIfWorse {
    type Err = String;

    fn from_str(s: &str) -> Result<FailIfWorse, String> {
        let names = || Metric::ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, margin) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not METRIC=MARGIN (metrics: {})", names()))?;
            let metric = Metric::ALL
                .iter()
                .find(|(_, n)| *n == name.trim())
                .map(|(m, _)| *m)
                .ok_or_else(|| format!("unknown metric `{}` (metrics: {})", name.trim(), names()))?;
            let margin: f64 = margin
                .trim()
                .parse()
                .ok()
                .filter(|m: &f64| m.is_finite() && *m >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "the margin of {name} must be a number at least 0, got `{}`",
                        margin.trim()
                    )
                })?;
            out.push((metric, margin));
        }
        if out.is_empty() {
            return Err(format!("give at least one METRIC=MARGIN (metrics: {})", names()));
        }
        Ok(FailIfWorse(out))
    }
}

/// One check of a package against the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Gate {
    /// Index of the package in [`Comparison::models`].
    pub model: usize,
    /// The figure.
    pub metric: Metric,
    /// The baseline's value.
    pub baseline: f64,
    /// The package's value.
    pub value: f64,
    /// How much worse it may be.
    pub margin: f64,
    /// Whether it is worse by more than the margin.
    pub failed: bool,
}

impl FailIfWorse {
    /// Checks every later package against the first.
    pub fn check(&self, models: &[Compared]) -> Vec<Gate> {
        let Some(base) = models.first() else {
            return Vec::new();
        };
        let mut gates = Vec::new();
        for (k, m) in models.iter().enumerate().skip(1) {
            for &(metric, margin) in &self.0 {
                let (baseline, value) = (metric.of(base), metric.of(m));
                let worse_by = if metric.higher_is_better() {
                    baseline - value
                } else {
                    value - baseline
                };
                gates.push(Gate {
                    model: k,
                    metric,
                    baseline,
                    value,
                    margin,
                    failed: worse_by.is_nan() || worse_by > margin,
                });
            }
        }
        gates
    }
}

impl Comparison {
    /// Whether any gate failed.
    pub fn failed(&self) -> bool {
        self.gates.iter().any(|g| g.failed)
    }

    /// A short name of each package: its version, with its position when versions repeat.
    pub fn names(&self) -> Vec<String> {
        self.models
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let repeated = self.models.iter().filter(|o| o.version == m.version).count() > 1;
                if repeated {
                    format!("{} (#{})", m.version, k + 1)
                } else {
                    m.version.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_parse_and_bad_ones_say_why() {
        let f: FailIfWorse = "auc=0.01, brier=0.005".parse().unwrap_or_default();
        assert_eq!(f.0, vec![(Metric::Auc, 0.01), (Metric::Brier, 0.005)]);
        for (bad, says) in [
            ("auc", "not METRIC=MARGIN"),
            ("gini=0.1", "unknown metric `gini`"),
            ("auc=-1", "at least 0"),
            ("auc=x", "at least 0"),
            ("", "at least one"),
        ] {
            let e = bad.parse::<FailIfWorse>().err().unwrap_or_default();
            assert!(e.contains(says), "{bad:?} gave {e:?}");
        }
    }
}
