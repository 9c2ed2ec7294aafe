//! Labelled feature rows gathered from snapshots into one contiguous column-major matrix, the shape
//! LightGBM bins without a further copy, and the customer-level assignment to training,
//! validation, test and folds.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int8Array};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use churnguard_eval::mix;

use crate::TrainError;

/// Labelled rows: features column after column, one label and one customer key per row.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Column-major features: `cols` runs of `rows` values.
    pub values: Vec<f64>,
    /// Number of rows.
    pub rows: usize,
    /// Number of features.
    pub cols: usize,
    /// 1.0 churned, 0.0 stayed.
    pub labels: Vec<f32>,
    /// A stable key of each row's customer (the same customer has the same key in every snapshot).
    pub customers: Vec<u64>,
}

impl Rows {
    /// The label of each row as a churn flag.
    pub fn churned(&self) -> Vec<bool> {
        self.labels.iter().map(|&l| l > 0.5).collect()
    }

    /// Number of churners.
    pub fn churners(&self) -> usize {
        self.labels.iter().filter(|&&l| l > 0.5).count()
    }

    /// Feature `j` of every row.
    pub fn column(&self, j: usize) -> &[f64] {
        &self.values[j * self.rows..(j + 1) * self.rows]
    }

    /// The rows for which `keep` is true, in order.
    pub fn select(&self, keep: &[bool]) -> Rows {
        let rows = keep.iter().filter(|&&k| k).count();
        let mut values = Vec::with_capacity(rows * self.cols);
        for j in 0..self.cols {
            values.extend(self.column(j).iter().zip(keep).filter(|(_, k)| **k).map(|(v, _)| *v));
        }
        let pick = |v: &[f32]| v.iter().zip(keep).filter(|(_, k)| **k).map(|(x, _)| *x).collect();
        Rows {
            values,
            rows,
            cols: self.cols,
            labels: pick(&self.labels),
            customers: self
                .customers
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(c, _)| *c)
                .collect(),
        }
    }
}

/// The rows of a snapshot batch that [`gather`] keeps: labelled, and `keep(customer key)`.
pub fn kept_rows(batch: &RecordBatch, keep: &dyn Fn(u64) -> bool) -> Result<Vec<usize>, TrainError> {
    let keys = customer_keys(batch.column(0))?;
    let label = label_column(batch)?;
    Ok(keys
        .into_iter()
        .enumerate()
        .filter(|&(i, key)| label.is_valid(i) && keep(key))
        .map(|(i, _)| i)
        .collect())
}

/// Gathers the labelled rows of snapshot batches (customer id, cutoff, `features` columns, label)
/// for which `keep(customer key)` holds. Unlabelled rows are left out.
pub fn gather(batches: &[&RecordBatch], features: usize, keep: &dyn Fn(u64) -> bool) -> Result<Rows, TrainError> {
    let mut picked: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut labels = Vec::new();
    let mut customers = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        if batch.num_columns() != features + 3 {
            return Err(TrainError::Internal(format!(
                "a snapshot has {} columns, expected {}",
                batch.num_columns(),
                features + 3
            )));
        }
        let keys = customer_keys(batch.column(0))?;
        let label = label_column(batch)?;
        let rows = kept_rows(batch, keep)?;
        for &i in &rows {
            labels.push(f32::from(label.value(i)));
            customers.push(keys[i]);
        }
        picked.push((b, rows));
    }
    let n = labels.len();
    let mut values = Vec::with_capacity(n * features);
    for j in 0..features {
        for (b, rows) in &picked {
            let col = feature_column(batches[*b], j + 2)?;
            values.extend(
                rows.iter()
                    .map(|&i| if col.is_null(i) { f64::NAN } else { col.value(i) }),
            );
        }
    }
    Ok(Rows {
        values,
        rows: n,
        cols: features,
        labels,
        customers,
    })
}

fn label_column(batch: &RecordBatch) -> Result<&Int8Array, TrainError> {
    batch
        .columns()
        .last()
        .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
        .ok_or_else(|| TrainError::Internal("the snapshot's last column is not the Int8 label".into()))
}

fn feature_column(batch: &RecordBatch, i: usize) -> Result<&Float64Array, TrainError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| TrainError::Internal(format!("snapshot column {i} is not Float64")))
}

/// FNV-1a of some bytes: a fixed, platform-independent hash (std's hasher may change).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A key per row of a customer id column; equal ids give equal keys whatever the snapshot.
pub fn customer_keys(ids: &ArrayRef) -> Result<Vec<u64>, TrainError> {
    macro_rules! ints {
        ($t:ty) => {
            ids.as_primitive::<$t>()
                .iter()
                .map(|v| fnv(&(v.unwrap_or_default() as i64).to_le_bytes()))
                .collect()
        };
    }
    use arrow::datatypes::{Int16Type, Int32Type, Int64Type, UInt16Type, UInt32Type, UInt64Type};
    Ok(match ids.data_type() {
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        DataType::Utf8 => ids
            .as_string::<i32>()
            .iter()
            .map(|v| fnv(v.unwrap_or("").as_bytes()))
            .collect(),
        DataType::LargeUtf8 => ids
            .as_string::<i64>()
            .iter()
            .map(|v| fnv(v.unwrap_or("").as_bytes()))
            .collect(),
        DataType::Utf8View => ids
            .as_string_view()
            .iter()
            .map(|v| fnv(v.unwrap_or("").as_bytes()))
            .collect(),
        _ => {
            let f = ArrayFormatter::try_new(ids.as_ref(), &FormatOptions::default())
                .map_err(|e| TrainError::Internal(format!("customer ids: {e}")))?;
            (0..ids.len()).map(|i| fnv(f.value(i).to_string().as_bytes())).collect()
        }
    })
}

