//! What reading a table found: counts, rejections with examples, nulls per column, date range.
//! Serializable, so `validate --json` and later the model manifest can carry it.

use serde::Serialize;

use crate::coerce::{IdKind, Reason};

/// Progress of a read, reported after every batch.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// The table being read.
    pub role: churnguard_config::Role,
    /// Source rows read so far.
    pub rows_read: u64,
    /// Rows in the file, when known.
    pub total_rows: Option<u64>,
}

/// Rows rejected for one reason, with the first few examples.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// The reason in words.
    pub description: &'static str,
    /// How many rows.
    pub count: u64,
    /// The first rows rejected for it.
    pub examples: Vec<RejectExample>,
}

/// One rejected row.
#[derive(Clone, Debug, Serialize)]
pub struct RejectExample {
    /// 1-based data row in the file (header not counted).
    pub row: u64,
    /// The column at fault.
    pub column: String,
    /// The value at fault (never shown for id columns when ids are pseudonymized).
    pub value: Option<String>,
}

/// Nulls and type of one source column.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnReport {
    /// Name in the file.
    pub column: String,
    /// The part it plays (`customer_id`, `timestamp`, `attribute (numeric)`, ...).
    pub part: String,
    /// Storage type in the file.
    pub source_type: String,
    /// Values that are null after reading, blank text included.
    pub nulls: u64,
    /// Of those, blank text.
    pub blanks: u64,
    /// Distinct values, for categorical columns (counted up to a cap).
    pub distinct: Option<u64>,
}

/// Counts of the values of a text column (event types, interaction kinds, labels).
#[derive(Clone, Debug, Serialize)]
pub struct ValueCounts {
    /// The column.
    pub column: String,
    /// Values by descending count.
    pub counts: Vec<(String, u64)>,
    /// Rows whose value was not counted because too many distinct values were seen.
    pub other: u64,
}

/// Everything reading one table found.
#[derive(Clone, Debug, Serialize)]
pub struct TableReport {
    /// `events`, `customers` or `interactions`.
    pub role: String,
    /// The file.
    pub path: String,
    /// `parquet` or `csv`.
    pub format: String,
    /// Rows in the file.
    pub rows_read: u64,
    /// Rows passed on.
    pub rows_kept: u64,
    /// Rejected rows, by reason.
    pub rejected: Vec<Rejection>,
    /// The columns read.
    pub columns: Vec<ColumnReport>,
    /// How the source stores customer ids.
    pub id_kind: IdKind,
    /// Distinct customers among kept rows.
    pub customers: u64,
    /// Earliest timestamp (tables with timestamps).
    pub first: Option<String>,
    /// Latest timestamp.
    pub last: Option<String>,
    /// The `as_of` date the future check used.
    pub as_of: Option<String>,
    /// Kept rows dated after `as_of`.
    pub future_rows: Option<u64>,
    /// Rows with an amount of exactly zero (events with an amount column).
    pub zero_amounts: Option<u64>,
    /// Rows with a negative amount.
    pub negative_amounts: Option<u64>,
    /// Second and later rows of a customer (customers table).
    pub duplicate_customer_rows: Option<u64>,
    /// Value counts of event types, interaction kinds and labels.
    pub value_counts: Vec<ValueCounts>,
    /// PII columns present in the file, never read.
    pub dropped_pii: Vec<String>,
    /// Columns not used, with the reason.
    pub skipped_columns: Vec<(String, String)>,
    /// Suggestions for the config.
    pub hints: Vec<String>,
    /// Whether ids were replaced by pseudonyms.
    pub pseudonymized: bool,
}

impl TableReport {
    /// Total rejected rows.
    pub fn rows_rejected(&self) -> u64 {
        self.rejected.iter().map(|r| r.count).sum()
    }

    /// Rows rejected for one reason.
    pub fn rejected_for(&self, reason: Reason) -> u64 {
        self.rejected
            .iter()
            .filter(|r| r.reason == reason)
            .map(|r| r.count)
            .sum()
    }

    /// The report of one source column.
    pub fn column(&self, name: &str) -> Option<&ColumnReport> {
        self.columns.iter().find(|c| c.column == name)
    }
}
