//! Partition lists and their merge: each customer partition is scored on its own (on one machine
//! or several) into a partition list that holds every customer's probability, value and reasons;
//! the merge ranks all of them as one list, gives each customer the package's risk level, chooses the actions and
//! writes the list, the win-back list and the kept copy, streaming: memory holds the ranking keys
//! (about 40 bytes a customer), not the rows. The result is the list scoring everything at once
//! would give, row for row.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray, UInt64Array, new_null_array};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, Pipeline, RankBy, Tier};
use churnguard_ingest::ParquetOut;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use rustc_hash::FxHashSet;

use crate::kept::{
    AS_OF, KEPT_COLUMNS, KEPT_DISTINCT, KeptStamp, MODEL_SHA256, PIPELINE, VERSION, kept_path, kept_schema,
};
use crate::output::{
    COLUMNS_PER_REASON, FIRST_REASON_COLUMN, ListOut, MISSING_INPUTS_COLUMN, distinct_columns, schema_with,
    win_back_path, write_list_as, write_win_back_rows,
};
use crate::score::{CapacityMarker, Counted, ListTotals, REASONS, WinBack};
use crate::{Judgement, ListFormat, ListSummary, ModelPackage, OutputError, RiskList, TopRow};

/// Metadata keys a partition list adds to a kept list's.
const PART: &str = "churnguard.partition";
const VALUE_KNOWN: &str = "churnguard.value_known";
const RANKED_BY: &str = "churnguard.ranked_by";
const UNSEEN: &str = "churnguard.unseen_categories";

