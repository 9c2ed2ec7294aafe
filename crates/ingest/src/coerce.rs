//! Turning a source column, whatever its storage type, into the type its role needs:
//! ids as integers or text, timestamps as UTC milliseconds, numbers as `f64`, categories as text.
//!
//! A value that cannot be converted marks its row as rejected (with the reason, the column and the
//! value); a column whose storage type can never be converted is an error for the whole table.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use churnguard_config::{Date, MS_PER_DAY, digits};
use serde::Serialize;

use crate::error::ErrorKind;

/// Why a row was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The customer id is null or blank.
    MissingId,
    /// The customer id cannot be an id (a fraction, or out of range).
    BadId,
    /// The timestamp is null or blank.
    MissingTimestamp,
    /// The timestamp does not parse as a date or time.
    BadTimestamp,
    /// The timestamp parses but lies outside the years a customer's history can hold.
    TimestampOutOfRange,
    /// A number column holds text that is not a number.
    BadNumber,
    /// A second row for a customer already seen in the customers table.
    DuplicateCustomer,
}

impl Reason {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::MissingId => "missing customer id",
            Reason::BadId => "customer id is not a whole number",
            Reason::MissingTimestamp => "missing timestamp",
            Reason::BadTimestamp => "timestamp does not parse",
            Reason::TimestampOutOfRange => "timestamp before 1900 or after 2199",
            Reason::BadNumber => "not a number (or NaN, infinite, or beyond 1e15)",
            Reason::DuplicateCustomer => "duplicate customer row",
        }
    }
}

/// The first problem found on each rejected row of a batch. Rejections are rare, so the details
/// are kept sparse beside a flag per row.
pub(crate) struct Marks {
    bad: Vec<bool>,
    pub details: Vec<(usize, Reject)>,
}

/// One rejected value.
#[derive(Clone, Debug)]
pub(crate) struct Reject {
    pub reason: Reason,
    pub column: String,
    pub value: Option<String>,
}

impl Marks {
    pub fn new(n: usize) -> Self {
        Marks {
            bad: vec![false; n],
            details: Vec::new(),
        }
    }

    pub fn reject(&mut self, row: usize, reason: Reason, column: &str, value: Option<String>) {
        if !self.bad[row] {
            self.bad[row] = true;
            self.details.push((
                row,
                Reject {
                    reason,
                    column: column.to_string(),
                    value,
                },
            ));
        }
    }

    pub fn is_rejected(&self, row: usize) -> bool {
        self.bad[row]
    }

    pub fn any(&self) -> bool {
        !self.details.is_empty()
    }

    /// Which rows to keep.
    pub fn keep(&self) -> arrow::array::BooleanArray {
        self.bad.iter().map(|b| Some(!b)).collect()
    }

    /// Rejections in row order (coercions run column by column, so they arrive out of order).
    pub fn in_row_order(&mut self) -> &[(usize, Reject)] {
        self.details.sort_by_key(|(row, _)| *row);
        &self.details
    }
}

/// Customer ids of one batch, in the storage kind they arrived in.
pub(crate) enum Ids {
    Int(Int64Array),
    Text(StringArray),
}

/// How a source id column is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Whole numbers.
    Integer,
    /// Text.
    Text,
}

/// The id kind a column of this type gives, or `None` if it cannot hold ids.
pub(crate) fn id_kind(dt: &DataType) -> Option<IdKind> {
    match dt {
        dt if dt.is_integer() => Some(IdKind::Integer),
        // Integers with gaps often arrive as floats (pandas turns a null into NaN).
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(IdKind::Integer),
        dt if text_like(dt) => Some(IdKind::Text),
        _ => None,
    }
}

fn text_like(dt: &DataType) -> bool {
    match dt {
        // CSV inference types a column with no value at all as Null: read it as empty text.
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        DataType::Dictionary(_, v) => text_like(v),
        _ => false,
    }
}

fn wrong_type(column: &str, dt: &DataType, expected: &'static str) -> ErrorKind {
    ErrorKind::WrongType {
        column: column.to_string(),
        found: dt.to_string(),
        expected,
    }
}

/// Text arrays of any string layout as plain `Utf8`.
fn utf8(arr: &ArrayRef) -> Option<StringArray> {
    if !text_like(arr.data_type()) {
        return None;
    }
    match arr.data_type() {
        DataType::Utf8 => Some(arr.as_string::<i32>().clone()),
        _ => cast(arr, &DataType::Utf8).ok().map(|a| a.as_string::<i32>().clone()),
    }
}

