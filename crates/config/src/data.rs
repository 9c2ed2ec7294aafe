//! The `[data]` and `[privacy]` sections: where each table is, which of its columns play which
//! part, and how ids are protected.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::raw::{RawCustomers, RawEvents, RawInteractions, RawPrivacy};
use crate::{Checker, ConfigError, Date, normalize};

/// Environment variable that holds the pseudonymization key unless `privacy.key_env` names another.
pub const DEFAULT_KEY_ENV: &str = "CHURNGUARD_PSEUDONYM_KEY";
/// Rows per batch read from a table unless `data.batch_rows` says otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;
/// What `TableSource::customer_id` says of a customers table without an id column, whose rows
/// are numbered instead.
pub const ROW_NUMBER_ID: &str = "(row number)";

/// Where the customer data lives and how strictly it is read.
#[derive(Clone, Debug, Serialize)]
pub struct DataConfig {
    /// The date the data was extracted; rows after it are reported as being in the future.
    pub as_of: Option<Date>,
    /// When true, every rejected row is an error; otherwise rejections are counted and reported.
    pub strict: bool,
    /// Rows per batch when streaming a table.
    pub batch_rows: usize,
    /// One row per purchase or usage event.
    pub events: Option<EventsTable>,
    /// One row per customer: attributes and possibly an explicit label.
    pub customers: Option<CustomersTable>,
    /// Support tickets, complaints and other contacts.
    pub interactions: Option<InteractionsTable>,
}

/// The role a table plays in a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Purchases or usage events.
    Events,
    /// One row per customer.
    Customers,
    /// Support contacts.
    Interactions,
}

impl Role {
    /// Every role, in the order tables are taken and given (`[events, customers, interactions]`).
    pub const ALL: [Role; 3] = [Role::Events, Role::Customers, Role::Interactions];

    /// The role's name as written in config keys (`data.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Events => "events",
            Role::Customers => "customers",
            Role::Interactions => "interactions",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The storage format of a table file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated text with a header row.
    Csv,
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        })
    }
}

/// Where a table is and which of its columns must never be read.
#[derive(Clone, Debug, Serialize)]
pub struct TableSource {
    /// The file, resolved against the config file's folder.
    pub path: PathBuf,
    /// Its format, given or inferred from the extension.
    pub format: FileFormat,
    /// Personal columns that are dropped before anything reads them.
    pub pii_columns: Vec<String>,
    /// The source column holding the customer id.
    pub customer_id: String,
    /// Of a partitioned table (`part=K/` folders), only these partitions are read (one worker's
    /// share, or the one partition being scored); `None`: the whole table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Vec<String>>,
}

/// Column mapping of the events table.
#[derive(Clone, Debug, Serialize)]
pub struct EventsTable {
    /// File, format, id column and PII columns.
    pub source: TableSource,
    /// Column with the event time.
    pub timestamp: String,
    /// Column with the money value of the event.
    pub amount: Option<String>,
    /// Column with the number of items.
    pub quantity: Option<String>,
    /// Column naming the kind of event (purchase, cancel, ...).
    pub event_type: Option<String>,
}

/// Column handling of the customers table.
#[derive(Clone, Debug, Serialize)]
pub struct CustomersTable {
    /// File, format, id column and PII columns.
    pub source: TableSource,
    /// Text columns that hold numbers (blank text becomes null).
    pub numeric: Vec<String>,
    /// Numeric columns that are codes, to be treated as categories.
    pub categorical: Vec<String>,
    /// Columns that are not customer attributes.
    pub exclude: Vec<String>,
    /// The table has no id column: a customer is identified by their row number (1 for the
    /// first data row). Allowed only when no other table must be joined to it.
    pub row_number_ids: bool,
}

/// Column mapping of the interactions table.
#[derive(Clone, Debug, Serialize)]
pub struct InteractionsTable {
    /// File, format, id column and PII columns.
    pub source: TableSource,
    /// Column with the interaction time.
    pub timestamp: String,
    /// Column with the kind of contact (ticket, complaint, ...).
    pub kind: String,
    /// Column with a satisfaction or severity score.
    pub score: Option<String>,
}

/// Pseudonymization of customer ids.
#[derive(Clone, Debug, Serialize)]
pub struct Privacy {
    /// Replace every customer id by a keyed hash as it is read.
    pub pseudonymize: bool,
    /// Environment variable holding the key (never the config file).
    pub key_env: String,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            pseudonymize: false,
            key_env: DEFAULT_KEY_ENV.to_string(),
        }
    }
}

