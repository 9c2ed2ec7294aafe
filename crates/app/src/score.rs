//! `score_list`: the early-warning list of a verified package at a scoring date.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline};
use churnguard_features::{FeatureError, FeatureSpec, History};
use churnguard_infer::{
    KeptStamp, ListFormat, ModelPackage, OnnxModel, RiskList, ScoreError, keep_list, score, win_back_path, write_list,
    write_win_back,
};

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
    check_actions(p, package.spec())?;
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

/// Makes sure a list can be written at `out` before any work: its folder exists (created when
/// missing) and is not inside a model package, whose files the package's hashes cover.
pub fn prepare_output(out: &Path, package_dir: &Path) -> Result<(), AppError> {
    let folder = match out.parent() {
        Some(f) if !f.as_os_str().is_empty() => f.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder).map_err(|source| AppError::OutputFolder {
        path: folder.clone(),
        source,
    })?;
    let (Ok(folder), Ok(package)) = (std::fs::canonicalize(&folder), std::fs::canonicalize(package_dir)) else {
        return Ok(());
    };
    if folder.starts_with(&package) {
        return Err(AppError::OutputInPackage {
            out: out.to_path_buf(),
            package,
        });
    }
    Ok(())
}

/// Whether a list was kept for monitoring ([`write_lists`]).
#[derive(Debug)]
pub enum Kept {
    /// Kept at this path.
    At(PathBuf),
    /// `monitoring.keep_lists` is off.
    Off,
    /// The copy could not be written (the list itself was): why, for a warning. A full disk in
    /// the models folder must not fail the list the retention team is waiting for.
    Failed(String),
}

/// Writes the risk list at `out` and, when some customers have already churned, the win-back
/// list beside it ([`win_back_path`]); with `monitoring.keep_lists`, then keeps a copy for
/// monitoring in [`crate::lists_dir`].
pub fn write_lists(
    p: &Pipeline,
    list: &RiskList,
    package: &ModelPackage,
    out: &Path,
    format: ListFormat,
) -> Result<Kept, AppError> {
    write_list(list, package.spec(), out, format, p.scoring.batch_rows)?;
    if !list.win_back.is_empty() {
        write_win_back(list, &win_back_path(out), format)?;
    }
    if !p.monitoring.keep_lists {
        return Ok(Kept::Off);
    }
    Ok(
        match keep_list(list, package, &crate::lists_dir(package), &KeptStamp::now(p)) {
            Ok(path) => Kept::At(path),
            Err(e) => Kept::Failed(churnguard_config::with_causes(&e)),
        },
    )
}

/// Refuses action rules whose `reason` can match no feature of the model: such a rule would
/// silently never choose its action.
pub fn check_actions(p: &Pipeline, spec: &FeatureSpec) -> Result<(), AppError> {
    let names = spec.names();
    if let Some(name) = p.scoring.unmatched_not_actionable(&names).first() {
        return Err(AppError::NotActionable {
            file: p.file.clone(),
            name: name.to_string(),
            features: names.iter().map(|s| s.to_string()).collect(),
        });
    }
    let unmatched = p.scoring.unmatched_rules(&names);
    match unmatched.first() {
        None => Ok(()),
        Some(&i) => Err(AppError::ActionRule {
            file: p.file.clone(),
            rule: i + 1,
            reason: p.scoring.actions[i].reason.clone().unwrap_or_default(),
            features: names.iter().map(|s| s.to_string()).collect(),
        }),
    }
}
