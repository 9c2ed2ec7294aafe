//! Customers given as raw history: their events, contacts and attributes under the pipeline's
//! own column names, read by the same ingestion and feature code as the nightly list, so an
//! answer equals the list's row for the same data and day.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, MS_PER_DAY, Pipeline};
use churnguard_features::{AttributeKind, FeatureError, FeatureSpec, customer_values, load_tables, snapshot};
use serde_json::{Map, Value};

use crate::ServeError;

/// What messages call the request's tables.
const REQUEST: &str = "request";

/// One customer's raw history, as a request gives it.
#[derive(Debug, Default)]
pub struct HistoryIn<'a> {
    /// Events, each a row of the events table by column name.
    pub events: Option<&'a [Map<String, Value>]>,
    /// Contacts, each a row of the interactions table by column name.
    pub interactions: Option<&'a [Map<String, Value>]>,
    /// The customers table's row: attribute columns by name.
    pub attributes: Option<&'a Map<String, Value>>,
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
/// request), at `as_of`, as `score` computes them. `max_events` bounds rows per customer.
pub fn features_of(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: &[(usize, HistoryIn<'_>)],
    as_of: Date,
    max_events: usize,
) -> Result<Vec<Found>, ServeError> {
    // The feature code spreads customers over rayon's threads; a request's handful of customers
    // is cheaper on this thread alone than handed to woken workers spinning beside the service's
    // own threads, or queued behind another request on a shared small pool.
    if customers.len() > ONE_THREAD_CUSTOMERS {
        return features_on_this_thread(p, spec, customers, as_of, max_events);
    }
    THIS_THREAD.with(|pool| match pool {
        Some(pool) => pool.install(|| features_on_this_thread(p, spec, customers, as_of, max_events)),
        None => features_on_this_thread(p, spec, customers, as_of, max_events),
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

fn features_on_this_thread(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: &[(usize, HistoryIn<'_>)],
    as_of: Date,
    max_events: usize,
) -> Result<Vec<Found>, ServeError> {
    // The package's features; ids are the request's own numbering, never pseudonymized.
    let mut own = Pipeline {
        features: spec.features_config(),
        ..p.clone()
    };
    own.privacy.pseudonymize = false;
    own.data.as_of = Some(as_of);
    let ids: Vec<i64> = (1..=customers.len() as i64).collect();
    let rows = [
        events_batch(&own, customers, max_events)?,
        customers_batch(&own, spec, customers)?,
        interactions_batch(&own, customers, max_events)?,
    ];
    let rejected = |e: churnguard_ingest::IngestError| ServeError::Field {
        field: "customers".into(),
        problem: churnguard_config::with_causes(&e),
    };
    let tables = churnguard_ingest::open_rows(&own, Some(as_of), rows, Path::new(REQUEST)).map_err(rejected)?;
    let h = load_tables(&own, tables, &mut |_| {}).map_err(|e| feature_error(&e))?;
    first_rejection(&h, customers)?;
    let cutoff = as_of.next_day();
    let snap = snapshot(&own, &h, spec, cutoff).map_err(|e| feature_error(&e))?;
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
fn first_rejection(h: &churnguard_features::History, customers: &[(usize, HistoryIn<'_>)]) -> Result<(), ServeError> {
    for report in &h.reports {
        let Some(example) = report.rejected.iter().find_map(|r| r.examples.first().map(|x| (r, x))) else {
            continue;
        };
        let (rejection, x) = example;
        let (list, rows): (&str, Vec<(usize, usize)>) = match report.role.as_str() {
            "events" => ("events", table_rows(customers, |c| c.events)),
            "interactions" => ("interactions", table_rows(customers, |c| c.interactions)),
            _ => ("attributes", customers.iter().map(|(i, _)| (*i, usize::MAX)).collect()),
        };
        let field = match rows.get(x.row.saturating_sub(1) as usize) {
            Some(&(i, usize::MAX)) => format!("customers[{i}].{list}.{}", x.column),
            Some(&(i, j)) => format!("customers[{i}].{list}[{j}].{}", x.column),
            None => "customers".to_string(),
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

/// (request index, row in the customer's list) of every row of one table, in table order.
fn table_rows<'a>(
    customers: &[(usize, HistoryIn<'a>)],
    list: impl Fn(&HistoryIn<'a>) -> Option<&'a [Map<String, Value>]>,
) -> Vec<(usize, usize)> {
    customers
        .iter()
        .flat_map(|(i, c)| (0..list(c).map_or(0, <[_]>::len)).map(move |j| (*i, j)))
        .collect()
}

/// The events table of the request: one row per event, the configured columns only.
fn events_batch(
    p: &Pipeline,
    customers: &[(usize, HistoryIn<'_>)],
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
        |c| c.events,
        max_events,
    )
    .map(Some)
}

/// The interactions table of the request.
fn interactions_batch(
    p: &Pipeline,
    customers: &[(usize, HistoryIn<'_>)],
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
        |c| c.interactions,
        max_events,
    )
    .map(Some)
}

/// Refuses the first customer giving `list` when the pipeline has no `table` table.
fn refuse_unconfigured(
    customers: &[(usize, HistoryIn<'_>)],
    list: &str,
    table: &str,
    given: impl Fn(&HistoryIn<'_>) -> bool,
) -> Result<Option<RecordBatch>, ServeError> {
    match customers.iter().find(|(_, c)| given(c)) {
        Some((i, _)) => Err(ServeError::Field {
            field: format!("customers[{i}].{list}"),
            problem: format!("the pipeline has no {table} table"),
        }),
        None => Ok(None),
    }
}

/// A table with the id column and `columns`, one row per entry of each customer's list.
fn rows_batch<'a>(
    id_column: &str,
    columns: &[&str],
    customers: &[(usize, HistoryIn<'a>)],
    list: &str,
    rows_of: impl Fn(&HistoryIn<'a>) -> Option<&'a [Map<String, Value>]>,
    max_rows: usize,
) -> Result<RecordBatch, ServeError> {
    let mut ids = Vec::new();
    let mut cells: Vec<Vec<(String, &Value)>> = vec![Vec::new(); columns.len()];
    for (k, (i, c)) in customers.iter().enumerate() {
        let rows = rows_of(c).unwrap_or_default();
        if rows.len() > max_rows {
            return Err(ServeError::TooLarge(format!(
                "customers[{i}].{list}: {} rows, at most {max_rows} per customer",
                rows.len()
            )));
        }
        for (j, row) in rows.iter().enumerate() {
            if let Some(key) = row.keys().find(|key| !columns.contains(&key.as_str())) {
                return Err(ServeError::Field {
                    field: format!("customers[{i}].{list}[{j}].{key}"),
                    problem: format!("not a column of the {list} table (columns: {})", columns.join(", ")),
                });
            }
            ids.push(k as i64 + 1);
            for (col, name) in cells.iter_mut().zip(columns) {
                col.push((
                    format!("customers[{i}].{list}[{j}].{name}"),
                    row.get(*name).unwrap_or(&Value::Null),
                ));
            }
        }
    }
    let mut fields = vec![Field::new(id_column, DataType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids))];
    for (name, col) in columns.iter().zip(&cells) {
        let array = json_column(col)?;
        fields.push(Field::new(*name, array.data_type().clone(), true));
        arrays.push(array);
    }
    batch(fields, arrays)
}

fn batch(fields: Vec<Field>, arrays: Vec<ArrayRef>) -> Result<RecordBatch, ServeError> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| ServeError::Field {
        field: "customers".into(),
        problem: e.to_string(),
    })
}

/// A column of JSON cells as Arrow stores what a file would: integers, numbers, text or
/// booleans; cells that mix kinds are read as text (ingestion coerces text as it does in files).
fn json_column(cells: &[(String, &Value)]) -> Result<ArrayRef, ServeError> {
    if let Some((field, _)) = cells.iter().find(|(_, v)| v.is_object() || v.is_array()) {
        return Err(ServeError::Field {
            field: field.clone(),
            problem: "must be a number, text, true/false or null".into(),
        });
    }
    let present = || cells.iter().map(|(_, v)| *v).filter(|v| !v.is_null());
    let array: ArrayRef = if present().next().is_some() && present().all(Value::is_i64) {
        Arc::new(Int64Array::from_iter(cells.iter().map(|(_, v)| v.as_i64())))
    } else if present().next().is_some() && present().all(Value::is_number) {
        Arc::new(Float64Array::from_iter(cells.iter().map(|(_, v)| v.as_f64())))
    } else if present().next().is_some() && present().all(Value::is_boolean) {
        Arc::new(BooleanArray::from_iter(cells.iter().map(|(_, v)| v.as_bool())))
    } else {
        Arc::new(StringArray::from_iter(cells.iter().map(|(_, v)| text(v))))
    };
    Ok(array)
}

/// A JSON cell as the text a CSV file would hold.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The customers table of the request: one row per customer, the attribute columns the model
/// reads typed as it read them, the excluded columns empty.
fn customers_batch(
    p: &Pipeline,
    spec: &FeatureSpec,
    customers: &[(usize, HistoryIn<'_>)],
) -> Result<Option<RecordBatch>, ServeError> {
    let Some(t) = &p.data.customers else {
        return refuse_unconfigured(customers, "attributes", "customers", |c| c.attributes.is_some());
    };
    let attributes = spec.attribute_columns();
    let empty = Map::new();
    for (i, c) in customers {
        if let Some(key) = c
            .attributes
            .unwrap_or(&empty)
            .keys()
            .find(|k| !attributes.iter().any(|(a, _)| a == *k))
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
        let cells: BTreeMap<usize, (String, &Value)> = customers
            .iter()
            .enumerate()
            .map(|(k, (i, c))| {
                let v = c.attributes.and_then(|a| a.get(column)).unwrap_or(&Value::Null);
                (k, (format!("customers[{i}].attributes.{column}"), v))
            })
            .collect();
        let array = attribute_column(*kind, cells.values())?;
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
    cells: impl Iterator<Item = &'a (String, &'a Value)>,
) -> Result<ArrayRef, ServeError> {
    let wrong = |field: &str, problem: &str| ServeError::Field {
        field: field.to_string(),
        problem: problem.to_string(),
    };
    Ok(match kind {
        AttributeKind::Numeric => Arc::new(
            cells
                .map(|(field, v)| match v {
                    Value::Null => Ok(None),
                    Value::Number(n) => Ok(n.as_f64()),
                    Value::String(s) if s.trim().is_empty() => Ok(None),
                    Value::String(s) => s
                        .trim()
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| wrong(field, "must be a number or null")),
                    _ => Err(wrong(field, "must be a number or null")),
                })
                .collect::<Result<Float64Array, _>>()?,
        ),
        AttributeKind::Categorical => Arc::new(
            cells
                .map(|(field, v)| match v {
                    Value::Object(_) | Value::Array(_) => {
                        Err(wrong(field, "must be a category's text, a number, true/false or null"))
                    }
                    other => Ok(text(other)),
                })
                .collect::<Result<StringArray, _>>()?,
        ),
        AttributeKind::Date => Arc::new(
            cells
                .map(|(field, v)| match v {
                    Value::Null => Ok(None),
                    Value::String(s) => churnguard_ingest::parse_instant(s.trim())
                        .map(|ms| Some(ms.div_euclid(MS_PER_DAY) as i32))
                        .ok_or_else(|| wrong(field, "must be a date (YYYY-MM-DD) or null")),
                    _ => Err(wrong(field, "must be a date (YYYY-MM-DD) or null")),
                })
                .collect::<Result<Date32Array, _>>()?,
        ),
    })
}
