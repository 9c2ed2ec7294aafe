//! Charts of a model's curves, shared by a package's report and the comparison page (where the
//! models' curves are overlaid).

use churnguard_eval::{Band, CalibrationFigures, Curves};

use crate::chart::{Area, Line, LineChart, colour};
use crate::html::Drawn;

/// ROC curves (with their bands) of named models.
pub fn roc_chart(models: &[(&str, &Curves)]) -> Drawn {
    let chart = LineChart::unit(
        "ROC curve",
        "false positive rate",
        "true positive rate",
        Line::reference("chance", vec![(0.0, 0.0), (1.0, 1.0)]),
    );
    banded(chart, models, |c| (&c.roc, c.roc_band.as_ref()))
}

/// Precision-recall curves (with their bands) of named models.
pub fn pr_chart(models: &[(&str, &Curves)], churn_rate: f64) -> Drawn {
    let chart = LineChart::unit(
        "Precision-recall curve",
        "recall",
        "precision",
        Line::reference("churn rate", vec![(0.0, churn_rate), (1.0, churn_rate)]),
    );
    banded(chart, models, |c| (&c.pr, c.pr_band.as_ref()))
}

/// Each model's curve and its band, one colour per model.
fn banded(
    mut chart: LineChart,
    models: &[(&str, &Curves)],
    curve: impl Fn(&Curves) -> (&Vec<(f64, f64)>, Option<&Band>),
) -> Drawn {
    for (k, (name, c)) in models.iter().enumerate() {
        let (points, band) = curve(c);
        if let Some(b) = band {
            chart.areas.push(area(&format!("{name} 95% band"), b, k));
        }
        chart.lines.push(Line::new(*name, points.clone(), colour(k)));
    }
    chart.draw()
}

/// Cumulative gains of named lists.
pub fn gains_chart(lists: &[(&str, &Vec<(f64, f64)>)]) -> Drawn {
    let mut chart = LineChart::unit(
        "Cumulative gains",
        "share of the list",
        "share of churners",
        Line::reference("random order", vec![(0.0, 0.0), (1.0, 1.0)]),
    );
    for (k, (name, gains)) in lists.iter().enumerate() {
        chart.lines.push(Line::new(*name, (*gains).clone(), colour(k)));
    }
    chart.draw()
}

/// Lift along named lists, from their gains (from the top 1% on: above, one customer is noise).
pub fn lift_chart(lists: &[(&str, &Vec<(f64, f64)>)]) -> Drawn {
    let lifts: Vec<Vec<(f64, f64)>> = lists
        .iter()
        .map(|(_, gains)| {
            gains
                .iter()
                .filter(|(x, _)| *x >= 0.01)
                .map(|&(x, y)| (x, y / x))
                .collect()
        })
        .collect();
    let top = lifts.iter().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.05;
    let mut chart = LineChart {
        title: "Lift".into(),
        x_label: "share of the list".into(),
        y_label: "lift".into(),
        x_range: (0.0, 1.0),
        y_range: (0.0, top),
        areas: Vec::new(),
        lines: vec![Line::reference("random order", vec![(0.0, 1.0), (1.0, 1.0)])],
    };
    for (k, ((name, _), points)) in lists.iter().zip(lifts).enumerate() {
        chart.lines.push(Line::new(*name, points, colour(k)));
    }
    chart.draw()
}

fn area(name: &str, b: &Band, k: usize) -> Area {
    Area {
        name: name.to_string(),
        x: b.x.clone(),
        lower: b.lower.clone(),
        upper: b.upper.clone(),
        colour: colour(k),
    }
}

/// Reliability diagrams of named calibration figures.
pub fn reliability_chart(figures: &[(&str, &CalibrationFigures)]) -> Drawn {
    let mut chart = LineChart::unit(
        "Reliability (deciles of predicted probability)",
        "mean predicted probability",
        "observed churn rate",
        Line::reference("perfect calibration", vec![(0.0, 0.0), (1.0, 1.0)]),
    );
    for (k, (name, f)) in figures.iter().enumerate() {
        let points = f.deciles.iter().map(|d| (d.predicted, d.observed)).collect();
        chart.lines.push(Line::new(*name, points, colour(k)).with_dots());
    }
    chart.draw()
}
