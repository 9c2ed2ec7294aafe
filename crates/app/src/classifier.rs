//! A LightGBM classifier on a team's own feature matrix (the Python package's scikit-learn
//! estimator): fitted, scored and exported as the pipeline's models are, with no pipeline.

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

/// The churn probability LightGBM gives each row of `x` under a fitted model text.
pub fn classifier_probabilities(model_text: &str, x: &[f64], cols: usize) -> Result<Vec<f64>, AppError> {
    let booster = Booster::from_text(model_text).map_err(churnguard_train::TrainError::from)?;
    Ok(booster
        .predict(x, cols, Prediction::Normal)
        .map_err(churnguard_train::TrainError::from)?)
}
