//! The HTML page and tables of `churnguard compare` (its figures and gates are `churnguard_eval`'s),
//! with the models' curves overlaid.

use churnguard_eval::{COMPARE_PERCENTS, CalibrationFigures, Compared, Comparison, Curves};

use crate::chart::{BarChart, PALETTE};
use crate::curves::{gains_chart, lift_chart, pr_chart, reliability_chart, roc_chart};
use crate::html::{Page, Table, number, p_value, percent};

/// The comparison page: figures side by side, the paired tests, agreement, and curves overlaid.
pub fn comparison_report(c: &Comparison) -> String {
    let names = c.names();
    let mut page = Page::new(&format!("{}: comparison of {} packages", c.pipeline, c.models.len()));
    page.heading("Figures on the same customers");
    page.text(&format!("Measured on {}.", c.population));
    page.table("figures", &figure_table(c, &names));
    page.heading(&format!("Against {} (the baseline)", names[0]));
    page.table("paired", &paired_table(c, &names));
    for p in &c.paired {
        page.text(&format!(
            "Tier migration: {} (rows) against {} (columns).",
            names[0], names[p.model]
        ));
        page.table(&format!("migration_{}", p.model), &migration_table(&p.migration));
    }
    if !c.gates.is_empty() {
        page.heading("Gates (--fail-if-worse)");
        page.table("gates", &gate_table(c, &names));
    }
    page.heading("Curves");
    let curves: Vec<(&str, &Curves)> = names
        .iter()
        .map(String::as_str)
        .zip(c.models.iter().map(|m| &m.curves))
        .collect();
    let gains: Vec<(&str, &Vec<(f64, f64)>)> = names
        .iter()
        .map(String::as_str)
        .zip(c.models.iter().map(|m| &m.curves.gains))
        .collect();
    let calibration: Vec<(&str, &CalibrationFigures)> = names
        .iter()
        .map(String::as_str)
        .zip(c.models.iter().map(|m| &m.calibration))
        .collect();
    let rate = c.churners as f64 / c.customers.max(1) as f64;
    page.figures(&[
        ("roc", roc_chart(&curves), "ROC curves with 95% bootstrap bands.".into()),
        (
            "pr",
            pr_chart(&curves, rate),
            "Precision-recall curves with 95% bootstrap bands.".into(),
        ),
        (
            "gains",
            gains_chart(&gains),
            "Cumulative gains in each package's list order.".into(),
        ),
        ("lift", lift_chart(&gains), "Lift along each list.".into()),
        (
            "reliability",
            reliability_chart(&calibration),
            "Calibration on these customers.".into(),
        ),
        (
            "speed",
            BarChart {
                title: "ONNX Runtime scoring speed".into(),
                value_label: "customers per second".into(),
                bars: names
                    .iter()
                    .cloned()
                    .zip(c.models.iter().map(|m| m.rows_per_second))
                    .collect(),
                colour: PALETTE[2],
            }
            .draw(),
            "Measured in this run, one after another on the same rows.".into(),
        ),
    ]);
    page.finish(&format!(
        "{} customers at cutoff {}, {} churners ({}). Each package scored with its own features.",
        c.customers,
        c.cutoff,
        c.churners,
        percent(rate)
    ))
}

/// The figures of every package, one column each.
pub fn figure_table(c: &Comparison, names: &[String]) -> Table {
    let mut header = vec!["figure"];
    header.extend(names.iter().map(String::as_str));
    let mut t = Table::new(&header);
    let mut row = |name: &str, f: &dyn Fn(&Compared) -> String| {
        let mut cells = vec![name.to_string()];
        cells.extend(c.models.iter().map(f));
        t.row(cells);
    };
    row("package", &|m| m.package.clone());
    row("features", &|m| m.features.to_string());
    row("AUC", &|m| number(m.evaluation.auc));
    row("AUC 95% interval", &|m| {
        m.evaluation
            .auc_interval
            .map_or(String::new(), |i| format!("[{}, {}]", number(i.lower), number(i.upper)))
    });
    row("PR AUC", &|m| number(m.evaluation.pr_auc));
    row("log loss", &|m| number(m.evaluation.log_loss));
    row("Brier", &|m| number(m.evaluation.brier));
    row("calibration error (ECE)", &|m| number(m.calibration.ece));
    for k in COMPARE_PERCENTS {
        row(&format!("lift at top {k:.0}%"), &|m| {
            m.evaluation.lift_at(k).map_or(String::new(), |l| number(l.lift))
        });
    }
    for (i, k) in COMPARE_PERCENTS.iter().enumerate() {
        row(&format!("value captured at top {k:.0}%"), &|m| {
            m.value_captured
                .as_ref()
                .and_then(|v| v.get(i))
                .map_or("-".into(), |v| percent(v.1))
        });
    }
    row("customers per second", &|m| format!("{:.0}", m.rows_per_second));
    row("model.onnx bytes", &|m| m.model_bytes.to_string());
    row("trees", &|m| m.trees.to_string());
    t
}

/// DeLong's test and agreement of each package against the baseline.
pub fn paired_table(c: &Comparison, names: &[String]) -> Table {
    let mut t = Table::new(&[
        "package",
        "AUC difference",
        "standard error",
        "z",
        "p-value (DeLong)",
        "rank correlation",
        "top 10% overlap",
    ]);
    for p in &c.paired {
        t.row(vec![
            names[p.model].clone(),
            format!("{:+.6}", p.delong.difference),
            number(p.delong.standard_error),
            format!("{:.3}", p.delong.z),
            p_value(p.delong.p_value),
            number(p.agreement.rank_correlation),
            percent(p.agreement.top_overlap),
        ]);
    }
    t
}

/// A tier migration table.
pub fn migration_table(m: &[[u64; 3]; 3]) -> Table {
    let tiers = ["high", "medium", "low"];
    let mut t = Table::new(&["from \\ to", "high", "medium", "low"]);
    for (r, row) in m.iter().enumerate() {
        let mut cells = vec![tiers[r].to_string()];
        cells.extend(row.iter().map(|n| n.to_string()));
        t.row(cells);
    }
    t
}

/// The gates and whether each passed.
pub fn gate_table(c: &Comparison, names: &[String]) -> Table {
    let mut t = Table::new(&["package", "metric", "baseline", "value", "margin", "result"]);
    for g in &c.gates {
        t.row(vec![
            names[g.model].clone(),
            g.metric.name().to_string(),
            number(g.baseline),
            number(g.value),
            number(g.margin),
            if g.failed { "WORSE" } else { "ok" }.to_string(),
        ]);
    }
    t
}
