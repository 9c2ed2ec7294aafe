//! The early-warning list of a verified package at a scoring date: [`risk_list`] routes whole
//! or partitioned tables, [`score_list`] scores one history.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline};
use churnguard_features::{FeatureError, FeatureSpec, History};
use churnguard_infer::{
    KeptStamp, ListFormat, ListSummary, ModelPackage, OnnxModel, RiskList, ScoreError, keep_list, score, win_back_path,
    write_list, write_win_back,
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

/// A verified package with its ONNX Runtime sessions, ready to score.
pub struct Scorer {
    /// The package, its files checked against their hashes.
    pub package: ModelPackage,
    /// Its `model.onnx` in ONNX Runtime.
    pub model: OnnxModel,
    /// The sessions scoring runs on (one per thread).
    pub sessions: usize,
}

/// Opens the package at `dir` for scoring with `threads` ONNX Runtime sessions (0: one per core,
/// at most [`churnguard_infer::DEFAULT_MAX_SESSIONS`]), from the library at `ort_lib` (default:
/// `ORT_DYLIB_PATH`, then `.tools/lib`).
pub fn open_scorer(dir: &Path, ort_lib: Option<&Path>, threads: usize) -> Result<Scorer, AppError> {
    let package = crate::open_package(dir)?;
    let runtime = crate::onnx_runtime(ort_lib)?;
    let model = OnnxModel::load(runtime, package.onnx(), threads)?;
    Ok(Scorer {
        package,
        model,
        sessions: churnguard_infer::sessions_for(threads),
    })
}

/// What a list job is asked: whose list, with which package, at which date, written where.
pub struct ListRequest<'a> {
    /// The pipeline whose customers are listed.
    pub pipeline: &'a Pipeline,
    /// The package that scores them.
    pub package: &'a ModelPackage,
    /// The scoring date (default: [`default_as_of`]; partitioned tables need `data.as_of`).
    pub as_of: Option<Date>,
    /// The list (the win-back list goes beside it).
    pub out: &'a Path,
    /// Its format.
    pub format: ListFormat,
    /// Rows of the list in the summary.
    pub top: usize,
}

/// A list written: its summary, its copy kept for monitoring, and where the time went (when
/// the list was scored in one piece).
pub struct WrittenList {
    /// The summary the CLI prints.
    pub summary: ListSummary,
    /// The copy kept for monitoring.
    pub kept: Kept,
    /// Seconds per stage, for a list scored in one piece.
    pub times: Option<ListTimes>,
    /// The scored list and the history read for it, held so that a process about to end can
    /// [`WrittenList::forget`] them instead of freeing them.
    held: Option<(RiskList, Option<History>)>,
}

impl WrittenList {
    /// Lets go of the list and its history without freeing them: for a process that ends next,
    /// handing a million customers' rows back one allocation at a time would only delay the exit.
    /// A caller that goes on working drops the `WrittenList` instead.
    pub fn forget(self) {
        std::mem::forget(self.held);
    }
}

/// A list scored into memory: its rows as Arrow batches with the columns of the list's files,
/// and its summary, for a face that hands tables on (the Python package) rather than files.
pub struct ListTable {
    /// The summary, with its first `top` rows.
    pub summary: ListSummary,
    /// The list's columns.
    pub schema: arrow::datatypes::SchemaRef,
    /// Its rows in rank order.
    pub batches: Vec<arrow::record_batch::RecordBatch>,
}

/// Scores a pipeline's customers (from `history`, else read from its tables) with a package into
/// memory: the list [`risk_list`] writes, without its files or kept copy.
pub fn list_table(
    p: &Pipeline,
    history: Option<&History>,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Option<Date>,
    top: usize,
    observe: &mut dyn FnMut(Progress),
) -> Result<ListTable, AppError> {
    package.package.check_pipeline(p)?;
    let mut loaded = None;
    let history: &History = match history {
        Some(h) => h,
        None => loaded.insert(crate::load(p, observe)?),
    };
    let list = score_list(p, history, package, model, as_of, observe)?;
    let (schema, batches) = churnguard_infer::list_batches(&list, package.spec(), p.scoring.batch_rows)?;
    Ok(ListTable {
        summary: list.summary(top),
        schema,
        batches,
    })
}

/// Where a list scored in one piece spent its time, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct ListTimes {
    /// Reading the tables (0 when the history was given).
    pub load: f64,
    /// Features, ONNX Runtime, reasons and ranking.
    pub stages: churnguard_infer::StageTimes,
    /// Writing the list, the win-back list and the kept copy.
    pub write: f64,
}

/// The risk list of a pipeline's customers, written with its win-back list and kept copy:
/// whole tables scored at once (from `history` when the caller already holds it, else read),
/// partitioned tables one partition at a time and merged. The one job `score` and `run` share.
pub fn risk_list(
    req: &ListRequest<'_>,
    history: Option<&History>,
    model: &mut OnnxModel,
    observe: &mut dyn FnMut(Progress),
) -> Result<WrittenList, AppError> {
    let p = req.pipeline;
    req.package.package.check_pipeline(p)?;
    if history.is_none() && crate::partition_keys(p)?.is_some() {
        let merged = crate::score_partitioned(req, model, observe)?;
        return Ok(WrittenList {
            summary: merged.summary,
            kept: merged.kept,
            times: None,
            held: None,
        });
    }
    let clock = std::time::Instant::now();
    let mut loaded = None;
    let history: &History = match history {
        Some(h) => h,
        None => loaded.insert(crate::load(p, observe)?),
    };
    let load = clock.elapsed().as_secs_f64();
    let list = score_list(p, history, req.package, model, req.as_of, observe)?;
    let clock = std::time::Instant::now();
    let kept = write_lists(p, &list, req.package, req.out, req.format)?;
    Ok(WrittenList {
        summary: list.summary(req.top),
        kept,
        times: Some(ListTimes {
            load,
            stages: list.times,
            write: clock.elapsed().as_secs_f64(),
        }),
        held: Some((list, loaded)),
    })
}
