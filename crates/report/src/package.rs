//! A package's `report.html`, drawn from its manifest alone.

use churnguard_package::{Manifest, TestList};

use crate::chart::{BarChart, Line, LineChart, PALETTE, StackedHistogram, TIER_COLOURS};
use crate::curves::{gains_chart, lift_chart, pr_chart, reliability_chart, roc_chart};
use crate::html::{Page, Table, number, percent};

/// Bars shown in the importance and reason charts (the tables list every feature).
const TOP_BARS: usize = 15;

/// The report of a package: one self-contained HTML page.
pub fn package_report(m: &Manifest) -> String {
    let mut page = Page::new(&format!("{} {}: model report", m.pipeline, m.version));
    headline(&mut page, m);
    match &m.test_list {
        Some(list) => {
            ranking(&mut page, m, list);
            calibration(&mut page, m);
            the_list(&mut page, m, list);
        }
        None => {
            page.heading("Curves and the test list");
            page.note(
                "This package was made before churnguard recorded the test list's curves: retrain it to get \
                 ROC, PR, gains, tier and reason charts. The figures below come from its manifest.",
            );
            calibration(&mut page, m);
        }
    }
    drivers(&mut page, m);
    training(&mut page, m);
    data(&mut page, m);
    reproducibility(&mut page, m);
    page.finish(&format!(
        "Written {} by churnguard {}. Test: {}.",
        m.created_at, m.libraries.churnguard, m.test_design
    ))
}

fn headline(page: &mut Page, m: &Manifest) {
    let t = &m.test;
    let mut table = Table::new(&["figure", "test", "validation"]);
    let interval = t
        .auc_interval
        .map(|i| format!(" [{}, {}]", number(i.lower), number(i.upper)))
        .unwrap_or_default();
    let v = &m.validation;
    for (name, test, validation) in [
        ("customers", t.rows.to_string(), v.rows.to_string()),
        ("churners", t.churners.to_string(), v.churners.to_string()),
        ("churn rate", percent(t.churn_rate), percent(v.churn_rate)),
        (
            "ROC AUC (95% bootstrap interval)",
            format!("{}{interval}", number(t.auc)),
            number(v.auc),
        ),
        ("PR AUC", number(t.pr_auc), number(v.pr_auc)),
        ("log loss", number(t.log_loss), number(v.log_loss)),
        ("Brier", number(t.brier), number(v.brier)),
        (
            "threshold (chosen on validation)",
            number(t.threshold),
            number(v.threshold),
        ),
        ("precision at the threshold", number(t.precision), number(v.precision)),
        ("recall at the threshold", number(t.recall), number(v.recall)),
    ] {
        table.row(vec![name.to_string(), test, validation]);
    }
    page.heading("Headline figures");
    page.table("headline", &table);
    for s in &m.segments {
        page.note(&format!(
            "Customers active in the last {} days: {} of them, AUC {}, PR AUC {}.",
            s.active_within_days,
            s.evaluation.rows,
            number(s.evaluation.auc),
            number(s.evaluation.pr_auc)
        ));
    }
}

/// The ROC, PR, gains and lift charts of the test list.
fn ranking(page: &mut Page, m: &Manifest, list: &TestList) {
    let c = &list.curves;
    let list_name = format!("list (by {})", list.ranked_by);
    let by_probability = gains_by_probability(&c.roc, m.test.churn_rate);
    let mut gains: Vec<(&str, &Vec<(f64, f64)>)> = vec![(&list_name, &c.gains)];
    if list.ranked_by != "probability" {
        gains.push(("by probability", &by_probability));
    }
    page.heading("How well it ranks");
    page.figures(&[
        (
            "roc",
            roc_chart(&[("model", c)]),
            format!(
                "Test AUC {}; the band is the 95% bootstrap band of the curve.",
                number(m.test.auc)
            ),
        ),
        (
            "pr",
            pr_chart(&[("model", c)], m.test.churn_rate),
            format!(
                "Average precision {}; the grey line is the churn rate.",
                number(m.test.pr_auc)
            ),
        ),
        (
            "gains",
            gains_chart(&gains),
            if gains.len() > 1 {
                "Share of the test's churners among the top of the list, in the list's order and by probability alone."
            } else {
                "Share of the test's churners among the top of the list."
            }
            .to_string(),
        ),
        (
            "lift",
            lift_chart(&gains),
            "Churn rate of the top of the list over the overall rate.".to_string(),
        ),
    ]);
}

/// Gains of the ranking by probability, read off its ROC curve: after a threshold the list
/// holds `tpr * churners + fpr * others` customers.
fn gains_by_probability(roc: &[(f64, f64)], churn_rate: f64) -> Vec<(f64, f64)> {
    roc.iter()
        .map(|&(fpr, tpr)| (tpr * churn_rate + fpr * (1.0 - churn_rate), tpr))
        .collect()
}

