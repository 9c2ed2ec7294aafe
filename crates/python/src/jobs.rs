//! The jobs as Python calls: a pipeline loaded and checked once, its tables validated, a package
//! trained or opened, a list scored. Work runs with the GIL released.

use std::path::PathBuf;
use std::sync::Mutex;

use churnguard_app::{Latest, Progress, Scorer, TrainRequest};
use churnguard_config::Date;
use pyo3::prelude::*;
use pyo3::types::PyAny;

use crate::errors::{config, raised};
use crate::table::RiskList;

/// Rows of the list's summary a Python caller gets (it has the whole list as a table).
const SUMMARY_TOP: usize = 10;

/// A pipeline config, read and validated once (unknown keys and bad values are errors).
#[pyclass(frozen, module = "churnguard")]
pub struct Pipeline {
    pub(crate) inner: churnguard_config::Pipeline,
    /// The file's text as parsed: a package records its SHA-256.
    text: String,
}

#[pymethods]
impl Pipeline {
    /// Reads and validates the pipeline config file at `path`.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Pipeline> {
        let (inner, text) = churnguard_config::load_with_text(&path).map_err(|e| config(&e))?;
        Ok(Pipeline { inner, text })
    }

    /// The pipeline's name (its models folder).
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// The config file it was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.file.clone()
    }

    fn __repr__(&self) -> String {
        format!("<Pipeline {} from {}>", self.inner.name, self.inner.file.display())
    }
}

/// A verified model package, opened for scoring with ONNX Runtime.
#[pyclass(frozen, module = "churnguard")]
pub struct Package {
    scorer: Mutex<Scorer>,
}

impl Package {
    /// Reads one figure of the manifest.
    fn manifest<T>(&self, read: impl FnOnce(&churnguard_app::Manifest) -> T) -> T {
        let scorer = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        read(&scorer.package.package.manifest)
    }
}

#[pymethods]
impl Package {
    /// Opens the package folder at `path` (a version folder or a `latest` link), its files
    /// checked against their hashes; `threads` ONNX Runtime sessions (0: one per core).
    #[staticmethod]
    #[pyo3(signature = (path, threads = 0))]
    fn open(py: Python<'_>, path: PathBuf, threads: usize) -> PyResult<Package> {
        let scorer = py
            .detach(|| churnguard_app::open_scorer(&path, None, threads))
            .map_err(raised)?;
        Ok(Package {
            scorer: Mutex::new(scorer),
        })
    }

    /// The version folder.
    #[getter]
    fn path(&self) -> PathBuf {
        let scorer = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        scorer.package.package.dir.clone()
    }

    /// The version, such as `v3`.
    #[getter]
    fn version(&self) -> String {
        self.manifest(|m| m.version.clone())
    }

    /// The pipeline that trained it.
    #[getter]
    fn pipeline(&self) -> String {
        self.manifest(|m| m.pipeline.clone())
    }

    /// When it was written, `YYYY-MM-DDTHH:MM:SSZ`.
    #[getter]
    fn created_at(&self) -> String {
        self.manifest(|m| m.created_at.clone())
    }

    /// The features the model reads, in column order.
    #[getter]
    fn features(&self) -> Vec<String> {
        self.manifest(|m| m.feature_spec.features.iter().map(|f| f.name.clone()).collect())
    }

    /// ROC AUC on the held-out test customers.
    #[getter]
    fn test_auc(&self) -> f64 {
        self.manifest(|m| m.test.auc)
    }

    /// ROC AUC on the validation customers.
    #[getter]
    fn validation_auc(&self) -> f64 {
        self.manifest(|m| m.validation.auc)
    }

    /// Scores the pipeline's customers still with us at `as_of` (`YYYY-MM-DD`; default: the
    /// day the data ends, or `data.as_of`) into a [`RiskList`].
    #[pyo3(signature = (pipeline, as_of = None, progress = false))]
    fn score(&self, py: Python<'_>, pipeline: &Pipeline, as_of: Option<&str>, progress: bool) -> PyResult<RiskList> {
        let as_of = as_of.map(as_of_date).transpose()?;
        let table = py.detach(|| {
            let mut guard = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let scorer = &mut *guard;
            churnguard_app::list_table(
                &pipeline.inner,
                &scorer.package,
                &mut scorer.model,
                as_of,
                SUMMARY_TOP,
                &mut reporter(progress),
            )
        });
        Ok(RiskList::new(table.map_err(raised)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Package {} {} at {}>",
            self.pipeline(),
            self.version(),
            self.path().display()
        )
    }
}

/// A `YYYY-MM-DD` argument as a date.
fn as_of_date(text: &str) -> PyResult<Date> {
    Date::parse_iso(text)
        .ok_or_else(|| crate::errors::ConfigError::new_err(format!("as_of {text:?} is not a date (YYYY-MM-DD)")))
}

/// What a job reports as it goes: nothing, or one line per stage on stderr.
fn reporter(progress: bool) -> impl FnMut(Progress) {
    move |p| {
        if let (true, Progress::Stage(stage)) = (progress, &p) {
            eprintln!("churnguard: {}", format!("{stage:?}").to_lowercase());
        } else if let (true, Progress::Note(note)) = (progress, &p) {
            eprintln!("churnguard: note: {note}");
        }
    }
}

/// Reads every table of a pipeline and reports what it found (the CLI's `validate --json`), as
/// a dict: `usable` says whether training and scoring can read them.
#[pyfunction]
pub fn validate<'py>(py: Python<'py>, pipeline: &Pipeline) -> PyResult<Bound<'py, PyAny>> {
    let (json, usable) = py.detach(|| {
        let report = churnguard_app::validate(&pipeline.inner, None, &mut |_| {});
        (serde_json::to_string(&report), report.usable())
    });
    let json = json.map_err(|e| crate::errors::ChurnguardError::new_err(e.to_string()))?;
    let report = py.import("json")?.call_method1("loads", (json,))?;
    report.set_item("usable", usable)?;
    Ok(report)
}

/// Trains the pipeline's model, checks its ONNX export against LightGBM and writes the package
/// as the next version under `models` (default: `output.models_dir`, else `models`), which
/// becomes `latest`; returns it opened.
#[pyfunction]
#[pyo3(signature = (pipeline, models = None, progress = false))]
pub fn train(py: Python<'_>, pipeline: &Pipeline, models: Option<PathBuf>, progress: bool) -> PyResult<Package> {
    let p = &pipeline.inner;
    let models = churnguard_app::models_dir(models.as_deref(), p);
    let written = py
        .detach(|| {
            let request = TrainRequest {
                pipeline: p,
                config_text: &pipeline.text,
                models_dir: &models,
                runtime: churnguard_app::onnx_runtime(None)?,
                latest: Latest::Move,
            };
            churnguard_app::train_package(&request, &mut reporter(progress)).map(|t| t.written.dir)
        })
        .map_err(raised)?;
    Package::open(py, written, 0)
}
