//! `train_package`: from a validated pipeline to a verified, versioned model package.

use std::path::{Path, PathBuf};

use churnguard_config::Pipeline;
use churnguard_features::{History, load_with_progress};
use churnguard_infer::{OnnxModel, OnnxRuntime};
use churnguard_package::{Latest, MODEL_ONNX, MODEL_TEXT, PARITY_LIMIT, Parity, Written};
use churnguard_train::{ManifestInputs, TrainError, Training, export_onnx, input_files, manifest, train};

pub use crate::clock::StageTimes;
use crate::clock::{Clock, setting_error};
use crate::{AppError, Progress, Stage};

/// Test rows compared in the parity check (evenly spread; all of them when fewer).
pub const PARITY_TEST_ROWS: usize = 100_000;

/// What a training job needs besides the pipeline.
pub struct TrainRequest<'a> {
    /// The validated pipeline.
    pub pipeline: &'a Pipeline,
    /// The config file's text as read (its SHA-256 goes in the manifest).
    pub config_text: &'a str,
    /// Where packages go (`<models>/<pipeline>/v<N>`).
    pub models_dir: &'a Path,
    /// ONNX Runtime, for the parity check.
    pub runtime: &'a OnnxRuntime,
    /// Whether the new version becomes `latest` (a challenger waits for its comparison).
    pub latest: Latest,
}

/// Where packages go when neither the caller nor `output.models_dir` says.
const DEFAULT_MODELS_DIR: &str = "models";

/// The models folder: `asked`, else the pipeline's `output.models_dir`, else `models`.
pub fn models_dir(asked: Option<&Path>, p: &Pipeline) -> PathBuf {
    asked
        .map(Path::to_path_buf)
        .or_else(|| p.output.models_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODELS_DIR))
}

/// A trained and packaged model.
pub struct Trained {
    /// The loaded tables (for scoring the latest snapshot next); `None` when partitioned
    /// tables were read one partition at a time.
    pub history: Option<History>,
    /// Everything training produced.
    pub training: Training,
    /// ONNX Runtime against LightGBM.
    pub parity: Parity,
    /// The package written.
    pub written: Written,
    /// Where the time went.
    pub times: StageTimes,
}

/// Trains a pipeline's model, checks its ONNX export against LightGBM and writes the package as
/// the next version; nothing is written when any step fails.
pub fn train_package(req: &TrainRequest<'_>, observe: &mut dyn FnMut(Progress)) -> Result<Trained, AppError> {
    train_with(req, None, None, observe)
}

/// [`train_package`] on tables already loaded (`None`: load them). The package records `inputs`
/// as what it was trained on (rows given in memory: [`crate::rows_inputs`]); `None`: the hashes
/// of the pipeline's files.
pub fn train_with(
    req: &TrainRequest<'_>,
    loaded: Option<History>,
    inputs: Option<Vec<churnguard_package::InputFile>>,
    observe: &mut dyn FnMut(Progress),
) -> Result<Trained, AppError> {
    let p = req.pipeline;
    if p.label.is_none() {
        return Err(AppError::NoLabel { file: p.file.clone() });
    }
    // Refuse an unusable models folder, or signing key, before the long work, not after.
    check_writable(req.models_dir)?;
    let signing = churnguard_package::SigningKey::from_env()?;
    observe(Progress::Stage(Stage::Load));
    let mut clock = Clock::start(observe);
    // Partitioned tables are read one partition at a time, never whole.
    let partitions = match loaded {
        None => crate::partition_keys(p)?,
        Some(_) => None,
    };
    let (history, training, inputs) = std::thread::scope(|s| -> Result<_, AppError> {
        let hashes = s.spawn(|| match inputs {
            Some(given) => Ok(given),
            None => input_files(p),
        });
        let (history, training) = match (loaded, partitions) {
            (None, Some(keys)) => {
                let prepared = crate::partitioned::prepare_by_partition(p, &keys, &mut clock)?;
                let training =
                    churnguard_train::finish(p, prepared, &mut churnguard_train::LocalFit, &mut |e| clock.event(e))
                        .map_err(|e| setting_error(p, e))?;
                (None, training)
            }
            (loaded, _) => {
                let history = match loaded {
                    Some(h) => h,
                    None => load_with_progress(p, None, &mut |r| (clock.observe)(Progress::Read(r)))?,
                };
                // A rule that can never match is refused before the long work.
                crate::check_actions(p, &churnguard_features::spec_for(p, &history))?;
                clock.enter(Stage::Features);
                let training = train_observed(p, &history, &mut clock)?;
                (Some(history), training)
            }
        };
        let inputs = hashes
            .join()
            .map_err(|_| TrainError::Internal("hashing the input files failed".into()))??;
        Ok((history, training, inputs))
    })?;
    let (parity, written) = export_and_package(req, &training, &inputs, signing.as_ref(), &mut clock)?;
    let times = clock.finish();
    Ok(Trained {
        history,
        training,
        parity,
        written,
        times,
    })
}

