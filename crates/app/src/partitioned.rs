//! Scoring tables stored as customer partitions (`part=K/` folders): each partition is read and
//! scored on its own into a partition list, then the lists are merged into the one ranked list,
//! so memory follows the largest partition rather than the whole data.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Pipeline};
use churnguard_features::load_with_progress;
use churnguard_infer::{ListFormat, MergeRequest, ModelPackage, OnnxModel, merge_lists, score, write_partition_list};
use churnguard_ingest::{partition_pipeline, partitions};

use crate::{AppError, Kept, Progress, Stage};

/// The partitions of a pipeline's tables, when they are partitioned.
pub fn partition_keys(p: &Pipeline) -> Result<Option<Vec<String>>, AppError> {
    Ok(partitions(p)?)
}

/// The date partitioned tables (or an engine's shares of customers) are scored at: `--as-of`, else `data.as_of`; the end of the data
/// cannot serve, since no partition knows it alone.
pub fn partitioned_as_of(p: &Pipeline, as_of: Option<Date>) -> Result<Date, AppError> {
    as_of
        .or(p.data.as_of)
        .ok_or_else(|| AppError::PartitionedNoDate { file: p.file.clone() })
}

/// Scores partition `key` of a partitioned pipeline into its partition list at `out` (see
/// [`churnguard_infer::write_partition_list`]); returns the customers it holds.
pub fn score_partition(
    p: &Pipeline,
    key: &str,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Option<Date>,
    out: &Path,
    observe: &mut dyn FnMut(Progress),
) -> Result<u64, AppError> {
    let keys = partition_keys(p)?.ok_or_else(|| AppError::NoSuchPartition {
        file: p.file.clone(),
        why: "its tables are not partitioned (no part=K/ folders)".into(),
    })?;
    if !keys.iter().any(|k| k == key) {
        return Err(AppError::NoSuchPartition {
            file: p.file.clone(),
            why: format!("no partition part={key}; its partitions are {}", keys.join(", ")),
        });
    }
    let as_of = partitioned_as_of(p, as_of)?;
    crate::check_actions(p, package.spec())?;
    score_one(p, key, package, model, as_of, out, observe)
}

fn score_one(
    p: &Pipeline,
    key: &str,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Date,
    out: &Path,
    observe: &mut dyn FnMut(Progress),
) -> Result<u64, AppError> {
    let part = partition_pipeline(p, &[key.to_string()]);
    let history = load_with_progress(&part, None, &mut |r| observe(Progress::Read(r)))?;
    score_into_partition_list(&part, &history, key, package, model, as_of, out, observe)
}

/// Scores the customers of `history` (whole customers: one share of them, however they were
/// split) into a partition list labelled `label` at `out`, its win-back rows beside it: the part
/// [`merge_partition_lists`] joins. An engine's task (Spark, Dask) calls it on its share.
#[allow(clippy::too_many_arguments)]
pub fn score_into_partition_list(
    p: &Pipeline,
    history: &churnguard_features::History,
    label: &str,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Date,
    out: &Path,
    observe: &mut dyn FnMut(Progress),
) -> Result<u64, AppError> {
    // Who gets reasons is the package's rule on a customer's own probability and value
    // (`ModelPackage::judge`), which the merge applies again: a partition explains the same rows.
    let mut part = p.clone();
    // Capacity runs down the merged list, not a partition's.
    part.scoring.capacity = None;
    observe(Progress::Stage(Stage::Scoring));
    let list = score(&part, history, package, model, as_of, &mut |done, total| {
        observe(Progress::Scored { done, total })
    })
    .map_err(|e| match e {
        churnguard_infer::ScoreError::Features(source @ churnguard_features::FeatureError::CutoffBeforeData { .. }) => {
            AppError::AsOf { as_of, source }
        }
        other => other.into(),
    })?;
    write_partition_list(&list, package, label, out, p.scoring.batch_rows)?;
    Ok(list.risks.len() as u64)
}

/// What a merge wrote.
pub struct MergedList {
    /// The summary of the merged list.
    pub summary: churnguard_infer::ListSummary,
    /// The copy kept for monitoring.
    pub kept: Kept,
}

/// Merges partition lists into the ranked list at `out` (the win-back list beside it), and keeps
/// a copy for monitoring when `monitoring.keep_lists` is on.
pub fn merge_partition_lists(
    p: &Pipeline,
    package: &ModelPackage,
    lists: &[PathBuf],
    out: &Path,
    format: ListFormat,
    top: usize,
) -> Result<MergedList, AppError> {
    package.package.check_pipeline(p)?;
    crate::check_actions(p, package.spec())?;
    let keep_in = p.monitoring.keep_lists.then(|| crate::lists_dir(package));
    let merged = merge_lists(&MergeRequest {
        pipeline: p,
        package,
        lists,
        out,
        format,
        keep_in: keep_in.as_deref(),
        top,
    })?;
    let kept = match merged.kept {
        None => Kept::Off,
        Some(Ok(path)) => Kept::At(path),
        Some(Err(e)) => Kept::Failed(churnguard_config::with_causes(&e)),
    };
    Ok(MergedList {
        summary: merged.summary,
        kept,
    })
}

