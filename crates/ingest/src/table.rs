//! Reading one table of a pipeline: which source column plays which part, and the batch-by-batch
//! normalization into churnguard's column layout, with the report kept along the way.

use std::collections::HashMap;

use rustc_hash::FxHashSet as HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use arrow::compute::filter;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use churnguard_config::{CustomersTable, Date, EventsTable, InteractionsTable, Label, Role};

use crate::coerce::{self, IdKind, Ids, Marks, Reason, arc};
use crate::column;
use crate::error::{DecodeCause, ErrorKind, IngestError};
use crate::pseudonym::Pseudonymizer;
use crate::report::{ColumnReport, RejectExample, Rejection, TableReport, ValueCounts};
use crate::source::SourceFile;

/// Examples kept per rejection reason.
const EXAMPLES: usize = 5;
/// Batches decoded ahead of the one being normalized.
const DECODED_AHEAD: usize = 2;
/// Distinct values tracked per counted column before the rest go to "other".
const MAX_DISTINCT: usize = 1000;

/// The part a source column plays once read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    CustomerId,
    Timestamp,
    Amount,
    Quantity,
    EventType,
    Kind,
    Score,
    Label,
    NumericAttribute,
    CategoricalAttribute,
    DateAttribute,
}

impl Part {
    fn describe(self) -> &'static str {
        match self {
            Part::CustomerId => "customer id",
            Part::Timestamp => "timestamp",
            Part::Amount => "amount",
            Part::Quantity => "quantity",
            Part::EventType => "event type",
            Part::Kind => "interaction kind",
            Part::Score => "score",
            Part::Label => "label",
            Part::NumericAttribute => "attribute (numeric)",
            Part::CategoricalAttribute => "attribute (categorical)",
            Part::DateAttribute => "attribute (date)",
        }
    }

    /// The output column name: fixed for mapped parts, the source name for attributes.
    fn output_name(self, source: &str) -> String {
        match self {
            Part::CustomerId => column::CUSTOMER_ID,
            Part::Timestamp => column::TIMESTAMP,
            Part::Amount => column::AMOUNT,
            Part::Quantity => column::QUANTITY,
            Part::EventType => column::EVENT_TYPE,
            Part::Kind => column::KIND,
            Part::Score => column::SCORE,
            Part::Label => column::LABEL,
            Part::NumericAttribute | Part::CategoricalAttribute | Part::DateAttribute => source,
        }
        .to_string()
    }

    fn counted(self) -> bool {
        matches!(self, Part::EventType | Part::Kind | Part::Label)
    }
}

/// Characters LightGBM refuses in a feature name (JSON's special characters).
const FEATURE_NAME_FORBIDDEN: [char; 7] = ['"', ',', ':', '[', ']', '{', '}'];

/// The source column of ids that are row numbers (a customers table without an id column).
const ROW_NUMBERS: &str = "";

#[derive(Clone, Debug)]
struct Planned {
    source: String,
    part: Part,
    source_type: DataType,
}

/// A table opened and checked against its config: every mapped column exists and has a type
/// that can be read for its part. Nothing has been read yet.
pub struct TableReader {
    source: SourceFile,
    plan: Vec<Planned>,
    id_kind: IdKind,
    skipped: Vec<(String, String)>,
}

/// How to read: the pipeline-wide settings every table shares.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Rows dated after this day are counted as being in the future.
    pub as_of: Option<Date>,
    /// Turn every rejected row into an error.
    pub strict: bool,
    /// Rows per batch.
    pub batch_rows: usize,
    /// The id layout of output batches (text when tables disagree or ids are pseudonymized).
    pub id_output: IdKind,
}

impl TableReader {
    /// Opens the events table.
    pub fn open_events(t: &EventsTable) -> Result<Self, IngestError> {
        Self::events_from(t, SourceFile::open(Role::Events, &t.source)?)
    }

