//! Hyper-parameter search: grid or seeded random trials over named LightGBM parameters, each
//! scored by k-fold cross-validation grouped by customer (a customer's rows are all in one fold).

use churnguard_config::{Pipeline, TuningConfig, TuningMethod};
use churnguard_eval::SplitMix64;
use churnguard_package::Trial;

use crate::TrainError;
use crate::fit::{fit, predict};
use crate::lightgbm::Booster;
use crate::params::Params;
use crate::rows::{Rows, fold_of};

/// Tuning progress: trial `number` of `of` is done.
pub type TrialObserver<'a> = dyn FnMut(&Trial, usize) + 'a;

/// The combinations to try, in trial order.
pub fn combinations(t: &TuningConfig, seed: u64) -> Vec<Vec<(String, String)>> {
    let total = t.combinations();
    let pick = |mut index: u64| -> Vec<(String, String)> {
        // Mixed radix: the last parameter varies fastest, as a nested loop would.
        let mut out = vec![(String::new(), String::new()); t.space.len()];
        for (slot, (name, values)) in out.iter_mut().zip(&t.space).rev() {
            let n = values.len() as u64;
            *slot = (name.clone(), values[(index % n) as usize].clone());
            index /= n;
        }
        out
    };
    match t.method {
        TuningMethod::Grid => (0..total).map(pick).collect(),
        TuningMethod::Random { trials } => {
            // Distinct draws while the space allows; a seeded SplitMix64 stream.
            let mut rng = SplitMix64::new(seed ^ 0x7475_6e65);
            let want = u64::from(trials).min(total) as usize;
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::with_capacity(want);
            while out.len() < want {
                let i = rng.next_u64() % total;
                if seen.insert(i) {
                    out.push(pick(i));
                }
            }
            out
        }
    }
}

/// Runs every trial on `rows` and returns them in order; the best has the highest `mean_auc`
/// (the earliest on a tie).
pub fn tune(
    p: &Pipeline,
    t: &TuningConfig,
    base: &Params,
    rows: &Rows,
    names: &[&str],
    categorical: &[usize],
    observer: &mut TrialObserver<'_>,
) -> Result<Vec<Trial>, TrainError> {
    let combos = combinations(t, p.seed);
    let folds: Vec<usize> = rows.customers.iter().map(|&c| fold_of(c, p.seed, t.folds)).collect();
    let mut trials = Vec::with_capacity(combos.len());
    for (n, combo) in combos.iter().enumerate() {
        let mut params = base.clone();
        for (name, value) in combo {
            params.set(name, value, &format!("tuning.space.{name}"), true)?;
        }
        params.check(names.len())?;
        let mut fold_auc = Vec::new();
        let mut rounds = Vec::new();
        for f in 0..t.folds as usize {
            let held: Vec<bool> = folds.iter().map(|&k| k == f).collect();
            let kept: Vec<bool> = held.iter().map(|h| !h).collect();
            let (train, valid) = (rows.select(&kept), rows.select(&held));
            if valid.rows == 0 || valid.churners() == 0 || valid.churners() == valid.rows {
                return Err(TrainError::OneClassHeldOut {
                    what: format!("rows of tuning fold {}", f + 1),
                    rows: valid.rows,
                    churned: valid.churners() > 0,
                });
            }
            let fitted = fit(
                &params,
                &p.model,
                &train,
                Some(&valid),
                names,
                categorical,
                &mut |_, _, _| {},
            )?;
            let probs = predict(&Booster::from_text(&fitted.model_text)?, &valid)?;
            fold_auc.push(churnguard_eval::roc_auc(&valid.churned(), &probs)?);
            rounds.push(fitted.best_round);
        }
        let mean_auc = fold_auc.iter().sum::<f64>() / fold_auc.len() as f64;
        let trial = Trial {
            number: n + 1,
            params: combo.clone(),
            fold_auc,
            mean_auc,
            rounds,
        };
        observer(&trial, combos.len());
        trials.push(trial);
    }
    Ok(trials)
}

/// The trial with the highest mean AUC (the earliest on a tie).
pub fn best(trials: &[Trial]) -> Option<&Trial> {
    trials.iter().fold(None, |best: Option<&Trial>, t| match best {
        Some(b) if b.mean_auc >= t.mean_auc => Some(b),
        _ => Some(t),
    })
}
