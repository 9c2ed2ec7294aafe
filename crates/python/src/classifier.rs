//! The scikit-learn estimator's Rust half: LightGBM fitted on a matrix, its probabilities, and
//! its exact ONNX export. The estimator (`churnguard.ChurnClassifier`) checks the inputs and
//! keeps the model text as its whole fitted state.

use std::path::PathBuf;

use churnguard_app::{ClassifierParams, InputType, Platt};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;

use crate::errors::{ConfigError, raised};

/// A C-ordered buffer of `rows` x `cols` values as a vector (the buffer is the caller's array).
fn matrix(py: Python<'_>, x: &PyBuffer<f64>, cols: usize) -> PyResult<Vec<f64>> {
    if cols == 0 || !x.item_count().is_multiple_of(cols) {
        return Err(ConfigError::new_err(format!(
            "a matrix of {} values cannot have {cols} columns",
            x.item_count()
        )));
    }
    x.to_vec(py)
}

/// Fits LightGBM's binary classifier on `x` (row-major float64, `cols` columns, NaN missing)
/// and `y` (float32 0/1); returns the model text.
#[pyfunction]
#[pyo3(signature = (x, cols, y, rounds, learning_rate, num_leaves, min_child_samples, seed, threads))]
#[allow(clippy::too_many_arguments)]
pub fn fit_classifier(
    py: Python<'_>,
    x: PyBuffer<f64>,
    cols: usize,
    y: PyBuffer<f32>,
    rounds: usize,
    learning_rate: f64,
    num_leaves: usize,
    min_child_samples: usize,
    seed: u64,
    threads: usize,
) -> PyResult<String> {
    let (x, y) = (matrix(py, &x, cols)?, y.to_vec(py)?);
    if x.len() / cols != y.len() {
        return Err(ConfigError::new_err(format!(
            "{} rows of features but {} labels",
            x.len() / cols,
            y.len()
        )));
    }
    let params = ClassifierParams {
        rounds,
        learning_rate,
        num_leaves,
        min_child_samples,
        seed,
        threads,
    };
    py.detach(|| churnguard_app::fit_classifier(&x, cols, &y, &params))
        .map_err(raised)
}

/// A calibration as the estimator keeps it: Platt's slope and offset, or none.
fn platt(calibration: Option<(f64, f64)>) -> Option<Platt> {
    calibration.map(|(a, b)| Platt { a, b })
}

/// The churn probability of each row of `x` under `model_text`, through Platt's `(a, b)` when
/// given.
#[pyfunction]
#[pyo3(signature = (model_text, x, cols, calibration = None))]
pub fn classifier_probabilities(
    py: Python<'_>,
    model_text: &str,
    x: PyBuffer<f64>,
    cols: usize,
    calibration: Option<(f64, f64)>,
) -> PyResult<Vec<f64>> {
    let x = matrix(py, &x, cols)?;
    py.detach(|| churnguard_app::classifier_probabilities(model_text, &x, cols, platt(calibration)))
        .map_err(raised)
}

/// Platt's `(a, b)` fitted on held-out rows `x` (row-major float64) and their labels `y`.
#[pyfunction]
pub fn fit_calibration(
    py: Python<'_>,
    model_text: &str,
    x: PyBuffer<f64>,
    cols: usize,
    y: PyBuffer<f32>,
) -> PyResult<(f64, f64)> {
    let (x, y) = (matrix(py, &x, cols)?, y.to_vec(py)?);
    let fitted = py.detach(|| churnguard_app::fit_classifier_calibration(model_text, &x, cols, &y));
    fitted.map(|p| (p.a, p.b)).map_err(raised)
}

/// Exports `model_text` to exact ONNX at `path` (input `f32` or `f64`, Platt's `(a, b)` inside
/// the graph when given), checked through ONNX Runtime before the file is written whole;
/// returns the largest difference the check found.
#[pyfunction]
#[pyo3(signature = (model_text, path, input_type = "f32", calibration = None))]
pub fn export_onnx(
    py: Python<'_>,
    model_text: &str,
    path: PathBuf,
    input_type: &str,
    calibration: Option<(f64, f64)>,
) -> PyResult<f64> {
    let input = match input_type {
        "f32" => InputType::F32,
        "f64" => InputType::F64,
        other => {
            return Err(ConfigError::new_err(format!("input_type {other:?}: f32 or f64")));
        }
    };
    let options = churnguard_app::classifier_export_options(input, platt(calibration));
    py.detach(|| {
        let runtime = churnguard_app::onnx_runtime(None)?;
        let exported = churnguard_app::export_checked(model_text, &options, Some(runtime))?;
        churnguard_app::write_whole(&path, &exported.bytes)?;
        Ok(exported.check.map_or(0.0, |c| c.max_abs_difference))
    })
    .map_err(raised)
}
