//! The customer data of a pipeline, loaded once and laid out for point-in-time work: every
//! customer gets a dense index, and each customer's events and contacts sit together, in time
//! order (a compressed sparse row layout), so a snapshot is one pass per customer.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, Label, MS_PER_DAY, Pipeline, Role};
use churnguard_ingest::{IngestError, Progress, TableReport, column};
use rustc_hash::FxHashMap;

use crate::FeatureError;

/// Customer ids in index order, with the reverse map.
#[derive(Debug, Default)]
pub struct CustomerIndex {
    ints: Vec<i64>,
    texts: Vec<Box<str>>,
    int_map: FxHashMap<i64, u32>,
    text_map: FxHashMap<Box<str>, u32>,
}

impl CustomerIndex {
    /// Number of customers known.
    pub fn len(&self) -> usize {
        self.ints.len() + self.texts.len()
    }

    /// Whether no customer is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether ids are text.
    pub fn is_text(&self) -> bool {
        !self.texts.is_empty()
    }

    /// Indices of a batch's ids, adding ids not seen yet when `add` (else `None` for them).
    fn indices(&mut self, ids: &ArrayRef, add: bool) -> Vec<Option<u32>> {
        match ids.data_type() {
            DataType::Int64 => {
                // Rows mostly come grouped by customer: a repeated id needs no lookup.
                let mut previous: Option<(i64, Option<u32>)> = None;
                ids.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|&v| {
                        if let Some((pv, pi)) = previous
                            && pv == v
                        {
                            return pi;
                        }
                        let i = match self.int_map.get(&v) {
                            Some(&i) => Some(i),
                            None if add => {
                                let i = self.ints.len() as u32;
                                self.ints.push(v);
                                self.int_map.insert(v, i);
                                Some(i)
                            }
                            None => None,
                        };
                        previous = Some((v, i));
                        i
                    })
                    .collect()
            }
            _ => ids
                .as_string::<i32>()
                .iter()
                .map(|v| {
                    let v = v.unwrap_or_default();
                    match self.text_map.get(v) {
                        Some(&i) => Some(i),
                        None if add => {
                            let i = self.texts.len() as u32;
                            self.texts.push(v.into());
                            self.text_map.insert(v.into(), i);
                            Some(i)
                        }
                        None => None,
                    }
                })
                .collect(),
        }
    }

    /// The index of each id in `ids` (as [`CustomerIndex::ids`] gives them), `None` for an id
    /// not known here or a column of another type.
    pub fn find(&self, ids: &ArrayRef) -> Vec<Option<u32>> {
        match ids.data_type() {
            DataType::Int64 => ids
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|v| self.int_map.get(v).copied())
                .collect(),
            DataType::Utf8 => ids
                .as_string::<i32>()
                .iter()
                .map(|v| v.and_then(|v| self.text_map.get(v).copied()))
                .collect(),
            _ => vec![None; ids.len()],
        }
    }

    /// Orders customer indices by id, so a snapshot's row order does not depend on file order.
    pub fn sort_by_id(&self, rows: &mut [u32]) {
        if self.is_text() {
            rows.sort_unstable_by(|&a, &b| self.texts[a as usize].cmp(&self.texts[b as usize]));
        } else {
            rows.sort_unstable_by_key(|&r| self.ints[r as usize]);
        }
    }

    /// The ids of the given customers, as an Arrow column.
    pub fn ids(&self, rows: &[u32]) -> ArrayRef {
        if self.is_text() {
            std::sync::Arc::new(StringArray::from_iter_values(
                rows.iter().map(|&r| &*self.texts[r as usize]),
            ))
        } else {
            std::sync::Arc::new(arrow::array::Int64Array::from_iter_values(
                rows.iter().map(|&r| self.ints[r as usize]),
            ))
        }
    }
}