fn calibration(page: &mut Page, m: &Manifest) {
    page.heading("Calibration");
    let Some(c) = &m.calibration else {
        page.note("This package has no calibration (made before churnguard calibrated its probabilities).");
        return;
    };
    let applied = format!("after ({})", c.method);
    page.figures(&[(
        "reliability",
        reliability_chart(&[("LightGBM's own", &c.before), (&applied, c.applied())]),
        format!(
            "Fitted on {} validation customers, shown on the test customers.",
            c.fitted_on
        ),
    )]);
    let mut table = Table::new(&["probabilities", "ECE", "Brier", "mean predicted", "observed rate"]);
    for (name, f) in [
        ("LightGBM's own", &c.before),
        ("Platt", &c.after),
        ("isotonic", &c.isotonic),
    ] {
        table.row(vec![
            name.to_string(),
            number(f.ece),
            number(f.brier),
            number(f.mean_predicted),
            number(f.observed_rate),
        ]);
    }
    page.table("calibration", &table);
    page.note(&format!("Scoring applies: {}.", c.method));
}

/// The tiers of the test list: the score distribution per tier, the tier table and the value
/// captured at the top.
fn the_list(page: &mut Page, m: &Manifest, list: &TestList) {
    page.heading("The test list");
    let histogram = StackedHistogram {
        title: "Calibrated probability by tier".into(),
        x_label: "churn probability".into(),
        edges: list.scores.edges.clone(),
        groups: vec!["high".into(), "medium".into(), "low".into()],
        counts: list.scores.counts.iter().map(|c| c.to_vec()).collect(),
        colours: TIER_COLOURS.to_vec(),
    };
    page.figures(&[(
        "scores",
        histogram.draw(),
        format!(
            "Test customers per probability bin, coloured by their risk level (the package's cut-offs; the list's priority is its rank by {}).",
            list.ranked_by
        ),
    )]);
    let mut tiers = Table::new(&[
        "risk level",
        "customers",
        "churners",
        "observed rate",
        "mean probability",
        "value at risk",
    ]);
    for t in &list.tiers {
        tiers.row(vec![
            t.tier.clone(),
            t.customers.to_string(),
            t.churners.to_string(),
            number(t.observed_rate),
            number(t.mean_probability),
            if list.values_known {
                number(t.value_at_risk)
            } else {
                "-".into()
            },
        ]);
    }
    page.table("tiers", &tiers);
    page.note(&format!(
        "Risk level belongs to the customer: high from probability {} and medium from {}, fixed at training, the same in every list and in the service. Priority belongs to a list: its rank by value at risk (or probability without values).",
        number(m.tiers.high),
        number(m.tiers.medium)
    ));
    if let Some(v) = &m.value_capture {
        let mut table = Table::new(&[
            "top of the list",
            &format!("spend captured (by {})", v.ranked_by),
            "95% interval (bootstrap)",
            "by probability alone",
        ]);
        for ((k, share), (_, by_p)) in v.captured.iter().zip(&v.by_probability) {
            let interval = v.interval(*k).map_or_else(
                || "-".to_string(),
                |i| format!("{} to {}", percent(i.lower), percent(i.upper)),
            );
            table.row(vec![format!("{k:.0}%"), percent(*share), interval, percent(*by_p)]);
        }
        page.text(&format!(
            "Of the spend over the {} days before the test cutoff of the customers who then churned, the top of the list holds:",
            v.spend_days
        ));
        page.table("value_captured", &table);
    }
}

/// Importance and the reasons given.
fn drivers(page: &mut Page, m: &Manifest) {
    page.heading("What drives the model");
    let bars = |values: Vec<(String, f64)>| values.into_iter().take(TOP_BARS).collect::<Vec<_>>();
    let mut figures = vec![(
        "importance",
        BarChart {
            title: "Importance (total gain)".into(),
            value_label: "gain".into(),
            bars: bars(m.importance.iter().map(|i| (i.feature.clone(), i.gain)).collect()),
            colour: PALETTE[0],
        }
        .draw(),
        format!("The {TOP_BARS} features with the most split gain; the table below lists every feature."),
    )];
    if let Some(list) = &m.test_list {
        figures.push((
            "reasons",
            BarChart {
                title: "Reasons given on the test list".into(),
                value_label: "customers".into(),
                bars: bars(
                    list.reasons
                        .features
                        .iter()
                        .map(|r| (r.feature.clone(), r.any as f64))
                        .collect(),
                ),
                colour: PALETTE[1],
            }
            .draw(),
            reasons_caption(&list.reasons),
        ));
    }
    page.figures(&figures);
    let mut table = Table::new(&["feature", "gain", "splits"]);
    for i in &m.importance {
        table.row(vec![i.feature.clone(), number(i.gain), i.splits.to_string()]);
    }
    page.table("importance_all", &table);
    if let Some(list) = &m.test_list {
        let mut table = Table::new(&["feature", "first reason", "among the reasons"]);
        for r in &list.reasons.features {
            table.row(vec![r.feature.clone(), r.first.to_string(), r.any.to_string()]);
        }
        page.table("reasons_all", &table);
    }
}