    /// The events table over rows already read.
    pub(crate) fn events_from(t: &EventsTable, source: SourceFile) -> Result<Self, IngestError> {
        let mut mapping = vec![
            ("customer_id", t.source.customer_id.as_str(), Part::CustomerId),
            ("timestamp", t.timestamp.as_str(), Part::Timestamp),
        ];
        for (key, col, part) in [
            ("amount", &t.amount, Part::Amount),
            ("quantity", &t.quantity, Part::Quantity),
            ("event_type", &t.event_type, Part::EventType),
        ] {
            if let Some(c) = col {
                mapping.push((key, c.as_str(), part));
            }
        }
        Self::mapped(source, &mapping)
    }

    /// Opens the interactions table.
    pub fn open_interactions(t: &InteractionsTable) -> Result<Self, IngestError> {
        Self::interactions_from(t, SourceFile::open(Role::Interactions, &t.source)?)
    }

    /// The interactions table over rows already read.
    pub(crate) fn interactions_from(t: &InteractionsTable, source: SourceFile) -> Result<Self, IngestError> {
        let mut mapping = vec![
            ("customer_id", t.source.customer_id.as_str(), Part::CustomerId),
            ("timestamp", t.timestamp.as_str(), Part::Timestamp),
            ("kind", t.kind.as_str(), Part::Kind),
        ];
        if let Some(c) = &t.score {
            mapping.push(("score", c.as_str(), Part::Score));
        }
        Self::mapped(source, &mapping)
    }

    /// Opens the customers table; every column not mapped, excluded or PII is an attribute.
    pub fn open_customers(t: &CustomersTable, label: Option<&Label>) -> Result<Self, IngestError> {
        Self::customers_from(t, label, SourceFile::open(Role::Customers, &t.source)?)
    }

    /// The customers table over rows already read.
    pub(crate) fn customers_from(
        t: &CustomersTable,
        label: Option<&Label>,
        source: SourceFile,
    ) -> Result<Self, IngestError> {
        let label_col = match label {
            Some(Label::Column { column, .. }) => Some(column.as_str()),
            _ => None,
        };
        // Without an id column the rows are numbered: an empty source column says so.
        let id_column = if t.row_number_ids {
            ROW_NUMBERS
        } else {
            t.source.customer_id.as_str()
        };
        let mut mapping = vec![("customer_id", id_column, Part::CustomerId)];
        // A table to score has no outcome yet: without its label column it is read as it is,
        // and training, which needs the label, says so.
        if let Some(c) = label_col.filter(|c| source.schema.field_with_name(c).is_ok()) {
            mapping.push(("label.column", c, Part::Label));
        }
        for (list, key, part) in [
            (&t.numeric, "numeric", Part::NumericAttribute),
            (&t.categorical, "categorical", Part::CategoricalAttribute),
        ] {
            for c in list {
                mapping.push((key, c.as_str(), part));
            }
        }
        for c in &t.exclude {
            source.require("exclude", c)?;
        }
        let mut reader = Self::mapped(source, &mapping)?;
        if t.row_number_ids {
            reader.skipped.push((
                "customer id".into(),
                "the table has no id column: customers are numbered by their row (1 is the first data row)".into(),
            ));
        }
        let taken: HashSet<String> = mapping
            .iter()
            .map(|(_, c, _)| c.to_string())
            .chain(t.exclude.iter().cloned())
            .collect();
        let reserved = [column::CUSTOMER_ID, column::LABEL];
        for f in reader.source.schema.fields().clone().iter() {
            let name = f.name();
            if taken.contains(name) {
                continue;
            }
            let dt = f.data_type();
            let part = match dt {
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Part::DateAttribute,
                DataType::Boolean => Part::CategoricalAttribute,
                dt if dt.is_numeric() => Part::NumericAttribute,
                dt if coerce::category_like(dt) => Part::CategoricalAttribute,
                dt => {
                    reader
                        .skipped
                        .push((name.clone(), format!("type {dt} is not a supported attribute type")));
                    continue;
                }
            };
            // The column names a model feature, and LightGBM refuses feature names with JSON's
            // special characters or control characters, only after a whole training run.
            if let Some(c) = name
                .chars()
                .find(|c| FEATURE_NAME_FORBIDDEN.contains(c) || c.is_control())
            {
                return Err(reader.error(ErrorKind::UnusableName {
                    column: name.clone(),
                    character: c,
                }));
            }
            if let Some(r) = reserved.iter().find(|r| **r == name.as_str()) {
                return Err(reader.error(ErrorKind::ReservedName {
                    column: name.clone(),
                    role_column: if *r == column::LABEL {
                        "label column"
                    } else {
                        "customer id column"
                    },
                }));
            }
            reader.plan.push(Planned {
                source: name.clone(),
                part,
                source_type: dt.clone(),
            });
        }
        Ok(reader)
    }

