//! The risk list on disk, as Parquet or CSV, in rank order, written under a temporary name and
//! renamed when complete (a failed write never leaves a partial list under the final name).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use churnguard_config::Tier;
use churnguard_features::FeatureSpec;
use churnguard_ingest::{ParquetOut, StagedFile};
use parquet::basic::Compression;

use crate::score::{REASONS, RiskList, WinBack};

/// The list's file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated text with a header.
    Csv,
}

/// Writing the list failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The Parquet list could not be written (the cause names the file).
    #[error(transparent)]
    Parquet(#[from] churnguard_ingest::OutputError),
    /// The CSV list could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The list's columns could not be built in memory.
    #[error("cannot build the list's columns")]
    Build(#[source] arrow::error::ArrowError),
    /// A batch of the list could not be built or encoded.
    #[error("cannot write {}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// The list as Arrow batches of `chunk` rows in rank order, with the columns its files have:
/// for a caller that hands the table on rather than writing it.
pub fn list_batches(
    list: &RiskList,
    spec: &FeatureSpec,
    chunk: usize,
) -> Result<(SchemaRef, Vec<RecordBatch>), OutputError> {
    let schema = schema(list.ids.data_type());
    let (n, chunk) = (list.risks.len(), chunk.max(1));
    let batches = (0..n)
        .step_by(chunk)
        .map(|start| batch(list, spec, start..(start + chunk).min(n), &schema))
        .collect::<Result<Vec<_>, _>>()
        .map_err(OutputError::Build)?;
    Ok((schema, batches))
}

/// Why a batch could not be handed on: building it, or the writer.
enum BatchFailure {
    Build(arrow::error::ArrowError),
    Write(OutputError),
}

/// Per reason: its sentence, feature, value, contribution and yardstick columns.
const REASON_COLUMNS: [[&str; COLUMNS_PER_REASON]; REASONS] = [
    [
        "reason_1",
        "reason_1_feature",
        "reason_1_value",
        "reason_1_contribution",
        "reason_1_percentile",
    ],
    [
        "reason_2",
        "reason_2_feature",
        "reason_2_value",
        "reason_2_contribution",
        "reason_2_percentile",
    ],
    [
        "reason_3",
        "reason_3_feature",
        "reason_3_value",
        "reason_3_contribution",
        "reason_3_percentile",
    ],
];

/// The risk list's columns, ids of type `ids`.
pub(crate) fn schema(ids: &DataType) -> SchemaRef {
    schema_with(ids, std::collections::HashMap::new())
}

/// [`schema`] with metadata (a partition list's header).
pub(crate) fn schema_with(ids: &DataType, metadata: std::collections::HashMap<String, String>) -> SchemaRef {
    let mut fields = vec![
        Field::new("rank", DataType::UInt64, false),
        Field::new("customer_id", ids.clone(), false),
        Field::new("churn_probability", DataType::Float64, false),
        Field::new("tier", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("value_at_risk", DataType::Float64, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("action_rule", DataType::Utf8, false),
    ];
    for [sentence, feature, value, contribution, percentile] in REASON_COLUMNS {
        fields.push(Field::new(sentence, DataType::Utf8, true));
        fields.push(Field::new(feature, DataType::Utf8, true));
        // Text: a category's name, a number as written.
        fields.push(Field::new(value, DataType::Utf8, true));
        fields.push(Field::new(contribution, DataType::Float64, true));
        fields.push(Field::new(percentile, DataType::Float64, true));
    }
    fields.push(Field::new(MISSING_INPUTS, DataType::Utf8, true));
    fields.push(Field::new(WITHIN_CAPACITY, DataType::Boolean, true));
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// Position of the first reason column in [`schema`]: the reasons follow the eight list columns.
pub(crate) const FIRST_REASON_COLUMN: usize = 8;
/// Columns per reason.
pub(crate) const COLUMNS_PER_REASON: usize = 5;
/// The column naming a customer's missing inputs, after the reasons.
pub(crate) const MISSING_INPUTS: &str = "missing_inputs";
/// Its position in [`schema`].
pub(crate) const MISSING_INPUTS_COLUMN: usize = FIRST_REASON_COLUMN + REASONS * COLUMNS_PER_REASON;
/// The column marking the customers within the team's capacity (`scoring.capacity`), last.
pub const WITHIN_CAPACITY: &str = "within_capacity";

/// A customer's missing inputs as the list writes them: feature names joined by ", " (none:
/// null), so the merge and a reader can count them.
pub(crate) fn missing_text(spec: &FeatureSpec, missing: &[u32]) -> Option<String> {
    (!missing.is_empty()).then(|| {
        missing
            .iter()
            .map(|&j| spec.features[j as usize].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The columns whose values rarely repeat: everything but tiers, actions and reason features.
pub(crate) fn distinct_columns() -> Vec<&'static str> {
    let mut names = vec!["rank", "customer_id", "churn_probability", "value", "value_at_risk"];
    for [sentence, _, value, contribution, _] in REASON_COLUMNS {
        names.extend([sentence, value, contribution]);
    }
    names
}

/// Rows `range` of the list (in rank order) as one batch.
fn batch(
    list: &RiskList,
    spec: &FeatureSpec,
    range: std::ops::Range<usize>,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let risks = &list.risks[range];
    let rows = UInt32Array::from_iter_values(risks.iter().map(|r| r.row as u32));
    let ids = arrow::compute::take(list.ids.as_ref(), &rows, None)?;
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(risks.iter().map(|r| r.rank))),
        ids,
        Arc::new(Float64Array::from_iter_values(risks.iter().map(|r| r.probability))),
        Arc::new(StringArray::from_iter_values(
            risks.iter().map(|r| Tier::name_of(r.level)),
        )),
        Arc::new(Float64Array::from_iter_values(risks.iter().map(|r| r.value))),
        Arc::new(Float64Array::from_iter_values(risks.iter().map(|r| r.value_at_risk))),
        Arc::new(StringArray::from_iter_values(
            risks.iter().map(|r| list.choices[r.action].0.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            risks.iter().map(|r| list.choices[r.action].1.as_str()),
        )),
    ];
    for k in 0..REASONS {
        columns.push(Arc::new(StringArray::from_iter(
            risks.iter().map(|r| r.reasons.get(k).map(|x| x.sentence.as_str())),
        )));
        columns.push(Arc::new(StringArray::from_iter(
            risks
                .iter()
                .map(|r| r.reasons.get(k).map(|x| spec.features[x.feature].name.as_str())),
        )));
        columns.push(Arc::new(StringArray::from_iter(risks.iter().map(|r| {
            r.reasons
                .get(k)
                .and_then(|x| spec.features[x.feature].value_text(x.value))
        }))));
        columns.push(Arc::new(Float64Array::from_iter(
            risks.iter().map(|r| r.reasons.get(k).map(|x| x.contribution)),
        )));
        columns.push(Arc::new(Float64Array::from_iter(
            risks.iter().map(|r| r.reasons.get(k).and_then(|x| x.percentile)),
        )));
    }
    columns.push(Arc::new(StringArray::from_iter(
        risks.iter().map(|r| missing_text(spec, &r.missing)),
    )));
    columns.push(Arc::new(BooleanArray::from_iter(
        risks.iter().map(|r| r.within_capacity),
    )));
    RecordBatch::try_new(schema.clone(), columns)
}

/// Hands the list to `write` in batches of `chunk` rows, in rank order. The next batch is built
/// on another thread while one is written.
fn each_batch(
    list: &RiskList,
    spec: &FeatureSpec,
    chunk: usize,
    schema: &SchemaRef,
    mut write: impl FnMut(RecordBatch) -> Result<(), OutputError>,
) -> Result<(), BatchFailure> {
    let n = list.risks.len();
    std::thread::scope(|scope| {
        let (tx, built) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for start in (0..n.max(1)).step_by(chunk) {
                let b = batch(list, spec, start..(start + chunk).min(n), schema);
                let failed = b.is_err();
                // A closed channel means the writer stopped on an error of its own.
                if tx.send(b).is_err() || failed {
                    break;
                }
            }
        });
        for b in built {
            write(b.map_err(BatchFailure::Build)?).map_err(BatchFailure::Write)?;
        }
        Ok(())
    })
}

/// Writes the list to `path`, `chunk` rows at a time.
pub fn write_list(
    list: &RiskList,
    spec: &FeatureSpec,
    path: &Path,
    format: ListFormat,
    chunk: usize,
) -> Result<(), OutputError> {
    write_list_as(list, spec, path, format, chunk, schema(list.ids.data_type()))
}

/// [`write_list`] with the given schema (the list's columns, maybe with metadata).
pub(crate) fn write_list_as(
    list: &RiskList,
    spec: &FeatureSpec,
    path: &Path,
    format: ListFormat,
    chunk: usize,
    schema: SchemaRef,
) -> Result<(), OutputError> {
    let failed = |f: BatchFailure| match f {
        BatchFailure::Build(source) => OutputError::Encode {
            path: path.to_path_buf(),
            source,
        },
        BatchFailure::Write(e) => e,
    };
    let mut out = ListOut::create(path, schema.clone(), format, &distinct_columns())?;
    each_batch(list, spec, chunk.max(1), &schema, |b| out.write(&b)).map_err(failed)?;
    out.finish()
}

/// A list file being written batch by batch, as Parquet or CSV; it appears under its name
/// only when finished.
pub(crate) enum ListOut {
    Parquet(Box<ParquetOut>),
    Csv(Box<CsvOut>),
}

impl ListOut {
    /// Starts the file; `distinct` columns are written without a Parquet dictionary.
    pub(crate) fn create(
        path: &Path,
        schema: SchemaRef,
        format: ListFormat,
        distinct: &[&str],
    ) -> Result<ListOut, OutputError> {
        Ok(match format {
            ListFormat::Parquet => ListOut::Parquet(Box::new(ParquetOut::create_with(
                path,
                schema,
                Compression::SNAPPY,
                distinct,
            )?)),
            ListFormat::Csv => ListOut::Csv(Box::new(CsvOut::create(path)?)),
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        match self {
            ListOut::Parquet(out) => Ok(out.write(batch)?),
            ListOut::Csv(out) => out.write(batch),
        }
    }

    pub(crate) fn finish(self) -> Result<(), OutputError> {
        match self {
            ListOut::Parquet(out) => {
                (*out).finish()?;
                Ok(())
            }
            ListOut::Csv(out) => out.finish(),
        }
    }
}

/// Where the win-back list of a risk list at `out` goes: beside it, `<name>.win-back.<ext>`.
pub fn win_back_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match out.extension() {
        Some(ext) => format!("{stem}.win-back.{}", ext.to_string_lossy()),
        None => format!("{stem}.win-back"),
    };
    out.with_file_name(name)
}

/// The win-back list's columns.
fn win_back_schema(ids: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("rank", DataType::UInt64, false),
        Field::new("customer_id", ids.clone(), false),
        Field::new("past_value", DataType::Float64, false),
        Field::new("days_silent", DataType::Float64, true),
    ]))
}

/// Writes the already-churned customers, most valuable first, to `path` (one batch: the list is
/// as long as the already-churned customers, whose rows are small).
pub fn write_win_back(list: &RiskList, path: &Path, format: ListFormat) -> Result<(), OutputError> {
    let rows = UInt32Array::from_iter_values(list.win_back.iter().map(|w| w.row as u32));
    let ids = arrow::compute::take(list.win_back_ids.as_ref(), &rows, None).map_err(|source| OutputError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    write_win_back_rows(&list.win_back, ids, path, format)
}

/// Writes win-back rows whose ids are `ids` (in the rows' order).
pub(crate) fn write_win_back_rows(
    rows: &[WinBack],
    ids: ArrayRef,
    path: &Path,
    format: ListFormat,
) -> Result<(), OutputError> {
    let schema = win_back_schema(ids.data_type());
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|w| w.rank))),
            ids,
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|w| w.past_value))),
            Arc::new(Float64Array::from_iter(
                rows.iter().map(|w| Some(w.days_silent).filter(|d| d.is_finite())),
            )),
        ],
    )
    .map_err(|source| OutputError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = ListOut::create(path, schema, format, &[])?;
    out.write(&batch)?;
    out.finish()
}

/// A CSV file with a header, written under a temporary name and renamed when finished.
pub(crate) struct CsvOut {
    path: PathBuf,
    staged: StagedFile,
    writer: arrow::csv::Writer<std::io::BufWriter<std::fs::File>>,
}

impl CsvOut {
    fn create(path: &Path) -> Result<CsvOut, OutputError> {
        let (staged, file) = StagedFile::create(path).map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(std::io::BufWriter::new(file));
        Ok(CsvOut {
            path: path.to_path_buf(),
            staged,
            writer,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        self.writer.write(batch).map_err(|source| OutputError::Encode {
            path: self.path.clone(),
            source,
        })
    }

    fn finish(self) -> Result<(), OutputError> {
        let io = |source| OutputError::Io {
            path: self.path.clone(),
            source,
        };
        let file = self.writer.into_inner().into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        self.staged.commit().map_err(io)?;
        Ok(())
    }
}
