//! Pipeline config files: TOML parsed into validated, typed settings.
//!
//! A config is read once by [`load`] (or [`parse`]) into [`Pipeline`]. Unknown keys, wrong types,
//! missing keys and impossible values are errors that name the file, the key and, where it can be
//! found, the line. Everything downstream receives a [`Pipeline`] and can trust it: checks happen
//! here, once.
//!
//! Relative table paths are resolved against the folder holding the config file, so a pipeline
//! gives the same result from any working directory.

mod date;
mod error;
mod raw;
mod scoring;
mod training;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use date::{Date, MS_PER_DAY, digits};
pub use error::ConfigError;
pub use scoring::{ActionRule, DEFAULT_ACTIONS, RankBy, ScoringConfig, Tier};
pub use training::{
    CalibrationMethod, ClassWeight, EvaluationConfig, ModelConfig, OutputConfig, SplitConfig, StoppingMetric,
    ThresholdStrategy, TierRule, TiersConfig, TuningConfig, TuningMethod,
};

use raw::{
    RawCustomers, RawDate, RawEvents, RawFeatures, RawFile, RawInteractions, RawLabel, RawPrivacy, RawSnapshots,
};

/// Environment variable that holds the pseudonymization key unless `privacy.key_env` names another.
pub const DEFAULT_KEY_ENV: &str = "CHURNGUARD_PSEUDONYM_KEY";
/// Rows per batch read from a table unless `data.batch_rows` says otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;
/// What `TableSource::customer_id` says of a customers table without an id column, whose rows
/// are numbered instead.
pub const ROW_NUMBER_ID: &str = "(row number)";
/// Seed used when `pipeline.seed` is not given.
pub const DEFAULT_SEED: u64 = 42;

/// A validated pipeline config.
#[derive(Clone, Debug, Serialize)]
pub struct Pipeline {
    /// The pipeline's name, used for its model folder: letters, digits, `-` and `_`.
    pub name: String,
    /// Seed for every random choice the pipeline makes.
    pub seed: u64,
    /// Free text describing the pipeline.
    pub description: Option<String>,
    /// The config file this was read from.
    pub file: PathBuf,
    /// The input tables and how to read them.
    pub data: DataConfig,
    /// Pseudonymization of customer ids.
    pub privacy: Privacy,
    /// The churn definition, when the config gives one.
    pub label: Option<Label>,
    /// The cutoff dates of training and test snapshots.
    pub snapshots: Snapshots,
    /// Which features to compute.
    pub features: FeaturesConfig,
    /// LightGBM settings.
    pub model: ModelConfig,
    /// How customers are held out for validation and test.
    pub split: SplitConfig,
    /// Evaluation settings.
    pub evaluation: EvaluationConfig,
    /// Risk tiers.
    pub tiers: TiersConfig,
    /// Hyper-parameter search, when the config asks for one.
    pub tuning: Option<TuningConfig>,
    /// Where model packages go.
    pub output: OutputConfig,
    /// How risk lists are valued, ranked and given actions.
    pub scoring: ScoringConfig,
}

/// Default feature windows, in days.
pub const DEFAULT_WINDOWS_DAYS: [u32; 3] = [30, 90, 180];
/// Default interaction kinds that count as complaints.
pub const DEFAULT_COMPLAINT_KINDS: [&str; 1] = ["complaint"];

/// Cutoff dates: each defines one snapshot, one row per customer known at that date.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshots {
    /// Training cutoffs in increasing order (a list, or every N days between two dates).
    pub train_cutoffs: Vec<Date>,
    /// The out-of-time evaluation cutoff.
    pub test_cutoff: Option<Date>,
    /// Keep only customers with an event in the last N days before the cutoff.
    pub active_within_days: Option<u32>,
    /// Who a snapshot holds (default: the customers still with us).
    pub population: Population,
    /// For an inactivity label: days without an event after which a customer has already
    /// churned at a cutoff (default: the label's horizon).
    pub alive_within_days: Option<u32>,
}

