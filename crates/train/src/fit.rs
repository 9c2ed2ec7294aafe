//! One LightGBM fit with early stopping on held-out customers.

use churnguard_config::ModelConfig;

use crate::TrainError;
use crate::lightgbm::{Booster, Dataset, Importance, Layout, Prediction};
use crate::params::Params;
use crate::rows::Rows;

/// A fitted model.
#[derive(Clone, Debug)]
pub struct Fit {
    /// LightGBM's model text, cut at the best round.
    pub model_text: String,
    /// Rounds kept (the best round when early stopping ran).
    pub best_round: usize,
    /// Rounds trained.
    pub rounds: usize,
    /// The validation metric after each round (empty without validation rows).
    pub history: Vec<f64>,
    /// Total gain of the splits on each feature, in the kept rounds.
    pub gain: Vec<f64>,
    /// Splits on each feature, in the kept rounds.
    pub splits: Vec<f64>,
}

/// What the trainer shows while it works.
pub trait RoundObserver {
    /// After each round: its number (from 1), the most rounds, and the validation metric.
    fn round(&mut self, round: usize, of: usize, metric: Option<f64>);
}

impl<F: FnMut(usize, usize, Option<f64>)> RoundObserver for F {
    fn round(&mut self, round: usize, of: usize, metric: Option<f64>) {
        self(round, of, metric)
    }
}

/// Dataset-only parameters: the categorical features, by column index.
pub fn dataset_extras(categorical: &[usize]) -> Vec<(&'static str, String)> {
    if categorical.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = categorical.iter().map(ToString::to_string).collect();
    vec![("categorical_feature", list.join(","))]
}

/// How the processes training one model agree on when it stops: on one machine the validation
/// decides alone ([`Alone`]); in data-parallel training rank 0, which holds the validation
/// customers, decides and the other workers follow.
pub trait Agreement {
    /// After a round: `decided` is this process's decision when it holds the validation rows
    /// (`None` otherwise); returns the decision every process follows.
    fn stop(&mut self, decided: Option<bool>) -> Result<bool, TrainError>;
    /// The round to keep: `decided` as in [`Agreement::stop`]; `rounds` is the rounds trained.
    fn kept(&mut self, decided: Option<usize>, rounds: usize) -> Result<usize, TrainError>;
}

/// One process deciding alone.
pub struct Alone;

impl Agreement for Alone {
    fn stop(&mut self, decided: Option<bool>) -> Result<bool, TrainError> {
        Ok(decided.unwrap_or(false))
    }

    fn kept(&mut self, decided: Option<usize>, rounds: usize) -> Result<usize, TrainError> {
        Ok(decided.unwrap_or(rounds))
    }
}

/// Trains on `train`, stopping early on `valid` when given and enabled.
pub fn fit(
    params: &Params,
    model: &ModelConfig,
    train: &Rows,
    valid: Option<&Rows>,
    names: &[&str],
    categorical: &[usize],
    observer: &mut dyn RoundObserver,
) -> Result<Fit, TrainError> {
    let setup = FitSetup {
        params,
        extra: &[],
        model,
        names,
        categorical,
    };
    fit_with(&setup, train, valid, observer, &mut Alone)
}

/// What a fit is asked to do, apart from its rows.
#[derive(Clone, Copy)]
pub struct FitSetup<'a> {
    /// LightGBM's parameters.
    pub params: &'a Params,
    /// Parameters added for this fit only (LightGBM's network settings, say).
    pub extra: &'a [(&'static str, String)],
    /// Rounds and early stopping.
    pub model: &'a ModelConfig,
    /// Feature names.
    pub names: &'a [&'a str],
    /// Categorical features, by column.
    pub categorical: &'a [usize],
}

