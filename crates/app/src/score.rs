//! `score_list`: the early-warning list of a verified package at a scoring date.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline};
use churnguard_features::{FeatureError, History};
use churnguard_infer::{ModelPackage, OnnxModel, RiskList, ScoreError, score};

use crate::{AppError, Progress, Stage};

/// The day a list is scored at when none is asked for: the pipeline's `data.as_of`, else the
/// last day of the data. A data set without any dated row has no such day.
pub fn default_as_of(p: &Pipeline, h: &History) -> Result<Date, AppError> {
    if let Some(d) = p.data.as_of {
        return Ok(d);
    }
    // Without `as_of` and without events, the end of the data is unknown (`i64::MAX`).
    if h.data_start_ms.is_some() && h.data_end_ms != i64::MAX {
        return Ok(Date::of_ms(h.data_end_ms - 1));
    }
    Err(AppError::NoDate { file: p.file.clone() })
}

/// Scores every customer of `h` known on `as_of` (default: [`default_as_of`]).
pub fn score_list(
    p: &Pipeline,
    h: &History,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Option<Date>,
    observe: &mut dyn FnMut(Progress),
) -> Result<RiskList, AppError> {
    let as_of = match as_of {
        Some(d) => d,
        None => default_as_of(p, h)?,
    };
    observe(Progress::Stage(Stage::Scoring));
    let result = score(p, h, package, model, as_of, &mut |done, total| {
        observe(Progress::Scored { done, total })
    });
    result.map_err(|e| match e {
        ScoreError::Features(source @ FeatureError::CutoffBeforeData { .. }) => AppError::AsOf { as_of, source },
        other => other.into(),
    })
}

/// Where `run` writes the list of a new package: beside it, named after its version and date.
pub fn list_path(models_dir: &Path, pipeline: &str, version: &str, as_of: Date) -> PathBuf {
    models_dir.join(pipeline).join(format!("risk-{version}-{as_of}.csv"))
}