/// Who a snapshot (for training, test and the scored list) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Population {
    /// Customers the label's own definition does not already count as gone: for `inactivity`,
    /// an event in the window before the cutoff; for `event`, no churn event before it. The
    /// already-churned go to the win-back list.
    #[default]
    Alive,
    /// Every customer with history, the already-churned included.
    Everyone,
}

/// Whether a customer is still with us at a cutoff, by the label's own definition.
#[derive(Clone, Debug, PartialEq)]
pub enum AliveRule {
    /// Every customer counts (population `everyone`, or a label with no notion of leaving).
    Everyone,
    /// An event in the `days` before the cutoff.
    ActiveWithin {
        /// The window, days.
        days: u32,
    },
    /// No event of this type before the cutoff.
    NoEventBefore {
        /// The churn event's type.
        event_type: String,
    },
}

/// Feature settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeaturesConfig {
    /// Look-back windows for counts, sums, active days and trends, increasing.
    pub windows_days: Vec<u32>,
    /// Interaction kinds that count as complaints.
    pub complaint_kinds: Vec<String>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            windows_days: DEFAULT_WINDOWS_DAYS.to_vec(),
            complaint_kinds: DEFAULT_COMPLAINT_KINDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

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

/// The churn definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Label {
    /// Churned if no event falls in `[cutoff, cutoff + horizon_days)`.
    Inactivity {
        /// Length of the look-ahead window.
        horizon_days: u32,
    },
    /// Churned if the customers table's `column` equals `positive`.
    Column {
        /// The label column of the customers table.
        column: String,
        /// The value meaning "churned", as text (`"Yes"`, `"1"`, `"true"`).
        positive: String,
    },
    /// Churned if an event of type `event_type` falls in the horizon.
    Event {
        /// The value of the events' `event_type` column that means churn.
        event_type: String,
        /// Length of the look-ahead window.
        horizon_days: u32,
    },
}

/// Whether a label cell means churned: the same text, or the same number or truth value
/// (`1`, `1.0` and `true` all match `positive = 1` or `positive = true`).
pub fn label_matches(cell: &str, positive: &str) -> bool {
    let (cell, positive) = (cell.trim(), positive.trim());
    if cell == positive {
        return true;
    }
    let truth = |s: &str| match s.to_ascii_lowercase().as_str() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        other => other.parse::<f64>().ok(),
    };
    matches!((truth(cell), truth(positive)), (Some(a), Some(b)) if a == b)
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Inactivity { horizon_days } => {
                write!(f, "churned = no event in the {horizon_days} days after the cutoff")
            }
            Label::Column { column, positive } => write!(f, "churned = `{column}` is \"{positive}\""),
            Label::Event {
                event_type,
                horizon_days,
            } => write!(
                f,
                "churned = a \"{event_type}\" event in the {horizon_days} days after the cutoff"
            ),
        }
    }
}

impl Pipeline {
    /// Who counts as still with us at a cutoff: the rule the population and the win-back list
    /// follow.
    pub fn alive_rule(&self) -> AliveRule {
        if self.snapshots.population == Population::Everyone || self.data.events.is_none() {
            return AliveRule::Everyone;
        }
        match &self.label {
            Some(Label::Inactivity { horizon_days }) => AliveRule::ActiveWithin {
                days: self.snapshots.alive_within_days.unwrap_or(*horizon_days),
            },
            Some(Label::Event { event_type, .. }) => AliveRule::NoEventBefore {
                event_type: event_type.clone(),
            },
            _ => AliveRule::Everyone,
        }
    }

    /// The tables configured, in a fixed order.
    pub fn tables(&self) -> Vec<(Role, &TableSource)> {
        let d = &self.data;
        let mut out = Vec::new();
        if let Some(t) = &d.events {
            out.push((Role::Events, &t.source));
        }
        if let Some(t) = &d.customers {
            out.push((Role::Customers, &t.source));
        }
        if let Some(t) = &d.interactions {
            out.push((Role::Interactions, &t.source));
        }
        out
    }
}

