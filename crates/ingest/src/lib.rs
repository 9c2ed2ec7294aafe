//! Reading a company's customer tables into validated, typed, pseudonymized Arrow batches.
//!
//! Three table roles, each optional (a pipeline needs events or customers): `events` (one row per
//! purchase or usage event), `customers` (one row per customer: attributes, maybe a label) and
//! `interactions` (support contacts). Columns are mapped by name from the pipeline config and
//! coerced to one layout whatever their storage type: ids as `Int64` or `Utf8`, timestamps as UTC
//! milliseconds, numbers as `Float64`, categories as `Utf8` (see [`column`] for the names).
//!
//! Files are streamed by Parquet row group or CSV chunk, so memory is bounded by the batch size.
//! Rows that cannot be used are rejected and counted by reason, with examples; `strict` mode turns
//! the first rejection into an error. Personal columns listed as PII are never read, and ids can be
//! replaced by keyed pseudonyms before any batch leaves this crate.
//!
//! Outputs go the other way through [`ParquetOut`]: a Parquet file that appears whole or not at all.

mod coerce;
mod error;
mod hive;
mod output;
mod partition;
mod pipeline;
mod pseudonym;
mod report;
mod source;
mod table;

pub use coerce::{IdKind, Reason, parse_instant};
pub use error::{DecodeCause, ErrorKind, IngestError};
pub use output::{EncodeCause, OutputError, ParquetOut, StagedFile};
pub use partition::{
    MAX_PARTS, PART_FILE, PartitionReport, PartitionedTable, part_dir, part_of, partition_pipeline, partitions,
    write_partitions,
};
pub use pipeline::{
    Progress, TableValidation, Tables, ValidationReport, open, open_rows, pseudonymizer, scan_options, validate,
};
pub use pseudonym::{KeyError, MIN_KEY_BYTES, Pseudonymizer};
pub use report::{ColumnReport, RejectExample, Rejection, TableReport, ValueCounts};
pub use source::{MAX_CSV_LINE_BYTES, PART_PREFIX, in_guarded_parquet_call, panic_message, parquet_files};
pub use table::{ScanOptions, TableReader};

/// Names of the columns in normalized batches. Attributes of the customers table keep their
/// source names.
pub mod column {
    /// Customer id (`Int64` or `Utf8`), every table.
    pub const CUSTOMER_ID: &str = "customer_id";
    /// Event or interaction time, `Timestamp(Millisecond)` UTC.
    pub const TIMESTAMP: &str = "timestamp";
    /// Money value of an event, `Float64`.
    pub const AMOUNT: &str = "amount";
    /// Items in an event, `Float64`.
    pub const QUANTITY: &str = "quantity";
    /// Kind of event, `Utf8`.
    pub const EVENT_TYPE: &str = "event_type";
    /// Kind of interaction, `Utf8`.
    pub const KIND: &str = "kind";
    /// Interaction score, `Float64`.
    pub const SCORE: &str = "score";
    /// Explicit label value of the customers table, as text.
    pub const LABEL: &str = "label";
}
