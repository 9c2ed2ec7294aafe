//! Kept lists: a compact copy of every risk list `score` sends, beside the packages, so that
//! monitoring judges what the retention team actually received once its outcomes are known.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, Pipeline, Tier, UNKNOWN_RISK};
use churnguard_ingest::ParquetOut;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

use churnguard_package::LISTS;

use crate::output::OutputError;
use crate::{ModelPackage, RiskList};

/// Schema metadata keys of a kept list (and of a partition list).
pub(crate) const PIPELINE: &str = "churnguard.pipeline";
pub(crate) const VERSION: &str = "churnguard.version";
pub(crate) const MODEL_SHA256: &str = "churnguard.model_sha256";
pub(crate) const AS_OF: &str = "churnguard.as_of";
/// When the list was scored (UTC, to the millisecond): lists of one date told apart.
pub(crate) const SCORED_AT: &str = "churnguard.scored_at";
/// Where ids that are row numbers count rows: the customers table (path and size).
pub(crate) const ROW_IDS: &str = "churnguard.row_ids";

/// What makes one kept list apart from every other of its date: when it was scored, and, when
/// its ids are row numbers, the table they number.
#[derive(Clone, Debug)]
pub struct KeptStamp {
    /// UTC scoring time, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub scored_at: String,
    /// The file whose rows the ids number (see [`row_ids_source`]), when they are row numbers.
    pub row_ids: Option<String>,
}

impl KeptStamp {
    /// The stamp of a list scored now for `p`.
    pub fn now(p: &Pipeline) -> KeptStamp {
        KeptStamp {
            scored_at: churnguard_package::now_utc_ms(),
            row_ids: row_ids_source(p),
        }
    }
}

/// When `p`'s customers are numbered by their row in the customers table (no id column): that
/// table as `<absolute path>; <bytes> bytes`. Outcomes can be matched to such ids only from the
/// same file.
pub fn row_ids_source(p: &Pipeline) -> Option<String> {
    let t = p.data.customers.as_ref().filter(|t| t.row_number_ids)?;
    let path = std::fs::canonicalize(&t.source.path).unwrap_or_else(|_| t.source.path.clone());
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    Some(format!("{}; {bytes} bytes", path.display()))
}

/// A list read back: who was scored on `as_of`, with what probability and rank.
#[derive(Clone, Debug)]
pub struct KeptList {
    /// The file.
    pub path: PathBuf,
    /// The pipeline it was scored for.
    pub pipeline: String,
    /// The package version that scored it.
    pub version: String,
    /// SHA-256 of that package's `model.onnx`.
    pub model_sha256: String,
    /// The scoring date.
    pub as_of: Date,
    /// When it was scored and what its ids number.
    pub stamp: KeptStamp,
    /// Customer ids, by row.
    pub ids: ArrayRef,
    /// Calibrated churn probability, by row.
    pub probabilities: Vec<f64>,
    /// Rank in the list (1 first), by row.
    pub ranks: Vec<u64>,
    /// Value at risk, by row.
    pub values_at_risk: Vec<f64>,
    /// Risk level, by row (`None`: unknown, too many inputs missing).
    pub tiers: Vec<Option<Tier>>,
}

/// Where a package's kept lists go: `lists/` in its pipeline's folder, beside the versions.
pub fn lists_dir(package: &ModelPackage) -> PathBuf {
    package
        .package
        .dir
        .parent()
        .map_or_else(|| PathBuf::from(LISTS), |d| d.join(LISTS))
}

/// The newest kept list that `package` itself scored, if any (and readable).
pub fn newest_kept_list(package: &ModelPackage) -> Option<KeptList> {
    let (lists, _) = kept_lists(&lists_dir(package), package.pipeline());
    lists
        .into_iter()
        .rev()
        .filter(|l| l.scored_by(package))
        .find_map(|l| l.read().ok())
}