/// Merging partition lists failed.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No partition list was given.
    #[error("no partition list to merge")]
    NoLists,
    /// A file could not be read as a partition list.
    #[error("{}: not a readable partition list: {why}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A partition list was scored otherwise than the others (or than the package says).
    #[error("{}: scored with {what} {found}, the merge needs {expected}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs (package version, date, ...).
        what: &'static str,
        /// What the merge expected.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A partition's rows are not in rank order.
    #[error("{}: rows {row} and {} are not in rank order; was the file edited?", path.display(), row + 1)]
    Order {
        /// The file.
        path: PathBuf,
        /// The first row out of order (1-based).
        row: usize,
    },
    /// One customer is in two partitions.
    #[error("customer {id} is in two partition lists ({} and {}): the partitions do not split customers", first.display(), second.display())]
    Duplicate {
        /// The customer.
        id: String,
        /// One list.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The merged list could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Writes one partition's list at `path` (Parquet) and its win-back rows beside it
/// ([`win_back_path`]); `list` must hold reasons for every customer the merged list explains,
/// which the package's rule decides from each customer's own probability and value
/// ([`ModelPackage::judge`]): scored with the merge's scoring settings, it does.
pub fn write_partition_list(
    list: &RiskList,
    package: &ModelPackage,
    partition: &str,
    path: &Path,
    chunk: usize,
) -> Result<(), OutputError> {
    let unseen = serde_json::to_string(&list.unseen_categories).unwrap_or_default();
    let metadata: HashMap<String, String> = [
        (PIPELINE, package.pipeline()),
        (VERSION, package.version()),
        (MODEL_SHA256, package.hash()),
        (AS_OF, &list.as_of().to_string()),
        (PART, partition),
        (VALUE_KNOWN, if list.value_known { "true" } else { "false" }),
        (RANKED_BY, list.ranked_by.name()),
        (UNSEEN, &unseen),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let schema = schema_with(list.ids.data_type(), metadata);
    write_list_as(list, package.spec(), path, ListFormat::Parquet, chunk, schema)?;
    let rows = arrow::array::UInt32Array::from_iter_values(list.win_back.iter().map(|w| w.row as u32));
    let ids = arrow::compute::take(list.win_back_ids.as_ref(), &rows, None).map_err(|source| OutputError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    write_win_back_rows(&list.win_back, ids, &win_back_path(path), ListFormat::Parquet)
}

/// A partition list's header and ranking keys.
struct Part {
    path: PathBuf,
    schema: SchemaRef,
    ids: ArrayRef,
    probabilities: Vec<f64>,
    values_at_risk: Vec<f64>,
    value_known: bool,
    ranked_by: RankBy,
    unseen: Vec<(String, u64)>,
}

/// What the merge was asked to write.
pub struct MergeRequest<'a> {
    /// The pipeline: tiers, actions, `explain_all`, batch size, `keep_lists`.
    pub pipeline: &'a Pipeline,
    /// The package every partition was scored with.
    pub package: &'a ModelPackage,
    /// The partition lists.
    pub lists: &'a [PathBuf],
    /// The merged list.
    pub out: &'a Path,
    /// Its format.
    pub format: ListFormat,
    /// Where the kept copy goes (`None`: not kept).
    pub keep_in: Option<&'a Path>,
    /// Rows of the list shown in the summary.
    pub top: usize,
}

/// What the merge wrote.
pub struct Merged {
    /// The list's summary.
    pub summary: ListSummary,
    /// The kept copy, when one was asked for, or why it could not be written.
    pub kept: Option<Result<PathBuf, OutputError>>,
}

/// Merges partition lists into the one ranked list; see the module's description.
pub fn merge_lists(req: &MergeRequest<'_>) -> Result<Merged, MergeError> {
    let first = req.lists.first().ok_or(MergeError::NoLists)?;
    let as_of = read_as_of(first)?;
    let parts: Vec<Part> = req
        .lists
        .iter()
        .map(|path| read_part(path, req.package, as_of))
        .collect::<Result<_, _>>()?;
    let value_known = parts[0].value_known;
    let ranked_by = req.pipeline.scoring.ranking(value_known);
    check_parts(&parts, ranked_by)?;
    let order = merged_order(&parts, ranked_by);
    let mut writer = Writer::new(req, &parts, as_of, order.len() as u64)?;
    write_rows(&parts, &order, &mut writer)?;
    let (summary_rows, totals, kept) = writer.finish()?;
    let win_back = merge_win_back(&parts, req.out, req.format)?;
    let mut unseen: Vec<(String, u64)> = Vec::new();
    for p in &parts {
        for (f, n) in &p.unseen {
            match unseen.iter_mut().find(|(g, _)| g == f) {
                Some((_, m)) => *m += n,
                None => unseen.push((f.clone(), *n)),
            }
        }
    }
    Ok(Merged {
        summary: ListSummary {
            customers: order.len() as u64,
            ranked_by,
            totals,
            choices: req.pipeline.scoring.choices(),
            cutoff: as_of.next_day(),
            value_known,
            unseen_categories: unseen,
            win_back: win_back.0,
            win_back_value: win_back.1,
            top: summary_rows,
        },
        kept,
    })
}

fn unreadable(path: &Path, why: impl ToString) -> MergeError {
    MergeError::Unreadable {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

fn read_as_of(path: &Path) -> Result<Date, MergeError> {
    let meta = footer(path)?;
    let text = meta.metadata().get(AS_OF).cloned().unwrap_or_default();
    Date::parse_iso(&text).ok_or_else(|| unreadable(path, format!("its date \"{text}\" is not a date")))
}

fn footer(path: &Path) -> Result<SchemaRef, MergeError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(path, e))?;
    Ok(builder.schema().clone())
}

/// Reads a partition list's header, checks it against the package and the date, and reads its
/// ranking keys.
fn read_part(path: &Path, package: &ModelPackage, as_of: Date) -> Result<Part, MergeError> {
    let schema = footer(path)?;
    let meta = schema.metadata();
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| unreadable(path, format!("no {k} in its metadata")))
    };
    get(PART)?;
    let expect = |what: &'static str, expected: &str, found: String| {
        if found == expected {
            Ok(())
        } else {
            Err(MergeError::Mismatch {
                path: path.to_path_buf(),
                what,
                expected: expected.to_string(),
                found,
            })
        }
    };
    expect("pipeline", package.pipeline(), get(PIPELINE)?)?;
    expect("package version", package.version(), get(VERSION)?)?;
    expect("model.onnx SHA-256", package.hash(), get(MODEL_SHA256)?)?;
    expect("scoring date", &as_of.to_string(), get(AS_OF)?)?;
    let unseen: Vec<(String, u64)> =
        serde_json::from_str(&get(UNSEEN)?).map_err(|e| unreadable(path, format!("its unseen categories: {e}")))?;
    let value_known = get(VALUE_KNOWN)? == "true";
    let ranked_by = match get(RANKED_BY)?.as_str() {
        "value_at_risk" => RankBy::ValueAtRisk,
        "probability" => RankBy::Probability,
        other => return Err(unreadable(path, format!("its ranking \"{other}\" is not known"))),
    };
    let columns = ["customer_id", "churn_probability", "value_at_risk"];
    let batches = read_columns(path, &columns)?;
    let column = |name: &str| -> Result<ArrayRef, MergeError> {
        let parts: Vec<&dyn Array> = batches
            .iter()
            .filter_map(|b| b.column_by_name(name).map(|c| c.as_ref()))
            .collect();
        if parts.is_empty() {
            return Ok(new_null_array(
                &schema
                    .field_with_name(name)
                    .map_err(|e| unreadable(path, e))?
                    .data_type()
                    .clone(),
                0,
            ));
        }
        arrow::compute::concat(&parts).map_err(|e| unreadable(path, e))
    };
    let ids = column("customer_id")?;
    let floats = |name: &str| -> Result<Vec<f64>, MergeError> {
        let c = column(name)?;
        if c.data_type() != &DataType::Float64 || c.null_count() > 0 {
            return Err(unreadable(
                path,
                format!("its {name} column is not a number on every row"),
            ));
        }
        Ok(c.as_primitive::<Float64Type>().values().to_vec())
    };
    if !matches!(ids.data_type(), DataType::Int64 | DataType::Utf8) || ids.null_count() > 0 {
        return Err(unreadable(
            path,
            "its customer ids are not integers or text on every row",
        ));
    }
    Ok(Part {
        path: path.to_path_buf(),
        probabilities: floats("churn_probability")?,
        values_at_risk: floats("value_at_risk")?,
        schema,
        ids,
        value_known,
        ranked_by,
        unseen,
    })
}

fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>, MergeError> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(path, e))?;
    let schema = builder.schema().clone();
    let mut indices = Vec::new();
    for c in columns {
        indices.push(
            schema
                .index_of(c)
                .map_err(|_| unreadable(path, format!("it has no {c} column")))?,
        );
    }
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder.with_projection(mask).build().map_err(|e| unreadable(path, e))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| unreadable(path, e))
}

/// The parts agree with each other: one id type, one value rule, one schema, rows in rank
/// order, and no customer in two of them.
fn check_parts(parts: &[Part], ranked_by: RankBy) -> Result<(), MergeError> {
    let first = &parts[0];
    for p in parts {
        let mismatch = |what: &'static str, expected: String, found: String| MergeError::Mismatch {
            path: p.path.clone(),
            what,
            expected,
            found,
        };
        if p.ids.data_type() != first.ids.data_type() {
            return Err(mismatch(
                "customer ids of type",
                first.ids.data_type().to_string(),
                p.ids.data_type().to_string(),
            ));
        }
        if p.value_known != first.value_known {
            return Err(mismatch(
                "known values",
                first.value_known.to_string(),
                p.value_known.to_string(),
            ));
        }
        if p.ranked_by != ranked_by {
            return Err(mismatch(
                "the list ranked by",
                ranked_by.name().to_string(),
                p.ranked_by.name().to_string(),
            ));
        }
        if p.schema.fields() != first.schema.fields() {
            return Err(unreadable(
                &p.path,
                "its columns differ from the other partition lists'",
            ));
        }
    }
    for (s, p) in parts.iter().enumerate() {
        for i in 1..p.probabilities.len() {
            if compare(parts, ranked_by, (s, i - 1), (s, i)) == Ordering::Greater {
                return Err(MergeError::Order {
                    path: p.path.clone(),
                    row: i,
                });
            }
        }
    }
    no_duplicates(parts)
}