/// Time-ordered rows per customer: customer `c` owns rows `offsets[c]..offsets[c + 1]`.
#[derive(Debug, Default)]
pub struct Series {
    /// Row ranges per customer index (length customers + 1).
    pub offsets: Vec<usize>,
    /// UTC milliseconds, increasing within a customer.
    pub ts: Vec<i64>,
    /// First value column (amount for events, score for contacts); NaN when missing.
    pub value: Vec<f64>,
    /// Second value column (quantity for events); NaN when missing.
    pub extra: Vec<f64>,
    /// Code of the row's type (event type or contact kind) in `kinds`.
    pub kind: Vec<u32>,
    /// The distinct types, by code.
    pub kinds: Vec<String>,
}

impl Series {
    /// The rows of one customer.
    pub fn range(&self, c: u32) -> std::ops::Range<usize> {
        let c = c as usize;
        if c + 1 < self.offsets.len() {
            self.offsets[c]..self.offsets[c + 1]
        } else {
            0..0
        }
    }

    /// The rows of one customer dated before the cutoff, and those at or after it.
    pub fn split(&self, c: u32, cutoff_ms: i64) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let r = self.range(c);
        let at = r.start + self.ts[r.clone()].partition_point(|&t| t < cutoff_ms);
        (r.start..at, at..r.end)
    }
}

/// Rows collected from a table before they are grouped by customer.
#[derive(Default)]
struct Collect {
    customer: Vec<u32>,
    ts: Vec<i64>,
    value: Vec<f64>,
    extra: Vec<f64>,
    kind: Vec<u32>,
    kinds: Vec<String>,
    kind_codes: FxHashMap<String, u32>,
}

impl Collect {
    fn with_capacity(rows: Option<u64>) -> Self {
        let n = rows.unwrap_or(0) as usize;
        Collect {
            customer: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            value: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            ..Collect::default()
        }
    }

