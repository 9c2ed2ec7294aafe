//! The jobs as Python calls: a pipeline loaded and checked once, its tables validated, a package
//! trained or opened, a list scored. Work runs with the GIL released.

use std::path::PathBuf;
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;
use churnguard_app::{
    AppError, CompareRequest, FeaturesOut, FeaturesRequest, History, Latest, MonitorRequest, PartitionListBytes,
    Progress, Scorer, TrainRequest,
};
use churnguard_config::{Date, Role};
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyBytes};

use crate::errors::{ConfigError, config as config_error, raised};
use crate::run::run_job;
use crate::table::{FeatureTable, RiskList};

/// Rows of the list's summary a Python caller gets (it has the whole list as a table).
const SUMMARY_TOP: usize = 10;

/// A pipeline config, read and validated once (unknown keys and bad values are errors), with
/// its tables read from their files or given in memory.
#[pyclass(frozen, module = "churnguard")]
pub struct Pipeline {
    pub(crate) inner: churnguard_config::Pipeline,
    /// The file's text as parsed: a package records its SHA-256.
    text: String,
    /// The events, customers and interactions given in memory, in place of the files.
    rows: Option<[Option<RecordBatch>; 3]>,
}

impl Pipeline {
    /// The validated config with the tables given in memory (none: the jobs read the files).
    fn with_tables(
        inner: churnguard_config::Pipeline,
        text: String,
        given: [Option<Bound<'_, PyAny>>; 3],
    ) -> PyResult<Pipeline> {
        if given.iter().all(Option::is_none) {
            return Ok(Pipeline {
                inner,
                text,
                rows: None,
            });
        }
        let mut rows = [None, None, None];
        for ((slot, obj), (role, has)) in rows.iter_mut().zip(&given).zip(configured(&inner)) {
            match (obj, has) {
                (Some(obj), true) => *slot = Some(crate::rows::rows_of(role, obj)?),
                (Some(_), false) => {
                    return Err(ConfigError::new_err(format!(
                        "{}: a {role} table was given, but the pipeline has no [data.{role}]",
                        inner.file.display()
                    )));
                }
                (None, true) => {
                    return Err(ConfigError::new_err(format!(
                        "{}: the pipeline reads a {role} table: give it too ({role}=...), or give none and the files are read",
                        inner.file.display()
                    )));
                }
                (None, false) => {}
            }
        }
        Ok(Pipeline {
            inner,
            text,
            rows: Some(rows),
        })
    }

    /// The customers' histories: from the tables given in memory, else read from the files.
    fn loaded(&self, observe: &mut dyn FnMut(Progress)) -> Result<History, AppError> {
        match self.history(observe)? {
            Some(h) => Ok(h),
            None => churnguard_app::load(&self.inner, observe),
        }
    }

    /// The customers' histories from the tables given in memory (`None`: the jobs read the files).
    fn history(&self, observe: &mut dyn FnMut(Progress)) -> Result<Option<History>, AppError> {
        self.rows
            .clone()
            .map(|rows| churnguard_app::load_rows(&self.inner, rows, observe))
            .transpose()
    }
}

/// Each table role, in the order the jobs take them, and whether the pipeline has it.
fn configured(p: &churnguard_config::Pipeline) -> [(&'static str, bool); 3] {
    let tables = p.tables();
    Role::ALL.map(|role| (role.name(), tables.iter().any(|(t, _)| *t == role)))
}

#[pymethods]
impl Pipeline {
    /// Reads and validates the pipeline config file at `path`. Tables given as `events`,
    /// `customers` or `interactions` (a pyarrow Table, a polars or pandas DataFrame, anything
    /// with `__arrow_c_stream__`) take the place of the files the config names, with the same
    /// columns; when one is given, every table the config has must be.
    #[staticmethod]
    #[pyo3(signature = (path, events = None, customers = None, interactions = None))]
    fn load(
        path: PathBuf,
        events: Option<Bound<'_, PyAny>>,
        customers: Option<Bound<'_, PyAny>>,
        interactions: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Pipeline> {
        let (inner, text) = churnguard_config::load_with_text(&path).map_err(|e| config_error(&e))?;
        Pipeline::with_tables(inner, text, [events, customers, interactions])
    }

    /// A pipeline from a dict shaped as a pipeline file (`{"pipeline": {"name": ...}, "data":
    /// {...}}`), validated as if read from `path` (which anchors relative table paths; default:
    /// `pipeline.toml` in the working folder). Tables may be given as in [`Pipeline::load`].
    #[staticmethod]
    #[pyo3(signature = (config, path = PathBuf::from("pipeline.toml"), events = None, customers = None, interactions = None))]
    fn from_dict(
        py: Python<'_>,
        config: Bound<'_, PyAny>,
        path: PathBuf,
        events: Option<Bound<'_, PyAny>>,
        customers: Option<Bound<'_, PyAny>>,
        interactions: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Pipeline> {
        let text: String = py
            .import("churnguard._toml")?
            .call_method1("dumps", (config,))
            .map_err(|e| ConfigError::new_err(format!("{}: {e}", path.display())))?
            .extract()?;
        let inner = churnguard_config::parse(&text, &path).map_err(|e| config_error(&e))?;
        Pipeline::with_tables(inner, text, [events, customers, interactions])
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

    /// The customer id column of each table the pipeline reads, by role (`events`,
    /// `customers`, `interactions`): what an engine splits the customers on.
    #[getter]
    fn customer_ids(&self) -> std::collections::BTreeMap<&'static str, String> {
        self.inner
            .tables()
            .into_iter()
            .map(|(role, src)| (role.name(), src.customer_id.clone()))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("<Pipeline {} from {}>", self.inner.name, self.inner.file.display())
    }
}

/// A verified model package, opened for scoring with ONNX Runtime.
#[pyclass(frozen, module = "churnguard")]
pub struct Package {
    /// The sessions, one job at a time.
    scorer: Mutex<Scorer>,
    /// The folder and manifest, read apart from the scorer: a figure asked for while another
    /// thread scores must not wait for it (with the GIL held, that would stop the interpreter).
    dir: PathBuf,
    manifest: churnguard_app::Manifest,
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
            dir: scorer.package.package.dir.clone(),
            manifest: scorer.package.package.manifest.clone(),
            scorer: Mutex::new(scorer),
        })
    }

    /// The version folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The version, such as `v3`.
    #[getter]
    fn version(&self) -> String {
        self.manifest.version.clone()
    }

    /// The pipeline that trained it.
    #[getter]
    fn pipeline(&self) -> String {
        self.manifest.pipeline.clone()
    }

    /// When it was written, `YYYY-MM-DDTHH:MM:SSZ`.
    #[getter]
    fn created_at(&self) -> String {
        self.manifest.created_at.clone()
    }

    /// The features the model reads, in column order.
    #[getter]
    fn features(&self) -> Vec<String> {
        self.manifest
            .feature_spec
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    /// ROC AUC on the held-out test customers.
    #[getter]
    fn test_auc(&self) -> f64 {
        self.manifest.test.auc
    }

    /// ROC AUC on the validation customers.
    #[getter]
    fn validation_auc(&self) -> f64 {
        self.manifest.validation.auc
    }

    /// Scores the pipeline's customers still with us at `as_of` (`YYYY-MM-DD`; default: the
    /// day the data ends, or `data.as_of`) into a [`RiskList`].
    #[pyo3(signature = (pipeline, as_of = None, progress = false))]
    fn score(
        &self,
        py: Python<'_>,
        pipeline: &Pipeline,
        as_of: Option<&str>,
        progress: bool,
    ) -> PyResult<Py<RiskList>> {
        let as_of = as_of.map(as_of_date).transpose()?;
        let table = run_job(py, progress, |observe| {
            let history = pipeline.history(observe)?;
            let mut guard = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let scorer = &mut *guard;
            churnguard_app::list_table(
                &pipeline.inner,
                history.as_ref(),
                &scorer.package,
                &mut scorer.model,
                as_of,
                SUMMARY_TOP,
                observe,
            )
        })?;
        RiskList::create(py, table)
    }

    /// One share of the customers (an engine task's: whole customers, the pipeline's tables
    /// given in memory) scored into a partition list: `(list, win_back)`, the bytes of their
    /// Parquet files, which [`Package::merge`] joins on the driver. `as_of` is needed unless the
    /// pipeline sets `data.as_of`: a share does not know where the whole data ends.
    #[pyo3(signature = (pipeline, as_of = None, label = "0"))]
    fn partition_list<'py>(
        &self,
        py: Python<'py>,
        pipeline: &Pipeline,
        as_of: Option<&str>,
        label: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let as_of = as_of.map(as_of_date).transpose()?;
        let part = run_job(py, false, |observe| {
            let as_of = churnguard_app::partitioned_as_of(&pipeline.inner, as_of)?;
            let history = pipeline.loaded(observe)?;
            let mut guard = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let scorer = &mut *guard;
            churnguard_app::partition_list_bytes(
                &pipeline.inner,
                &history,
                label,
                &scorer.package,
                &mut scorer.model,
                as_of,
            )
        })?;
        Ok((PyBytes::new(py, &part.list), PyBytes::new(py, &part.win_back)))
    }

    /// Merges partition lists ([`Package::partition_list`]'s pairs, from every share of the
    /// customers) into the one ranked list: row for row the list [`Package::score`] gives on
    /// the whole tables.
    fn merge(&self, py: Python<'_>, pipeline: &Pipeline, parts: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<Py<RiskList>> {
        let parts: Vec<PartitionListBytes> = parts
            .into_iter()
            .map(|(list, win_back)| PartitionListBytes { list, win_back })
            .collect();
        let table = run_job(py, false, |_| {
            let guard = self.scorer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            churnguard_app::merge_partition_bytes(&pipeline.inner, &guard.package, &parts, SUMMARY_TOP)
        })?;
        RiskList::create(py, table)
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

/// Reads every table of a pipeline and reports what it found (the CLI's `validate --json`), as
/// a dict: `usable` says whether training and scoring can read them.
#[pyfunction]
pub fn validate<'py>(py: Python<'py>, pipeline: &Pipeline) -> PyResult<Bound<'py, PyAny>> {
    if pipeline.rows.is_some() {
        return Err(ConfigError::new_err(format!(
            "{}: validate reads the pipeline's files; tables given in memory are checked by the job that reads them (features, train, score)",
            pipeline.inner.file.display()
        )));
    }
    let (json, usable) = py.detach(|| {
        let report = churnguard_app::validate(&pipeline.inner, None, &mut |_| {});
        (serde_json::to_string(&report), report.usable())
    });
    let report = python_value(py, json)?;
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
    let written = run_job(py, progress, |observe| {
        let request = TrainRequest {
            pipeline: p,
            config_text: &pipeline.text,
            models_dir: &models,
            runtime: churnguard_app::onnx_runtime(None)?,
            latest: Latest::Move,
        };
        let history = pipeline.history(observe)?;
        let inputs = match &pipeline.rows {
            Some(rows) => Some(churnguard_app::rows_inputs(p, rows)?),
            None => None,
        };
        churnguard_app::train_with(&request, history, inputs, observe).map(|t| t.written.dir)
    })?;
    Package::open(py, written, 0)
}

/// The pipeline's point-in-time features at each of `cutoffs` (`YYYY-MM-DD`; default: the
/// pipeline's training cutoffs, then its test cutoff): one row per customer still with us and
/// cutoff, with the label where it is known.
#[pyfunction]
#[pyo3(signature = (pipeline, cutoffs = None, progress = false))]
pub fn features(
    py: Python<'_>,
    pipeline: &Pipeline,
    cutoffs: Option<Vec<String>>,
    progress: bool,
) -> PyResult<Py<FeatureTable>> {
    let cutoffs = cutoffs
        .unwrap_or_default()
        .iter()
        .map(|c| as_of_date(c))
        .collect::<PyResult<Vec<Date>>>()?;
    let built = run_job(py, progress, |observe| {
        let history = pipeline.history(observe)?;
        let request = FeaturesRequest {
            pipeline: &pipeline.inner,
            cutoffs: &cutoffs,
            out: FeaturesOut::Memory,
            history: history.as_ref(),
        };
        churnguard_app::feature_table(&request, observe)
    })?;
    let schema = match built.batches.first() {
        Some(b) => b.schema(),
        None => std::sync::Arc::new(arrow::datatypes::Schema::empty()),
    };
    let reports =
        serde_json::to_string(&built.reports).map_err(|e| crate::errors::ChurnguardError::new_err(e.to_string()))?;
    let reports = py.import("json")?.call_method1("loads", (reports,))?.unbind();
    FeatureTable::create(py, schema, built.batches, reports)
}

/// Figures made by a job (their serde form) as Python dicts, lists and numbers.
fn python_value(py: Python<'_>, json: serde_json::Result<String>) -> PyResult<Bound<'_, PyAny>> {
    let json = json.map_err(|e| crate::errors::ChurnguardError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (json,))
}

/// Scores the same labelled customers at `cutoff` (default: the baseline's test cutoff) with
/// each package, the first being the baseline, and compares them: the CLI's `compare --json`
/// figures, with DeLong's test of each AUC difference.
#[pyfunction]
#[pyo3(signature = (pipeline, packages, cutoff = None, progress = false))]
pub fn compare<'py>(
    py: Python<'py>,
    pipeline: &Pipeline,
    packages: Vec<PathBuf>,
    cutoff: Option<&str>,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let cutoff = cutoff.map(as_of_date).transpose()?;
    let comparison = run_job(py, progress, |observe| {
        let history = pipeline.loaded(observe)?;
        let request = CompareRequest {
            pipeline: &pipeline.inner,
            packages: &packages,
            cutoff,
            runtime: churnguard_app::onnx_runtime(None)?,
            threads: 0,
            gates: None,
        };
        churnguard_app::compare(&request, &history, observe)
    })?;
    python_value(py, serde_json::to_string(&comparison))
}

/// Checks a package's inputs at `as_of` against its references and judges its matured kept
/// lists: the CLI's `monitor --json` figures and verdicts.
#[pyfunction]
#[pyo3(signature = (pipeline, package, as_of = None, progress = false))]
pub fn monitor<'py>(
    py: Python<'py>,
    pipeline: &Pipeline,
    package: PathBuf,
    as_of: Option<&str>,
    progress: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let as_of = as_of.map(as_of_date).transpose()?;
    let monitoring = run_job(py, progress, |observe| {
        let history = pipeline.loaded(observe)?;
        let request = MonitorRequest {
            pipeline: &pipeline.inner,
            package: &package,
            as_of,
            runtime: churnguard_app::onnx_runtime(None)?,
            threads: 0,
        };
        churnguard_app::monitor(&request, &history, observe)
    })?;
    python_value(py, serde_json::to_string(&monitoring))
}