pub(crate) fn ids(arr: &ArrayRef, column: &str, marks: &mut Marks) -> Result<Ids, ErrorKind> {
    const EXPECTED: &str = "customer ids (integers or text)";
    if let Some(s) = utf8(arr) {
        for (i, v) in s.iter().enumerate() {
            if v.is_none_or(|v| v.trim().is_empty()) {
                marks.reject(i, Reason::MissingId, column, None);
            }
        }
        return Ok(Ids::Text(s));
    }
    match arr.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let f = cast(arr, &DataType::Float64).map_err(|_| wrong_type(column, arr.data_type(), EXPECTED))?;
            let f = f.as_primitive::<arrow::datatypes::Float64Type>();
            let out: Int64Array = f
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    None => {
                        marks.reject(i, Reason::MissingId, column, None);
                        None
                    }
                    Some(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Some(x as i64),
                    Some(x) => {
                        marks.reject(i, Reason::BadId, column, Some(x.to_string()));
                        None
                    }
                })
                .collect();
            Ok(Ids::Int(out))
        }
        dt if dt.is_integer() => {
            // A safe cast turns u64 values above i64::MAX into nulls, which are then rejected.
            let safe = CastOptions {
                safe: true,
                ..Default::default()
            };
            let out = cast_with_options(arr, &DataType::Int64, &safe)
                .map_err(|_| wrong_type(column, arr.data_type(), EXPECTED))?;
            let out = out.as_primitive::<Int64Type>().clone();
            for i in (0..out.len()).filter(|_| out.null_count() > 0) {
                if out.is_null(i) {
                    let reason = if arr.is_null(i) {
                        Reason::MissingId
                    } else {
                        Reason::BadId
                    };
                    marks.reject(i, reason, column, None);
                }
            }
            Ok(Ids::Int(out))
        }
        dt => Err(wrong_type(column, dt, EXPECTED)),
    }
}

const TIMESTAMP_EXPECTED: &str = "a timestamp (timestamp, date, YYYYMMDD integer, or ISO 8601 text)";

/// Whether a column of this type can hold timestamps.
pub(crate) fn timestamp_like(dt: &DataType) -> bool {
    matches!(dt, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) || dt.is_integer() || text_like(dt)
}

/// Timestamps as UTC milliseconds. A missing value rejects the row when `required` (an event
/// time); otherwise it stays null (a date attribute of a customer).
pub(crate) fn timestamps(
    arr: &ArrayRef,
    column: &str,
    marks: &mut Marks,
    required: bool,
) -> Result<TimestampMillisecondArray, ErrorKind> {
    use arrow::datatypes::{
        Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    // Stored instants are UTC whatever the zone annotation says, so only the unit matters; the
    // common layouts convert without a per-value branch.
    let out: TimestampMillisecondArray = match arr.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => arr
            .as_primitive::<TimestampMillisecondType>()
            .clone()
            .with_timezone_opt(None::<String>),
        DataType::Timestamp(TimeUnit::Second, _) => arr
            .as_primitive::<TimestampSecondType>()
            .unary(|v| v.saturating_mul(1000)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => arr
            .as_primitive::<TimestampMicrosecondType>()
            .unary(|v| v.div_euclid(1000)),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => arr
            .as_primitive::<TimestampNanosecondType>()
            .unary(|v| v.div_euclid(1_000_000)),
        DataType::Date32 => arr.as_primitive::<Date32Type>().unary(|d| i64::from(d) * MS_PER_DAY),
        DataType::Date64 => arr.as_primitive::<Date64Type>().unary(|v| v),
        dt if dt.is_integer() => {
            let raw = cast(arr, &DataType::Int64).map_err(|_| wrong_type(column, dt, TIMESTAMP_EXPECTED))?;
            raw.as_primitive::<Int64Type>()
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let v = v?;
                    let ms = yyyymmdd(v);
                    if ms.is_none() {
                        marks.reject(i, Reason::BadTimestamp, column, Some(v.to_string()));
                    }
                    ms
                })
                .collect()
        }
        dt => {
            let s = utf8(arr).ok_or_else(|| wrong_type(column, dt, TIMESTAMP_EXPECTED))?;
            s.iter()
                .enumerate()
                .map(|(i, v)| match v.map(str::trim) {
                    None | Some("") => None,
                    Some(t) => {
                        let ms = parse_instant(t);
                        if ms.is_none() {
                            marks.reject(i, Reason::BadTimestamp, column, Some(t.to_string()));
                        }
                        ms
                    }
                })
                .collect()
        }
    };
    let out = in_range(out, column, marks);
    if required && out.null_count() > 0 {
        for (i, v) in out.iter().enumerate() {
            if v.is_none() {
                marks.reject(i, Reason::MissingTimestamp, column, None);
            }
        }
    }
    Ok(out)
}