/// Reads and validates a pipeline config file.
pub fn load(path: &Path) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Validates config text as if read from `path` (which names it in errors and anchors relative
/// table paths).
pub fn parse(text: &str, path: &Path) -> Result<Pipeline, ConfigError> {
    let raw = deserialize(text, path)?;
    Checker { text, path }.pipeline(raw)
}

fn deserialize(text: &str, path: &Path) -> Result<RawFile, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // For an unknown key the path already ends with the key itself.
        let key = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().replace("field", "key");
        ConfigError::Key {
            path: path.to_path_buf(),
            line: inner.span().map(|s| line_of(text, s.start)),
            key,
            message,
        }
    })
}

/// Folds `.` and `..` without touching the file system, so messages show `data/x.parquet`
/// rather than `pipelines/../data/x.parquet`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds the line where a dotted key is set, for messages about values that parsed but are
/// impossible. Handles `[table]` headers and `key = value` lines, which is how configs are written.
fn locate(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = h.trim().to_string();
            if current == key {
                return Some(i + 1);
            }
        } else if current == table
            && line
                .split('=')
                .next()
                .is_some_and(|k| k.trim() == leaf && line.contains('='))
        {
            return Some(i + 1);
        }
    }
    None
}

struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Checker<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.to_path_buf(),
            line: locate(self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn ensure(&self, ok: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), ConfigError> {
        if ok { Ok(()) } else { Err(self.err(key, message())) }
    }

    fn pipeline(&self, raw: RawFile) -> Result<Pipeline, ConfigError> {
        let p = raw.pipeline;
        let name = p.name.trim().to_string();
        self.ensure(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "pipeline.name",
            || {
                format!(
                    "\"{}\" must be letters, digits, `-` or `_` (it names the model folder)",
                    p.name
                )
            },
        )?;
        let seed = match p.seed {
            None => DEFAULT_SEED,
            Some(s) => {
                u64::try_from(s).map_err(|_| self.err("pipeline.seed", format!("must be 0 or more, got {s}")))?
            }
        };
        let d = raw.data;
        let as_of = d.as_of.map(|v| self.date("data.as_of", v)).transpose()?;
        let batch_rows = match d.batch_rows {
            None => DEFAULT_BATCH_ROWS,
            Some(n) if (1..=10_000_000).contains(&n) => n as usize,
            Some(n) => return Err(self.err("data.batch_rows", format!("must be between 1 and 10000000, got {n}"))),
        };
        self.ensure(d.events.is_some() || d.customers.is_some(), "data", || {
            "a pipeline needs [data.events] or [data.customers] (or both)".into()
        })?;
        let joined = d.events.is_some() || d.interactions.is_some();
        let data = DataConfig {
            as_of,
            strict: d.strict.unwrap_or(false),
            batch_rows,
            events: d.events.map(|t| self.events(t)).transpose()?,
            customers: d.customers.map(|t| self.customers(t, joined)).transpose()?,
            interactions: d.interactions.map(|t| self.interactions(t)).transpose()?,
        };
        let privacy = self.privacy(raw.privacy)?;
        let label = raw.label.map(|l| self.label(l, &data)).transpose()?;
        let snapshots = raw
            .snapshots
            .map(|s| self.snapshots(s))
            .transpose()?
            .unwrap_or_default();
        let features = raw.features.map(|f| self.features(f)).transpose()?.unwrap_or_default();
        let model = raw.model.map(|m| self.model(m)).transpose()?.unwrap_or_default();
        let split = raw.split.map(|s| self.split(s)).transpose()?.unwrap_or_default();
        let evaluation = raw
            .evaluation
            .map(|e| self.evaluation(e))
            .transpose()?
            .unwrap_or_default();
        let tiers = raw.tiers.map(|t| self.tiers(t)).transpose()?.unwrap_or_default();
        let tuning = raw.tuning.map(|t| self.tuning(t)).transpose()?;
        let output = raw.output.map(|o| self.output(o)).transpose()?.unwrap_or_default();
        let scoring = self.scoring(raw.scoring, label.as_ref())?;
        Ok(Pipeline {
            name,
            seed,
            description: p.description,
            file: self.path.to_path_buf(),
            data,
            privacy,
            label,
            snapshots,
            features,
            model,
            split,
            evaluation,
            tiers,
            tuning,
            output,
            scoring,
        })
    }

    fn snapshots(&self, s: RawSnapshots) -> Result<Snapshots, ConfigError> {
        let mut train = Vec::new();
        if let Some(list) = s.train_cutoffs {
            for (i, d) in list.into_iter().enumerate() {
                train.push(self.date(&format!("snapshots.train_cutoffs[{i}]"), d)?);
            }
        }
        match (s.every_days, s.from, s.to) {
            (None, None, None) => {}
            (Some(every), Some(from), Some(to)) => {
                self.ensure(train.is_empty(), "snapshots.every_days", || {
                    "give either `train_cutoffs` or `every_days` with `from` and `to`, not both".into()
                })?;
                self.ensure((1..=3650).contains(&every), "snapshots.every_days", || {
                    format!("must be between 1 and 3650, got {every}")
                })?;
                let (from, to) = (self.date("snapshots.from", from)?, self.date("snapshots.to", to)?);
                self.ensure(from <= to, "snapshots.to", || {
                    format!("{to} is before `snapshots.from` {from}")
                })?;
                let mut d = from;
                while d <= to {
                    train.push(d);
                    d = Date::from_days(d.days() + every as i32);
                }
            }
            _ => {
                return Err(self.err(
                    "snapshots.every_days",
                    "`every_days`, `from` and `to` go together: give all three",
                ));
            }
        }
        let sorted = train.windows(2).all(|w| w[0] < w[1]);
        self.ensure(sorted, "snapshots.train_cutoffs", || {
            "must be distinct dates in increasing order".into()
        })?;
        let test_cutoff = s
            .test_cutoff
            .map(|d| self.date("snapshots.test_cutoff", d))
            .transpose()?;
        if let (Some(t), Some(last)) = (test_cutoff, train.last()) {
            self.ensure(t > *last, "snapshots.test_cutoff", || {
                format!("{t} must come after the last training cutoff {last} (the test is out of time)")
            })?;
        }
        let active_within_days = match s.active_within_days {
            None => None,
            Some(n) if (1..=3650).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(self.err(
                    "snapshots.active_within_days",
                    format!("must be between 1 and 3650, got {n}"),
                ));
            }
        };
        let population = match s.population.as_deref() {
            None => Population::default(),
            Some("alive") => Population::Alive,
            Some("everyone") => Population::Everyone,
            Some(other) => {
                return Err(self.err(
                    "snapshots.population",
                    format!("\"{other}\" is not a population (alive, everyone)"),
                ));
            }
        };
        let alive_within_days = match s.alive_within_days {
            None => None,
            Some(n) if (1..=3650).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(self.err(
                    "snapshots.alive_within_days",
                    format!("must be between 1 and 3650, got {n}"),
                ));
            }
        };
        Ok(Snapshots {
            train_cutoffs: train,
            test_cutoff,
            active_within_days,
            population,
            alive_within_days,
        })
    }

    fn features(&self, f: RawFeatures) -> Result<FeaturesConfig, ConfigError> {
        let mut out = FeaturesConfig::default();
        if let Some(w) = f.windows_days {
            self.ensure(!w.is_empty() && w.len() <= 8, "features.windows_days", || {
                "give between 1 and 8 windows".into()
            })?;
            let mut days = Vec::with_capacity(w.len());
            for (i, d) in w.into_iter().enumerate() {
                let key = format!("features.windows_days[{i}]");
                self.ensure((1..=3650).contains(&d), &key, || {
                    format!("must be between 1 and 3650 days, got {d}")
                })?;
                days.push(d as u32);
            }
            self.ensure(days.windows(2).all(|p| p[0] < p[1]), "features.windows_days", || {
                "must be distinct and increasing".into()
            })?;
            out.windows_days = days;
        }
        if let Some(k) = f.complaint_kinds {
            out.complaint_kinds = k;
        }
        Ok(out)
    }

    fn date(&self, key: &str, v: RawDate) -> Result<Date, ConfigError> {
        let text = match v {
            RawDate::Toml(dt) => dt.to_string(),
            RawDate::Text(s) => s,
        };
        Date::parse_iso(text.trim())
            .ok_or_else(|| self.err(key, format!("\"{text}\" is not a date (expected YYYY-MM-DD)")))
    }

    fn source(
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
        })
    }

    fn column(&self, key: &str, name: &str) -> Result<(), ConfigError> {
        self.ensure(!name.trim().is_empty(), key, || {
            "a column name must not be empty".into()
        })
    }

    /// Each source column may play one part only, and a PII column may play none.
    fn distinct(&self, role: Role, source: &TableSource, mapped: &[(&str, &str)]) -> Result<(), ConfigError> {
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

    fn events(&self, t: RawEvents) -> Result<EventsTable, ConfigError> {
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

    fn customers(&self, t: RawCustomers, joined: bool) -> Result<CustomersTable, ConfigError> {
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

    fn interactions(&self, t: RawInteractions) -> Result<InteractionsTable, ConfigError> {
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

    fn privacy(&self, raw: Option<RawPrivacy>) -> Result<Privacy, ConfigError> {
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

    fn label(&self, l: RawLabel, data: &DataConfig) -> Result<Label, ConfigError> {
        let horizon = |l: &RawLabel| -> Result<u32, ConfigError> {
            match l.horizon_days {
                None => Err(self.err("label.horizon_days", format!("is required when kind = \"{}\"", l.kind))),
                Some(h) if (1..=3650).contains(&h) => Ok(h as u32),
                Some(h) => Err(self.err(
                    "label.horizon_days",
                    format!("must be between 1 and 3650 days, got {h}"),
                )),
            }
        };
        let not_for = |key: &str, present: bool| {
            self.ensure(!present, &format!("label.{key}"), || {
                format!("does not apply to kind = \"{}\"", l.kind)
            })
        };
        match l.kind.as_str() {
            "inactivity" => {
                not_for("column", l.column.is_some())?;
                not_for("positive", l.positive.is_some())?;
                not_for("event_type", l.event_type.is_some())?;
                self.ensure(data.events.is_some(), "label.kind", || {
                    "\"inactivity\" needs an events table ([data.events])".into()
                })?;
                Ok(Label::Inactivity {
                    horizon_days: horizon(&l)?,
                })
            }
            "column" => {
                not_for("horizon_days", l.horizon_days.is_some())?;
                not_for("event_type", l.event_type.is_some())?;
                self.ensure(data.customers.is_some(), "label.kind", || {
                    "\"column\" needs a customers table ([data.customers]) holding the label".into()
                })?;
                let column = l
                    .column
                    .clone()
                    .ok_or_else(|| self.err("label.column", "is required when kind = \"column\""))?;
                self.column("label.column", &column)?;
                let positive = match l.positive {
                    None => return Err(self.err("label.positive", "is required when kind = \"column\"")),
                    Some(toml::Value::String(s)) => s,
                    Some(toml::Value::Integer(i)) => i.to_string(),
                    Some(toml::Value::Boolean(b)) => b.to_string(),
                    Some(other) => {
                        return Err(self.err(
                            "label.positive",
                            format!("must be a string, integer or boolean, got {}", other.type_str()),
                        ));
                    }
                };
                if let Some(c) = &data.customers {
                    self.ensure(column != c.source.customer_id, "label.column", || {
                        "is the customer id column".into()
                    })?;
                }
                Ok(Label::Column { column, positive })
            }
            "event" => {
                not_for("column", l.column.is_some())?;
                not_for("positive", l.positive.is_some())?;
                self.ensure(
                    data.events.as_ref().is_some_and(|e| e.event_type.is_some()),
                    "label.kind",
                    || "\"event\" needs an events table with an `event_type` column (data.events.event_type)".into(),
                )?;
                let event_type = l
                    .event_type
                    .clone()
                    .ok_or_else(|| self.err("label.event_type", "is required when kind = \"event\""))?;
                Ok(Label::Event {
                    event_type,
                    horizon_days: horizon(&l)?,
                })
            }
            other => Err(self.err(
                "label.kind",
                format!("\"{other}\" is not a label kind (inactivity, column, event)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
