//! One Python exception class per kind of error, each carrying the CLI's message (the error and
//! its causes, joined by `: `).

use churnguard_app::{AppError, ErrorKind};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(churnguard, ChurnguardError, PyException, "A churnguard job failed.");
pyo3::create_exception!(
    churnguard,
    ConfigError,
    ChurnguardError,
    "The pipeline or the request is wrong."
);
pyo3::create_exception!(
    churnguard,
    DataError,
    ChurnguardError,
    "The tables are missing, damaged or do not fit the pipeline."
);
pyo3::create_exception!(
    churnguard,
    PackageError,
    ChurnguardError,
    "The model package is missing, damaged, or of another pipeline."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ChurnguardError", py.get_type::<ChurnguardError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("PackageError", py.get_type::<PackageError>())?;
    Ok(())
}

/// A job's error as the exception of its kind.
pub fn raised(e: AppError) -> PyErr {
    let message = churnguard_config::with_causes(&e);
    match e.kind() {
        ErrorKind::Config => ConfigError::new_err(message),
        ErrorKind::Data => DataError::new_err(message),
        ErrorKind::Package => PackageError::new_err(message),
        ErrorKind::Other => ChurnguardError::new_err(message),
    }
}

/// A pipeline file's or argument's error.
pub fn config(e: &dyn std::error::Error) -> PyErr {
    ConfigError::new_err(churnguard_config::with_causes(e))
}