    fn mapped(source: SourceFile, mapping: &[(&str, &str, Part)]) -> Result<Self, IngestError> {
        let mut plan = Vec::with_capacity(mapping.len());
        for &(key, col, part) in mapping {
            if part == Part::CustomerId && col == ROW_NUMBERS {
                plan.push(Planned {
                    source: ROW_NUMBERS.to_string(),
                    part,
                    source_type: DataType::Int64,
                });
                continue;
            }
            let field = source.require(key, col)?;
            let dt = field.data_type().clone();
            let ok = match part {
                Part::CustomerId => coerce::id_kind(&dt).is_some(),
                Part::Timestamp => coerce::timestamp_like(&dt),
                Part::Amount | Part::Quantity | Part::Score | Part::NumericAttribute => coerce::number_like(&dt),
                // A label may be stored as 0.0/1.0: matched against `positive` by value later.
                Part::Label => coerce::category_like(&dt) || dt.is_floating(),
                Part::EventType | Part::Kind | Part::CategoricalAttribute => coerce::category_like(&dt),
                Part::DateAttribute => coerce::timestamp_like(&dt),
            };
            if !ok {
                return Err(IngestError::table(
                    source.role,
                    source.path(),
                    ErrorKind::WrongType {
                        column: col.to_string(),
                        found: dt.to_string(),
                        expected: expected_for(part),
                    },
                ));
            }
            plan.push(Planned {
                source: col.to_string(),
                part,
                source_type: dt,
            });
        }
        let id_kind = plan
            .iter()
            .find(|p| p.part == Part::CustomerId)
            .and_then(|p| coerce::id_kind(&p.source_type))
            .unwrap_or(IdKind::Text);
        Ok(TableReader {
            source,
            plan,
            id_kind,
            skipped: Vec::new(),
        })
    }

    fn error(&self, kind: ErrorKind) -> IngestError {
        IngestError::table(self.source.role, self.source.path(), kind)
    }

    /// The table's role.
    pub fn role(&self) -> Role {
        self.source.role
    }

    /// Rows in the file, when known before reading.
    pub fn total_rows(&self) -> Option<u64> {
        self.source.total_rows
    }

    /// How the file stores customer ids.
    pub fn id_kind(&self) -> IdKind {
        self.id_kind
    }

    /// The layout of the batches `scan` produces.
    pub fn output_schema(&self, id_output: IdKind) -> SchemaRef {
        Arc::new(Schema::new(
            self.plan
                .iter()
                .map(|p| {
                    let dt = match p.part {
                        Part::CustomerId => match id_output {
                            IdKind::Integer => DataType::Int64,
                            IdKind::Text => DataType::Utf8,
                        },
                        Part::Timestamp | Part::DateAttribute => DataType::Timestamp(TimeUnit::Millisecond, None),
                        Part::Amount | Part::Quantity | Part::Score | Part::NumericAttribute => DataType::Float64,
                        Part::EventType | Part::Kind | Part::Label | Part::CategoricalAttribute => DataType::Utf8,
                    };
                    Field::new(p.part.output_name(&p.source), dt, p.part != Part::CustomerId)
                })
                .collect::<Vec<_>>(),
        ))
    }

