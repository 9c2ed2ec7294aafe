//! The bodies of `POST /v1/score/batch`: JSON lines (one customer object per line, answers one
//! per line in the same order) and Arrow IPC streams (a column per feature, plus `id` and
//! `value`; answers as columns).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::record_batch::RecordBatch;

use crate::body::BodyReader;
use crate::cells::{Cell, Id};
use crate::model::Features;
use crate::{Answer, CustomerIn, CustomerOut, ServeError, Served, in_time};

/// The content type of JSON lines.
pub const JSON_LINES: &str = "application/x-ndjson";
/// The content type of an Arrow IPC stream.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Customers read so far, and how many the body holds (past `most`, lines and rows are only
/// counted: a body of a million tiny customers costs no memory beyond the limit).
pub struct Read {
    /// The customers parsed, at most `most`.
    pub customers: Vec<CustomerIn>,
    /// How many the body gave.
    pub given: usize,
}

/// Customers from JSON lines as they stream in: one customer per non-blank line, each as
/// `POST /v1/score` takes a customer, parsed into compact columns line by line.
pub fn customers_from_lines(body: &mut BodyReader, most: usize, deadline: Option<Instant>) -> Result<Read, ServeError> {
    let mut lines = Lines {
        read: Read {
            customers: Vec::new(),
            given: 0,
        },
        number: 0,
        most,
    };
    // A line split across chunks waits here; a line within one chunk is parsed where it lies.
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = body.chunk().map_err(cut_off)? {
        in_time(deadline)?;
        let mut rest = &chunk[..];
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            if pending.is_empty() {
                lines.one(&rest[..n])?;
            } else {
                pending.extend_from_slice(&rest[..n]);
                lines.one(&pending)?;
                pending.clear();
                if pending.capacity() > 1 << 20 {
                    pending = Vec::new();
                }
            }
            rest = &rest[n + 1..];
        }
        pending.extend_from_slice(rest);
    }
    if !pending.is_empty() {
        lines.one(&pending)?;
    }
    Ok(lines.read)
}

fn cut_off(e: std::io::Error) -> ServeError {
    ServeError::Body(format!("the body could not be read: {e}"))
}

struct Lines {
    read: Read,
    number: usize,
    most: usize,
}

impl Lines {
    fn one(&mut self, line: &[u8]) -> Result<(), ServeError> {
        self.number += 1;
        let n = self.number;
        let text = std::str::from_utf8(line)
            .map_err(|e| ServeError::Body(format!("line {n}: the body is not UTF-8 text: {e}")))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.trim().is_empty() {
            return Ok(());
        }
        self.read.given += 1;
        if self.read.given > self.most {
            return Ok(());
        }
        let customer =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                ServeError::Body(format!("line {n}: {at}{}", e.inner()))
            })?;
        self.read.customers.push(customer);
        Ok(())
    }
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

/// Customers from an Arrow IPC stream as its batches arrive: a column per feature (numbers;
/// categories as text), and optional `id` and `value` columns. Each row becomes its feature
/// vector in `served`'s order at once; an error names the row as `customers[i]`.
pub fn customers_from_arrow(
    body: &mut BodyReader,
    served: &Served,
    most: usize,
    deadline: Option<Instant>,
) -> Result<Read, ServeError> {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::with_capacity(1 << 16, body), None)
        .map_err(|e| ServeError::Body(format!("not an Arrow IPC stream: {e}")))?;
    let mut read = Read {
        customers: Vec::new(),
        given: 0,
    };
    for batch in reader {
        let batch = batch.map_err(|e| ServeError::Body(format!("the Arrow IPC stream is damaged: {e}")))?;
        in_time(deadline)?;
        let schema = batch.schema();
        let mut columns: Vec<(&str, Column)> = Vec::with_capacity(batch.num_columns());
        for (f, col) in schema.fields().iter().zip(batch.columns()) {
            columns.push((f.name().as_str(), Column::of(f.name(), col)?));
        }
        for i in 0..batch.num_rows() {
            let c = read.given;
            read.given += 1;
            if c >= most {
                continue;
            }
            let mut id = None;
            let mut value = None;
            for (name, col) in &columns {
                match (*name, col.cell(i)) {
                    ("id", Cell::Text(s)) => id = Some(Id::Text(s.into())),
                    ("id", Cell::Float(v)) => id = Some(Id::Float(v)),
                    ("value", v) => value = v.as_f64(),
                    _ => {}
                }
            }
            let features = columns
                .iter()
                .filter(|(name, _)| !matches!(*name, "id" | "value"))
                .map(|(name, col)| (*name, col.cell(i)));
            let features = served.vector_of(c, features)?;
            read.customers.push(CustomerIn {
                id,
                features: Some(Features::ordered(features)),
                events: None,
                interactions: None,
                attributes: None,
                value,
            });
        }
    }
    Ok(read)
}

/// An Arrow column as cells: text, or numbers (NaN and infinities are missing, as JSON has
/// no word for them).
enum Column {
    Text(StringArray),
    Number(Float64Array),
}

impl Column {
    fn of(name: &str, col: &ArrayRef) -> Result<Column, ServeError> {
        let cast = |to: &DataType| {
            arrow::compute::cast(col, to)
                .map_err(|e| ServeError::Body(format!("column `{name}` of type {}: {e}", col.data_type())))
        };
        match col.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Ok(Column::Text(cast(&DataType::Utf8)?.as_string::<i32>().clone()))
            }
            dt if dt.is_numeric() => Ok(Column::Number(
                cast(&DataType::Float64)?.as_primitive::<Float64Type>().clone(),
            )),
            dt => Err(ServeError::Body(format!(
                "column `{name}` has type {dt}: send numbers, or text for categories"
            ))),
        }
    }

    fn cell(&self, i: usize) -> Cell<'_> {
        match self {
            Column::Text(a) if a.is_valid(i) => Cell::Text(a.value(i)),
            Column::Number(a) if a.is_valid(i) && a.value(i).is_finite() => Cell::Float(a.value(i)),
            _ => Cell::Null,
        }
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
    let id_text = |v: &Option<Id>| v.as_ref().map(Id::text);
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
