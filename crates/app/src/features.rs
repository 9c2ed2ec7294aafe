//! `feature_table`: a pipeline's point-in-time features at one or several cutoffs, as Parquet.

use std::path::Path;
use std::time::Instant;

use arrow::record_batch::RecordBatch;

use churnguard_config::{Date, Pipeline};
use churnguard_features::{FeatureError, History, Snapshot, SnapshotReport, snapshot, spec_for};
use churnguard_infer::OutputError;
use churnguard_ingest::ParquetOut;
use parquet::basic::Compression;

use crate::{AppError, Progress, Stage};

/// What a feature table is asked: whose features, at which cutoffs, written where.
pub struct FeaturesRequest<'a> {
    /// The pipeline.
    pub pipeline: &'a Pipeline,
    /// The cutoffs (features use rows dated before each); empty: the pipeline's `[snapshots]`
    /// (training cutoffs, then the test cutoff).
    pub cutoffs: &'a [Date],
    /// Where the rows go.
    pub out: FeaturesOut<'a>,
    /// The customers' histories when already loaded (`None`: read the pipeline's tables).
    pub history: Option<&'a History>,
}

/// Where a feature table's rows go.
#[derive(Clone, Copy, Debug)]
pub enum FeaturesOut<'a> {
    /// A Parquet file (one row group per snapshot, per partition for partitioned tables).
    File(&'a Path),
    /// Memory: the batches come back in [`FeatureTable::batches`].
    Memory,
}

/// A feature table written.
pub struct FeatureTable {
    /// Each cutoff's snapshot report (summed over partitions).
    pub reports: Vec<SnapshotReport>,
    /// Features per row.
    pub features: usize,
    /// Partitions read one after another (`None`: whole tables).
    pub partitions: Option<usize>,
    /// Seconds reading the tables, building features and writing (whole tables only).
    pub times: Option<[f64; 3]>,
    /// The rows, one batch per snapshot and partition, when asked for in memory.
    pub batches: Vec<RecordBatch>,
}

impl FeatureTable {
    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.reports.iter().map(|r| r.customers).sum()
    }
}

/// The cutoffs a request means: its own, else the pipeline's snapshots.
fn cutoffs_of(req: &FeaturesRequest<'_>) -> Result<Vec<Date>, AppError> {
    let cutoffs: Vec<Date> = if req.cutoffs.is_empty() {
        let s = &req.pipeline.snapshots;
        s.train_cutoffs.iter().chain(&s.test_cutoff).copied().collect()
    } else {
        req.cutoffs.to_vec()
    };
    if cutoffs.is_empty() {
        return Err(AppError::NoCutoff {
            file: req.pipeline.file.clone(),
        });
    }
    Ok(cutoffs)
}

/// Writes the feature table of `req`: whole tables at once, partitioned tables one partition at
/// a time (row groups partition by partition, every partition with the same spec).
pub fn feature_table(req: &FeaturesRequest<'_>, observe: &mut dyn FnMut(Progress)) -> Result<FeatureTable, AppError> {
    let cutoffs = cutoffs_of(req)?;
    let p = req.pipeline;
    let mut out = Table::new(req.out);
    let mut reports: Vec<SnapshotReport> = Vec::new();
    if let (None, Some(keys)) = (req.history, crate::partition_keys(p)?) {
        let (spec, first) = crate::partitioned_spec(p, &keys, observe)?;
        crate::each_partition(p, &keys, first, observe, &mut |_, h, _| {
            for (i, &cutoff) in cutoffs.iter().enumerate() {
                let snap = snapshot_at(p, h, &spec, cutoff)?;
                out.write(&snap)?;
                match reports.get_mut(i) {
                    Some(r) => r.add(&snap.report),
                    None => reports.push(snap.report),
                }
            }
            Ok(())
        })?;
        return Ok(FeatureTable {
            reports,
            features: spec.features.len(),
            partitions: Some(keys.len()),
            times: None,
            batches: out.finish()?,
        });
    }
    let clock = Instant::now();
    let mut loaded = None;
    let history: &History = match req.history {
        Some(h) => h,
        None => loaded.insert(crate::load(p, observe)?),
    };
    let load = clock.elapsed().as_secs_f64();
    observe(Progress::Stage(Stage::Features));
    let spec = spec_for(p, history);
    let (mut compute, mut write) = (0.0, 0.0);
    for &cutoff in &cutoffs {
        let clock = Instant::now();
        let snap = snapshot_at(p, history, &spec, cutoff)?;
        compute += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        out.write(&snap)?;
        write += clock.elapsed().as_secs_f64();
        reports.push(snap.report);
    }
    let clock = Instant::now();
    let batches = out.finish()?;
    write += clock.elapsed().as_secs_f64();
    Ok(FeatureTable {
        reports,
        features: spec.features.len(),
        partitions: None,
        times: Some([load, compute, write]),
        batches,
    })
}

/// One snapshot; a cutoff before the data is the user's to fix.
fn snapshot_at(
    p: &Pipeline,
    h: &History,
    spec: &churnguard_features::FeatureSpec,
    cutoff: Date,
) -> Result<Snapshot, AppError> {
    snapshot(p, h, spec, cutoff).map_err(|e| match e {
        e @ FeatureError::CutoffBeforeData { .. } => AppError::CutoffBeforeData(e),
        other => other.into(),
    })
}

/// Where the snapshots' rows go: a Parquet file started with the first snapshot's schema, or
/// memory.
enum Table<'a> {
    File {
        path: &'a Path,
        file: Option<Box<ParquetOut>>,
    },
    Memory(Vec<RecordBatch>),
}

impl<'a> Table<'a> {
    fn new(out: FeaturesOut<'a>) -> Self {
        match out {
            FeaturesOut::File(path) => Table::File { path, file: None },
            FeaturesOut::Memory => Table::Memory(Vec::new()),
        }
    }

    fn write(&mut self, snap: &Snapshot) -> Result<(), AppError> {
        let (path, file) = match self {
            Table::File { path, file } => (*path, file),
            Table::Memory(batches) => {
                batches.push(snap.batch.clone());
                return Ok(());
            }
        };
        let file = match file {
            Some(file) => file,
            None => file.insert(Box::new(
                ParquetOut::create(path, snap.batch.schema(), Compression::UNCOMPRESSED).map_err(OutputError::from)?,
            )),
        };
        file.write(&snap.batch).map_err(OutputError::from)?;
        Ok(())
    }

    /// Ends the file; the batches kept in memory.
    fn finish(self) -> Result<Vec<RecordBatch>, AppError> {
        match self {
            Table::File { file, .. } => {
                if let Some(file) = file {
                    (*file).finish().map_err(OutputError::from)?;
                }
                Ok(Vec::new())
            }
            Table::Memory(batches) => Ok(batches),
        }
    }
}