/// [`fit`] where `agreement` says when to stop: `valid` (when given) decides, the others follow.
pub fn fit_with(
    setup: &FitSetup<'_>,
    train: &Rows,
    valid: Option<&Rows>,
    observer: &mut dyn RoundObserver,
    agreement: &mut dyn Agreement,
) -> Result<Fit, TrainError> {
    let (params, model, names) = (setup.params, setup.model, setup.names);
    let mut extras = dataset_extras(setup.categorical);
    extras.extend(setup.extra.iter().cloned());
    let text = params.to_lightgbm(&extras);
    let data = Dataset::from_matrix(
        &train.values,
        train.cols,
        Layout::ColumnMajor,
        &train.labels,
        &text,
        None,
    )?;
    data.set_feature_names(names)?;
    let valid_data = valid
        .map(|v| Dataset::from_matrix(&v.values, v.cols, Layout::ColumnMajor, &v.labels, &text, Some(&data)))
        .transpose()?;
    let mut booster = Booster::new(data, &text)?;
    if let Some(v) = valid_data {
        booster.add_validation(v)?;
    }
    let max = model.num_iterations as usize;
    let patience = model.early_stopping_rounds as usize;
    let higher = model.early_stopping_metric.higher_is_better();
    let mut history = Vec::new();
    let (mut best, mut best_round) = (f64::NAN, 0);
    let mut rounds = 0;
    for round in 1..=max {
        // Every worker grows the same trees, so all of them see the end of splits together.
        let finished = booster.update()?;
        if finished {
            break;
        }
        rounds = round;
        let metric = if valid.is_some() {
            booster.evaluation(1)?.first().copied()
        } else {
            None
        };
        observer.round(round, max, metric);
        let mut stop = false;
        if let Some(m) = metric {
            history.push(m);
            // Strictly better, as LightGBM's own early stopping: a plateau keeps the earlier round.
            let better = best.is_nan() || if higher { m > best } else { m < best };
            if better {
                best = m;
                best_round = round;
            } else if patience > 0 && round - best_round >= patience {
                stop = true;
            }
        }
        if agreement.stop(valid.is_some().then_some(stop))? {
            break;
        }
    }
    let decided = valid
        .is_some()
        .then_some(if patience > 0 { best_round } else { rounds });
    let kept = agreement.kept(decided, rounds)?;
    if kept == 0 {
        return Err(TrainError::NoTrees);
    }
    let model_text = booster.model_text_of(Some(kept))?;
    let cols = train.cols;
    Ok(Fit {
        model_text,
        best_round: kept,
        rounds,
        history,
        gain: booster.importance(Importance::Gain, Some(kept), cols)?,
        splits: booster.importance(Importance::Splits, Some(kept), cols)?,
    })
}

/// Churn probabilities of `rows` from a model loaded from its text (the text that goes into the
/// package, so what is evaluated is what is shipped).
pub fn predict(model: &Booster, rows: &Rows) -> Result<Vec<f64>, TrainError> {
    Ok(model.predict_matrix(&rows.values, rows.cols, Layout::ColumnMajor, Prediction::Normal)?)
}

/// Rows for the ONNX parity check and LightGBM's probabilities of them: `limit` test rows evenly
/// spread (all of them when there are fewer), then rows probing every split of the model (each
/// threshold, its double and float32 neighbours, every category, zeros and NaNs). Row-major;
/// also the number of test rows taken.
pub fn parity_rows(
    model_text: &str,
    test: &Rows,
    test_probabilities: &[f64],
    limit: usize,
) -> Result<(Vec<f64>, Vec<f64>, usize), TrainError> {
    let step = test.rows.div_ceil(limit.max(1)).max(1);
    let picked: Vec<usize> = (0..test.rows).step_by(step).collect();
    let mut rows = Vec::with_capacity((picked.len() + PROBE_ROWS) * test.cols);
    for &i in &picked {
        rows.extend((0..test.cols).map(|j| test.values[j * test.rows + i]));
    }
    let mut want: Vec<f64> = picked.iter().map(|&i| test_probabilities[i]).collect();
    let probes = churnguard_model::Ensemble::parse(model_text)?.probe_rows(PROBE_ROWS);
    let booster = Booster::from_text(model_text)?;
    want.extend(booster.predict(&probes, test.cols, Prediction::Normal)?);
    rows.extend(probes);
    Ok((rows, want, picked.len()))
}

/// Rows probing the model's splits in the parity check.
const PROBE_ROWS: usize = 5_000;