/// Removes the partition lists' folder however the job ends.
struct WorkDir(PathBuf);

impl WorkDir {
    /// Creates the folder `dir` (and its parents), removed when dropped.
    fn create(dir: PathBuf) -> Result<WorkDir, AppError> {
        std::fs::create_dir_all(&dir).map_err(|source| AppError::OutputFolder {
            path: dir.clone(),
            source,
        })?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Scores every partition of a partitioned pipeline, one after another, and merges their lists
/// into the list at `out`: the list scoring all customers at once would give.
pub fn score_partitioned(
    req: &crate::ListRequest<'_>,
    model: &mut OnnxModel,
    observe: &mut dyn FnMut(Progress),
) -> Result<MergedList, AppError> {
    let (p, package, out) = (req.pipeline, req.package, req.out);
    let keys = partition_keys(p)?.ok_or_else(|| AppError::NoSuchPartition {
        file: p.file.clone(),
        why: "its tables are not partitioned (no part=K/ folders)".into(),
    })?;
    let as_of = partitioned_as_of(p, req.as_of)?;
    package.package.check_pipeline(p)?;
    crate::check_actions(p, package.spec())?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let work = WorkDir::create(out.with_file_name(format!(".{name}.partitions-{}", std::process::id())))?;
    let mut lists = Vec::with_capacity(keys.len());
    observe(Progress::Stage(Stage::Scoring));
    for (done, key) in keys.iter().enumerate() {
        observe(Progress::Partition {
            key: key.clone(),
            done,
            total: keys.len(),
        });
        let list = work.0.join(format!("part={key}.parquet"));
        score_one(p, key, package, model, as_of, &list, &mut |_| {})?;
        lists.push(list);
    }
    observe(Progress::Partition {
        key: String::new(),
        done: keys.len(),
        total: keys.len(),
    });
    merge_partition_lists(p, package, &lists, out, req.format, req.top)
}

/// One feature spec for every partition of partitioned tables: partition `keys[0]`'s, with each
/// categorical dictionary joined with every other partition's (read from their customers tables
/// alone, so codes agree across partitions). Returns the first partition's history too, which
/// the first step of the work needs next.
pub fn partitioned_spec(
    p: &Pipeline,
    keys: &[String],
    observe: &mut dyn FnMut(Progress),
) -> Result<(churnguard_features::FeatureSpec, churnguard_features::History), AppError> {
    let first_key = keys.first().ok_or_else(|| AppError::NoSuchPartition {
        file: p.file.clone(),
        why: "its tables have no partition".into(),
    })?;
    let first = load_with_progress(&one_partition(p, first_key), None, &mut |r| observe(Progress::Read(r)))?;
    let mut spec = churnguard_features::spec_for(p, &first);
    if p.data.customers.is_some() {
        for k in &keys[1..] {
            let mut customers_only = one_partition(p, k);
            customers_only.data.events = None;
            customers_only.data.interactions = None;
            let h = load_with_progress(&customers_only, None, &mut |r| observe(Progress::Read(r)))?;
            spec.add_dictionaries(&churnguard_features::spec_for(&customers_only, &h));
        }
    }
    Ok((spec, first))
}

fn one_partition(p: &Pipeline, key: &str) -> Pipeline {
    partition_pipeline(p, &[key.to_string()])
}

/// The work [`each_partition`] does on one partition: its key, its history, the progress sink.
pub type PartitionWork<'a> =
    dyn FnMut(&str, &churnguard_features::History, &mut dyn FnMut(Progress)) -> Result<(), AppError> + 'a;

/// Calls `work` with each partition's history in turn (`first`, from [`partitioned_spec`], for
/// the first key): one partition's history in memory at a time.
pub fn each_partition(
    p: &Pipeline,
    keys: &[String],
    first: churnguard_features::History,
    observe: &mut dyn FnMut(Progress),
    work: &mut PartitionWork<'_>,
) -> Result<(), AppError> {
    let mut first = Some(first);
    for (done, k) in keys.iter().enumerate() {
        observe(Progress::Partition {
            key: k.clone(),
            done,
            total: keys.len(),
        });
        let h = first_or_load(p, k, &mut first, observe)?;
        work(k, &h, observe)?;
    }
    Ok(())
}

/// Partition `key`'s history: `first` (the one [`partitioned_spec`] loaded) when still there,
/// else read now.
fn first_or_load(
    p: &Pipeline,
    key: &str,
    first: &mut Option<churnguard_features::History>,
    observe: &mut dyn FnMut(Progress),
) -> Result<churnguard_features::History, AppError> {
    match first.take() {
        Some(h) => Ok(h),
        None => Ok(load_with_progress(&one_partition(p, key), None, &mut |r| {
            observe(Progress::Read(r))
        })?),
    }
}

/// A training run on partitioned tables prepared one partition at a time: only one partition's
/// history is in memory at once, and the feature rows of all of them.
pub(crate) fn prepare_by_partition(
    p: &Pipeline,
    keys: &[String],
    clock: &mut crate::clock::Clock<'_>,
) -> Result<churnguard_train::Prepared, AppError> {
    let (spec, first) = partitioned_spec(p, keys, &mut *clock.observe)?;
    // A rule that can never match is refused before the long work.
    crate::check_actions(p, &spec)?;
    clock.enter(Stage::Features);
    let mut parts = Vec::with_capacity(keys.len());
    let mut first = Some(first);
    for k in keys {
        let h = first_or_load(p, k, &mut first, &mut *clock.observe)?;
        let prepared = churnguard_train::prepare(p, &h, spec.clone(), &mut |e| clock.event(e))
            .map_err(|e| crate::clock::setting_error(p, e))?;
        parts.push(prepared);
    }
    churnguard_train::Prepared::join(parts).ok_or_else(|| AppError::NoSuchPartition {
        file: p.file.clone(),
        why: "its tables have no partition".into(),
    })
}

/// A scratch folder of this process for an engine's partition lists, removed when dropped.
fn scratch(what: &str) -> Result<WorkDir, AppError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    WorkDir::create(std::env::temp_dir().join(format!(".churnguard-{what}-{}-{n}", std::process::id())))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, AppError> {
    std::fs::read(path).map_err(|source| AppError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// One engine task's partition list, as bytes to return through the engine: the list's Parquet
/// file and its win-back list's (see [`score_into_partition_list`]).
pub struct PartitionListBytes {
    /// The partition list's Parquet file.
    pub list: Vec<u8>,
    /// Its win-back list's Parquet file.
    pub win_back: Vec<u8>,
}

/// [`score_into_partition_list`] with the files returned as bytes: what an engine's task (Spark,
/// Dask) sends back for [`merge_partition_bytes`], so no storage is shared between machines.
pub fn partition_list_bytes(
    p: &Pipeline,
    history: &churnguard_features::History,
    label: &str,
    package: &ModelPackage,
    model: &mut OnnxModel,
    as_of: Date,
) -> Result<PartitionListBytes, AppError> {
    package.package.check_pipeline(p)?;
    crate::check_actions(p, package.spec())?;
    let work = scratch("partition")?;
    let out = work.0.join("part.parquet");
    score_into_partition_list(p, history, label, package, model, as_of, &out, &mut |_| {})?;
    Ok(PartitionListBytes {
        list: read_bytes(&out)?,
        win_back: read_bytes(&churnguard_infer::win_back_path(&out))?,
    })
}

/// Merges the partition lists an engine's tasks returned ([`partition_list_bytes`]) into the
/// one ranked list, in memory: row for row the list scoring every customer at once gives.
pub fn merge_partition_bytes(
    p: &Pipeline,
    package: &ModelPackage,
    parts: &[PartitionListBytes],
    top: usize,
) -> Result<crate::ListTable, AppError> {
    let work = scratch("merge")?;
    let mut lists = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let path = work.0.join(format!("part={i}.parquet"));
        crate::write_whole(&path, &part.list)?;
        crate::write_whole(&churnguard_infer::win_back_path(&path), &part.win_back)?;
        lists.push(path);
    }
    let out = work.0.join("list.parquet");
    let merged = merge_partition_lists(p, package, &lists, &out, ListFormat::Parquet, top)?;
    let (schema, batches) = read_list(&out)?;
    Ok(crate::ListTable {
        summary: merged.summary,
        schema,
        batches,
    })
}

/// A list written as Parquet, read back whole.
fn read_list(path: &Path) -> Result<(arrow::datatypes::SchemaRef, Vec<arrow::record_batch::RecordBatch>), AppError> {
    let file = std::fs::File::open(path).map_err(|source| AppError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let unreadable = |e: &dyn std::fmt::Display| AppError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| unreadable(&e))?;
    let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| unreadable(&e))?;
    Ok((schema, batches))
}
