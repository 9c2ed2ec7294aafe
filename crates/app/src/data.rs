//! The data jobs: a pipeline's tables validated, loaded, or split into customer partitions; a
//! synthetic data set written; ONNX Runtime found; a file written whole or not at all.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, Pipeline, Role};
use churnguard_features::History;
use churnguard_infer::{ModelPackage, OnnxRuntime};
use churnguard_ingest::{PartitionReport, StagedFile, ValidationReport};
use churnguard_package::InputFile;
use churnguard_synth::{Summary, SynthConfig};

use crate::{AppError, Progress, Stage};

/// Validates every table of a pipeline (with `as_of` instead of `data.as_of` when given).
pub fn validate(p: &Pipeline, as_of: Option<Date>, observe: &mut dyn FnMut(Progress)) -> ValidationReport {
    churnguard_ingest::validate(p, as_of, &mut |r| observe(Progress::Read(r)))
}

/// Reads a pipeline's tables into customer histories.
pub fn load(p: &Pipeline, observe: &mut dyn FnMut(Progress)) -> Result<History, AppError> {
    observe(Progress::Stage(Stage::Load));
    Ok(churnguard_features::load_with_progress(p, None, &mut |r| {
        observe(Progress::Read(r))
    })?)
}

/// What messages call tables given as rows in memory rather than files.
const IN_MEMORY: &str = "(rows given in memory)";

/// Reads a pipeline's tables from rows already in memory (events, customers, interactions, each
/// one batch under the configured column names) into customer histories, exactly as files are
/// read: the same mapping, coercion, checks and pseudonymization.
pub fn load_rows(
    p: &Pipeline,
    rows: [Option<RecordBatch>; 3],
    observe: &mut dyn FnMut(Progress),
) -> Result<History, AppError> {
    observe(Progress::Stage(Stage::Load));
    let tables = churnguard_ingest::open_rows(p, None, rows, Path::new(IN_MEMORY))?;
    Ok(churnguard_features::load_tables(p, tables, &mut |r| {
        observe(Progress::Read(r))
    })?)
}

/// What a package records as the inputs of rows given in memory: per table, its role, where it
/// came from, the bytes of its Arrow IPC stream and their SHA-256, so two packages trained on
/// the same rows say so.
pub fn rows_inputs(p: &Pipeline, rows: &[Option<RecordBatch>; 3]) -> Result<Vec<InputFile>, AppError> {
    let encode = |e: arrow::error::ArrowError| AppError::Write {
        path: PathBuf::from(IN_MEMORY),
        source: std::io::Error::other(e),
    };
    let configured: Vec<Role> = p.tables().into_iter().map(|(role, _)| role).collect();
    let mut out = Vec::new();
    // As `open_rows` reads them: rows given for a table the pipeline lacks are not read.
    for (role, batch) in Role::ALL.into_iter().zip(rows) {
        let Some(batch) = batch.as_ref().filter(|_| configured.contains(&role)) else {
            continue;
        };
        let mut bytes = Vec::new();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema()).map_err(encode)?;
        writer.write(batch).map_err(encode)?;
        writer.finish().map_err(encode)?;
        drop(writer);
        out.push(InputFile {
            role: role.name().to_string(),
            path: PathBuf::from(IN_MEMORY),
            bytes: bytes.len() as u64,
            sha256: churnguard_model::sha256_hex(&bytes),
        });
    }
    Ok(out)
}

/// Splits every table of a pipeline into `parts` customer partitions under `out`.
pub fn partition(
    p: &Pipeline,
    parts: u32,
    out: &Path,
    observe: &mut dyn FnMut(Progress),
) -> Result<PartitionReport, AppError> {
    Ok(churnguard_ingest::write_partitions(p, parts, out, &mut |r| {
        observe(Progress::Read(r))
    })?)
}

/// Writes a synthetic data set (and its `pipeline.toml`) into `out`, reporting customers done.
pub fn synth(cfg: &SynthConfig, out: &Path, progress: &mut dyn FnMut(u64)) -> Result<Summary, AppError> {
    Ok(churnguard_synth::generate(cfg, out, progress)?)
}

/// The ONNX Runtime library: `lib`, else `ORT_DYLIB_PATH`, else `.tools/lib`; loaded once per
/// process.
pub fn onnx_runtime(lib: Option<&Path>) -> Result<&'static OnnxRuntime, AppError> {
    Ok(OnnxRuntime::load(lib)?)
}

/// Writes `bytes` to `path` under a temporary name, renamed when complete: a failure never
/// leaves a partial file under the final name.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<PathBuf, AppError> {
    let failed = |source| AppError::Write {
        path: path.to_path_buf(),
        source,
    };
    let (staged, mut file) = StagedFile::create(path).map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    staged.commit().map_err(failed)
}

/// Opens a model package, its files checked against their hashes.
pub fn open_package(dir: &Path) -> Result<ModelPackage, AppError> {
    Ok(ModelPackage::open(dir)?)
}

/// What the Parquet reader said when it panicked inside a guarded read of damaged data (`None`
/// for any other panic), so a face can print one line instead of a backtrace.
pub fn reader_panic(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    churnguard_ingest::in_guarded_parquet_call().then(|| churnguard_ingest::panic_message(payload))
}
