//! Pipeline config files: TOML parsed into validated, typed settings.
//!
//! A config is read once by [`load`] (or [`parse`]) into [`Pipeline`]. Unknown keys, wrong types,
//! missing keys and impossible values are errors that name the file, the key and, where it can be
//! found, the line. Everything downstream receives a [`Pipeline`] and can trust it: checks happen
//! here, once.
//!
//! Relative table paths are resolved against the folder holding the config file, so a pipeline
//! gives the same result from any working directory.

mod data;
mod date;
mod distributed;
mod error;
mod features;
mod label;
mod monitoring;
mod raw;
mod scoring;
mod snapshots;
mod training;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use data::{
    CustomersTable, DEFAULT_BATCH_ROWS, DEFAULT_KEY_ENV, DataConfig, EventsTable, FileFormat, InteractionsTable,
    Privacy, ROW_NUMBER_ID, Role, TableSource,
};
pub use distributed::{DEFAULT_TIMEOUT_SECONDS, DistributedConfig};
pub use features::{DEFAULT_COMPLAINT_KINDS, DEFAULT_WINDOWS_DAYS, FeaturesConfig};
pub use label::{Label, label_matches};
pub use monitoring::{MonitoringConfig, RetrainingConfig};
pub use snapshots::{AliveRule, Population, Snapshots};

pub use date::{DATE_YEARS, Date, MS_PER_DAY, digits};
pub use error::{ConfigError, with_causes};
pub use scoring::{
    ActionRule, Capacity, DEFAULT_ACTIONS, HIGH_VALUE_ACTIONS, RankBy, ScoringConfig, Tier, UNKNOWN_RISK, ValueSegment,
    names_feature,
};
pub use training::{
    CalibrationMethod, ClassWeight, EvaluationConfig, ModelConfig, OutputConfig, SplitConfig, StoppingMetric,
    ThresholdStrategy, TierRule, TiersConfig, TuningConfig, TuningMethod,
};

use raw::{RawDate, RawFile};

/// The longest pipeline name: it names folders and files, whose names the file system limits.
pub const MAX_NAME_CHARS: usize = 64;
/// Whether a rejected row fails the run when `data.strict` is not given (no: rows are counted).
pub const DEFAULT_STRICT: bool = false;
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
    /// When monitoring warns and alerts, and whether scored lists are kept.
    pub monitoring: MonitoringConfig,
    /// When a retrained challenger replaces the model serving.
    pub retraining: RetrainingConfig,
    /// The workers of a data-parallel training run, when the config names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedConfig>,
}

impl Pipeline {
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
    load_with_text(path).map(|(pipeline, _)| pipeline)
}

/// [`load`], with the text it parsed: the file is read once, so what a package records (its
/// SHA-256) is what was validated, even if the file changes meanwhile.
pub fn load_with_text(path: &Path) -> Result<(Pipeline, String), ConfigError> {
    let read = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let not_config = |why: String| ConfigError::NotAConfig {
        path: path.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        return Err(not_config(
            "a pipeline config is a regular file (not a folder, pipe or device)".into(),
        ));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(not_config(format!(
            "{} bytes, more than the {MAX_CONFIG_BYTES} any pipeline config needs",
            meta.len()
        )));
    }
    // Bounded even if the file grows after the check.
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(read)?, MAX_CONFIG_BYTES + 1),
        &mut text,
    )
    .map_err(read)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(not_config(format!(
            "more than the {MAX_CONFIG_BYTES} bytes any pipeline config needs"
        )));
    }
    let pipeline = parse(&text, path)?;
    Ok((pipeline, text))
}

/// The largest pipeline config file read (a config of a few kilobytes is typical).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

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
            !name.is_empty()
                && name.len() <= MAX_NAME_CHARS
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "pipeline.name",
            || {
                format!(
                    "\"{}\" must be 1 to {MAX_NAME_CHARS} letters, digits, `-` or `_` (it names the model folder)",
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
            strict: d.strict.unwrap_or(DEFAULT_STRICT),
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
        let monitoring = self.monitoring(raw.monitoring)?;
        let retraining = self.retraining(raw.retraining)?;
        let distributed = raw.distributed.map(|d| self.distributed(d)).transpose()?;
        if distributed.is_some() {
            self.ensure(tuning.is_none(), "tuning", || {
                "tuning does not run distributed: tune on one machine (a sample of the data), then train the chosen parameters with [distributed]".into()
            })?;
        }
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
            monitoring,
            retraining,
            distributed,
        })
    }

    fn date(&self, key: &str, v: RawDate) -> Result<Date, ConfigError> {
        let text = match v {
            RawDate::Toml(dt) => dt.to_string(),
            RawDate::Text(s) => s,
        };
        let d = Date::parse_iso(text.trim())
            .ok_or_else(|| self.err(key, format!("\"{text}\" is not a date (expected YYYY-MM-DD)")))?;
        self.ensure(DATE_YEARS.contains(&d.ymd().0), key, || {
            format!(
                "{d} is outside the years {}..={} that data can hold",
                DATE_YEARS.start(),
                DATE_YEARS.end()
            )
        })?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests;