fn no_duplicates(parts: &[Part]) -> Result<(), MergeError> {
    let duplicate = |id: String, s: usize, parts: &[Part]| {
        let other = parts
            .iter()
            .position(|p| (0..p.ids.len()).any(|i| id_text(&p.ids, i) == id))
            .unwrap_or(s);
        MergeError::Duplicate {
            id,
            first: parts[other].path.clone(),
            second: parts[s].path.clone(),
        }
    };
    match parts[0].ids.data_type() {
        DataType::Int64 => {
            let mut seen: FxHashSet<i64> = FxHashSet::default();
            for (s, p) in parts.iter().enumerate() {
                for &id in p.ids.as_primitive::<Int64Type>().values() {
                    if !seen.insert(id) {
                        return Err(duplicate(id.to_string(), s, parts));
                    }
                }
            }
        }
        _ => {
            let mut seen: FxHashSet<&str> = FxHashSet::default();
            for (s, p) in parts.iter().enumerate() {
                for id in p.ids.as_string::<i32>().iter().flatten() {
                    if !seen.insert(id) {
                        return Err(duplicate(id.to_string(), s, parts));
                    }
                }
            }
        }
    }
    Ok(())
}

fn id_text(ids: &ArrayRef, i: usize) -> String {
    arrow::util::display::array_value_to_string(ids.as_ref(), i).unwrap_or_default()
}

/// Two customer ids in the order one list sorts them (`CustomerIndex::sort_by_id`): integers by
/// value, text by its bytes. Both columns have the same type (checked when the lists are read).
fn compare_ids(a: &ArrayRef, i: usize, b: &ArrayRef, j: usize) -> Ordering {
    match a.data_type() {
        DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .value(i)
            .cmp(&b.as_primitive::<Int64Type>().value(j)),
        _ => a.as_string::<i32>().value(i).cmp(b.as_string::<i32>().value(j)),
    }
}

/// The list order of two rows (partition, row): as [`RankBy::compare`] orders one list, with the
/// customer id where that breaks ties by row (a list's rows are in id order).
fn compare(parts: &[Part], by: RankBy, (s, i): (usize, usize), (t, j): (usize, usize)) -> Ordering {
    let (a, b) = (&parts[s], &parts[t]);
    let by_id = || compare_ids(&a.ids, i, &b.ids, j);
    let by_probability = || b.probabilities[j].total_cmp(&a.probabilities[i]).then_with(by_id);
    match by {
        RankBy::ValueAtRisk => b.values_at_risk[j]
            .total_cmp(&a.values_at_risk[i])
            .then_with(by_probability),
        RankBy::Probability => by_probability(),
    }
}

/// Every row, (partition, row), in list order: a k-way merge of the partitions' own orders.
fn merged_order(parts: &[Part], by: RankBy) -> Vec<(usize, usize)> {
    struct Head<'a> {
        parts: &'a [Part],
        by: RankBy,
        at: (usize, usize),
    }
    impl PartialEq for Head<'_> {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl Eq for Head<'_> {}
    impl PartialOrd for Head<'_> {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Head<'_> {
        // BinaryHeap pops the greatest: the row first in list order must compare greatest.
        fn cmp(&self, other: &Self) -> Ordering {
            compare(self.parts, self.by, other.at, self.at)
        }
    }
    let total: usize = parts.iter().map(|p| p.probabilities.len()).sum();
    let mut order = Vec::with_capacity(total);
    let mut heap: BinaryHeap<Head<'_>> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.probabilities.is_empty())
        .map(|(s, _)| Head { parts, by, at: (s, 0) })
        .collect();
    while let Some(mut head) = heap.pop() {
        let (s, i) = head.at;
        order.push((s, i));
        if i + 1 < parts[s].probabilities.len() {
            head.at = (s, i + 1);
            heap.push(head);
        }
    }
    order
}

/// Streams each partition list's rows, batch by batch, in its own order.
struct Cursor {
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    /// The batch being read, and the next row of it.
    batch: Option<RecordBatch>,
    row: usize,
}

/// The merged list's outputs, fed a chunk at a time.
struct Writer<'a> {
    req: &'a MergeRequest<'a>,
    out: ListOut,
    kept: Option<(PathBuf, Option<ParquetOut>, Option<OutputError>)>,
    kept_schema: Option<SchemaRef>,
    schema: SchemaRef,
    totals: ListTotals,
    capacity: CapacityMarker,
    top: Vec<TopRow>,
}