/// Rejects (and empties) the timestamps outside [`churnguard_config::DATE_YEARS`], naming each.
fn in_range(out: TimestampMillisecondArray, column: &str, marks: &mut Marks) -> TimestampMillisecondArray {
    let start = Date::from_ymd(*churnguard_config::DATE_YEARS.start(), 1, 1).map_or(i64::MIN, Date::start_ms);
    let end = Date::from_ymd(*churnguard_config::DATE_YEARS.end() + 1, 1, 1).map_or(i64::MAX, Date::start_ms);
    if out.iter().flatten().all(|v| (start..end).contains(&v)) {
        return out;
    }
    out.iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v?;
            if (start..end).contains(&v) {
                return Some(v);
            }
            // A date where it is one (year 9999), else the stored number.
            let shown = if v.unsigned_abs() < 300_000_000_000_000 {
                Date::of_ms(v).to_string()
            } else {
                format!("{v} ms since 1970")
            };
            marks.reject(i, Reason::TimestampOutOfRange, column, Some(shown));
            None
        })
        .collect()
}

fn yyyymmdd(v: i64) -> Option<i64> {
    if !(10_000_101..=99_991_231).contains(&v) {
        return None;
    }
    Date::from_ymd((v / 10_000) as i32, (v / 100 % 100) as u32, (v % 100) as u32).map(Date::start_ms)
}

/// Parses `YYYYMMDD`, `YYYY-MM-DD`, or `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` with an optional `Z` or
/// `±HH[:]MM` offset, into UTC milliseconds. Times without an offset are taken as UTC.
pub fn parse_instant(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 8 {
        return yyyymmdd(i64::from(digits(b)?));
    }
    if b.len() < 10 {
        return None;
    }
    let day = Date::parse_iso(s.get(..10)?)?;
    let mut ms = day.start_ms();
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !(rest[0] == b'T' || rest[0] == b' ') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let (h, m) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
    if h > 23 || m > 59 {
        return None;
    }
    ms += i64::from(h * 3600 + m * 60) * 1000;
    let mut i = 6;
    if rest.get(i) == Some(&b':') {
        let sec = digits(rest.get(i + 1..i + 3)?)?;
        if sec > 60 {
            return None;
        }
        ms += i64::from(sec) * 1000;
        i += 3;
        if rest.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while end < rest.len() && rest[end].is_ascii_digit() {
                end += 1;
            }
            if end == start {
                return None;
            }
            // Milliseconds from the first three fractional digits, padded.
            let frac = &rest[start..end.min(start + 3)];
            let mut f = digits(frac)?;
            for _ in frac.len()..3 {
                f *= 10;
            }
            ms += i64::from(f);
            i = end;
        }
    }
    match &rest[i..] {
        [] | [b'Z'] => Some(ms),
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (oh, om) = match tz {
                [a, b, b':', c, d] | [a, b, c, d] => (digits(&[*a, *b])?, digits(&[*c, *d])?),
                [a, b] => (digits(&[*a, *b])?, 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60) * 1000;
            Some(if *sign == b'+' { ms - off } else { ms + off })
        }
        _ => None,
    }
}

const NUMBER_EXPECTED: &str = "a number (numeric, or text holding numbers)";

/// Whether a column of this type can hold numbers.
pub(crate) fn number_like(dt: &DataType) -> bool {
    dt.is_numeric() || text_like(dt)
}

