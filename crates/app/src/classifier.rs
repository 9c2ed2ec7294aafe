//! A LightGBM classifier on a team's own feature matrix (the Python package's scikit-learn
//! estimator): fitted, scored and exported as the pipeline's models are, with no pipeline.

use churnguard_eval::Platt;
use churnguard_model::{Ensemble, ExportOptions, InputType};
use churnguard_train::lightgbm::{Booster, Dataset, Prediction};

use crate::AppError;

/// How a classifier is boosted: the few LightGBM settings a scikit-learn user tunes.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierParams {
    /// Boosting rounds.
    pub rounds: usize,
    /// Shrinkage per round.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub num_leaves: usize,
    /// Fewest rows in a leaf.
    pub min_child_samples: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Threads LightGBM trains on (0: its default, every core).
    pub threads: usize,
}

impl ClassifierParams {
    /// LightGBM's `key=value` parameters: binary log loss, deterministic for a seed and thread
    /// count, quiet.
    fn lightgbm(&self) -> String {
        format!(
            "objective=binary learning_rate={} num_leaves={} min_data_in_leaf={} seed={} num_threads={} \
             deterministic=true force_row_wise=true verbose=-1",
            self.learning_rate, self.num_leaves, self.min_child_samples, self.seed, self.threads
        )
    }
}

/// Fits a classifier on the row-major matrix `x` of `cols` features (NaN: missing) and labels
/// `y` (0 or 1); returns LightGBM's model text, which is the whole fitted state.
pub fn fit_classifier(x: &[f64], cols: usize, y: &[f32], params: &ClassifierParams) -> Result<String, AppError> {
    let lightgbm = params.lightgbm();
    let data = Dataset::from_rows(x, cols, y, &lightgbm).map_err(churnguard_train::TrainError::from)?;
    let booster = Booster::train(data, &lightgbm, params.rounds).map_err(churnguard_train::TrainError::from)?;
    Ok(booster.model_text().map_err(churnguard_train::TrainError::from)?)
}

/// The churn probability each row of `x` gets under a fitted model text, through the
/// calibration when there is one (as the exported graph computes it).
pub fn classifier_probabilities(
    model_text: &str,
    x: &[f64],
    cols: usize,
    calibration: Option<Platt>,
) -> Result<Vec<f64>, AppError> {
    let booster = Booster::from_text(model_text).map_err(churnguard_train::TrainError::from)?;
    let Some(platt) = calibration else {
        return Ok(booster
            .predict(x, cols, Prediction::Normal)
            .map_err(churnguard_train::TrainError::from)?);
    };
    // On the log-odds, as the graph computes it: a probability near 1 has lost the digits
    // Platt's slope would bring back.
    let scale = log_odds_scale(model_text)?;
    let raw = booster
        .predict(x, cols, Prediction::Raw)
        .map_err(churnguard_train::TrainError::from)?;
    Ok(raw.iter().map(|&r| platt.apply_log_odds(scale * r)).collect())
}

/// The model's log-odds per unit of raw score; an error unless it is a binary classifier.
fn log_odds_scale(model_text: &str) -> Result<f64, AppError> {
    let objective = Ensemble::parse(model_text)?.objective;
    objective.log_odds_scale().ok_or_else(|| AppError::NotBinary {
        objective: format!("{objective:?}"),
    })
}

/// Platt's map fitted on rows the model was not fitted on: `x` and their labels `y` (0 or 1).
pub fn fit_classifier_calibration(model_text: &str, x: &[f64], cols: usize, y: &[f32]) -> Result<Platt, AppError> {
    let p = classifier_probabilities(model_text, x, cols, None)?;
    let labels: Vec<bool> = y.iter().map(|&y| y > 0.5).collect();
    Ok(Platt::fit(&labels, &p)?)
}

/// Export options of a classifier: its calibration inside the graph.
pub fn classifier_export_options(input: InputType, calibration: Option<Platt>) -> ExportOptions {
    let method = if calibration.is_some() {
        "platt, inside this graph"
    } else {
        "none"
    };
    ExportOptions {
        input,
        metadata: vec![
            ("source".into(), "churnguard.ChurnClassifier".into()),
            ("calibration".into(), method.into()),
        ],
        calibration: calibration.map(churnguard_train::in_graph),
    }
}
