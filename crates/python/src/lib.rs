//! `churnguard._core`: the application layer's jobs for Python. Each function takes its
//! arguments, releases the GIL, calls one `churnguard_app` job and hands back objects whose
//! figures are attributes and whose tables cross to Python through the Arrow C stream interface.
//! The Python package (`python/churnguard`) adds the helpers and the ONNX Runtime library.

mod classifier;
mod errors;
mod jobs;
mod rows;
mod run;
mod table;

use pyo3::prelude::*;

/// The extension module, named `churnguard._core` by the wheel.
#[pymodule(name = "_core")]
fn core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<jobs::Pipeline>()?;
    m.add_class::<jobs::Package>()?;
    m.add_class::<table::Table>()?;
    m.add_class::<table::RiskList>()?;
    m.add_class::<table::FeatureTable>()?;
    m.add_function(wrap_pyfunction!(jobs::validate, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::train, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::features, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::compare, m)?)?;
    m.add_function(wrap_pyfunction!(jobs::monitor, m)?)?;
    m.add_function(wrap_pyfunction!(classifier::fit_classifier, m)?)?;
    m.add_function(wrap_pyfunction!(classifier::classifier_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(classifier::fit_calibration, m)?)?;
    m.add_function(wrap_pyfunction!(classifier::export_onnx, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