    /// Reads the whole table, handing each normalized batch to `sink` with the count of source
    /// rows read so far, and returns what was found. `pseudonymizer` replaces ids as they are read.
    pub fn scan(
        &self,
        opts: &ScanOptions,
        mut pseudonymizer: Option<&mut Pseudonymizer>,
        mut sink: impl FnMut(RecordBatch, u64),
    ) -> Result<TableReport, IngestError> {
        let id_output = if pseudonymizer.is_some() {
            IdKind::Text
        } else {
            opts.id_output
        };
        let schema = self.output_schema(id_output);
        let columns: Vec<&str> = self.plan.iter().map(|p| p.source.as_str()).collect();
        let stream = self.source.stream(&columns, opts.batch_rows.max(1))?;
        let mut st = ScanState::new(self, opts, pseudonymizer.is_some());
        // Rows in memory (a request to the service) are few and decoded already: threads would
        // cost more than the work.
        if self.source.in_memory() {
            for batch in stream {
                let out = st.next_batch(self, batch, &schema, id_output, pseudonymizer.as_deref_mut())?;
                if out.num_rows() > 0 {
                    sink(out, st.rows_read);
                }
            }
            return st.finish(self);
        }
        // Three stages, each on its own thread a batch or two ahead of the next: decoding
        // (decompression, pages), normalization, and the caller's sink. With normalization and
        // the sink on one thread, that thread held the load back while decoding waited.
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(DECODED_AHEAD);
            scope.spawn(move || {
                for batch in stream {
                    let failed = batch.is_err();
                    // A closed channel means a later stage stopped on an error of its own.
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
            let (normalized_tx, normalized) = std::sync::mpsc::sync_channel(DECODED_AHEAD);
            let st = &mut st;
            let normalizing = scope.spawn(move || {
                for batch in rx {
                    let out = st.next_batch(self, batch, &schema, id_output, pseudonymizer.as_deref_mut())?;
                    if out.num_rows() > 0 && normalized_tx.send((out, st.rows_read)).is_err() {
                        break;
                    }
                }
                Ok::<_, IngestError>(())
            });
            for (out, rows_read) in normalized {
                sink(out, rows_read);
            }
            normalizing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        st.finish(self)
    }
}

impl SourceFile {
    /// The field of a configured column, or an error listing the columns the file has.
    fn require(&self, key: &str, col: &str) -> Result<&Field, IngestError> {
        self.schema.field_with_name(col).map_err(|_| {
            let key = if key.contains('.') {
                key.to_string()
            } else {
                format!("data.{}.{key}", self.role)
            };
            IngestError::table(
                self.role,
                self.path(),
                if self.dropped_pii.iter().any(|p| p == col) {
                    ErrorKind::WrongType {
                        column: col.to_string(),
                        found: "a PII column".into(),
                        expected: "anything: it is dropped before reading",
                    }
                } else {
                    ErrorKind::MissingColumn {
                        key,
                        column: col.to_string(),
                        available: self.column_names(),
                    }
                },
            )
        })
    }
}

fn expected_for(part: Part) -> &'static str {
    match part {
        Part::CustomerId => "customer ids (integers or text)",
        Part::Timestamp | Part::DateAttribute => "a timestamp (timestamp, date, YYYYMMDD integer, or ISO 8601 text)",
        Part::Amount | Part::Quantity | Part::Score | Part::NumericAttribute => {
            "a number (numeric, or text holding numbers)"
        }
        Part::EventType | Part::Kind | Part::Label | Part::CategoricalAttribute => {
            "a category (text, integer or boolean)"
        }
    }
}

/// Records the customers of one batch through `insert` (true when the id is new) and returns the
/// rows that repeat an id already seen, which in the customers table are duplicates.
fn track<V: Copy + PartialEq>(
    ids: impl Iterator<Item = Option<V>>,
    marks: &Marks,
    customers: bool,
    mut insert: impl FnMut(V) -> bool,
) -> Vec<(usize, V)> {
    let mut duplicates = Vec::new();
    let mut previous = None;
    for (i, v) in ids.enumerate() {
        let Some(v) = v.filter(|_| !marks.is_rejected(i)) else {
            continue;
        };
        // Event logs mostly come grouped by customer: a repeat of the previous row's id needs no
        // lookup (except in the customers table, where it is a duplicate).
        if !customers && previous == Some(v) {
            continue;
        }
        previous = Some(v);
        if !insert(v) && customers {
            duplicates.push((i, v));
        }
    }
    duplicates
}

/// Distinct customers seen, in the id layout of the output.
enum Seen {
    Int(HashSet<i64>),
    Text(HashSet<Box<str>>),
}

impl Seen {
    fn len(&self) -> usize {
        match self {
            Seen::Int(s) => s.len(),
            Seen::Text(s) => s.len(),
        }
    }
}

struct Counter {
    counts: HashMap<String, u64>,
    other: u64,
}

struct ColumnStats {
    nulls: u64,
    blanks: u64,
    distinct: Option<HashSet<String>>,
    all_numeric_text: bool,
}

struct ScanState<'a> {
    opts: &'a ScanOptions,
    pseudonymized: bool,
    rows_read: u64,
    rows_kept: u64,
    rejected: HashMap<Reason, (u64, Vec<RejectExample>)>,
    columns: Vec<ColumnStats>,
    seen: Seen,
    first: Option<i64>,
    last: Option<i64>,
    future: u64,
    zero: u64,
    negative: u64,
    counters: HashMap<usize, Counter>,
    timestamp_examples: Vec<String>,
}

impl<'a> ScanState<'a> {
    fn new(t: &TableReader, opts: &'a ScanOptions, pseudonymized: bool) -> Self {
        let text = pseudonymized || opts.id_output == IdKind::Text;
        ScanState {
            opts,
            pseudonymized,
            rows_read: 0,
            rows_kept: 0,
            rejected: HashMap::new(),
            columns: t
                .plan
                .iter()
                .map(|p| ColumnStats {
                    nulls: 0,
                    blanks: 0,
                    distinct: (p.part == Part::CategoricalAttribute).then(HashSet::default),
                    all_numeric_text: p.part == Part::CategoricalAttribute
                        && matches!(p.source_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
                })
                .collect(),
            seen: if text {
                Seen::Text(HashSet::default())
            } else {
                Seen::Int(HashSet::default())
            },
            first: None,
            last: None,
            future: 0,
            zero: 0,
            negative: 0,
            counters: t
                .plan
                .iter()
                .enumerate()
                .filter(|(_, p)| p.part.counted())
                .map(|(i, _)| {
                    (
                        i,
                        Counter {
                            counts: HashMap::new(),
                            other: 0,
                        },
                    )
                })
                .collect(),
            timestamp_examples: Vec::new(),
        }
    }

    /// One decoded batch (or the decoder's error, naming the rows read before it) normalized,
    /// its rows counted as read.
    fn next_batch(
        &mut self,
        t: &TableReader,
        batch: Result<RecordBatch, arrow::error::ArrowError>,
        schema: &SchemaRef,
        id_output: IdKind,
        pseudonymizer: Option<&mut Pseudonymizer>,
    ) -> Result<RecordBatch, IngestError> {
        let batch = batch.map_err(|e| {
            t.error(ErrorKind::Decode {
                rows_read: self.rows_read,
                cause: e.into(),
            })
        })?;
        let out = self.normalize(t, &batch, schema, id_output, pseudonymizer)?;
        self.rows_read += batch.num_rows() as u64;
        Ok(out)
    }

    fn normalize(
        &mut self,
        t: &TableReader,
        batch: &RecordBatch,
        schema: &SchemaRef,
        id_output: IdKind,
        pseudonymizer: Option<&mut Pseudonymizer>,
    ) -> Result<RecordBatch, IngestError> {
        let n = batch.num_rows();
        let mut marks = Marks::new(n);
        let mut out: Vec<ArrayRef> = Vec::with_capacity(t.plan.len());
        let mut ids: Option<Ids> = None;
        let mut id_pos = 0;
        let row_numbers: Option<ArrayRef> = t.plan.iter().any(|p| p.source == ROW_NUMBERS).then(|| {
            let first = self.rows_read as i64 + 1;
            arc(arrow::array::Int64Array::from_iter_values(first..first + n as i64))
        });
        for (ci, p) in t.plan.iter().enumerate() {
            let numbered = row_numbers.as_ref().filter(|_| p.source == ROW_NUMBERS);
            let arr = numbered.or_else(|| batch.column_by_name(&p.source)).ok_or_else(|| {
                t.error(ErrorKind::Decode {
                    rows_read: self.rows_read,
                    cause: DecodeCause::MissingColumn(p.source.clone()),
                })
            })?;
            let stats = &mut self.columns[ci];
            stats.nulls += arr.logical_null_count() as u64;
            let wrap = |k| t.error(k);
            let col: ArrayRef = match p.part {
                Part::CustomerId => {
                    ids = Some(coerce::ids(arr, &p.source, &mut marks).map_err(wrap)?);
                    id_pos = ci;
                    // Placeholder until duplicates and pseudonyms are settled below.
                    arc(StringArray::new_null(0))
                }
                Part::Timestamp | Part::DateAttribute => {
                    let required = p.part == Part::Timestamp;
                    let ts = coerce::timestamps(arr, &p.source, &mut marks, required).map_err(wrap)?;
                    if required && self.timestamp_examples.len() < EXAMPLES {
                        let raw = arrow::util::display::ArrayFormatter::try_new(arr.as_ref(), &Default::default()).ok();
                        if let Some(f) = raw {
                            for i in 0..n.min(EXAMPLES - self.timestamp_examples.len()) {
                                self.timestamp_examples.push(format!("\"{}\"", f.value(i)));
                            }
                        }
                    }
                    arc(ts)
                }
                Part::Amount | Part::Quantity | Part::Score | Part::NumericAttribute => {
                    let mut blanks = 0;
                    let v = coerce::numbers(arr, &p.source, &mut marks, &mut blanks).map_err(wrap)?;
                    stats.blanks += blanks;
                    stats.nulls += blanks;
                    arc(v)
                }
                Part::EventType | Part::Kind | Part::Label | Part::CategoricalAttribute => {
                    let mut blanks = 0;
                    let v = coerce::categories(arr, &p.source, &mut blanks).map_err(wrap)?;
                    stats.blanks += blanks;
                    stats.nulls += blanks;
                    if stats.all_numeric_text && !coerce::all_numeric_text(&v) {
                        stats.all_numeric_text = false;
                    }
                    if let Some(d) = stats.distinct.as_mut() {
                        for x in v.iter().flatten() {
                            if d.len() >= MAX_DISTINCT * 10 {
                                break;
                            }
                            if !d.contains(x) {
                                d.insert(x.to_string());
                            }
                        }
                    }
                    arc(v)
                }
            };
            out.push(col);
        }
        let ids = ids.ok_or_else(|| {
            t.error(ErrorKind::Decode {
                rows_read: self.rows_read,
                cause: DecodeCause::NoIdColumn,
            })
        })?;
        out[id_pos] = self.settle_ids(t, ids, id_output, pseudonymizer, &mut marks);
        self.account(t, &mut marks)?;
        // Filter column by column before assembling: rejected rows may hold nulls where the
        // output schema allows none (a missing id).
        if marks.any() {
            let keep = marks.keep();
            out = out
                .iter()
                .map(|c| filter(c, &keep))
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    t.error(ErrorKind::Decode {
                        rows_read: self.rows_read,
                        cause: e.into(),
                    })
                })?;
        }
        let kept = RecordBatch::try_new(schema.clone(), out).map_err(|e| {
            t.error(ErrorKind::Decode {
                rows_read: self.rows_read,
                cause: e.into(),
            })
        })?;
        self.observe(t, &kept);
        Ok(kept)
    }

