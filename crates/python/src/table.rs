//! The risk list as a Python object: its summary figures as attributes, its rows through the
//! Arrow PyCapsule interface (`__arrow_c_stream__`), so pyarrow, polars and pandas read the
//! batches the list was built in without a copy and without pyarrow being required.

use arrow::datatypes::SchemaRef;
use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::{RecordBatch, RecordBatchIterator};
use churnguard_app::{ListSummary, ListTable, TierTotal};
use churnguard_config::Tier;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

/// A table a job made, handed to Python as an Arrow C stream: a new stream over the same
/// batches at every read.
pub struct Batches {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Batches {
    /// The batches under their schema.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Batches {
        Batches { schema, batches }
    }

    /// Rows in all.
    fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Column names, in order.
    fn columns(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The rows as an `arrow_array_stream` capsule.
    fn stream<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let batches = RecordBatchIterator::new(self.batches.clone().into_iter().map(Ok), self.schema.clone());
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// The schema as an `arrow_schema` capsule.
    fn schema_capsule<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| crate::errors::ChurnguardError::new_err(e.to_string()))?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }
}

/// `pyarrow.table(obj)`, needing pyarrow.
fn to_pyarrow<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py().import("pyarrow")?.call_method1("table", (obj,))
}

/// `polars.DataFrame(obj)`, needing polars.
fn to_polars<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py().import("polars")?.call_method1("DataFrame", (obj,))
}

/// A scored list: the customers still with us in priority order, with each one's probability,
/// risk level, value at risk, action and reasons.
#[pyclass(frozen, module = "churnguard")]
pub struct RiskList {
    table: Batches,
    summary: ListSummary,
}

impl RiskList {
    /// The list a job scored.
    pub fn new(t: ListTable) -> RiskList {
        RiskList {
            table: Batches::new(t.schema, t.batches),
            summary: t.summary,
        }
    }
}

#[pymethods]
impl RiskList {
    /// Customers in the list.
    fn __len__(&self) -> usize {
        self.table.rows()
    }

    /// The list's column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.table.columns()
    }

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

    /// The list's rows as an Arrow C stream (the PyCapsule interface); `requested_schema` is
    /// accepted and the list's own schema kept, as the interface allows.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        self.table.stream(py)
    }

    /// The list's schema as an Arrow C schema (the PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        self.table.schema_capsule(py)
    }

    /// The list as a `pyarrow.Table` (needs pyarrow).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf)
    }

    /// The list as a `pandas.DataFrame` (needs pandas and pyarrow).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf)?.call_method0("to_pandas")
    }

    /// The list as a `polars.DataFrame` (needs polars).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_polars(slf)
    }

    fn __repr__(&self) -> String {
        format!(
            "<RiskList as of {}: {} customers, {:.1} expected churners, {:.0} value at risk>",
            self.as_of(),
            self.__len__(),
            self.expected_churners(),
            self.value_at_risk()
        )
    }
}

impl RiskList {
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

/// A feature table: one row per customer and cutoff, the features a model reads at each
/// cutoff, with the label where it is known.
#[pyclass(frozen, module = "churnguard")]
pub struct FeatureTable {
    table: Batches,
    /// Each cutoff's snapshot report, as dicts.
    snapshots: Py<PyAny>,
}

impl FeatureTable {
    /// The table a job built, with its snapshot reports (already Python objects).
    pub fn new(table: Batches, snapshots: Py<PyAny>) -> FeatureTable {
        FeatureTable { table, snapshots }
    }
}

#[pymethods]
impl FeatureTable {
    /// Rows (customers times cutoffs).
    fn __len__(&self) -> usize {
        self.table.rows()
    }

    /// The column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.table.columns()
    }

    /// Per cutoff: customers, labelled, churned and what building the snapshot found.
    #[getter]
    fn snapshots(&self, py: Python<'_>) -> Py<PyAny> {
        self.snapshots.clone_ref(py)
    }

    /// The rows as an Arrow C stream (the PyCapsule interface).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        self.table.stream(py)
    }

    /// The schema as an Arrow C schema (the PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        self.table.schema_capsule(py)
    }

    /// The table as a `pyarrow.Table` (needs pyarrow).
    fn to_pyarrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf)
    }

    /// The table as a `pandas.DataFrame` (needs pandas and pyarrow).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_pyarrow(slf)?.call_method0("to_pandas")
    }

    /// The table as a `polars.DataFrame` (needs polars).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_polars(slf)
    }

    fn __repr__(&self) -> String {
        format!(
            "<FeatureTable: {} rows, {} columns>",
            self.table.rows(),
            self.table.schema.fields().len()
        )
    }
}
