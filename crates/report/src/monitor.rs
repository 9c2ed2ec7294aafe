//! What `churnguard monitor` finds: input drift against the package's references, and the
//! package's figures on lists whose outcomes are now known; its tables and HTML page.

use churnguard_eval::{CalibrationFigures, Curves, Monitoring};

use crate::chart::{BarChart, PALETTE};
use crate::curves::{reliability_chart, roc_chart};
use crate::html::{Page, Table, number, percent};

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
