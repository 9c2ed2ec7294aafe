//! Runs prepared in parts (one customer partition at a time, or one worker each) joined into one:
//! the rows of each side one part after another, counts summed.

use churnguard_features::SnapshotReport;
use churnguard_package::{DataSummary, TableSummary};

use crate::pipeline::Prepared;
use crate::rows::Rows;

impl Rows {
    /// The rows of `parts` one part after another; each part is freed once copied, so memory
    /// peaks at the joined rows plus the largest part.
    pub fn join(parts: Vec<Rows>) -> Rows {
        let cols = parts.iter().map(|r| r.cols).max().unwrap_or(0);
        let rows: usize = parts.iter().map(|r| r.rows).sum();
        let mut values = vec![0.0; rows * cols];
        let mut labels = Vec::with_capacity(rows);
        let mut customers = Vec::with_capacity(rows);
        let mut offset = 0;
        for part in parts {
            if part.rows > 0 {
                for j in 0..cols {
                    values[j * rows + offset..j * rows + offset + part.rows].copy_from_slice(part.column(j));
                }
            }
            offset += part.rows;
            labels.extend_from_slice(&part.labels);
            customers.extend_from_slice(&part.customers);
        }
        Rows {
            values,
            rows,
            cols,
            labels,
            customers,
        }
    }
}

impl Prepared {
    /// The parts of one run joined: every side's rows in part order, training counts, snapshot
    /// counts and table summaries summed, the test's values and spend kept only when every part
    /// has them. `None` without parts.
    pub fn join(parts: Vec<Prepared>) -> Option<Prepared> {
        let mut parts = parts.into_iter();
        let mut first = parts.next()?;
        let (mut train, mut validation, mut test) = (
            vec![std::mem::take(&mut first.train)],
            vec![std::mem::take(&mut first.validation)],
            vec![std::mem::take(&mut first.test)],
        );
        let mut pool = first.pool.take().map(|p| vec![p]);
        for mut part in parts {
            train.push(std::mem::take(&mut part.train));
            validation.push(std::mem::take(&mut part.validation));
            test.push(std::mem::take(&mut part.test));
            pool = match (pool, part.pool.take()) {
                (Some(mut all), Some(p)) => {
                    all.push(p);
                    Some(all)
                }
                _ => None,
            };
            first.train_counts.0 += part.train_counts.0;
            first.train_counts.1 += part.train_counts.1;
            add_snapshots(&mut first.snapshots, &part.snapshots);
            add_data(&mut first.data, &part.data);
            first.test_values = concat(first.test_values.take(), part.test_values);
            first.test_spend = concat(first.test_spend.take(), part.test_spend);
        }
        first.train = Rows::join(train);
        first.validation = Rows::join(validation);
        first.test = Rows::join(test);
        first.pool = pool.map(Rows::join);
        if first.test_values.as_ref().is_some_and(|v| v.len() != first.test.rows) {
            first.test_values = None;
            first.test_spend = None;
        }
        Some(first)
    }
}

fn concat(a: Option<Vec<f64>>, b: Option<Vec<f64>>) -> Option<Vec<f64>> {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    Some(a)
}

/// Snapshot counts summed cutoff by cutoff.
fn add_snapshots(mine: &mut [SnapshotReport], theirs: &[SnapshotReport]) {
    for (a, b) in mine.iter_mut().zip(theirs) {
        a.add(b);
    }
}

/// Table summaries summed role by role, the first and last dates the widest.
fn add_data(mine: &mut DataSummary, theirs: &DataSummary) {
    mine.customers += theirs.customers;
    for t in &theirs.tables {
        match mine.tables.iter_mut().find(|m| m.role == t.role) {
            Some(m) => merge_table(m, t),
            None => mine.tables.push(t.clone()),
        }
    }
}

fn merge_table(m: &mut TableSummary, t: &TableSummary) {
    m.rows_read += t.rows_read;
    m.rows_kept += t.rows_kept;
    m.rows_rejected += t.rows_rejected;
    m.customers += t.customers;
    // ISO dates order as text.
    m.first = match (m.first.take(), t.first.clone()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    m.last = match (m.last.take(), t.last.clone()) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[f64], cols: usize, first_customer: u64) -> Rows {
        let n = values.len() / cols;
        Rows {
            values: values.to_vec(),
            rows: n,
            cols,
            labels: (0..n).map(|i| (i % 2) as f32).collect(),
            customers: (0..n as u64).map(|i| first_customer + i).collect(),
        }
    }

    #[test]
    fn joined_rows_keep_each_column_whole() {
        // Column-major: part a has rows (1, 10), (2, 20); part b has (3, 30).
        let a = rows(&[1.0, 2.0, 10.0, 20.0], 2, 0);
        let b = rows(&[3.0, 30.0], 2, 7);
        let j = Rows::join(vec![a, Rows::default(), b]);
        assert_eq!(j.rows, 3);
        assert_eq!(j.column(0), &[1.0, 2.0, 3.0]);
        assert_eq!(j.column(1), &[10.0, 20.0, 30.0]);
        assert_eq!(j.customers, vec![0, 1, 7]);
        assert_eq!(j.labels, vec![0.0, 1.0, 0.0]);
    }
}