    fn push_batch(&mut self, idx: &[Option<u32>], b: &RecordBatch, value: &str, extra: &str, kind: &str) -> u64 {
        let ts = b
            .column_by_name(column::TIMESTAMP)
            .map(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>());
        let Some(Some(ts)) = ts else { return 0 };
        let num = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned())
        };
        let (value, extra) = (num(value), num(extra));
        let kind = b.column_by_name(kind).map(|c| c.as_string::<i32>().clone());
        // Column by column: rows of unknown customers are skipped in each.
        let known = |i: &usize| idx[*i].is_some();
        let unknown = idx.iter().filter(|c| c.is_none()).count();
        self.customer.extend(idx.iter().flatten());
        if unknown == 0 {
            self.ts.extend_from_slice(ts.values());
        } else {
            self.ts.extend((0..idx.len()).filter(known).map(|i| ts.value(i)));
        }
        for (target, source) in [(&mut self.value, &value), (&mut self.extra, &extra)] {
            match source {
                Some(a) if unknown == 0 && a.null_count() == 0 => target.extend_from_slice(a.values()),
                Some(a) => target.extend(
                    (0..idx.len())
                        .filter(known)
                        .map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }),
                ),
                None => target.resize(target.len() + idx.len() - unknown, f64::NAN),
            }
        }
        match &kind {
            Some(k) => {
                // Types repeat row after row ("purchase", "purchase", ...): check the last one first.
                let mut last: Option<(&str, u32)> = None;
                for i in (0..idx.len()).filter(known) {
                    if !k.is_valid(i) {
                        self.kind.push(u32::MAX);
                        continue;
                    }
                    let v = k.value(i);
                    let code = match last {
                        Some((lv, code)) if lv == v => code,
                        _ => match self.kind_codes.get(v) {
                            Some(&code) => code,
                            None => {
                                let code = self.kinds.len() as u32;
                                self.kinds.push(v.to_string());
                                self.kind_codes.insert(v.to_string(), code);
                                code
                            }
                        },
                    };
                    last = Some((v, code));
                    self.kind.push(code);
                }
            }
            None => self.kind.resize(self.kind.len() + idx.len() - unknown, u32::MAX),
        }
        unknown as u64
    }

    /// Groups rows by customer (a counting sort) and orders each customer's rows by time,
    /// keeping file order among equal times.
    fn into_series(self, customers: usize) -> Series {
        let mut offsets = vec![0usize; customers + 1];
        for &c in &self.customer {
            offsets[c as usize + 1] += 1;
        }
        for i in 0..customers {
            offsets[i + 1] += offsets[i];
        }
        // Customer indices are given in order of first appearance, so a file already grouped by
        // customer (a common export order) yields non-decreasing indices: its rows are in place.
        if self.customer.is_sorted() {
            return self.grouped_into_series(offsets);
        }
        let mut next = offsets.clone();
        let mut order = vec![0u32; self.customer.len()];
        for (row, &c) in self.customer.iter().enumerate() {
            order[next[c as usize]] = row as u32;
            next[c as usize] += 1;
        }
        drop(next);
        for c in 0..customers {
            let slice = &mut order[offsets[c]..offsets[c + 1]];
            if !slice.is_sorted_by_key(|&r| self.ts[r as usize]) {
                slice.sort_by_key(|&r| self.ts[r as usize]);
            }
        }
        fn gather<T: Copy>(order: &[u32], v: Vec<T>) -> Vec<T> {
            order.iter().map(|&r| v[r as usize]).collect()
        }
        Series {
            ts: gather(&order, self.ts),
            value: gather(&order, self.value),
            extra: gather(&order, self.extra),
            kind: gather(&order, self.kind),
            offsets,
            kinds: self.kinds,
        }
    }

    /// The rows of a file grouped by customer become the series without a copy; only customers
    /// whose rows are out of time order are sorted, in place.
    fn grouped_into_series(self, offsets: Vec<usize>) -> Series {
        let mut s = Series {
            offsets,
            ts: self.ts,
            value: self.value,
            extra: self.extra,
            kind: self.kind,
            kinds: self.kinds,
        };
        let mut order: Vec<usize> = Vec::new();
        for c in 0..s.offsets.len() - 1 {
            let r = s.offsets[c]..s.offsets[c + 1];
            if s.ts[r.clone()].is_sorted() {
                continue;
            }
            order.clear();
            order.extend(r.clone());
            order.sort_by_key(|&i| s.ts[i]);
            fn permute<T: Copy>(v: &mut [T], r: std::ops::Range<usize>, order: &[usize]) {
                let sorted: Vec<T> = order.iter().map(|&i| v[i]).collect();
                v[r].copy_from_slice(&sorted);
            }
            permute(&mut s.ts, r.clone(), &order);
            permute(&mut s.value, r.clone(), &order);
            permute(&mut s.extra, r.clone(), &order);
            permute(&mut s.kind, r, &order);
        }
        s
    }
}

/// A text column by customer, stored as codes into its distinct values.
#[derive(Debug, Default)]
pub struct Categories {
    /// The distinct values, in order of first appearance.
    pub values: Vec<Box<str>>,
    /// Per customer index, the code of its value in `values`, or [`Categories::MISSING`].
    pub codes: Vec<u32>,
    lookup: FxHashMap<Box<str>, u32>,
}

impl Categories {
    /// The code of a missing value.
    pub const MISSING: u32 = u32::MAX;

    fn new(customers: usize) -> Self {
        Categories {
            codes: vec![Self::MISSING; customers],
            ..Categories::default()
        }
    }

    fn set(&mut self, c: usize, v: &str) {
        let code = match self.lookup.get(v) {
            Some(&code) => code,
            None => {
                let code = self.values.len() as u32;
                self.values.push(v.into());
                self.lookup.insert(v.into(), code);
                code
            }
        };
        self.codes[c] = code;
    }

    /// The value of one customer.
    pub fn get(&self, c: u32) -> Option<&str> {
        self.values.get(self.codes[c as usize] as usize).map(|v| &**v)
    }
}

/// One customer attribute, by customer index.
#[derive(Debug)]
pub enum Attribute {
    /// Numbers; NaN when missing.
    Numeric(Vec<f64>),
    /// Category text.
    Categorical(Categories),
    /// Dates as UTC milliseconds; `None` when missing.
    Date(Vec<Option<i64>>),
}

