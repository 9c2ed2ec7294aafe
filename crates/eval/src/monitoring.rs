//! What `churnguard monitor` finds (drift of the inputs and the score, figures on matured
//! lists) and its verdicts: decisions made here, drawn by the report.

use churnguard_config::MonitoringConfig;
use serde::Serialize;

use crate::{CalibrationFigures, Curves};

/// How far an input moved from the package's reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// Below the warning band.
    Stable,
    /// In the warning band: worth a look.
    Shifted,
    /// Beyond the alert threshold: monitor's drift exit code.
    Drifted,
}

impl Drift {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Drift::Stable => "stable",
            Drift::Shifted => "shifted",
            Drift::Drifted => "DRIFTED",
        }
    }

    /// The band of a PSI under these thresholds.
    pub fn of_psi(psi: f64, t: &MonitoringConfig) -> Drift {
        if psi >= t.psi_alert {
            Drift::Drifted
        } else if psi >= t.psi_warn {
            Drift::Shifted
        } else {
            Drift::Stable
        }
    }
}

/// One monitoring run.
#[derive(Clone, Debug, Serialize)]
pub struct Monitoring {
    /// The pipeline.
    pub pipeline: String,
    /// The package's version.
    pub version: String,
    /// The package folder as given.
    pub package: String,
    /// The day the inputs were read at.
    pub as_of: String,
    /// What the inputs are compared with, in words.
    pub reference: String,
    /// The thresholds applied.
    pub thresholds: MonitoringConfig,
    /// Who is in the population now, against training's test snapshot.
    pub population: PopulationShape,
    /// Each feature against its training distribution, most drifted first.
    pub features: Vec<FeatureDrift>,
    /// The calibrated probability against its distribution on the test customers (none for
    /// packages made before monitoring).
    pub score: Option<ScoreDrift>,
    /// Each kept list whose horizon has passed, oldest first.
    pub matured: Vec<Matured>,
    /// Lists not judged, and why (not matured yet, another package, unreadable).
    pub skipped: Vec<String>,
}

impl Monitoring {
    /// The worst drift of any input (features, score, population).
    pub fn drift(&self) -> Drift {
        self.features
            .iter()
            .filter(|f| f.judged)
            .map(|f| f.drift)
            .chain(self.score.iter().map(|s| s.drift))
            .chain(std::iter::once(self.population.drift))
            .max()
            .unwrap_or(Drift::Stable)
    }

    /// Whether the package performs worse on some matured list than at training.
    pub fn performance_dropped(&self) -> bool {
        self.matured.iter().any(|m| !m.drops.is_empty())
    }
}

/// The population's size and shape now and at training.
#[derive(Clone, Debug, Serialize)]
pub struct PopulationShape {
    /// Customers still with us now (the scored population).
    pub customers: u64,
    /// Customers known now whom the label already counts as gone.
    pub already_churned: u64,
    /// Share of known customers still with us now.
    pub alive_share: f64,
    /// The same at training's test snapshot.
    pub customers_at_training: u64,
    /// Its already-churned customers.
    pub already_churned_at_training: u64,
    /// Its share still with us.
    pub alive_share_at_training: f64,
    /// Whether the change of the alive share is beyond the threshold.
    pub drift: Drift,
}

/// One feature now against its training distribution.
#[derive(Clone, Debug, Serialize)]
pub struct FeatureDrift {
    /// The feature.
    pub feature: String,
    /// Population stability index against the training rows.
    pub psi: f64,
    /// Missing share now.
    pub missing: f64,
    /// Missing share at training.
    pub missing_at_training: f64,
    /// Share of customers whose category the model never saw (categorical features).
    pub unseen: f64,
    /// The verdict.
    pub drift: Drift,
    /// Whether the verdict counts: a feature that grows with the calendar by construction
    /// (tenure) is shown but left out, since its drift says only that time has passed.
    pub judged: bool,
    /// What made it so, in words (empty when stable).
    pub why: Vec<String>,
}

impl FeatureDrift {
    /// Its verdict as the tables show it.
    pub fn verdict(&self) -> &'static str {
        if self.judged { self.drift.name() } else { "not judged" }
    }
}

/// The score now against its distribution on the test customers.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreDrift {
    /// Population stability index.
    pub psi: f64,
    /// Mean calibrated probability now.
    pub mean: f64,
    /// Mean at training (the test customers).
    pub mean_at_training: f64,
    /// The verdict.
    pub drift: Drift,
}

/// The package's figures on a list whose outcomes are now known, against training's.
#[derive(Clone, Debug, Serialize)]
pub struct Matured {
    /// The kept list.
    pub list: String,
    /// Its scoring date.
    pub as_of: String,
    /// Customers on the list.
    pub customers: u64,
    /// Of those, customers whose outcome is known now.
    pub known: u64,
    /// Churners among them.
    pub churners: u64,
    /// AUC of the list's probabilities on the outcomes.
    pub auc: f64,
    /// The training test AUC.
    pub auc_at_training: f64,
    /// Calibration of the list's probabilities.
    pub calibration: CalibrationFigures,
    /// The training test's expected calibration error.
    pub ece_at_training: f64,
    /// Share of the churners' past spend held by the list's top 10% (when customers have a value).
    pub value_captured_10: Option<f64>,
    /// The same at training.
    pub value_captured_10_at_training: Option<f64>,
    /// ROC and gains along the list.
    pub curves: Curves,
    /// The figures that dropped beyond their threshold, in words (empty: fine).
    pub drops: Vec<String>,
}