/// What a customer-level draw is for: each purpose draws independently of the others.
#[derive(Clone, Copy, Debug)]
pub enum Draw {
    /// Held out for the test (when there is no test cutoff).
    Test,
    /// Held out for early stopping.
    Validation,
    /// The fold of the tuning cross-validation.
    Fold,
}

/// The customer's position in [0, 1) for a purpose, fixed by the seed.
pub fn position(customer: u64, seed: u64, draw: Draw) -> f64 {
    let salt = match draw {
        Draw::Test => 0x7465_7374,
        Draw::Validation => 0x7661_6c69,
        Draw::Fold => 0x666f_6c64,
    };
    let z = mix(customer ^ mix(seed.wrapping_add(salt)));
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a customer is among the `fraction` of customers a customer split holds out for the
/// test: never trained on, at any cutoff. The same draw for training and for `compare`.
pub fn held_out_for_test(customer: u64, seed: u64, fraction: f64) -> bool {
    position(customer, seed, Draw::Test) < fraction
}

/// The customer's fold among `folds`.
pub fn fold_of(customer: u64, seed: u64, folds: u32) -> usize {
    ((position(customer, seed, Draw::Fold) * f64::from(folds)) as usize).min(folds as usize - 1)
}

/// Why rows sent as bytes ([`Rows::encode_into`]) could not be read back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowsDecodeError {
    /// Fewer bytes than the rows announce.
    #[error("they arrived cut short")]
    Short,
    /// A shape whose size does not fit in memory's address space: a damaged or hostile length.
    #[error("they announce an impossible shape, {rows} rows of {cols} columns")]
    Shape {
        /// Rows announced.
        rows: u64,
        /// Columns announced.
        cols: u64,
    },
}

impl Rows {
    /// Appends the rows as bytes (shape, values, labels, customers; little-endian), as
    /// distributed training sends held-out rows to rank 0.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend((self.rows as u64).to_le_bytes());
        out.extend((self.cols as u64).to_le_bytes());
        out.extend(self.values.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(self.labels.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(self.customers.iter().flat_map(|v| v.to_le_bytes()));
    }
}

/// Reads bytes in order: what [`Rows::encode_into`] and a length-prefixed header wrote.
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ByteReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, at: 0 }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RowsDecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(RowsDecodeError::Short)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next little-endian u64.
    pub fn u64(&mut self) -> Result<u64, RowsDecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    /// The next rows, every size checked before anything is allocated or read.
    pub fn rows(&mut self) -> Result<Rows, RowsDecodeError> {
        let (rows64, cols64) = (self.u64()?, self.u64()?);
        let shape = RowsDecodeError::Shape {
            rows: rows64,
            cols: cols64,
        };
        let size = |count: u64, width: u64| {
            count
                .checked_mul(width)
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| shape.clone())
        };
        let values_bytes = size(rows64.checked_mul(cols64).ok_or_else(|| shape.clone())?, 8)?;
        let (labels_bytes, customers_bytes) = (size(rows64, 4)?, size(rows64, 8)?);
        let rows = usize::try_from(rows64).map_err(|_| shape.clone())?;
        let cols = usize::try_from(cols64).map_err(|_| shape.clone())?;
        let values = self
            .take(values_bytes)?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let labels = self
            .take(labels_bytes)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let customers = self
            .take(customers_bytes)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok(Rows {
            values,
            rows,
            cols,
            labels,
            customers,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn two_rows() -> Rows {
        Rows {
            values: vec![1.0, f64::NAN, -3.5, 4.0],
            rows: 2,
            cols: 2,
            labels: vec![1.0, 0.0],
            customers: vec![7, u64::MAX],
        }
    }

    #[test]
    fn rows_come_back_as_they_were_sent() {
        let mut bytes = Vec::new();
        two_rows().encode_into(&mut bytes);
        two_rows().encode_into(&mut bytes);
        let mut r = ByteReader::new(&bytes);
        for _ in 0..2 {
            let back = r.rows().unwrap();
            let sent = two_rows();
            assert_eq!(
                (back.rows, back.cols, &back.labels, &back.customers),
                (2, 2, &sent.labels, &sent.customers)
            );
            assert_eq!(back.values[0], 1.0);
            assert!(back.values[1].is_nan());
        }
        assert_eq!(r.take(1), Err(RowsDecodeError::Short));
    }

    #[test]
    fn a_hostile_or_cut_length_is_an_error_before_anything_is_allocated() {
        let shape = |rows: u64, cols: u64| {
            let mut b = rows.to_le_bytes().to_vec();
            b.extend(cols.to_le_bytes());
            b
        };
        // rows x cols x 8 overflows: refused, never wrapped to a small size.
        let hostile = shape(1 << 62, 4);
        assert_eq!(
            ByteReader::new(&hostile).rows().err(),
            Some(RowsDecodeError::Shape { rows: 1 << 62, cols: 4 })
        );
        let hostile = shape(u64::MAX, u64::MAX);
        assert!(matches!(
            ByteReader::new(&hostile).rows(),
            Err(RowsDecodeError::Shape { .. })
        ));
        // A plausible shape with too few bytes behind it.
        let mut short = shape(1000, 3);
        short.extend([0u8; 100]);
        assert_eq!(ByteReader::new(&short).rows().err(), Some(RowsDecodeError::Short));
        // Cut inside the shape itself.
        assert_eq!(ByteReader::new(&[1, 2, 3]).rows().err(), Some(RowsDecodeError::Short));
    }
}