impl<'a> Writer<'a> {
    fn new(req: &'a MergeRequest<'a>, parts: &[Part], as_of: Date, customers: u64) -> Result<Self, MergeError> {
        let ids = parts[0].ids.data_type();
        let schema = crate::output::schema(ids);
        let out = ListOut::create(req.out, schema.clone(), req.format, &distinct_columns())?;
        let (kept, kept_schema) = match req.keep_in {
            None => (None, None),
            Some(dir) => {
                let stamp = KeptStamp::now(req.pipeline);
                let path = kept_path(dir, req.package.version(), as_of, &stamp);
                let schema = kept_schema(ids, req.package, as_of, &stamp);
                // The copy for monitoring must never fail the list: its error is kept for a warning.
                let opened = std::fs::create_dir_all(dir)
                    .map_err(|source| OutputError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })
                    .and_then(|()| {
                        Ok(ParquetOut::create_with(
                            &path,
                            schema.clone(),
                            Compression::SNAPPY,
                            &KEPT_DISTINCT,
                        )?)
                    });
                match opened {
                    Ok(o) => (Some((path, Some(o), None)), Some(schema)),
                    Err(e) => (Some((path, None, Some(e))), Some(schema)),
                }
            }
        };
        let s = &req.pipeline.scoring;
        Ok(Writer {
            req,
            out,
            kept,
            kept_schema,
            schema,
            totals: ListTotals::new(s.choices().len(), s.capacity),
            capacity: CapacityMarker::new(s.capacity, customers),
            top: Vec::new(),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), MergeError> {
        self.out.write(batch)?;
        if let (Some((_, slot @ Some(_), failed)), Some(schema)) = (&mut self.kept, &self.kept_schema) {
            let columns: Vec<ArrayRef> = KEPT_COLUMNS
                .iter()
                .map(|n| {
                    batch
                        .column_by_name(n)
                        .cloned()
                        .unwrap_or_else(|| new_null_array(&DataType::Null, 0))
                })
                .collect();
            let written = RecordBatch::try_new(schema.clone(), columns)
                .map_err(|source| OutputError::Encode {
                    path: self.req.out.to_path_buf(),
                    source,
                })
                .and_then(|b| Ok(slot.as_mut().map(|o| o.write(&b)).transpose()?));
            if let Err(e) = written {
                *slot = None;
                *failed = Some(e);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Finished, MergeError> {
        self.out.finish()?;
        let kept = self.kept.map(|(path, out, failed)| match (out, failed) {
            (_, Some(e)) => Err(e),
            (Some(o), None) => o.finish().map_err(OutputError::from),
            (None, None) => Ok(path),
        });
        Ok((self.top, self.totals, kept))
    }
}

/// What the writer hands back: the summary's top rows, the list's totals, and the kept copy.
type Finished = (Vec<TopRow>, ListTotals, Option<Result<PathBuf, OutputError>>);

/// Builds the merged list chunk by chunk: each row's columns come from its partition list, the
/// rank, tier and action are the merged list's, and reasons are kept only where the list shows
/// them ([`churnguard_config::ScoringConfig::explains`]).
fn write_rows(parts: &[Part], order: &[(usize, usize)], w: &mut Writer<'_>) -> Result<(), MergeError> {
    let p = w.req.pipeline;
    let chunk = p.scoring.batch_rows.max(1);
    let mut cursors: Vec<Cursor> = Vec::with_capacity(parts.len());
    for part in parts {
        let file = std::fs::File::open(&part.path).map_err(|e| unreadable(&part.path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(chunk).build())
            .map_err(|e| unreadable(&part.path, e))?;
        cursors.push(Cursor {
            reader,
            batch: None,
            row: 0,
        });
    }
    // Source 0 is one row of nulls for the reasons a row does not show.
    let schema = &parts[0].schema;
    let nullable: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let nulls = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(nullable)),
        schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect(),
    )
    .map_err(|source| OutputError::Encode {
        path: w.req.out.to_path_buf(),
        source,
    })?;
    let mut sources: Vec<RecordBatch> = vec![nulls];
    let mut source_of: Vec<Option<usize>> = vec![None; parts.len()];
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(chunk);
    let mut rank = 0u64;
    for block in order.chunks(chunk) {
        sources.truncate(1);
        source_of.iter_mut().for_each(|s| *s = None);
        picks.clear();
        for &(s, _) in block {
            let c = &mut cursors[s];
            let exhausted = c.batch.as_ref().is_none_or(|b| c.row >= b.num_rows());
            if exhausted {
                let next = c
                    .reader
                    .next()
                    .ok_or_else(|| unreadable(&parts[s].path, "it ended before its last row"))?
                    .map_err(|e| unreadable(&parts[s].path, e))?;
                c.batch = Some(next.clone());
                c.row = 0;
                sources.push(next);
                source_of[s] = Some(sources.len() - 1);
            } else if source_of[s].is_none()
                && let Some(b) = &c.batch
            {
                sources.push(b.clone());
                source_of[s] = Some(sources.len() - 1);
            }
            picks.push((source_of[s].expect("a source"), c.row));
            c.row += 1;
        }
        let batch = merged_batch(w, &sources, &picks, &mut rank)?;
        w.write(&batch)?;
    }
    if order.is_empty() {
        w.write(&RecordBatch::new_empty(w.schema.clone()))?;
    }
    Ok(())
}

/// One chunk of the merged list from the rows `picks` (source batch, row).
fn merged_batch(
    w: &mut Writer<'_>,
    sources: &[RecordBatch],
    picks: &[(usize, usize)],
    rank: &mut u64,
) -> Result<RecordBatch, MergeError> {
    let p = w.req.pipeline;
    let encode = |source| {
        MergeError::Output(OutputError::Encode {
            path: w.req.out.to_path_buf(),
            source,
        })
    };
    let gather = |col: usize, picks: &[(usize, usize)]| -> Result<ArrayRef, MergeError> {
        let arrays: Vec<&dyn Array> = sources.iter().map(|b| b.column(col).as_ref()).collect();
        arrow::compute::interleave(&arrays, picks).map_err(encode)
    };
    let ids = gather(1, picks)?;
    let probability = gather(2, picks)?;
    let value = gather(4, picks)?;
    let values = value.as_primitive::<Float64Type>();
    let missing = gather(MISSING_INPUTS_COLUMN, picks)?;
    let value_at_risk = gather(5, picks)?;
    let (pr, var) = (
        probability.as_primitive::<Float64Type>(),
        value_at_risk.as_primitive::<Float64Type>(),
    );
    let judged: Vec<Judgement> = {
        let names = missing.as_string::<i32>();
        (0..picks.len())
            .map(|k| {
                let count = if names.is_valid(k) {
                    names.value(k).split(", ").count()
                } else {
                    0
                };
                w.req.package.judge(&p.scoring, pr.value(k), values.value(k), count)
            })
            .collect()
    };
    let shown: Vec<bool> = judged.iter().map(|j| j.explained).collect();
    let reason_picks: Vec<(usize, usize)> = picks
        .iter()
        .zip(&shown)
        .map(|(&pick, &shown)| if shown { pick } else { (0, 0) })
        .collect();
    let first_feature = gather(FIRST_REASON_COLUMN + 1, picks)?;
    let top_feature = first_feature.as_string::<i32>();
    let choices = p.scoring.choices();
    let mut ranks = Vec::with_capacity(picks.len());
    let mut actions = Vec::with_capacity(picks.len());
    let mut levels = Vec::with_capacity(picks.len());
    let mut within = Vec::with_capacity(picks.len());
    for (k, j) in judged.iter().enumerate() {
        *rank += 1;
        ranks.push(*rank);
        let top = (shown[k] && top_feature.is_valid(k)).then(|| top_feature.value(k));
        let level = j.level;
        let counted = Counted {
            level,
            segment: j.segment,
            action: j.action(&p.scoring, top),
            probability: pr.value(k),
            value_at_risk: var.value(k),
            within_capacity: w.capacity.next(level),
        };
        w.totals.add(&counted);
        actions.push(counted.action);
        levels.push(level);
        within.push(counted.within_capacity);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(ranks)),
        ids,
        probability.clone(),
        Arc::new(StringArray::from_iter_values(levels.iter().map(|&l| Tier::name_of(l)))),
        value,
        value_at_risk.clone(),
        Arc::new(StringArray::from_iter_values(
            actions.iter().map(|&a| choices[a].0.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            actions.iter().map(|&a| choices[a].1.as_str()),
        )),
    ];
    for c in FIRST_REASON_COLUMN..FIRST_REASON_COLUMN + REASONS * COLUMNS_PER_REASON {
        columns.push(gather(c, &reason_picks)?);
    }
    columns.push(missing);
    columns.push(Arc::new(BooleanArray::from(within)));
    let batch = RecordBatch::try_new(w.schema.clone(), columns).map_err(encode)?;
    top_rows(w, &batch, &actions);
    Ok(batch)
}

/// Keeps the first rows of the list for the summary.
fn top_rows(w: &mut Writer<'_>, batch: &RecordBatch, actions: &[usize]) {
    let wanted = w.req.top.saturating_sub(w.top.len()).min(batch.num_rows());
    for (k, &action) in actions.iter().enumerate().take(wanted) {
        let text = |c: usize| {
            let col = batch.column(c).as_string::<i32>();
            col.is_valid(k).then(|| col.value(k).to_string())
        };
        w.top.push(TopRow {
            rank: batch.column(0).as_primitive::<arrow::datatypes::UInt64Type>().value(k),
            id: id_text(batch.column(1), k),
            probability: batch.column(2).as_primitive::<Float64Type>().value(k),
            level: text(3).and_then(|t| t.parse().ok()),
            value_at_risk: batch.column(5).as_primitive::<Float64Type>().value(k),
            action,
            reasons: (0..REASONS)
                .filter_map(|r| text(FIRST_REASON_COLUMN + r * COLUMNS_PER_REASON))
                .collect(),
        });
    }
}

/// The partitions' win-back rows as one list, most valuable first (ties by id, as one list
/// orders them), written beside `out`; returns its customers and their past value.
fn merge_win_back(parts: &[Part], out: &Path, format: ListFormat) -> Result<(u64, f64), MergeError> {
    let mut ids: Vec<ArrayRef> = Vec::new();
    let mut rows: Vec<(usize, usize, f64, f64)> = Vec::new();
    for (s, p) in parts.iter().enumerate() {
        let path = win_back_path(&p.path);
        let batches = read_columns(&path, &["customer_id", "past_value", "days_silent"])?;
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            ids.push(new_null_array(p.ids.data_type(), 0));
            continue;
        };
        let all = arrow::compute::concat_batches(&schema, &batches).map_err(|e| unreadable(&path, e))?;
        let (past, silent) = (all.column(1), all.column(2));
        if past.data_type() != &DataType::Float64 || silent.data_type() != &DataType::Float64 || past.null_count() > 0 {
            return Err(unreadable(&path, "its columns are not those of a win-back list"));
        }
        let (past, silent) = (past.as_primitive::<Float64Type>(), silent.as_primitive::<Float64Type>());
        for i in 0..all.num_rows() {
            let days = if silent.is_null(i) { f64::NAN } else { silent.value(i) };
            rows.push((s, i, past.value(i), days));
        }
        ids.push(all.column(0).clone());
    }
    rows.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then_with(|| compare_ids(&ids[a.0], a.1, &ids[b.0], b.1))
    });
    let total: f64 = rows.iter().map(|r| r.2).sum();
    if rows.is_empty() {
        return Ok((0, total));
    }
    let arrays: Vec<&dyn Array> = ids.iter().map(|a| a.as_ref()).collect();
    let picks: Vec<(usize, usize)> = rows.iter().map(|r| (r.0, r.1)).collect();
    let merged_ids = arrow::compute::interleave(&arrays, &picks).map_err(|source| OutputError::Encode {
        path: out.to_path_buf(),
        source,
    })?;
    let win_back: Vec<WinBack> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| WinBack {
            row: k,
            rank: k as u64 + 1,
            past_value: r.2,
            days_silent: r.3,
        })
        .collect();
    write_win_back_rows(&win_back, merged_ids, &win_back_path(out), format)?;
    Ok((rows.len() as u64, total))
}