/// The file a list of `version` scored on `as_of` at `stamp` is kept in: its scoring time and
/// this process in the name, so a list scored again (or by another job at once) never replaces
/// an earlier copy.
pub fn kept_path(dir: &Path, version: &str, as_of: Date, stamp: &KeptStamp) -> PathBuf {
    let digits: String = stamp.scored_at.chars().filter(char::is_ascii_digit).collect();
    let (day, time) = digits.split_at(digits.len().min(8));
    dir.join(format!(
        "risk-{as_of}-{version}-{day}T{time}Z-{}.parquet",
        std::process::id()
    ))
}

/// Keeps `list` in `dir` (created when missing), written under a temporary name and renamed.
pub fn keep_list(
    list: &RiskList,
    package: &ModelPackage,
    dir: &Path,
    stamp: &KeptStamp,
) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = kept_path(dir, package.version(), list.as_of(), stamp);
    let schema = kept_schema(list.ids.data_type(), package, list.as_of(), stamp);
    let encode = |source| OutputError::Encode {
        path: path.clone(),
        source,
    };
    let risks = &list.risks;
    let rows = UInt32Array::from_iter_values(risks.iter().map(|r| r.row as u32));
    let ids = arrow::compute::take(list.ids.as_ref(), &rows, None).map_err(encode)?;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from_iter_values(risks.iter().map(|r| r.rank))),
            ids,
            Arc::new(Float64Array::from_iter_values(risks.iter().map(|r| r.probability))),
            Arc::new(Float64Array::from_iter_values(risks.iter().map(|r| r.value_at_risk))),
            Arc::new(StringArray::from_iter_values(
                risks.iter().map(|r| Tier::name_of(r.level)),
            )),
        ],
    )
    .map_err(encode)?;
    let mut out = ParquetOut::create_with(&path, schema, Compression::SNAPPY, &KEPT_DISTINCT)?;
    out.write(&batch)?;
    out.finish()?;
    Ok(path)
}

/// Columns of a kept list written without a dictionary.
pub(crate) const KEPT_DISTINCT: [&str; 2] = ["customer_id", "churn_probability"];
/// A kept list's columns, in the order of a risk list's: rank, id, probability, value at risk, tier.
pub(crate) const KEPT_COLUMNS: [&str; 5] = ["rank", "customer_id", "churn_probability", "value_at_risk", "tier"];

