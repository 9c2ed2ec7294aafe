//! Customers given as raw history: their events, contacts and attributes under the pipeline's
//! own column names, read by the same ingestion and feature code as the nightly list, so an
//! answer equals the list's row for the same data and day.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Array, Float64Array, Float64Builder, Int64Array, Int64Builder, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, MS_PER_DAY, Pipeline};
use churnguard_features::{AttributeKind, FeatureError, FeatureSpec, customer_values, load_tables, snapshot};

use crate::cells::{Cell, Fields, Rows};
use crate::{ServeError, in_time};

/// What messages call the request's tables.
const REQUEST: &str = "request";

/// One customer's raw history, as a request gives it.
#[derive(Debug, Default)]
pub struct HistoryIn {
    /// Events, each a row of the events table by column name.
    pub events: Option<Rows>,
    /// Contacts, each a row of the interactions table by column name.
    pub interactions: Option<Rows>,
    /// The customers table's row: attribute columns by name.
    pub attributes: Option<Fields>,
}

/// What a customer's history gives at the day asked.
#[derive(Debug)]
pub enum Found {
    /// Still with us: the features in spec order and the customer's value over the horizon.
    Scored {
        /// Feature values, NaN where missing.
        features: Vec<f64>,
        /// Value over the horizon, from past spend (0 without amounts).
        value: f64,
    },
    /// The label's definition already counts the customer as gone (the win-back list's).
    AlreadyChurned,
    /// Nothing dated on or before the day: the customer is not known yet.
    NotKnown,
}

/// The features of each customer (the `k`-th of `customers` is `customers[k].0`, its index in the
/// request), at `as_of`, as `score` computes them. `max_events` bounds rows per customer; past
/// `deadline`, stops between stages.
pub fn features_of(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: Vec<(usize, HistoryIn)>,
    as_of: Date,
    max_events: usize,
    deadline: Option<Instant>,
) -> Result<Vec<Found>, ServeError> {
    // The feature code spreads customers over rayon's threads; a request's handful of customers
    // is cheaper on this thread alone than handed to woken workers spinning beside the service's
    // own threads, or queued behind another request on a shared small pool.
    if customers.len() > ONE_THREAD_CUSTOMERS {
        return features_on_this_thread(p, spec, customers, as_of, max_events, deadline);
    }
    THIS_THREAD.with(move |pool| match pool {
        Some(pool) => pool.install(move || features_on_this_thread(p, spec, customers, as_of, max_events, deadline)),
        None => features_on_this_thread(p, spec, customers, as_of, max_events, deadline),
    })
}

/// Up to this many customers of a request build their features on the request's own thread.
const ONE_THREAD_CUSTOMERS: usize = 64;

thread_local! {
    /// A one-thread rayon pool made of the current thread itself, so parallel iterators inside
    /// run inline (none if it cannot be built).
    static THIS_THREAD: Option<rayon::ThreadPool> =
        rayon::ThreadPoolBuilder::new().num_threads(1).use_current_thread().build().ok();
}

/// Where each row of the request's tables came from: (request index, rows) per customer, in
/// table order, so a rejected row can be named without keeping the histories.
struct Layout {
    events: Vec<(usize, usize)>,
    interactions: Vec<(usize, usize)>,
    attributes: Vec<usize>,
}