fn reasons_caption(r: &churnguard_package::ReasonCounts) -> String {
    let over = if r.given > r.explained {
        format!(
            "{} of the {} high- and medium-tier test customers (spread evenly over the list)",
            r.explained, r.given
        )
    } else {
        format!("the {} high- and medium-tier test customers", r.explained)
    };
    format!("How many of {over} have each feature among their three reasons.")
}

fn training(page: &mut Page, m: &Manifest) {
    page.heading("Training");
    let l = &m.lightgbm;
    let points: Vec<(f64, f64)> = l
        .validation_history
        .iter()
        .enumerate()
        .map(|(k, &v)| ((k + 1) as f64, v))
        .collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let pad = ((hi - lo) * 0.1).max(1e-6);
    let (lo, hi) = if lo.is_finite() {
        (lo - pad, hi + pad)
    } else {
        (0.0, 1.0)
    };
    let best = l.best_round as f64;
    let chart = LineChart {
        title: format!("Validation {} per round", l.early_stopping_metric),
        x_label: "boosting round".into(),
        y_label: l.early_stopping_metric.clone(),
        x_range: (0.0, (points.len().max(1) + 1) as f64),
        y_range: (lo, hi),
        areas: Vec::new(),
        lines: vec![
            Line::new("validation", points, PALETTE[0]),
            Line::reference(format!("round kept: {}", l.best_round), vec![(best, lo), (best, hi)]),
        ],
    };
    page.figures(&[(
        "rounds",
        chart.draw(),
        format!(
            "{} rounds run, round {} kept by early stopping.",
            l.rounds, l.best_round
        ),
    )]);
    let mut params = Table::new(&["LightGBM parameter", "value"]);
    for (k, v) in &l.params {
        params.row(vec![k.clone(), v.clone()]);
    }
    page.table("params", &params);
    if let Some(trials) = &m.tuning {
        let mut table = Table::new(&["trial", "parameters", "mean fold AUC"]);
        for t in trials {
            let p: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            table.row(vec![t.number.to_string(), p.join(", "), number(t.mean_auc)]);
        }
        page.table("tuning", &table);
    }
    let mut rows = Table::new(&["side", "rows"]);
    for (side, n) in [
        ("train", m.rows.train),
        ("validation", m.rows.validation),
        ("test", m.rows.test),
    ] {
        rows.row(vec![side.to_string(), n.to_string()]);
    }
    page.table("rows", &rows);
}

fn data(page: &mut Page, m: &Manifest) {
    page.heading("Data");
    if let Some(d) = &m.data {
        let mut table = Table::new(&[
            "table",
            "rows read",
            "rows used",
            "rejected",
            "customers",
            "first",
            "last",
        ]);
        for t in &d.tables {
            table.row(vec![
                t.role.clone(),
                t.rows_read.to_string(),
                t.rows_kept.to_string(),
                t.rows_rejected.to_string(),
                t.customers.to_string(),
                t.first.clone().unwrap_or_default(),
                t.last.clone().unwrap_or_default(),
            ]);
        }
        page.table("data", &table);
        page.note(&format!("{} customers across the tables.", d.customers));
    }
    let mut table = Table::new(&[
        "snapshot cutoff",
        "customers",
        "labelled",
        "churned",
        "churn rate",
        "already churned",
    ]);
    for s in &m.snapshots {
        table.row(vec![
            s.cutoff.clone(),
            s.customers.to_string(),
            s.labelled.to_string(),
            s.churned.to_string(),
            s.churn_rate().map(percent).unwrap_or_default(),
            s.already_churned.to_string(),
        ]);
    }
    page.table("snapshots", &table);
}

fn reproducibility(page: &mut Page, m: &Manifest) {
    page.heading("Export and reproducibility");
    let p = &m.parity;
    page.text(&format!(
        "ONNX Runtime {} reproduces LightGBM to {:.3e} (largest difference of a probability) on {} rows: {} test rows of {} and rows probing every split.",
        p.onnx_runtime, p.max_abs_difference, p.rows, p.test_rows, p.test_rows_of
    ));
    let mut hashes = Table::new(&["what", "SHA-256"]);
    hashes.row(vec![
        format!("config file {}", m.config.file.display()),
        m.config.file_sha256.clone(),
    ]);
    hashes.row(vec!["resolved config".into(), m.config.resolved_sha256.clone()]);
    hashes.row(vec!["feature spec".into(), m.feature_spec_sha256.clone()]);
    for i in &m.inputs {
        hashes.row(vec![
            format!("{} table {} ({} bytes)", i.role, i.path.display(), i.bytes),
            i.sha256.clone(),
        ]);
    }
    for (name, sha) in &m.files {
        hashes.row(vec![format!("package file {name}"), sha.clone()]);
    }
    page.table("hashes", &hashes);
    page.note(&format!(
        "Seed {}. churnguard {}, LightGBM {}, ONNX {}.",
        m.seed, m.libraries.churnguard, m.libraries.lightgbm, m.libraries.onnx
    ));
    page.raw("<details><summary>The resolved config</summary>");
    page.pre(&serde_json::to_string_pretty(&m.config.resolved).unwrap_or_default());
    page.raw("</details>");
}