/// Numbers as `f64`; blank text becomes null and is counted in `blanks`.
pub(crate) fn numbers(
    arr: &ArrayRef,
    column: &str,
    marks: &mut Marks,
    blanks: &mut u64,
) -> Result<Float64Array, ErrorKind> {
    if let Some(s) = utf8(arr) {
        let mut b = Float64Builder::with_capacity(s.len());
        for (i, v) in s.iter().enumerate() {
            match v.map(str::trim) {
                None => b.append_null(),
                Some("") => {
                    *blanks += 1;
                    b.append_null();
                }
                Some(t) => match t.parse::<f64>() {
                    Ok(x) if x.abs() <= MAX_NUMBER => b.append_value(x),
                    _ => {
                        marks.reject(i, Reason::BadNumber, column, Some(t.to_string()));
                        b.append_null();
                    }
                },
            }
        }
        return Ok(b.finish());
    }
    if !number_like(arr.data_type()) {
        return Err(wrong_type(column, arr.data_type(), NUMBER_EXPECTED));
    }
    let f = cast(arr, &DataType::Float64).map_err(|_| wrong_type(column, arr.data_type(), NUMBER_EXPECTED))?;
    let f = f.as_primitive::<arrow::datatypes::Float64Type>().clone();
    if f.iter().flatten().all(|x| x.abs() <= MAX_NUMBER) {
        return Ok(f);
    }
    // NaN, infinities and absurd magnitudes are refused as in text, whatever the file format.
    Ok(f.iter()
        .enumerate()
        .map(|(i, v)| {
            let x = v?;
            if x.abs() <= MAX_NUMBER {
                return Some(x);
            }
            marks.reject(i, Reason::BadNumber, column, Some(x.to_string()));
            None
        })
        .collect())
}

/// The largest magnitude a number of the data may have: far above any amount, small enough that
/// sums over a customer's whole history stay finite and exact to the cent.
pub const MAX_NUMBER: f64 = 1e15;

/// Whether every non-blank value of a text column is a number (a hint that it belongs in `numeric`).
pub(crate) fn all_numeric_text(s: &StringArray) -> bool {
    s.iter()
        .flatten()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|t| t.parse::<f64>().is_ok_and(f64::is_finite))
}

/// Whether a column of this type can be a category.
pub(crate) fn category_like(dt: &DataType) -> bool {
    text_like(dt) || dt.is_integer() || matches!(dt, DataType::Boolean)
}

/// Categories as text; blank text becomes null.
pub(crate) fn categories(arr: &ArrayRef, column: &str, blanks: &mut u64) -> Result<StringArray, ErrorKind> {
    let s = match utf8(arr) {
        Some(s) => s,
        None if category_like(arr.data_type()) || arr.data_type().is_floating() => cast(arr, &DataType::Utf8)
            .map_err(|_| wrong_type(column, arr.data_type(), "a category"))?
            .as_string::<i32>()
            .clone(),
        None => {
            return Err(wrong_type(
                column,
                arr.data_type(),
                "a category (text, integer or boolean)",
            ));
        }
    };
    let has_blank = s.iter().flatten().any(|v| v.trim().is_empty());
    if !has_blank {
        return Ok(s);
    }
    Ok(s.iter()
        .map(|v| match v {
            Some(t) if t.trim().is_empty() => {
                *blanks += 1;
                None
            }
            other => other,
        })
        .collect())
}

/// An array of the given ids as text, for pipelines whose tables disagree on the id kind.
pub(crate) fn ids_as_text(ids: &Int64Array) -> StringArray {
    ids.iter().map(|v| v.map(|x| x.to_string())).collect()
}

pub(crate) fn arc<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> i64 {
        Date::parse_iso(s).map(Date::start_ms).unwrap()
    }

    #[test]
    fn parses_the_accepted_timestamp_spellings() {
        assert_eq!(parse_instant("19970101"), Some(day("1997-01-01")));
        assert_eq!(parse_instant("1997-01-01"), Some(day("1997-01-01")));
        assert_eq!(parse_instant("1997-01-01T10:30"), Some(day("1997-01-01") + 37_800_000));
        assert_eq!(
            parse_instant("1997-01-01 10:30:15.25"),
            Some(day("1997-01-01") + 37_815_250)
        );
        assert_eq!(
            parse_instant("1997-01-01T10:30:00Z"),
            Some(day("1997-01-01") + 37_800_000)
        );
        assert_eq!(
            parse_instant("1997-01-01T10:30:00+02:00"),
            Some(day("1997-01-01") + 30_600_000)
        );
        assert_eq!(
            parse_instant("1997-01-01T00:30:00-0100"),
            Some(day("1997-01-01") + 5_400_000)
        );
        for bad in [
            "",
            "1997",
            "19971301",
            "1997-02-30",
            "1997-01-01T25:00",
            "1997-01-01X",
            "01/02/1997",
            "1997-01-01T10:30:00+2",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn yyyymmdd_integers_are_checked() {
        assert_eq!(yyyymmdd(19980630), Some(day("1998-06-30")));
        assert_eq!(yyyymmdd(19980631), None);
        assert_eq!(yyyymmdd(1998063), None);
    }
}