/// The schema of a kept list scored by `package` on `as_of`, the header in its metadata.
pub(crate) fn kept_schema(ids: &DataType, package: &ModelPackage, as_of: Date, stamp: &KeptStamp) -> Arc<Schema> {
    let metadata: HashMap<String, String> = [
        (PIPELINE, package.pipeline()),
        (VERSION, package.version()),
        (MODEL_SHA256, package.hash()),
        (AS_OF, &as_of.to_string()),
        (SCORED_AT, &stamp.scored_at),
    ]
    .into_iter()
    .chain(stamp.row_ids.as_deref().map(|r| (ROW_IDS, r)))
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let kind = |name: &str| match name {
        "rank" => DataType::UInt64,
        "customer_id" => ids.clone(),
        "tier" => DataType::Utf8,
        _ => DataType::Float64,
    };
    let fields: Vec<Field> = KEPT_COLUMNS.iter().map(|&n| Field::new(n, kind(n), false)).collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// What a kept list's footer says of it, read without its rows.
#[derive(Clone, Debug)]
pub struct KeptHeader {
    /// The file.
    pub path: PathBuf,
    /// The pipeline it was scored for.
    pub pipeline: String,
    /// The package version that scored it.
    pub version: String,
    /// SHA-256 of that package's `model.onnx`.
    pub model_sha256: String,
    /// The scoring date.
    pub as_of: Date,
    /// When it was scored (empty for lists kept before the time was recorded) and what its
    /// ids number.
    pub stamp: KeptStamp,
}

impl KeptHeader {
    /// Whether `package` itself scored this list.
    pub fn scored_by(&self, package: &ModelPackage) -> bool {
        self.version == package.version() && self.model_sha256 == package.hash()
    }

    /// The list's rows.
    pub fn read(&self) -> Result<KeptList, String> {
        let file = std::fs::File::open(&self.path).map_err(|e| e.to_string())?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| e.to_string())?;
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| "it holds no rows".to_string())?;
        let all = arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
        let column = |name: &str| {
            all.column_by_name(name)
                .cloned()
                .ok_or_else(|| format!("it has no {name} column"))
        };
        let (ranks, ids, probabilities) = (column("rank")?, column("customer_id")?, column("churn_probability")?);
        let (values_at_risk, tiers) = (column("value_at_risk")?, column("tier")?);
        let float = |a: &ArrayRef| a.data_type() == &DataType::Float64 && a.null_count() == 0;
        if ranks.data_type() != &DataType::UInt64
            || !float(&probabilities)
            || !float(&values_at_risk)
            || tiers.data_type() != &DataType::Utf8
            || ids.null_count() > 0
        {
            return Err("its columns are not those of a kept list".into());
        }
        let tiers = tiers
            .as_string::<i32>()
            .iter()
            .map(|t| match t {
                Some(UNKNOWN_RISK) => Some(None),
                Some(t) => t.parse::<Tier>().ok().map(Some),
                None => None,
            })
            .collect::<Option<Vec<Option<Tier>>>>()
            .ok_or_else(|| "a row's risk level is not high, medium, low or unknown".to_string())?;
        Ok(KeptList {
            path: self.path.clone(),
            pipeline: self.pipeline.clone(),
            version: self.version.clone(),
            model_sha256: self.model_sha256.clone(),
            as_of: self.as_of,
            stamp: self.stamp.clone(),
            ranks: ranks.as_primitive::<UInt64Type>().values().to_vec(),
            probabilities: probabilities.as_primitive::<Float64Type>().values().to_vec(),
            values_at_risk: values_at_risk.as_primitive::<Float64Type>().values().to_vec(),
            tiers,
            ids,
        })
    }
}

/// The kept lists of `pipeline` in `dir`, oldest scoring date first (then by version and
/// scoring time), from their footers alone
/// (a list's rows are read when asked for: a folder of million-row lists costs no more than
/// their footers), and a sentence for each file that is not a kept list (it is skipped: one
/// damaged copy must not stop monitoring).
pub fn kept_lists(dir: &Path, pipeline: &str) -> (Vec<KeptHeader>, Vec<String>) {
    let mut lists = Vec::new();
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (lists, problems);
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    for path in paths {
        match read_header(&path) {
            Ok(list) if list.pipeline == pipeline => lists.push(list),
            Ok(_) => {}
            Err(why) => problems.push(format!("{}: {why}", path.display())),
        }
    }
    lists.sort_by(|a, b| {
        a.as_of
            .cmp(&b.as_of)
            .then(a.version.cmp(&b.version))
            .then(a.stamp.scored_at.cmp(&b.stamp.scored_at))
    });
    (lists, problems)
}

fn read_header(path: &Path) -> Result<KeptHeader, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let meta = builder.schema().metadata();
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| format!("not a kept list (no {k} in its metadata)"))
    };
    let as_of = get(AS_OF)?;
    Ok(KeptHeader {
        path: path.to_path_buf(),
        pipeline: get(PIPELINE)?,
        version: get(VERSION)?,
        model_sha256: get(MODEL_SHA256)?,
        as_of: Date::parse_iso(&as_of).ok_or_else(|| format!("its date \"{as_of}\" is not a date"))?,
        stamp: KeptStamp {
            scored_at: meta.get(SCORED_AT).cloned().unwrap_or_default(),
            row_ids: meta.get(ROW_IDS).cloned(),
        },
    })
}