/// Everything a snapshot needs, loaded once.
#[derive(Debug)]
pub struct History {
    /// Every customer known (events first, then the customers table).
    pub customers: CustomerIndex,
    /// Events, when the pipeline has an events table.
    pub events: Option<Series>,
    /// Support contacts, when the pipeline has an interactions table.
    pub contacts: Option<Series>,
    /// Attributes of the customers table, by source column name.
    pub attributes: Vec<(String, Attribute)>,
    /// Whether each customer has a row in the customers table.
    pub has_row: Vec<bool>,
    /// The explicit label column's value per customer, for `label.kind = "column"`.
    pub label_values: Option<Categories>,
    /// Whether events carry an amount, a quantity and a type.
    pub event_columns: (bool, bool, bool),
    /// Whether contacts carry a score.
    pub has_score: bool,
    /// The end of the observed data (exclusive), UTC ms: the day after `as_of`, else after the
    /// last event.
    pub data_end_ms: i64,
    /// The first event, UTC ms.
    pub data_start_ms: Option<i64>,
    /// Customers with events but no row in the customers table.
    pub events_without_customer_row: u64,
    /// Contacts whose customer has neither events nor a customer row (dropped).
    pub contacts_of_unknown_customers: u64,
    /// What ingestion found in each table.
    pub reports: Vec<TableReport>,
}

/// Loads a pipeline's tables (as of `as_of`, if given) into per-customer histories.
pub fn load(p: &Pipeline, as_of: Option<Date>) -> Result<History, FeatureError> {
    load_with_progress(p, as_of, &mut |_| {})
}

/// [`load`], reporting the rows read after every batch.
pub fn load_with_progress(
    p: &Pipeline,
    as_of: Option<Date>,
    progress: &mut dyn FnMut(Progress),
) -> Result<History, FeatureError> {
    load_tables(p, churnguard_ingest::open(p, as_of)?, progress)
}

/// Per-customer histories from tables opened already: files, or rows in memory
/// ([`churnguard_ingest::open_rows`]).
pub fn load_tables(
    p: &Pipeline,
    mut tables: churnguard_ingest::Tables,
    progress: &mut dyn FnMut(Progress),
) -> Result<History, FeatureError> {
    let opts = tables.options.clone();
    let mut pseudo = tables.pseudonymizer.take();
    let mut index = CustomerIndex::default();
    let mut reports = Vec::new();
    let mut events = None;
    let mut event_columns = (false, false, false);
    if let Some(t) = &tables.events {
        let mut col = Collect::with_capacity(t.total_rows());
        // From the table's columns, not its rows: a partition may hold none, and its features
        // must still be every other partition's.
        let schema = t.output_schema(opts.id_output);
        let has = |name: &str| schema.field_with_name(name).is_ok();
        event_columns = (has(column::AMOUNT), has(column::QUANTITY), has(column::EVENT_TYPE));
        let report = t.scan(&opts, pseudo.as_mut(), |b, rows_read| {
            progress(Progress {
                role: Role::Events,
                rows_read,
                total_rows: t.total_rows(),
            });
            let idx = index.indices(b.column(0), true);
            col.push_batch(&idx, &b, column::AMOUNT, column::QUANTITY, column::EVENT_TYPE);
        })?;
        reports.push(report);
        events = Some(col);
    }
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut rows: Vec<(u32, usize, usize)> = Vec::new();
    if let Some(t) = &tables.customers {
        let report = t.scan(&opts, pseudo.as_mut(), |b, rows_read| {
            progress(Progress {
                role: Role::Customers,
                rows_read,
                total_rows: t.total_rows(),
            });
            for (i, c) in index.indices(b.column(0), true).into_iter().enumerate() {
                if let Some(c) = c {
                    rows.push((c, batches.len(), i));
                }
            }
            batches.push(b);
        })?;
        reports.push(report);
        // A partition without customers' rows still has their columns (its attribute features).
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(t.output_schema(opts.id_output)));
        }
    }
    let n = index.len();
    let (has_row, label_values, attributes) = customer_rows(p, n, &batches, &rows);
    drop((rows, batches));
    let mut contacts_unknown = 0;
    let mut has_score = false;
    let mut contacts = None;
    if let Some(t) = &tables.interactions {
        let mut col = Collect::with_capacity(t.total_rows());
        has_score = t.output_schema(opts.id_output).field_with_name(column::SCORE).is_ok();
        let report = t.scan(&opts, pseudo.as_mut(), |b, rows_read| {
            progress(Progress {
                role: Role::Interactions,
                rows_read,
                total_rows: t.total_rows(),
            });
            let idx = index.indices(b.column(0), false);
            contacts_unknown += col.push_batch(&idx, &b, column::SCORE, "", column::KIND);
        })?;
        reports.push(report);
        contacts = Some(col);
    }
    let events = events.map(|c| c.into_series(n));
    let contacts = contacts.map(|c| c.into_series(n));
    let last_event = events.as_ref().and_then(|e| e.ts.iter().max().copied());
    let data_start_ms = events.as_ref().and_then(|e| e.ts.iter().min().copied());
    let data_end_ms = match opts.as_of {
        Some(d) => d.start_ms() + MS_PER_DAY,
        None => last_event.map_or(i64::MAX, |t| Date::of_ms(t).start_ms() + MS_PER_DAY),
    };
    let events_without_customer_row = if tables.customers.is_some() {
        events.as_ref().map_or(0, |e| {
            (0..n).filter(|&c| !has_row[c] && !e.range(c as u32).is_empty()).count() as u64
        })
    } else {
        0
    };
    Ok(History {
        customers: index,
        events,
        contacts,
        attributes,
        has_row,
        label_values,
        event_columns,
        has_score,
        data_end_ms,
        data_start_ms,
        events_without_customer_row,
        contacts_of_unknown_customers: contacts_unknown,
        reports,
    })
}

