//! The test customers as `score` would list them: ranked, in tiers, with their reasons; and what
//! then happened to them. These are the figures the package's report draws.

use churnguard_config::{Pipeline, Tier};
use churnguard_eval::curves;
use churnguard_features::{FeatureSpec, History};
use churnguard_model::{Ensemble, main_reasons};
use churnguard_package::{
    DataSummary, ReasonCount, ReasonCounts, ScoreHistogram, TableSummary, TestList, TierRow, TierThresholds,
};

use crate::TrainError;
use crate::rows::Rows;

/// Bins of the score histogram per tier.
pub const SCORE_BINS: usize = 20;
/// Most customers whose reasons are counted for the report.
pub const REASON_SAMPLE: usize = 50_000;

/// The test list's figures, and the list's order (row indices, first first). `values` are the
/// customers' values when known (else the list is ranked by probability and every value at risk
/// is 0); risk levels come from the package's cut-offs `tiers`, whatever the order.
pub fn test_list(
    p: &Pipeline,
    model_text: &str,
    spec: &FeatureSpec,
    rows: &Rows,
    probabilities: &[f64],
    values: Option<&[f64]>,
    tiers: &TierThresholds,
) -> Result<(TestList, Vec<usize>), TrainError> {
    let labels = rows.churned();
    let values_known = values.is_some();
    let ranked_by = p.scoring.ranking(values_known);
    let order = ranked_by.order(probabilities, values);
    let tier_of: Vec<Tier> = probabilities.iter().map(|&x| tiers.of(x)).collect();
    let explained: Vec<bool> = (0..probabilities.len())
        .map(|i| {
            p.scoring
                .explains(Some(tier_of[i]), tiers.segment(values.map(|v| v[i])))
        })
        .collect();
    let curves = curves(
        &labels,
        probabilities,
        Some(&order),
        p.evaluation.bootstrap_samples as usize,
        p.seed,
    )?;
    let list = TestList {
        ranked_by: ranked_by.name().into(),
        values_known,
        curves,
        tiers: tier_rows(&labels, probabilities, values, &tier_of),
        scores: score_histogram(probabilities, &tier_of),
        reasons: reason_counts(model_text, spec, rows, &explained, &spec.not_actionable(&p.scoring))?,
    };
    Ok((list, order))
}

fn tier_rows(labels: &[bool], probabilities: &[f64], values: Option<&[f64]>, tier_of: &[Tier]) -> Vec<TierRow> {
    [Tier::High, Tier::Medium, Tier::Low]
        .into_iter()
        .map(|tier| {
            let (mut customers, mut churners, mut probability, mut at_risk) = (0u64, 0u64, 0.0, 0.0);
            for i in (0..labels.len()).filter(|&i| tier_of[i] == tier) {
                customers += 1;
                churners += u64::from(labels[i]);
                probability += probabilities[i];
                at_risk += probabilities[i] * values.map_or(0.0, |v| v[i]);
            }
            let share = |x: f64| if customers == 0 { 0.0 } else { x / customers as f64 };
            TierRow {
                tier: tier.to_string(),
                customers,
                churners,
                observed_rate: share(churners as f64),
                mean_probability: share(probability),
                value_at_risk: at_risk,
            }
        })
        .collect()
}

fn score_histogram(probabilities: &[f64], tier_of: &[Tier]) -> ScoreHistogram {
    let mut counts = vec![[0u64; 3]; SCORE_BINS];
    for (&x, t) in probabilities.iter().zip(tier_of) {
        let bin = ((x * SCORE_BINS as f64) as usize).min(SCORE_BINS - 1);
        counts[bin][t.index()] += 1;
    }
    ScoreHistogram {
        edges: (0..=SCORE_BINS).map(|k| k as f64 / SCORE_BINS as f64).collect(),
        counts,
    }
}

/// How often each feature is among the reasons of the customers the list gives reasons to
/// (`explained`, by [`churnguard_config::ScoringConfig::explains`]), with TreeSHAP as `score`
/// computes them.
fn reason_counts(
    model_text: &str,
    spec: &FeatureSpec,
    rows: &Rows,
    explained: &[bool],
    not_actionable: &[bool],
) -> Result<ReasonCounts, TrainError> {
    let given: Vec<usize> = (0..explained.len()).filter(|&i| explained[i]).collect();
    // TreeSHAP costs about twice a scoring per customer: a large list is counted on customers
    // spread evenly over it, and the report says on how many.
    let step = given.len().div_ceil(REASON_SAMPLE).max(1);
    let mut keep = vec![false; explained.len()];
    for &i in given.iter().step_by(step) {
        keep[i] = true;
    }
    let explained = rows.select(&keep);
    let f = spec.features.len();
    let mut first = vec![0u64; f];
    let mut any = vec![0u64; f];
    if explained.rows > 0 {
        let ensemble = Ensemble::parse(model_text)?;
        let columns: Vec<&[f64]> = (0..f).map(|j| explained.column(j)).collect();
        let contributions = ensemble.contributions_batch(&columns);
        for row in contributions.chunks_exact(f + 1) {
            for (k, j) in main_reasons(row, not_actionable).into_iter().enumerate() {
                any[j] += 1;
                if k == 0 {
                    first[j] += 1;
                }
            }
        }
    }
    let mut features: Vec<ReasonCount> = spec
        .features
        .iter()
        .enumerate()
        .filter(|(j, _)| any[*j] > 0)
        .map(|(j, feat)| ReasonCount {
            feature: feat.name.clone(),
            first: first[j],
            any: any[j],
        })
        .collect();
    features.sort_by(|a, b| b.any.cmp(&a.any).then(b.first.cmp(&a.first)));
    Ok(ReasonCounts {
        explained: explained.rows as u64,
        given: given.len() as u64,
        features,
    })
}

/// What ingestion read from each table.
pub fn data_summary(h: &History) -> DataSummary {
    DataSummary {
        tables: h
            .reports
            .iter()
            .map(|r| TableSummary {
                role: r.role.clone(),
                rows_read: r.rows_read,
                rows_kept: r.rows_kept,
                rows_rejected: r.rejected.iter().map(|x| x.count).sum(),
                customers: r.customers,
                first: r.first.clone(),
                last: r.last.clone(),
            })
            .collect(),
        customers: h.customers.len() as u64,
    }
}
