//! The bodies of `POST /v1/score/batch`: JSON lines (one customer object per line, answers one
//! per line in the same order) and Arrow IPC streams (a column per feature, plus `id` and
//! `value`; answers as columns).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::{Answer, CustomerIn, CustomerOut};

/// The content type of JSON lines.
pub const JSON_LINES: &str = "application/x-ndjson";
/// The content type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// One customer per non-blank line, each as `POST /v1/score` takes a customer.
pub fn customers_from_lines(body: &[u8]) -> Result<Vec<CustomerIn>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8 text: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(l)).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                format!("line {}: {at}{}", i + 1, e.inner())
            })
        })
        .collect()
}

/// One answer per line, in the customers' order.
pub fn answers_lines(answers: &[Answer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(answers.len() * 256);
    for a in answers {
        // An answer is plain data: serializing it cannot fail.
        if serde_json::to_writer(&mut out, a).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// Customers from an Arrow IPC stream: a column per feature (numbers; categories as text), and
/// optional `id` and `value` columns.
pub fn customers_from_arrow(body: &[u8]) -> Result<Vec<CustomerIn>, String> {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
        .map_err(|e| format!("not an Arrow IPC stream: {e}"))?;
    let mut customers = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("the Arrow IPC stream is damaged: {e}"))?;
        let schema = batch.schema();
        let mut cells: Vec<(&str, Vec<Value>)> = Vec::with_capacity(batch.num_columns());
        for (f, col) in schema.fields().iter().zip(batch.columns()) {
            cells.push((f.name().as_str(), json_cells(f.name(), col)?));
        }
        for i in 0..batch.num_rows() {
            let mut c = CustomerIn {
                id: None,
                features: Some(BTreeMap::new()),
                events: None,
                interactions: None,
                attributes: None,
                value: None,
            };
            for (name, values) in &cells {
                let v = values[i].clone();
                match *name {
                    "id" => c.id = (!v.is_null()).then_some(v),
                    "value" => c.value = v.as_f64(),
                    feature => {
                        if let Some(map) = c.features.as_mut() {
                            map.insert(feature.to_string(), v);
                        }
                    }
                }
            }
            customers.push(c);
        }
    }
    Ok(customers)
}

/// A column's cells as JSON values: numbers, text, or null.
fn json_cells(name: &str, col: &ArrayRef) -> Result<Vec<Value>, String> {
    let number = |v: f64| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
    let cast = |to: &DataType| {
        arrow::compute::cast(col, to).map_err(|e| format!("column `{name}` of type {}: {e}", col.data_type()))
    };
    match col.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(&DataType::Utf8)?;
            Ok(text
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect())
        }
        dt if dt.is_numeric() => {
            let floats = cast(&DataType::Float64)?;
            let floats = floats.as_primitive::<arrow::datatypes::Float64Type>();
            Ok((0..floats.len())
                .map(|i| {
                    if floats.is_valid(i) {
                        number(floats.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect())
        }
        dt => Err(format!(
            "column `{name}` has type {dt}: send numbers, or text for categories"
        )),
    }
}

fn scored(a: &Answer) -> Option<&CustomerOut> {
    match a {
        Answer::Scored(c) => Some(c),
        Answer::NotScored(_) => None,
    }
}

/// The answers as one Arrow record batch in an IPC stream.
pub fn answers_arrow(answers: &[Answer]) -> Result<Vec<u8>, String> {
    let text =
        |f: &dyn Fn(&Answer) -> Option<String>| -> ArrayRef { Arc::new(StringArray::from_iter(answers.iter().map(f))) };
    let number =
        |f: &dyn Fn(&Answer) -> Option<f64>| -> ArrayRef { Arc::new(Float64Array::from_iter(answers.iter().map(f))) };
    let mut fields = vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("churn_probability", DataType::Float64, true),
        Field::new("tier", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("value_at_risk", DataType::Float64, true),
        Field::new("action", DataType::Utf8, true),
        Field::new("action_rule", DataType::Utf8, true),
    ];
    let id_text = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let mut columns = vec![
        text(&|a| match a {
            Answer::Scored(c) => id_text(&c.id),
            Answer::NotScored(n) => id_text(&n.id),
        }),
        text(&|a| {
            Some(match a {
                Answer::Scored(c) => c.status.to_string(),
                Answer::NotScored(n) => n.status.to_string(),
            })
        }),
        number(&|a| scored(a).map(|c| c.churn_probability)),
        text(&|a| scored(a).map(|c| c.tier.clone())),
        number(&|a| scored(a).map(|c| c.value)),
        number(&|a| scored(a).map(|c| c.value_at_risk)),
        text(&|a| scored(a).map(|c| c.action.clone())),
        text(&|a| scored(a).map(|c| c.action_rule.clone())),
    ];
    for k in 0..churnguard_infer::REASONS {
        fields.push(Field::new(format!("reason_{}", k + 1), DataType::Utf8, true));
        columns.push(text(&|a| {
            scored(a).and_then(|c| c.reasons.get(k)).map(|r| r.sentence.clone())
        }));
        fields.push(Field::new(format!("reason_{}_feature", k + 1), DataType::Utf8, true));
        columns.push(text(&|a| {
            scored(a).and_then(|c| c.reasons.get(k)).map(|r| r.feature.clone())
        }));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    drop(writer);
    Ok(out)
}
