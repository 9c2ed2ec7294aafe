//! Tables from Python: anything with `__arrow_c_stream__` (a pyarrow table, a polars or pandas
//! DataFrame) read through the Arrow C stream interface into one batch under its own columns.

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::DataError;

/// The table `obj` holds as one batch. Batches of one chunk pass without a copy; several chunks
/// are joined, string columns of the view or large kinds (as polars hands them) become plain
/// strings, the kinds the readers of files see, and a pandas index is dropped. A frame of no
/// rows is an empty table; a stream of none is refused (it may have been read already).
pub fn rows_of(role: &str, obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    let bad = |why: String| DataError::new_err(format!("the {role} table given in memory: {why}"));
    if !obj.hasattr("__arrow_c_stream__")? {
        let kind = obj.get_type().name()?;
        return Err(bad(format!(
            "a {kind} is not a table (give a pyarrow Table, a polars or pandas DataFrame, or any object with __arrow_c_stream__)"
        )));
    }
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>().map_err(|e| bad(e.to_string()))?;
    let pointer = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule holds an `ArrowArrayStream` (its name says so, checked above);
    // `from_raw` moves the stream out and leaves a released one, which the producer's capsule
    // destructor then frees without touching the stream it gave away.
    let reader = unsafe { RecordBatchStreamReader::from_raw(pointer.as_ptr().cast::<FFI_ArrowArrayStream>()) }
        .map_err(|e| bad(e.to_string()))?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
    let batch = if batches.iter().all(|b| b.num_rows() == 0) {
        // A frame that says it is empty is a table without rows (one share of the customers may
        // have no contacts); a stream cannot say, and one already read looks the same.
        if obj.len().ok() != Some(0) {
            return Err(bad("it has no rows (a stream already read, or an empty frame)".into()));
        }
        RecordBatch::new_empty(schema)
    } else if batches.len() == 1 {
        batches.into_iter().next().ok_or_else(|| bad("no rows".into()))?
    } else {
        arrow::compute::concat_batches(&schema, &batches).map_err(|e| bad(e.to_string()))?
    };
    let batch = without_pandas_index(batch).map_err(|e| bad(e.to_string()))?;
    plain_strings(batch).map_err(|e| bad(e.to_string()))
}

/// The batch without the columns pandas adds for an index that is not a plain range
/// (`__index_level_0__`, ...): an index is not a column of the table (a customers table would
/// take it for an attribute).
fn without_pandas_index(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let is_index = |name: &str| {
        name.strip_prefix("__index_level_")
            .and_then(|rest| rest.strip_suffix("__"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let kept: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| !is_index(batch.schema().field(i).name()))
        .collect();
    if kept.len() == batch.num_columns() {
        return Ok(batch);
    }
    batch.project(&kept)
}

/// The batch with its `Utf8View` and `LargeUtf8` columns cast to `Utf8`.
fn plain_strings(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let plain = |t: &DataType| matches!(t, DataType::Utf8View | DataType::LargeUtf8);
    if !batch.schema().fields().iter().any(|f| plain(f.data_type())) {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if plain(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, f.is_nullable()));
            columns.push(arrow::compute::cast(c, &DataType::Utf8)?);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)
}
