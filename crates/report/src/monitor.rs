//! What `churnguard monitor` finds: input drift against the package's references, and the
//! package's figures on lists whose outcomes are now known; its tables and HTML page.

use churnguard_config::MonitoringConfig;
use churnguard_eval::{CalibrationFigures, Curves};
use serde::Serialize;

use crate::chart::{BarChart, PALETTE};
use crate::curves::{reliability_chart, roc_chart};
use crate::html::{Page, Table, number, percent};

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

/// The population table.
pub fn population_table(m: &Monitoring) -> Table {
    let p = &m.population;
    let mut t = Table::new(&["figure", "now", "at training", "verdict"]);
    t.row(vec![
        "customers still with us".into(),
        p.customers.to_string(),
        p.customers_at_training.to_string(),
        String::new(),
    ]);
    t.row(vec![
        "already churned".into(),
        p.already_churned.to_string(),
        p.already_churned_at_training.to_string(),
        String::new(),
    ]);
    t.row(vec![
        "share still with us".into(),
        percent(p.alive_share),
        percent(p.alive_share_at_training),
        p.drift.name().into(),
    ]);
    if let Some(s) = &m.score {
        t.row(vec![
            "mean churn probability".into(),
            number(s.mean),
            number(s.mean_at_training),
            String::new(),
        ]);
        t.row(vec![
            "score PSI".into(),
            number(s.psi),
            String::new(),
            s.drift.name().into(),
        ]);
    }
    t
}

/// The feature table, most drifted first.
pub fn feature_table(m: &Monitoring) -> Table {
    let mut t = Table::new(&[
        "feature",
        "PSI",
        "missing",
        "missing at training",
        "unseen",
        "verdict",
        "why",
    ]);
    for f in &m.features {
        t.row(vec![
            f.feature.clone(),
            number(f.psi),
            percent(f.missing),
            percent(f.missing_at_training),
            percent(f.unseen),
            f.verdict().into(),
            f.why.join("; "),
        ]);
    }
    t
}

/// The matured-list table.
pub fn matured_table(m: &Monitoring) -> Table {
    let mut t = Table::new(&[
        "scored on",
        "known outcomes",
        "churners",
        "AUC",
        "AUC at training",
        "ECE",
        "ECE at training",
        "value captured at 10%",
        "at training",
        "verdict",
    ]);
    let share = |x: Option<f64>| x.map_or("-".into(), percent);
    for r in &m.matured {
        t.row(vec![
            r.as_of.clone(),
            r.known.to_string(),
            r.churners.to_string(),
            number(r.auc),
            number(r.auc_at_training),
            number(r.calibration.ece),
            number(r.ece_at_training),
            share(r.value_captured_10),
            share(r.value_captured_10_at_training),
            if r.drops.is_empty() {
                "ok".into()
            } else {
                format!("DROPPED: {}", r.drops.join("; "))
            },
        ]);
    }
    t
}

/// The HTML page of a monitoring run.
pub fn monitoring_report(m: &Monitoring) -> String {
    let mut page = Page::new(&format!("{} {}: monitoring at {}", m.pipeline, m.version, m.as_of));
    page.heading("Population and score");
    page.text(&format!("Reference: {}.", m.reference));
    page.table("population", &population_table(m));
    page.heading("Input drift");
    page.figures(&[(
        "psi",
        BarChart {
            title: "PSI per feature against the reference".into(),
            value_label: "PSI".into(),
            bars: m.features.iter().map(|f| (f.feature.clone(), f.psi)).collect(),
            colour: PALETTE[0],
        }
        .draw(),
        format!(
            "Below {} is stable, from {} shifted, from {} drifted.",
            m.thresholds.psi_warn, m.thresholds.psi_warn, m.thresholds.psi_alert
        ),
    )]);
    page.table("features", &feature_table(m));
    page.heading("Performance on matured outcomes");
    if m.matured.is_empty() {
        page.note("No kept list has matured yet: a list's outcomes are known once its horizon has passed.");
    } else {
        page.table("matured", &matured_table(m));
        let names: Vec<String> = m.matured.iter().map(|r| format!("scored {}", r.as_of)).collect();
        let curves: Vec<(&str, &Curves)> = names
            .iter()
            .map(String::as_str)
            .zip(m.matured.iter().map(|r| &r.curves))
            .collect();
        let calibration: Vec<(&str, &CalibrationFigures)> = names
            .iter()
            .map(String::as_str)
            .zip(m.matured.iter().map(|r| &r.calibration))
            .collect();
        page.figures(&[
            (
                "roc",
                roc_chart(&curves),
                "ROC of each matured list, with 95% bootstrap bands.".into(),
            ),
            (
                "reliability",
                reliability_chart(&calibration),
                "Predicted against observed churn on each matured list.".into(),
            ),
        ]);
    }
    for s in &m.skipped {
        page.note(s);
    }
    page.finish(&format!(
        "Package {} ({}), inputs as of {}: drift {}, performance {}.",
        m.version,
        m.package,
        m.as_of,
        m.drift().name(),
        if m.performance_dropped() { "DROPPED" } else { "ok" }
    ))
}
