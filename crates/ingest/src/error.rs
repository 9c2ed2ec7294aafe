//! One error type for reading tables. Every error carries the table's role and file, so a message
//! is always of the form "events table data/x.parquet: ...", naming the column, row and value
//! where there is one.

use std::fmt;
use std::path::{Path, PathBuf};

use churnguard_config::Role;

/// A table could not be read into a usable shape.
#[derive(Debug)]
pub struct IngestError {
    /// The table's role, when the error concerns one table.
    pub role: Option<Role>,
    /// The table's file, when the error concerns one file.
    pub path: Option<PathBuf>,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// The ways reading a table can fail.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The file does not exist.
    #[error("file not found")]
    NotFound,
    /// The path names a folder, and the table's format is not Parquet.
    #[error("is a folder; only Parquet tables may be folders (of .parquet files), a CSV table is one file")]
    IsDirectory,
    /// The path is a FIFO, a device or a socket, not a file.
    #[error("not a regular file (a pipe, a device or a socket cannot be read as a table)")]
    NotARegularFile,
    /// A folder table holds no Parquet file.
    #[error("is a folder without any .parquet file; a folder table holds Parquet files (part=K/ sub-folders allowed)")]
    NoParquetFiles,
    /// One file of a folder table cannot be used.
    #[error("{}: {cause}", file.display())]
    FolderFile {
        /// The file.
        file: PathBuf,
        /// Why.
        cause: String,
    },
    /// Another table of the pipeline is partitioned (`part=K/` folders) and this one is not.
    #[error(
        "is not partitioned while another table is: every table must be split into the same part=K/ folders (churnguard partition writes them)"
    )]
    NotPartitioned,
    /// A partition another table has is missing here, or the other way round.
    #[error("has no partition part={key} matching the other tables': every table must have the same part=K/ folders")]
    PartitionMismatch {
        /// The partition found in one table only.
        key: String,
    },
    /// A number of partitions out of range.
    #[error("{parts} partitions: the number of partitions must be between 1 and {max}")]
    PartCount {
        /// Asked for.
        parts: u32,
        /// The most allowed.
        max: u32,
    },
    /// The customers table has no id column to partition by.
    #[error(
        "the customers table has no id column (data.customers.customer_id is empty): rows without ids cannot be partitioned by customer"
    )]
    PartitionWithoutIds,
    /// The partitions' folder is already in use.
    #[error("{} already exists and is not empty: partitions are written into a new or empty folder", .0.display())]
    PartitionOutExists(PathBuf),
    /// A partition's file could not be written.
    #[error("cannot write its partitions")]
    PartitionWrite(#[source] Box<crate::OutputError>),
    /// The operating system refused to read the file.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a Parquet file (or the file was cut short).
    #[error("not a readable Parquet file (is it truncated, or another format?)")]
    NotParquet(#[source] parquet::errors::ParquetError),
    /// A Parquet file of no bytes.
    #[error("not a readable Parquet file: the file is empty")]
    EmptyFile,
    /// The CSV text could not be read.
    #[error("not a readable CSV file")]
    BadCsv(#[source] arrow::error::ArrowError),
    /// Decoding failed part-way through the file.
    #[error("reading failed after {rows_read} rows")]
    Decode {
        /// Rows decoded before the failure.
        rows_read: u64,
        /// Why.
        #[source]
        cause: DecodeCause,
    },
    /// A column named in the config is not in the file.
    #[error("column `{column}` (set by `{key}`) is not in the file; its columns are: {}{}", available.join(", "), suggestion(column, available))]
    MissingColumn {
        /// The config key that names the column.
        key: String,
        /// The column asked for.
        column: String,
        /// The columns the file has.
        available: Vec<String>,
    },
    /// A column's storage type cannot be turned into what its role needs.
    #[error("column `{column}` has type {found}, which cannot be read as {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// Its type in the file.
        found: String,
        /// What its role needs.
        expected: &'static str,
    },
    /// A column has a name churnguard reserves for its own columns.
    #[error(
        "column `{column}` clashes with the name churnguard gives the {role_column}; add it to `data.customers.exclude` or rename it"
    )]
    ReservedName {
        /// The clashing column.
        column: String,
        /// Which churnguard column it clashes with.
        role_column: &'static str,
    },
    /// An attribute column's name cannot name a LightGBM feature.
    #[error(
        "column `{}` cannot be a model feature: its name holds {character:?}, which LightGBM refuses in feature names; rename it in the file or list it in `data.customers.exclude`",
        column.escape_debug()
    )]
    UnusableName {
        /// The column.
        column: String,
        /// The character at fault.
        character: char,
    },
    /// The table holds no rows.
    #[error("the table has no rows")]
    Empty,
    /// Not one timestamp could be parsed.
    #[error("no value of timestamp column `{column}` could be parsed as a date or time; first values: {}", examples.join(", "))]
    NoTimestamps {
        /// The timestamp column.
        column: String,
        /// The first values seen, quoted.
        examples: Vec<String>,
    },
    /// Every row was rejected.
    #[error("all {rows} rows were rejected: {summary}")]
    NoUsableRows {
        /// Rows read.
        rows: u64,
        /// Rejection counts by reason.
        summary: String,
    },
    /// Strict mode met a row it would otherwise reject.
    #[error(
        "row {row}: {reason} (strict mode rejects the table; set `data.strict = false` to count and skip such rows)"
    )]
    Strict {
        /// 1-based data row.
        row: u64,
        /// Why it was rejected, naming column and value.
        reason: String,
    },
    /// Pseudonymization is configured but its key's environment variable is not set.
    #[error(
        "privacy.pseudonymize is on but the environment variable {var} is not set: set it to a secret of at least {min} characters (the key never goes in the config file)"
    )]
    PseudonymKeyMissing {
        /// The variable.
        var: String,
        /// The shortest key accepted, in bytes.
        min: usize,
    },
    /// The pseudonymization key is unusable.
    #[error("the key in {var}")]
    PseudonymKey {
        /// The variable it came from.
        var: String,
        /// Why it is refused.
        #[source]
        cause: crate::pseudonym::KeyError,
    },
}

/// Why decoding stopped part-way through a table.
#[derive(Debug, thiserror::Error)]
pub enum DecodeCause {
    /// The Parquet or CSV reader's own error.
    #[error(transparent)]
    Reader(#[from] arrow::error::ArrowError),
    /// A batch lacks a column the plan reads (a bug).
    #[error("column `{0}` missing from a batch")]
    MissingColumn(String),
    /// A normalized batch has no id column (a bug).
    #[error("no id column")]
    NoIdColumn,
}

fn suggestion(column: &str, available: &[String]) -> String {
    let lower = column.to_ascii_lowercase().replace(['_', ' ', '-'], "");
    available
        .iter()
        .find(|a| a.to_ascii_lowercase().replace(['_', ' ', '-'], "") == lower)
        .map(|a| format!(" (did you mean `{a}`?)"))
        .unwrap_or_default()
}

impl IngestError {
    /// An error about one table's file.
    pub fn table(role: Role, path: &Path, kind: ErrorKind) -> Self {
        IngestError {
            role: Some(role),
            path: Some(path.to_path_buf()),
            kind,
        }
    }

    /// An error about the pipeline as a whole.
    pub fn pipeline(kind: ErrorKind) -> Self {
        IngestError {
            role: None,
            path: None,
            kind,
        }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.role, &self.path) {
            (Some(r), Some(p)) => write!(f, "{r} table {}: {}", p.display(), self.kind),
            (None, Some(p)) => write!(f, "{}: {}", p.display(), self.kind),
            _ => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for IngestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}
