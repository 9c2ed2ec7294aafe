//! `export_checked`: any LightGBM model text to exact ONNX, refused unless ONNX Runtime scores it
//! as LightGBM's decision rules do.

use std::time::{Duration, Instant};

use churnguard_eval::Platt;
use churnguard_infer::{OnnxModel, OnnxRuntime};
use churnguard_model::{Ensemble, ExportOptions, InputType, LogOddsMap, export, max_abs_difference};
use churnguard_package::PARITY_LIMIT;

use crate::AppError;

/// Rows probed by the parity check.
pub const PROBE_ROWS: usize = 5_000;

/// An exported model and, when checked, how well ONNX Runtime reproduces LightGBM.
pub struct Exported {
    /// The parsed trees.
    pub ensemble: Ensemble,
    /// The ONNX model's bytes.
    pub bytes: Vec<u8>,
    /// Time spent exporting.
    pub export_time: Duration,
    /// The check, unless skipped.
    pub check: Option<ExportCheck>,
}

/// The parity check of an export.
pub struct ExportCheck {
    /// Largest |ONNX Runtime - LightGBM rules| output.
    pub max_abs_difference: f64,
    /// Rows probed.
    pub rows: usize,
    /// Time ONNX Runtime took to load the model.
    pub load_time: Duration,
    /// The ONNX Runtime version.
    pub onnx_runtime: String,
}

/// Exports a LightGBM model text; with a runtime, probes every threshold, its neighbours, zeros
/// and NaNs through ONNX Runtime and refuses the export above [`PARITY_LIMIT`].
pub fn export_checked(
    text: &str,
    options: &ExportOptions,
    runtime: Option<&OnnxRuntime>,
) -> Result<Exported, AppError> {
    let started = Instant::now();
    let ensemble = Ensemble::parse(text)?;
    let bytes = export(&ensemble, text, options)?;
    let export_time = started.elapsed();
    let check = match runtime {
        Some(rt) => Some(check(rt, &ensemble, &bytes, options)?),
        None => None,
    };
    Ok(Exported {
        ensemble,
        bytes,
        export_time,
        check,
    })
}

/// What the exported graph must compute, by LightGBM's rules: the predictions, or a binary
/// model's log-odds through the calibration.
fn lightgbm_rules(ensemble: &Ensemble, rows: &[f64], calibration: Option<LogOddsMap>) -> Vec<f64> {
    let f = ensemble.num_features();
    let scale = ensemble.objective.log_odds_scale();
    match (calibration, scale) {
        (Some(map), Some(scale)) => {
            let platt = Platt { a: map.a, b: map.b };
            let z = |r: &[f64]| (scale * ensemble.raw_scores(r)[0]).clamp(-map.clamp, map.clamp);
            rows.chunks(f).map(|r| platt.apply_log_odds(z(r))).collect()
        }
        _ => rows.chunks(f).flat_map(|r| ensemble.predict(r)).collect(),
    }
}

/// Compares ONNX Runtime's scores with LightGBM's rules (calibrated as the graph calibrates).
fn check(
    runtime: &OnnxRuntime,
    ensemble: &Ensemble,
    bytes: &[u8],
    options: &ExportOptions,
) -> Result<ExportCheck, AppError> {
    let t = Instant::now();
    let mut model = OnnxModel::load(runtime, bytes, 0)?;
    let load_time = t.elapsed();
    let mut rows = ensemble.probe_rows(PROBE_ROWS);
    if options.input == InputType::F32 {
        rows.iter_mut().for_each(|v| *v = f64::from(*v as f32));
    }
    let f = ensemble.num_features();
    let scores = model.score(&rows, f)?;
    let want = lightgbm_rules(ensemble, &rows, options.calibration);
    let worst = max_abs_difference(&want, &scores.values);
    if worst > PARITY_LIMIT {
        return Err(AppError::Parity {
            difference: worst,
            limit: PARITY_LIMIT,
        });
    }
    Ok(ExportCheck {
        max_abs_difference: worst,
        rows: rows.len() / f.max(1),
        load_time,
        onnx_runtime: runtime.version.clone(),
    })
}