impl Checker<'_> {
    pub(crate) fn source(
        &self,
        role: Role,
        path: &str,
        format: Option<&str>,
        customer_id: &str,
        pii_columns: Vec<String>,
    ) -> Result<TableSource, ConfigError> {
        let key = |k: &str| format!("data.{role}.{k}");
        self.ensure(!path.trim().is_empty(), &key("path"), || "must not be empty".into())?;
        let base = self.path.parent().unwrap_or(Path::new(""));
        let resolved = normalize(&base.join(path));
        let format = match format {
            Some("parquet") => FileFormat::Parquet,
            Some("csv") => FileFormat::Csv,
            Some(other) => {
                return Err(self.err(
                    &key("format"),
                    format!("\"{other}\" is not a known format (parquet, csv)"),
                ));
            }
            None => match Path::new(path)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("parquet" | "pq" | "parq") => FileFormat::Parquet,
                // A folder table (of Parquet files, maybe in `part=K/` partitions).
                None if resolved.is_dir() => FileFormat::Parquet,
                Some("csv") => FileFormat::Csv,
                _ => {
                    return Err(self.err(
                        &key("path"),
                        format!("cannot tell the format of \"{path}\" from its extension; set `data.{role}.format` to \"parquet\" or \"csv\""),
                    ));
                }
            },
        };
        self.column(&key("customer_id"), customer_id)?;
        for (i, c) in pii_columns.iter().enumerate() {
            self.column(&format!("{}[{i}]", key("pii_columns")), c)?;
        }
        Ok(TableSource {
            path: resolved,
            format,
            pii_columns,
            customer_id: customer_id.to_string(),
            parts: None,
        })
    }

    pub(crate) fn column(&self, key: &str, name: &str) -> Result<(), ConfigError> {
        self.ensure(!name.trim().is_empty(), key, || {
            "a column name must not be empty".into()
        })
    }

    /// Each source column may play one part only, and a PII column may play none.
    pub(crate) fn distinct(
        &self,
        role: Role,
        source: &TableSource,
        mapped: &[(&str, &str)],
    ) -> Result<(), ConfigError> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for &(k, col) in mapped {
            if let Some((other, _)) = seen.iter().find(|(_, c)| *c == col) {
                return Err(self.err(
                    &format!("data.{role}.{k}"),
                    format!("column \"{col}\" is already mapped by `data.{role}.{other}`"),
                ));
            }
            if source.pii_columns.iter().any(|p| p == col) {
                return Err(self.err(
                    &format!("data.{role}.pii_columns"),
                    format!("column \"{col}\" is listed as PII but is also mapped as `{k}`"),
                ));
            }
            seen.push((k, col));
        }
        Ok(())
    }

    pub(crate) fn events(&self, t: RawEvents) -> Result<EventsTable, ConfigError> {
        let source = self.source(
            Role::Events,
            &t.path,
            t.format.as_deref(),
            &t.customer_id,
            t.pii_columns,
        )?;
        self.column("data.events.timestamp", &t.timestamp)?;
        let mut mapped = vec![
            ("customer_id", t.customer_id.as_str()),
            ("timestamp", t.timestamp.as_str()),
        ];
        for (k, v) in [
            ("amount", &t.amount),
            ("quantity", &t.quantity),
            ("event_type", &t.event_type),
        ] {
            if let Some(c) = v {
                self.column(&format!("data.events.{k}"), c)?;
                mapped.push((k, c));
            }
        }
        self.distinct(Role::Events, &source, &mapped)?;
        Ok(EventsTable {
            source,
            timestamp: t.timestamp,
            amount: t.amount,
            quantity: t.quantity,
            event_type: t.event_type,
        })
    }

    pub(crate) fn customers(&self, t: RawCustomers, joined: bool) -> Result<CustomersTable, ConfigError> {
        let row_number_ids = t.customer_id.is_none();
        self.ensure(!(row_number_ids && joined), "data.customers.customer_id", || {
            "is required when the pipeline has events or interactions: it joins their rows to the customers".into()
        })?;
        let customer_id = t.customer_id.unwrap_or_else(|| ROW_NUMBER_ID.to_string());
        let source = self.source(
            Role::Customers,
            &t.path,
            t.format.as_deref(),
            &customer_id,
            t.pii_columns,
        )?;
        let mut seen = BTreeSet::new();
        for (k, list) in [
            ("numeric", &t.numeric),
            ("categorical", &t.categorical),
            ("exclude", &t.exclude),
        ] {
            for (i, c) in list.iter().enumerate() {
                let key = format!("data.customers.{k}[{i}]");
                self.column(&key, c)?;
                self.ensure(*c != customer_id || row_number_ids, &key, || {
                    format!("\"{c}\" is the customer id column, not an attribute")
                })?;
                self.ensure(!source.pii_columns.contains(c), &key, || {
                    format!("\"{c}\" is listed in `data.customers.pii_columns`; it is never read")
                })?;
                self.ensure(seen.insert(c.clone()), &key, || {
                    format!("\"{c}\" is listed twice in numeric/categorical/exclude")
                })?;
            }
        }
        Ok(CustomersTable {
            source,
            numeric: t.numeric,
            categorical: t.categorical,
            exclude: t.exclude,
            row_number_ids,
        })
    }

    pub(crate) fn interactions(&self, t: RawInteractions) -> Result<InteractionsTable, ConfigError> {
        let source = self.source(
            Role::Interactions,
            &t.path,
            t.format.as_deref(),
            &t.customer_id,
            t.pii_columns,
        )?;
        self.column("data.interactions.timestamp", &t.timestamp)?;
        self.column("data.interactions.kind", &t.kind)?;
        let mut mapped = vec![
            ("customer_id", t.customer_id.as_str()),
            ("timestamp", t.timestamp.as_str()),
            ("kind", t.kind.as_str()),
        ];
        if let Some(c) = &t.score {
            self.column("data.interactions.score", c)?;
            mapped.push(("score", c));
        }
        self.distinct(Role::Interactions, &source, &mapped)?;
        Ok(InteractionsTable {
            source,
            timestamp: t.timestamp,
            kind: t.kind,
            score: t.score,
        })
    }

    pub(crate) fn privacy(&self, raw: Option<RawPrivacy>) -> Result<Privacy, ConfigError> {
        let raw = raw.unwrap_or(RawPrivacy {
            pseudonymize: None,
            key_env: None,
        });
        let d = Privacy::default();
        let key_env = raw.key_env.unwrap_or(d.key_env);
        self.ensure(
            !key_env.is_empty() && key_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "privacy.key_env",
            || format!("\"{key_env}\" is not an environment variable name (the key itself never goes in the config)"),
        )?;
        Ok(Privacy {
            pseudonymize: raw.pseudonymize.unwrap_or(d.pseudonymize),
            key_env,
        })
    }
}