/// The customers table's rows spread by customer: who has a row, the label cell of each, and
/// every attribute column by customer index. `rows` are (customer, batch, row in batch).
fn customer_rows(
    p: &Pipeline,
    n: usize,
    batches: &[RecordBatch],
    rows: &[(u32, usize, usize)],
) -> (Vec<bool>, Option<Categories>, Vec<(String, Attribute)>) {
    let mut attributes: Vec<(String, Attribute)> = Vec::new();
    let mut has_row = vec![false; n];
    // Without the label column (a table to score), no customer has a label.
    let has_label = batches
        .first()
        .is_some_and(|b| b.column_by_name(column::LABEL).is_some());
    let mut label_values = (matches!(p.label, Some(Label::Column { .. })) && has_label).then(|| Categories::new(n));
    if let Some(first) = batches.first() {
        for f in first.schema().fields().iter().skip(1) {
            if f.name() == column::LABEL {
                continue;
            }
            let attr = match f.data_type() {
                DataType::Float64 => Attribute::Numeric(vec![f64::NAN; n]),
                DataType::Timestamp(..) => Attribute::Date(vec![None; n]),
                _ => Attribute::Categorical(Categories::new(n)),
            };
            attributes.push((f.name().clone(), attr));
        }
    }
    for &(c, b, ref i) in rows {
        let (c, b) = (c as usize, &batches[b]);
        has_row[c] = true;
        if let (Some(values), Some(col)) = (label_values.as_mut(), b.column_by_name(column::LABEL)) {
            let s = col.as_string::<i32>();
            if s.is_valid(*i) {
                values.set(c, s.value(*i));
            }
        }
        for (name, attr) in attributes.iter_mut() {
            let Some(col) = b.column_by_name(name) else { continue };
            if !col.is_valid(*i) {
                continue;
            }
            match attr {
                Attribute::Numeric(v) => v[c] = col.as_primitive::<arrow::datatypes::Float64Type>().value(*i),
                Attribute::Date(v) => {
                    v[c] = Some(
                        col.as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                            .value(*i),
                    )
                }
                Attribute::Categorical(v) => v.set(c, col.as_string::<i32>().value(*i)),
            }
        }
    }
    (has_row, label_values, attributes)
}

impl From<IngestError> for FeatureError {
    fn from(e: IngestError) -> Self {
        FeatureError::Ingest(e)
    }
}