fn features_on_this_thread(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: Vec<(usize, HistoryIn)>,
    as_of: Date,
    max_events: usize,
    deadline: Option<Instant>,
) -> Result<Vec<Found>, ServeError> {
    // The package's features; ids are the request's own numbering, never pseudonymized.
    let mut own = Pipeline {
        features: spec.features_config(),
        ..p.clone()
    };
    own.privacy.pseudonymize = false;
    own.data.as_of = Some(as_of);
    let ids: Vec<i64> = (1..=customers.len() as i64).collect();
    let count = |list: fn(&HistoryIn) -> Option<&Rows>| {
        customers
            .iter()
            .map(|(i, c)| (*i, list(c).map_or(0, Rows::len)))
            .collect()
    };
    let layout = Layout {
        events: count(|c| c.events.as_ref()),
        interactions: count(|c| c.interactions.as_ref()),
        attributes: customers.iter().map(|(i, _)| *i).collect(),
    };
    let mut customers = customers;
    let rows = [
        events_batch(&own, &mut customers, max_events)?,
        customers_batch(&own, spec, &customers)?,
        interactions_batch(&own, &mut customers, max_events)?,
    ];
    // The histories are in the tables now: free what is left before ingestion makes its own
    // columns.
    drop(customers);
    in_time(deadline)?;
    let rejected = |e: churnguard_ingest::IngestError| ServeError::Field {
        field: "customers".into(),
        problem: churnguard_config::with_causes(&e),
    };
    let tables = churnguard_ingest::open_rows(&own, Some(as_of), rows, Path::new(REQUEST)).map_err(rejected)?;
    let h = load_tables(&own, tables, &mut |_| {}).map_err(|e| feature_error(&e))?;
    first_rejection(&h, &layout)?;
    drop(layout);
    in_time(deadline)?;
    let cutoff = as_of.next_day();
    let snap = snapshot(&own, &h, spec, cutoff).map_err(|e| feature_error(&e))?;
    in_time(deadline)?;
    let (values, _) = customer_values(&own, &h, &snap.population, cutoff).map_err(|e| feature_error(&e))?;
    let columns: Vec<Vec<f64>> = (0..spec.features.len()).map(|j| snap.feature(j)).collect();
    let mut position = vec![None; h.customers.len()];
    for (k, &c) in snap.population.iter().enumerate() {
        position[c as usize] = Some(k);
    }
    let index = h.customers.find(&(Arc::new(Int64Array::from(ids)) as ArrayRef));
    Ok(index
        .into_iter()
        .map(|c| match c {
            Some(c) => match position[c as usize] {
                Some(k) => Found::Scored {
                    features: columns.iter().map(|col| col[k]).collect(),
                    value: values[k],
                },
                None if snap.already_churned.contains(&c) => Found::AlreadyChurned,
                None => Found::NotKnown,
            },
            None => Found::NotKnown,
        })
        .collect())
}

fn feature_error(e: &FeatureError) -> ServeError {
    ServeError::Field {
        field: "customers".into(),
        problem: churnguard_config::with_causes(e),
    }
}

/// A row that ingestion rejected (a timestamp that is not one, a number that is not one) is an
/// error naming the request's field, not a row silently left out.
fn first_rejection(h: &churnguard_features::History, layout: &Layout) -> Result<(), ServeError> {
    for report in &h.reports {
        let Some(example) = report.rejected.iter().find_map(|r| r.examples.first().map(|x| (r, x))) else {
            continue;
        };
        let (rejection, x) = example;
        let row = x.row.saturating_sub(1) as usize;
        let at = |list: &str, counts: &[(usize, usize)]| {
            let mut before = 0;
            for &(i, n) in counts {
                if row < before + n {
                    return format!("customers[{i}].{list}[{}].{}", row - before, x.column);
                }
                before += n;
            }
            "customers".to_string()
        };
        let field = match report.role.as_str() {
            "events" => at("events", &layout.events),
            "interactions" => at("interactions", &layout.interactions),
            _ => match layout.attributes.get(row) {
                Some(i) => format!("customers[{i}].attributes.{}", x.column),
                None => "customers".to_string(),
            },
        };
        return Err(ServeError::Field {
            field,
            problem: format!(
                "{}{}",
                rejection.description,
                x.value.as_ref().map(|v| format!(" (got {v})")).unwrap_or_default()
            ),
        });
    }
    Ok(())
}

