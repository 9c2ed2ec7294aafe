//! Tables a job made, as Python objects: the rows through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`), so pyarrow, polars and pandas read the batches the job built without a
//! copy and without pyarrow being required; the risk list and the feature table add their own
//! figures as attributes.

use arrow::datatypes::SchemaRef;
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchIterator};
use churnguard_app::{ListSummary, ListTable, TierTotal};
use churnguard_config::Tier;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

/// Rows a job made, read as an Arrow C stream: a new stream over the same batches at every read.
#[pyclass(frozen, subclass, module = "churnguard")]
pub struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Table {
    /// The batches under their schema.
    fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Table {
        Table { schema, batches }
    }
}

#[pymethods]
impl Table {
    /// Rows in all.
    fn __len__(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The rows as an Arrow C stream (the PyCapsule interface); `requested_schema` is accepted
    /// and the table's own schema kept, as the interface allows.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = RecordBatchIterator::new(self.batches.clone().into_iter().map(Ok), self.schema.clone());
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// The schema as an Arrow C schema (the PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| crate::errors::ChurnguardError::new_err(e.to_string()))?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }

    /// The rows as a `pyarrow.Table` (needs pyarrow).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("pyarrow")?.call_method1("table", (slf,))
    }

    /// The rows as a `pandas.DataFrame` (needs pandas and pyarrow).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Table::to_pyarrow(slf)?.call_method0("to_pandas")
    }

    /// The rows as a `polars.DataFrame` (needs polars).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("polars")?.call_method1("DataFrame", (slf,))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Table: {} rows, {} columns>",
            self.__len__(),
            self.schema.fields().len()
        )
    }
}

/// A scored list: the customers still with us in priority order, with each one's probability,
/// risk level, value at risk, action and reasons.
#[pyclass(frozen, extends = Table, module = "churnguard")]
pub struct RiskList {
    summary: ListSummary,
}

impl RiskList {
    /// The list a job scored, as a new Python object.
    pub fn create(py: Python<'_>, t: ListTable) -> PyResult<Py<RiskList>> {
        let init =
            PyClassInitializer::from(Table::new(t.schema, t.batches)).add_subclass(RiskList { summary: t.summary });
        Py::new(py, init)
    }

    /// Every risk level's totals, by its name in the list, unknown last.
    fn each_level(&self) -> impl Iterator<Item = (&'static str, &TierTotal)> {
        let t = &self.summary.totals;
        Tier::ALL
            .into_iter()
            .map(|level| Tier::name_of(Some(level)))
            .zip(t.tiers.iter())
            .chain(std::iter::once((Tier::name_of(None), &t.unknown)))
    }
}

#[pymethods]
impl RiskList {
    /// The scoring date (the day before the snapshot's cutoff), `YYYY-MM-DD`.
    #[getter]
    fn as_of(&self) -> String {
        self.summary.cutoff.previous_day().to_string()
    }

    /// Customers already churned at the scoring date (the win-back list, not in this list).
    #[getter]
    fn win_back(&self) -> u64 {
        self.summary.win_back
    }

    /// Expected churners in the list: the sum of the calibrated probabilities.
    #[getter]
    fn expected_churners(&self) -> f64 {
        self.each_level().map(|(_, t)| t.expected_churners).sum()
    }

    /// Value at risk of the whole list.
    #[getter]
    fn value_at_risk(&self) -> f64 {
        self.each_level().map(|(_, t)| t.value_at_risk).sum()
    }

    /// Per risk level (`high`, `medium`, `low`, `unknown`): customers, expected churners and
    /// value at risk.
    #[getter]
    fn levels<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, t) in self.each_level() {
            let d = PyDict::new(py);
            d.set_item("customers", t.customers)?;
            d.set_item("expected_churners", t.expected_churners)?;
            d.set_item("value_at_risk", t.value_at_risk)?;
            out.set_item(name, d)?;
        }
        Ok(out)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let list = slf.get();
        format!(
            "<RiskList as of {}: {} customers, {:.1} expected churners, {:.0} value at risk>",
            list.as_of(),
            slf.as_super().get().__len__(),
            list.expected_churners(),
            list.value_at_risk()
        )
    }
}

/// A feature table: one row per customer and cutoff, the features a model reads at each
/// cutoff, with the label where it is known.
#[pyclass(frozen, extends = Table, module = "churnguard")]
pub struct FeatureTable {
    /// Each cutoff's snapshot report, as dicts.
    snapshots: Py<PyAny>,
}

impl FeatureTable {
    /// The table a job built, with its snapshot reports (already Python objects).
    pub fn create(
        py: Python<'_>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        snapshots: Py<PyAny>,
    ) -> PyResult<Py<FeatureTable>> {
        Py::new(
            py,
            PyClassInitializer::from(Table::new(schema, batches)).add_subclass(FeatureTable { snapshots }),
        )
    }
}

#[pymethods]
impl FeatureTable {
    /// Per cutoff: customers, labelled, churned and what building the snapshot found.
    #[getter]
    fn snapshots(&self, py: Python<'_>) -> Py<PyAny> {
        self.snapshots.clone_ref(py)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let table = slf.as_super().get();
        format!(
            "<FeatureTable: {} rows, {} columns>",
            table.__len__(),
            table.schema.fields().len()
        )
    }
}