    /// Final id column: converted to the output layout, pseudonymized, and checked for
    /// duplicates in the customers table.
    fn settle_ids(
        &mut self,
        t: &TableReader,
        ids: Ids,
        id_output: IdKind,
        pseudonymizer: Option<&mut Pseudonymizer>,
        marks: &mut Marks,
    ) -> ArrayRef {
        let customers = t.role() == Role::Customers;
        let ids = match (ids, id_output) {
            (Ids::Int(a), IdKind::Text) => Ids::Text(coerce::ids_as_text(&a)),
            (ids, _) => ids,
        };
        let ids = match (ids, pseudonymizer) {
            (Ids::Text(s), Some(p)) => Ids::Text(
                s.iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if marks.is_rejected(i) {
                            None
                        } else {
                            v.map(|v| p.pseudonym(v).to_string())
                        }
                    })
                    .collect(),
            ),
            (ids, _) => ids,
        };
        let duplicates: Vec<(usize, String)> = match (&ids, &mut self.seen) {
            (Ids::Int(a), Seen::Int(set)) => track(a.iter(), marks, customers, |v| set.insert(v))
                .into_iter()
                .map(|(i, v)| (i, v.to_string()))
                .collect(),
            (Ids::Text(a), Seen::Text(set)) => track(a.iter(), marks, customers, |v| {
                let new = !set.contains(v);
                if new {
                    set.insert(v.into());
                }
                new
            })
            .into_iter()
            .map(|(i, v)| (i, v.to_string()))
            .collect(),
            _ => Vec::new(),
        };
        for (i, v) in duplicates {
            let shown = (!self.pseudonymized).then_some(v);
            marks.reject(i, Reason::DuplicateCustomer, &t.plan[0].source, shown);
        }
        match ids {
            Ids::Int(a) => arc(a),
            Ids::Text(s) => arc(s),
        }
    }

    /// Counts rejections (strict mode stops at the first) and keeps examples.
    fn account(&mut self, t: &TableReader, marks: &mut Marks) -> Result<(), IngestError> {
        for (i, r) in marks.in_row_order() {
            let row = self.rows_read + *i as u64 + 1;
            let value = if self.pseudonymized && r.column == t.plan[0].source {
                None
            } else {
                r.value.clone()
            };
            if self.opts.strict {
                let shown = value.map(|v| format!(" value \"{v}\"")).unwrap_or_default();
                return Err(t.error(ErrorKind::Strict {
                    row,
                    reason: format!("{} in column `{}`{shown}", r.reason.describe(), r.column),
                }));
            }
            let entry = self.rejected.entry(r.reason).or_insert((0, Vec::new()));
            entry.0 += 1;
            if entry.1.len() < EXAMPLES {
                entry.1.push(RejectExample {
                    row,
                    column: r.column.clone(),
                    value,
                });
            }
        }
        Ok(())
    }

    /// Statistics over the rows that are passed on.
    fn observe(&mut self, t: &TableReader, kept: &RecordBatch) {
        self.rows_kept += kept.num_rows() as u64;
        let future_from = self.opts.as_of.map(|d| d.next_day().start_ms());
        for (ci, p) in t.plan.iter().enumerate() {
            let col = kept.column(ci);
            match p.part {
                Part::Timestamp => {
                    // Rows without a timestamp were rejected, so the values are all present.
                    let Some(ts) = col.as_any().downcast_ref::<arrow::array::TimestampMillisecondArray>() else {
                        continue;
                    };
                    let v = ts.values();
                    if let (Some(lo), Some(hi)) = (v.iter().min(), v.iter().max()) {
                        self.first = Some(self.first.map_or(*lo, |f| f.min(*lo)));
                        self.last = Some(self.last.map_or(*hi, |l| l.max(*hi)));
                    }
                    if let Some(f) = future_from {
                        self.future += v.iter().filter(|&&x| x >= f).count() as u64;
                    }
                }
                Part::Amount => {
                    if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                        // Null slots hold 0.0 in the values buffer; count them only when present.
                        let (mut zero, mut negative) = (0u64, 0u64);
                        for (i, &v) in a.values().iter().enumerate() {
                            zero += u64::from(v == 0.0);
                            negative += u64::from(v < 0.0);
                            if v == 0.0 && a.is_null(i) {
                                zero -= 1;
                            }
                        }
                        self.zero += zero;
                        self.negative += negative;
                    }
                }
                _ => {}
            }
            if let (Some(c), Some(s)) = (self.counters.get_mut(&ci), col.as_any().downcast_ref::<StringArray>()) {
                // Values come in runs (the same event type row after row): count a run at once.
                let mut run: Option<(&str, u64)> = None;
                let flush = |c: &mut Counter, v: &str, k: u64| {
                    if let Some(n) = c.counts.get_mut(v) {
                        *n += k;
                    } else if c.counts.len() < MAX_DISTINCT {
                        c.counts.insert(v.to_string(), k);
                    } else {
                        c.other += k;
                    }
                };
                for v in s.iter() {
                    let v = v.unwrap_or("(null)");
                    run = match run {
                        Some((r, k)) if r == v => Some((r, k + 1)),
                        Some((r, k)) => {
                            flush(c, r, k);
                            Some((v, 1))
                        }
                        None => Some((v, 1)),
                    };
                }
                if let Some((r, k)) = run {
                    flush(c, r, k);
                }
            }
        }
    }

    fn finish(self, t: &TableReader) -> Result<TableReport, IngestError> {
        // Rows in memory may be none: a customer of a request without contacts, say.
        if self.rows_read == 0 && !t.source.may_be_empty() {
            return Err(t.error(ErrorKind::Empty));
        }
        let mut rejected: Vec<Rejection> = self
            .rejected
            .into_iter()
            .map(|(reason, (count, examples))| Rejection {
                reason,
                description: reason.describe(),
                count,
                examples,
            })
            .collect();
        rejected.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        if self.rows_kept == 0 && self.rows_read > 0 {
            let ts_plan = t.plan.iter().find(|p| p.part == Part::Timestamp);
            let bad_ts = rejected
                .iter()
                .find(|r| r.reason == Reason::BadTimestamp)
                .map_or(0, |r| r.count);
            if let Some(p) = ts_plan
                && bad_ts > 0
            {
                return Err(t.error(ErrorKind::NoTimestamps {
                    column: p.source.clone(),
                    examples: self.timestamp_examples,
                }));
            }
            let summary = rejected
                .iter()
                .map(|r| format!("{} {}", r.count, r.description))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(t.error(ErrorKind::NoUsableRows {
                rows: self.rows_read,
                summary,
            }));
        }
        let mut hints = Vec::new();
        let columns = t
            .plan
            .iter()
            .zip(self.columns)
            .map(|(p, s)| {
                if s.all_numeric_text && s.distinct.as_ref().is_some_and(|d| !d.is_empty()) {
                    hints.push(format!(
                        "column `{}` is text but every non-blank value is a number ({} blank): list it in `data.customers.numeric` to use it as a number",
                        p.source, s.blanks
                    ));
                }
                ColumnReport {
                    column: p.source.clone(),
                    part: p.part.describe().to_string(),
                    source_type: p.source_type.to_string(),
                    nulls: s.nulls,
                    blanks: s.blanks,
                    distinct: s.distinct.map(|d| d.len() as u64),
                }
            })
            .collect();
        let mut value_counts: Vec<ValueCounts> = self
            .counters
            .into_iter()
            .map(|(ci, c)| {
                let mut counts: Vec<(String, u64)> = c.counts.into_iter().collect();
                counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                ValueCounts {
                    column: t.plan[ci].source.clone(),
                    counts,
                    other: c.other,
                }
            })
            .collect();
        value_counts.sort_by(|a, b| a.column.cmp(&b.column));
        let duplicates = rejected
            .iter()
            .find(|r| r.reason == Reason::DuplicateCustomer)
            .map_or(0, |r| r.count);
        let has = |part| t.plan.iter().any(|p| p.part == part);
        let date = |ms: i64| Date::of_ms(ms).to_string();
        let has_ts = has(Part::Timestamp);
        Ok(TableReport {
            role: t.role().to_string(),
            path: t.source.path().display().to_string(),
            format: t.source.format.to_string(),
            rows_read: self.rows_read,
            rows_kept: self.rows_kept,
            rejected,
            columns,
            id_kind: t.id_kind,
            customers: self.seen.len() as u64,
            first: self.first.map(date),
            last: self.last.map(date),
            as_of: self.opts.as_of.map(|d| d.to_string()),
            future_rows: (has_ts && self.opts.as_of.is_some()).then_some(self.future),
            zero_amounts: has(Part::Amount).then_some(self.zero),
            negative_amounts: has(Part::Amount).then_some(self.negative),
            duplicate_customer_rows: (t.role() == Role::Customers).then_some(duplicates),
            value_counts,
            dropped_pii: t.source.dropped_pii.clone(),
            skipped_columns: t.skipped.clone(),
            hints,
            pseudonymized: self.pseudonymized,
        })
    }
}