/// The events table of the request: one row per event, the configured columns only.
fn events_batch(
    p: &Pipeline,
    customers: &mut [(usize, HistoryIn)],
    max_events: usize,
) -> Result<Option<RecordBatch>, ServeError> {
    let Some(t) = &p.data.events else {
        return refuse_unconfigured(customers, "events", "events", |c| c.events.is_some());
    };
    let columns: Vec<&str> = [
        Some(&t.timestamp),
        t.amount.as_ref(),
        t.quantity.as_ref(),
        t.event_type.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect();
    rows_batch(
        &t.source.customer_id,
        &columns,
        customers,
        "events",
        |c| &mut c.events,
        max_events,
    )
    .map(Some)
}

/// The interactions table of the request.
fn interactions_batch(
    p: &Pipeline,
    customers: &mut [(usize, HistoryIn)],
    max_events: usize,
) -> Result<Option<RecordBatch>, ServeError> {
    let Some(t) = &p.data.interactions else {
        return refuse_unconfigured(customers, "interactions", "interactions", |c| c.interactions.is_some());
    };
    let columns: Vec<&str> = [Some(&t.timestamp), Some(&t.kind), t.score.as_ref()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    rows_batch(
        &t.source.customer_id,
        &columns,
        customers,
        "interactions",
        |c| &mut c.interactions,
        max_events,
    )
    .map(Some)
}

/// Refuses the first customer giving `list` when the pipeline has no `table` table.
fn refuse_unconfigured(
    customers: &[(usize, HistoryIn)],
    list: &str,
    table: &str,
    given: impl Fn(&HistoryIn) -> bool,
) -> Result<Option<RecordBatch>, ServeError> {
    match customers.iter().find(|(_, c)| given(c)) {
        Some((i, _)) => Err(ServeError::Field {
            field: format!("customers[{i}].{list}"),
            problem: format!("the pipeline has no {table} table"),
        }),
        None => Ok(None),
    }
}

/// A table with the id column and `columns`, one row per entry of each customer's list. Each
/// customer's list is freed as soon as its rows are in the table's columns, and the columns are
/// sized exactly, so the request's rows are held about once, not twice.
fn rows_batch(
    id_column: &str,
    columns: &[&str],
    customers: &mut [(usize, HistoryIn)],
    list: &str,
    rows_of: fn(&mut HistoryIn) -> &mut Option<Rows>,
    max_rows: usize,
) -> Result<RecordBatch, ServeError> {
    let mut total = 0;
    for (i, c) in customers.iter_mut() {
        let Some(rows) = rows_of(c) else { continue };
        if rows.len() > max_rows {
            return Err(ServeError::TooLarge(format!(
                "customers[{i}].{list}: {} rows, at most {max_rows} per customer",
                rows.len()
            )));
        }
        if let Some((j, key)) = rows.first_unknown(|key| columns.contains(&key)) {
            return Err(ServeError::Field {
                field: format!("customers[{i}].{list}[{j}].{key}"),
                problem: format!("not a column of the {list} table (columns: {})", columns.join(", ")),
            });
        }
        total += rows.len();
    }
    let mut kinds = Vec::with_capacity(columns.len());
    for name in columns {
        kinds.push(column_kind(customers, rows_of, list, name)?);
    }
    let mut ids = Int64Builder::with_capacity(total);
    let mut builders: Vec<ColumnBuilder> = kinds.iter().map(|k| ColumnBuilder::new(k, total)).collect();
    let mut text = String::new();
    for (k, (_, c)) in customers.iter_mut().enumerate() {
        let Some(rows) = rows_of(c).take() else { continue };
        ids.append_value_n(k as i64 + 1, rows.len());
        for (b, name) in builders.iter_mut().zip(columns) {
            let key = rows.key(name);
            for j in 0..rows.len() {
                b.append(rows.get(j, key), &mut text);
            }
        }
    }
    let mut fields = vec![Field::new(id_column, DataType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(ids.finish())];
    for (name, b) in columns.iter().zip(builders) {
        let array = b.finish();
        fields.push(Field::new(*name, array.data_type().clone(), true));
        arrays.push(array);
    }
    batch(fields, arrays)
}

/// How a column of JSON cells is stored, as Arrow stores what a file would: integers, numbers,
/// booleans, or text when kinds mix (ingestion coerces text as it does in files).
enum ColumnKind {
    Int,
    Float,
    Bool,
    /// With the bytes its text takes, about.
    Text(usize),
}

/// The kind of column `name` across every customer's list, or the first nested value in it.
fn column_kind(
    customers: &mut [(usize, HistoryIn)],
    rows_of: fn(&mut HistoryIn) -> &mut Option<Rows>,
    list: &str,
    name: &str,
) -> Result<ColumnKind, ServeError> {
    let (mut present, mut ints, mut numbers, mut bools, mut bytes) = (0usize, true, true, true, 0usize);
    for (i, c) in customers.iter_mut() {
        let Some(rows) = rows_of(c).as_ref() else { continue };
        let key = rows.key(name);
        for j in 0..rows.len() {
            let v = rows.get(j, key);
            if v.is_nested() {
                return Err(ServeError::Field {
                    field: format!("customers[{i}].{list}[{j}].{name}"),
                    problem: "must be a number, text, true/false or null".into(),
                });
            }
            if v.is_null() {
                continue;
            }
            present += 1;
            ints &= matches!(v, Cell::Int(_));
            numbers &= v.as_f64().is_some();
            bools &= matches!(v, Cell::Bool(_));
            bytes += match v {
                Cell::Text(s) => s.len(),
                _ => 8,
            };
        }
    }
    Ok(match (present > 0, ints, numbers, bools) {
        (true, true, _, _) => ColumnKind::Int,
        (true, _, true, _) => ColumnKind::Float,
        (true, _, _, true) => ColumnKind::Bool,
        _ => ColumnKind::Text(bytes),
    })
}

enum ColumnBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
}

impl ColumnBuilder {
    fn new(kind: &ColumnKind, rows: usize) -> ColumnBuilder {
        match kind {
            ColumnKind::Int => ColumnBuilder::Int(Int64Builder::with_capacity(rows)),
            ColumnKind::Float => ColumnBuilder::Float(Float64Builder::with_capacity(rows)),
            ColumnKind::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(rows)),
            ColumnKind::Text(bytes) => ColumnBuilder::Text(StringBuilder::with_capacity(rows, *bytes)),
        }
    }

    fn append(&mut self, v: Cell<'_>, text: &mut String) {
        match self {
            ColumnBuilder::Int(b) => b.append_option(match v {
                Cell::Int(x) => Some(x),
                _ => None,
            }),
            ColumnBuilder::Float(b) => b.append_option(v.as_f64()),
            ColumnBuilder::Bool(b) => b.append_option(match v {
                Cell::Bool(x) => Some(x),
                _ => None,
            }),
            ColumnBuilder::Text(b) => match v {
                Cell::Text(s) => b.append_value(s),
                other => {
                    text.clear();
                    if other.write_text(text) {
                        b.append_value(&*text);
                    } else {
                        b.append_null();
                    }
                }
            },
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Int(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Float(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

fn batch(fields: Vec<Field>, arrays: Vec<ArrayRef>) -> Result<RecordBatch, ServeError> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| ServeError::Field {
        field: "customers".into(),
        problem: e.to_string(),
    })
}

/// The customers table of the request: one row per customer, the attribute columns the model
/// reads typed as it read them, the excluded columns empty.
fn customers_batch(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: &[(usize, HistoryIn)],
) -> Result<Option<RecordBatch>, ServeError> {
    let Some(t) = &p.data.customers else {
        return refuse_unconfigured(customers, "attributes", "customers", |c| c.attributes.is_some());
    };
    let attributes = spec.attribute_columns();
    for (i, c) in customers {
        if let Some(key) = c
            .attributes
            .as_ref()
            .and_then(|a| a.first_unknown(|k| attributes.iter().any(|(a, _)| a == k)))
        {
            return Err(ServeError::Field {
                field: format!("customers[{i}].attributes.{key}"),
                problem: format!(
                    "not an attribute the model reads (attributes: {})",
                    attributes
                        .iter()
                        .map(|(a, _)| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    if !t.row_number_ids {
        fields.push(Field::new(&t.source.customer_id, DataType::Int64, false));
        arrays.push(Arc::new(Int64Array::from_iter_values(1..=customers.len() as i64)));
    }
    for (column, kind) in &attributes {
        let cells = customers
            .iter()
            .map(|(i, c)| (*i, c.attributes.as_ref().map_or(Cell::Null, |a| a.get(column))));
        let array = attribute_column(*kind, column, cells)?;
        fields.push(Field::new(column, array.data_type().clone(), true));
        arrays.push(array);
    }
    for column in &t.exclude {
        fields.push(Field::new(column, DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::new_null(customers.len())));
    }
    batch(fields, arrays).map(Some)
}

/// An attribute column typed as the model read it: numbers, category text, or dates.
fn attribute_column<'a>(
    kind: AttributeKind,
    column: &str,
    cells: impl Iterator<Item = (usize, Cell<'a>)>,
) -> Result<ArrayRef, ServeError> {
    let wrong = |i: usize, problem: &str| ServeError::Field {
        field: format!("customers[{i}].attributes.{column}"),
        problem: problem.to_string(),
    };
    Ok(match kind {
        AttributeKind::Numeric => Arc::new(
            cells
                .map(|(i, v)| match v {
                    Cell::Null => Ok(None),
                    Cell::Int(_) | Cell::UInt(_) | Cell::Float(_) => Ok(v.as_f64()),
                    Cell::Text(s) if s.trim().is_empty() => Ok(None),
                    Cell::Text(s) => s
                        .trim()
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| wrong(i, "must be a number or null")),
                    _ => Err(wrong(i, "must be a number or null")),
                })
                .collect::<Result<Float64Array, _>>()?,
        ),
        AttributeKind::Categorical => Arc::new(
            cells
                .map(|(i, v)| {
                    if v.is_nested() {
                        Err(wrong(i, "must be a category's text, a number, true/false or null"))
                    } else {
                        Ok(v.text())
                    }
                })
                .collect::<Result<StringArray, _>>()?,
        ),
        AttributeKind::Date => Arc::new(
            cells
                .map(|(i, v)| match v {
                    Cell::Null => Ok(None),
                    Cell::Text(s) => churnguard_ingest::parse_instant(s.trim())
                        .map(|ms| Some(ms.div_euclid(MS_PER_DAY) as i32))
                        .ok_or_else(|| wrong(i, "must be a date (YYYY-MM-DD) or null")),
                    _ => Err(wrong(i, "must be a date (YYYY-MM-DD) or null")),
                })
                .collect::<Result<Date32Array, _>>()?,
        ),
    })
}