/// The ONNX export of a trained model, its parity check against LightGBM, and the package
/// written as the next version.
pub(crate) fn export_and_package(
    req: &TrainRequest<'_>,
    training: &Training,
    inputs: &[churnguard_package::InputFile],
    signing: Option<&churnguard_package::SigningKey>,
    clock: &mut Clock<'_>,
) -> Result<(Parity, Written), AppError> {
    let p = req.pipeline;
    clock.enter(Stage::Export);
    let onnx = export_onnx(p, training)?;
    let parity = parity(req.runtime, &onnx, training)?;
    if parity.max_abs_difference > PARITY_LIMIT {
        return Err(AppError::Parity {
            difference: parity.max_abs_difference,
            limit: PARITY_LIMIT,
        });
    }
    clock.enter(Stage::Package);
    let text = training.fit.model_text.as_bytes();
    let files: [(&str, &[u8]); 2] = [(MODEL_TEXT, text), (MODEL_ONNX, &onnx)];
    let written = churnguard_package::write(
        req.models_dir,
        &p.name,
        &files,
        &|version, hashes| {
            manifest(
                p,
                training,
                &ManifestInputs {
                    version,
                    config_text: req.config_text,
                    inputs,
                    files: hashes,
                    parity: &parity,
                },
            )
        },
        &churnguard_report::package_report,
        req.latest,
        signing,
    )?;
    Ok((parity, written))
}

pub(crate) fn check_writable(models: &Path) -> Result<(), AppError> {
    let fail = |source| AppError::ModelsDir {
        path: models.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(models).map_err(fail)?;
    let probe: PathBuf = models.join(format!(".write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Trains, turning training's events into stages and progress.
fn train_observed(p: &Pipeline, history: &History, clock: &mut Clock<'_>) -> Result<Training, AppError> {
    let result = train(p, history, &mut |event| clock.event(event));
    result.map_err(|e| setting_error(p, e))
}

/// ONNX Runtime against LightGBM on test rows and on rows probing every split.
pub fn parity(runtime: &OnnxRuntime, onnx: &[u8], t: &Training) -> Result<Parity, AppError> {
    let (rows, want, test_rows) =
        churnguard_train::parity_rows(&t.fit.model_text, &t.test_rows, &t.test_probabilities, PARITY_TEST_ROWS)?;
    // `model.onnx` applies a Platt calibration: LightGBM's probabilities get the same map here.
    let want: Vec<f64> = match t.calibration.in_graph() {
        Some(platt) => want.iter().map(|&x| platt.apply(x)).collect(),
        None => want,
    };
    let mut model = OnnxModel::load(runtime, onnx, 0)?;
    let scores = model.score(&rows, t.test_rows.cols)?;
    Ok(Parity {
        max_abs_difference: churnguard_model::max_abs_difference(&scores.values, &want),
        rows: want.len(),
        test_rows,
        test_rows_of: t.test_rows.rows,
        input_type: "f64".into(),
        onnx_runtime: runtime.version.clone(),
    })
}
