//! Writing generated customers as three Parquet files (and a pipeline config that reads them).
//! Files are written under temporary names and renamed at the end, so an interrupted run never
//! leaves a half-written data set behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use churnguard_ingest::{OutputError, ParquetOut};
use parquet::basic::{Compression, ZstdLevel};

use crate::{CHANNELS, Customer, PLANS, REGIONS, SynthConfig, customers};

/// Generating or writing failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The output folder or a file in it could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A Parquet file could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The request makes no sense.
    #[error("{0}")]
    Invalid(String),
}

/// What was written.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Customers written.
    pub customers: u64,
    /// Event rows (purchases and cancellations).
    pub events: u64,
    /// Purchases alone.
    pub purchases: u64,
    /// Support contacts.
    pub interactions: u64,
    /// Customers whose death falls inside the observed period.
    pub churned: u64,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// One output file and its columns.
struct Out {
    file: ParquetOut,
    schema: SchemaRef,
}

impl Out {
    fn create(dir: &Path, name: &str, fields: Vec<Field>) -> Result<Self, SynthError> {
        let schema = Arc::new(Schema::new(fields));
        let compression = Compression::ZSTD(ZstdLevel::default());
        Ok(Out {
            file: ParquetOut::create(&dir.join(name), schema.clone(), compression)?,
            schema,
        })
    }

    /// Writes one chunk of customers as one row group, which keeps the writer's buffers bounded.
    fn write(&mut self, columns: Vec<ArrayRef>) -> Result<(), SynthError> {
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| {
            SynthError::Output(OutputError::Encode {
                path: self.file.path().to_path_buf(),
                cause: e.into(),
            })
        })?;
        Ok(self.file.write(&batch)?)
    }

    fn finish(self) -> Result<PathBuf, SynthError> {
        Ok(self.file.finish()?)
    }
}

fn ts_field(name: &str) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Millisecond, None), false)
}

/// Generates the data set into `dir` (created if needed): `events.parquet`, `customers.parquet`,
/// `interactions.parquet` and `pipeline.toml`. `progress` gets the number of customers done.
pub fn generate(cfg: &SynthConfig, dir: &Path, progress: &mut dyn FnMut(u64)) -> Result<Summary, SynthError> {
    if cfg.customers == 0 {
        return Err(SynthError::Invalid("--customers must be at least 1".into()));
    }
    if !(cfg.purchase_rate_scale.is_finite() && cfg.purchase_rate_scale > 0.0 && cfg.purchase_rate_scale <= 100.0) {
        return Err(SynthError::Invalid(format!(
            "--purchase-rate-scale must be above 0 and at most 100, got {}",
            cfg.purchase_rate_scale
        )));
    }
    if cfg.end <= cfg.start {
        return Err(SynthError::Invalid(format!(
            "the period ends ({}) before it starts ({})",
            cfg.end, cfg.start
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| SynthError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut events = Out::create(
        dir,
        "events.parquet",
        vec![
            Field::new("customer_id", DataType::Int64, false),
            ts_field("timestamp"),
            Field::new("amount", DataType::Float64, false),
            Field::new("quantity", DataType::Int32, false),
            Field::new("event_type", DataType::Utf8, false),
        ],
    )?;
    let mut people = Out::create(
        dir,
        "customers.parquet",
        vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("signup_date", DataType::Date32, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ],
    )?;
    let mut contacts = Out::create(
        dir,
        "interactions.parquet",
        vec![
            Field::new("customer_id", DataType::Int64, false),
            ts_field("timestamp"),
            Field::new("kind", DataType::Utf8, false),
            Field::new("score", DataType::Int32, false),
        ],
    )?;
    let mut summary = Summary::default();
    let end_ms = cfg.end.start_ms() + churnguard_config::MS_PER_DAY;
    let mut first = 1i64;
    while (first as u64) <= cfg.customers {
        let n = (cfg.customers + 1 - first as u64).min(cfg.chunk.max(1) as u64) as usize;
        let chunk = customers(cfg, first, n);
        write_chunk(&chunk, &mut events, &mut people, &mut contacts)?;
        summary.customers += n as u64;
        for c in &chunk {
            summary.events += c.events.len() as u64;
            summary.purchases += c.events.iter().filter(|e| e.kind == "purchase").count() as u64;
            summary.interactions += c.contacts.len() as u64;
            summary.churned += u64::from(c.death_ms < end_ms);
        }
        progress(summary.customers);
        first += n as i64;
    }
    summary.files = vec![events.finish()?, people.finish()?, contacts.finish()?];
    let config = dir.join("pipeline.toml");
    std::fs::write(&config, pipeline_toml(cfg)).map_err(|source| SynthError::Io {
        path: config.clone(),
        source,
    })?;
    summary.files.push(config);
    Ok(summary)
}

fn write_chunk(chunk: &[Customer], events: &mut Out, people: &mut Out, contacts: &mut Out) -> Result<(), SynthError> {
    let ev = chunk.iter().flat_map(|c| c.events.iter().map(move |e| (c.id, e)));
    let (mut id, mut at, mut amount, mut qty, mut kind) = (vec![], vec![], vec![], vec![], vec![]);
    for (c, e) in ev {
        id.push(c);
        at.push(e.at_ms);
        amount.push(e.amount);
        qty.push(e.quantity);
        kind.push(e.kind);
    }
    events.write(vec![
        Arc::new(Int64Array::from(id)),
        Arc::new(TimestampMillisecondArray::from(at)),
        Arc::new(Float64Array::from(amount)),
        Arc::new(Int32Array::from(qty)),
        Arc::new(StringArray::from(kind)),
    ])?;
    people.write(vec![
        Arc::new(Int64Array::from_iter_values(chunk.iter().map(|c| c.id))),
        Arc::new(Date32Array::from_iter_values(chunk.iter().map(|c| c.signup.days()))),
        Arc::new(StringArray::from_iter_values(chunk.iter().map(|c| REGIONS[c.region].0))),
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|c| CHANNELS[c.channel].0),
        )),
        Arc::new(StringArray::from_iter_values(chunk.iter().map(|c| PLANS[c.plan].0))),
    ])?;
    let (mut id, mut at, mut kind, mut score) = (vec![], vec![], vec![], vec![]);
    for c in chunk {
        for x in &c.contacts {
            id.push(c.id);
            at.push(x.at_ms);
            kind.push(x.kind);
            score.push(x.score);
        }
    }
    contacts.write(vec![
        Arc::new(Int64Array::from(id)),
        Arc::new(TimestampMillisecondArray::from(at)),
        Arc::new(StringArray::from(kind)),
        Arc::new(Int32Array::from(score)),
    ])
}

fn pipeline_toml(cfg: &SynthConfig) -> String {
    format!(
        r#"# Written by `churnguard synth --customers {n} --seed {seed}`.
[pipeline]
name = "synth"
seed = {seed}

[data]
as_of = {end}

[data.events]
path = "events.parquet"
customer_id = "customer_id"
timestamp = "timestamp"
amount = "amount"
quantity = "quantity"
event_type = "event_type"

[data.customers]
path = "customers.parquet"
customer_id = "customer_id"

[data.interactions]
path = "interactions.parquet"
customer_id = "customer_id"
timestamp = "timestamp"
kind = "kind"
score = "score"

[label]
kind = "inactivity"
horizon_days = 90
"#,
        n = cfg.customers,
        seed = cfg.seed,
        end = cfg.end,
    )
}
