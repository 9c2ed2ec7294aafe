//! Choosing the probability at which customers are flagged.

pub use churnguard_config::ThresholdStrategy;

use crate::EvalError;
use crate::metrics::{Ranking, check_probabilities, top_count};

/// The threshold (customers at or above it are flagged) chosen by `strategy` on these customers.
/// Candidates are the distinct probabilities; on a tie the higher threshold wins. `MinCost` may
/// flag nobody: its threshold is then just above the highest probability.
pub fn choose_threshold(
    labels: &[bool],
    probabilities: &[f64],
    strategy: &ThresholdStrategy,
) -> Result<f64, EvalError> {
    check_probabilities(labels, probabilities)?;
    threshold_ranked(labels, probabilities, &Ranking::new(probabilities), strategy)
}

pub(crate) fn threshold_ranked(
    labels: &[bool],
    probabilities: &[f64],
    r: &Ranking,
    strategy: &ThresholdStrategy,
) -> Result<f64, EvalError> {
    let (order, groups) = (&r.order, &r.groups);
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let at = |g: (usize, usize)| probabilities[order[g.0]];
    match *strategy {
        ThresholdStrategy::TopPercent(k) => {
            if !(k > 0.0 && k <= 100.0) {
                return Err(EvalError::Invalid(format!(
                    "top percent must be above 0 and at most 100, got {k}"
                )));
            }
            Ok(probabilities[order[top_count(labels.len(), k) - 1]])
        }
        ThresholdStrategy::MaxF1 => {
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            let (mut best, mut best_f1) = (at(groups[0]), -1.0);
            for &g in groups {
                let pos = order[g.0..g.1].iter().filter(|&&i| labels[i]).count() as f64;
                tp += pos;
                fp += (g.1 - g.0) as f64 - pos;
                let f1 = if tp == 0.0 {
                    0.0
                } else {
                    2.0 * tp / (tp + fp + positives)
                };
                if f1 > best_f1 {
                    (best, best_f1) = (at(g), f1);
                }
            }
            Ok(best)
        }
        ThresholdStrategy::MinCost {
            missed_churner,
            needless_offer,
        } => {
            if !(missed_churner.is_finite()
                && needless_offer.is_finite()
                && missed_churner >= 0.0
                && needless_offer >= 0.0)
            {
                return Err(EvalError::Invalid("costs must be finite and not negative".into()));
            }
            let nobody = at(groups[0]).next_up();
            let (mut best, mut best_cost) = (nobody, missed_churner * positives);
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            for &g in groups {
                let pos = order[g.0..g.1].iter().filter(|&&i| labels[i]).count() as f64;
                tp += pos;
                fp += (g.1 - g.0) as f64 - pos;
                let cost = missed_churner * (positives - tp) + needless_offer * fp;
                if cost < best_cost {
                    (best, best_cost) = (at(g), cost);
                }
            }
            Ok(best)
        }
    }
}
