//! Opening a table file and streaming its columns as Arrow batches, one row group or CSV chunk at
//! a time, so memory stays bounded by the batch size whatever the file size.

use std::fs::File;
use std::io::Seek;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use churnguard_config::{FileFormat, Role, TableSource};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::errors::ParquetError;

use crate::error::{ErrorKind, IngestError};
use crate::hive::HiveColumns;

/// An opened table file: its schema is known and its columns can be streamed.
pub(crate) struct SourceFile {
    pub role: Role,
    pub path: PathBuf,
    pub format: FileFormat,
    /// Every column of the file, PII columns excluded.
    pub schema: SchemaRef,
    /// Data rows in the file, when the format says so up front.
    pub total_rows: Option<u64>,
    /// Names of PII columns the file really has (they are never read).
    pub dropped_pii: Vec<String>,
    backing: Backing,
    /// Schema as stored, PII included, to map names to file positions.
    full_schema: SchemaRef,
}

/// Where a table's rows come from.
enum Backing {
    /// A file, read as its format says.
    File(File),
    /// A folder of Parquet files read one after another, in path order (see [`parquet_files`]);
    /// `partition`: it is some customer partitions of a table, which may hold no rows; `hive`:
    /// the columns its `key=value` folders hold, after the files' own.
    Folder {
        files: Vec<PathBuf>,
        partition: bool,
        hive: Arc<HiveColumns>,
    },
    /// Rows already in memory (a request to the service).
    Memory(RecordBatch),
}

/// Streams the selected columns batch by batch.
pub(crate) enum BatchStream {
    Parquet(ParquetRecordBatchReader),
    Csv(Box<arrow::csv::reader::BufReader<std::io::BufReader<LineBounded<File>>>>),
    Memory(Option<RecordBatch>),
    Folder(FolderStream),
}

/// The files of a folder table, each opened when the one before it ends.
pub(crate) struct FolderStream {
    files: std::iter::Enumerate<std::vec::IntoIter<PathBuf>>,
    current: Option<(usize, ParquetRecordBatchReader)>,
    /// The files' columns streamed, by index.
    columns: Vec<usize>,
    /// The partition folders' columns streamed, by index in `hive.keys`, after the files'.
    hive_columns: Vec<usize>,
    hive: Arc<HiveColumns>,
    batch_rows: usize,
}

impl FolderStream {
    /// A batch of file `file` with the partition folders' columns added.
    fn with_folder_columns(&self, file: usize, batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
        if self.hive_columns.is_empty() {
            return Ok(batch);
        }
        let rows = batch.num_rows();
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        let mut columns = batch.columns().to_vec();
        for &k in &self.hive_columns {
            fields.push(self.hive.field(k));
            columns.push(self.hive.column(file, k, rows));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }

    fn open_next(&mut self) -> Option<Result<(), arrow::error::ArrowError>> {
        let (index, path) = self.files.next()?;
        let opened = File::open(&path)
            .map_err(|e| ParquetError::External(Box::new(e)))
            .and_then(|f| parquet_reader(f, &self.columns, self.batch_rows));
        Some(match opened {
            Ok(reader) => {
                self.current = Some((index, reader));
                Ok(())
            }
            Err(e) => Err(arrow::error::ArrowError::ExternalError(
                format!("{}: {e}", path.display()).into(),
            )),
        })
    }
}

impl Iterator for FolderStream {
    type Item = Result<RecordBatch, arrow::error::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((file, r)) = &mut self.current
                && let Some(batch) = decoded(r)
            {
                let file = *file;
                return Some(batch.and_then(|b| self.with_folder_columns(file, b)));
            }
            self.current = None;
            if let Err(e) = self.open_next()? {
                return Some(Err(e));
            }
        }
    }
}

thread_local! {
    static IN_PARQUET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside a call into the parquet crate whose panics ingest turns into
/// errors (so a panic hook can keep its report short).
pub fn in_guarded_parquet_call() -> bool {
    IN_PARQUET.with(std::cell::Cell::get)
}

/// The message a panic carries (a `&str` or a `String`; empty otherwise).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs a call into the parquet crate, which panics on some damaged files (a dictionary-encoded
/// page without its dictionary, row counts that overflow when summed: found by `make fuzz`): a
/// damaged file is an error naming the damage, never a panic.
fn guarded<T>(call: impl FnOnce() -> Result<T, ParquetError>) -> Result<T, ParquetError> {
    IN_PARQUET.with(|g| g.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
    IN_PARQUET.with(|g| g.set(false));
    outcome.unwrap_or_else(|panic| {
        let why = panic_message(panic.as_ref());
        Err(ParquetError::General(format!(
            "damaged data: the Parquet reader gave up ({why})"
        )))
    })
}

/// The next batch of a Parquet reader, guarded.
fn decoded(reader: &mut ParquetRecordBatchReader) -> Option<Result<RecordBatch, arrow::error::ArrowError>> {
    match guarded(|| Ok(reader.next())) {
        Ok(next) => next,
        Err(e) => Some(Err(e.into())),
    }
}

/// A reader of `columns` (by index) of a Parquet file, guarded.
fn parquet_reader(file: File, columns: &[usize], batch_rows: usize) -> Result<ParquetRecordBatchReader, ParquetError> {
    guarded(|| {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        builder.with_projection(mask).with_batch_size(batch_rows).build()
    })
}

impl Iterator for BatchStream {
    type Item = Result<RecordBatch, arrow::error::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            BatchStream::Parquet(r) => decoded(r),
            BatchStream::Csv(r) => r.next(),
            BatchStream::Memory(b) => b.take().map(Ok),
            BatchStream::Folder(f) => f.next(),
        }
    }
}

impl SourceFile {
    pub fn open(role: Role, src: &TableSource) -> Result<Self, IngestError> {
        let path = &src.path;
        let err = |kind| IngestError::table(role, path, kind);
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => err(ErrorKind::NotFound),
            _ => err(ErrorKind::Io(e)),
        })?;
        if meta.is_dir() {
            return Self::open_folder(role, src);
        }
        // A FIFO, a device or a socket would block forever or never end (`/dev/zero`).
        if !meta.is_file() {
            return Err(err(ErrorKind::NotARegularFile));
        }
        let mut file = File::open(path).map_err(|e| err(ErrorKind::Io(e)))?;
        let (full_schema, total_rows) = match src.format {
            FileFormat::Parquet => {
                if meta.len() == 0 {
                    return Err(err(ErrorKind::EmptyFile));
                }
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(file.try_clone().map_err(|e| err(ErrorKind::Io(e)))?)
                        .map_err(|e| err(ErrorKind::NotParquet(e)))?;
                let rows = builder.metadata().file_metadata().num_rows();
                (builder.schema().clone(), Some(rows.max(0) as u64))
            }
            FileFormat::Csv => {
                // Whole-file inference: a sample could type a column as integer and then meet
                // text further down, failing half-way through a long read.
                let (schema, rows) = csv_format()
                    .infer_schema(LineBounded::new(&mut file), None)
                    .map_err(|e| err(ErrorKind::BadCsv(e)))?;
                file.rewind().map_err(|e| err(ErrorKind::Io(e)))?;
                // Ids are read as written: inferred as integers, `007` and `7` would be one
                // customer, or two, depending on the rest of the file.
                let fields: Vec<arrow::datatypes::FieldRef> = schema
                    .fields()
                    .iter()
                    .map(|f| match f.name() == &src.customer_id {
                        true => Arc::new(f.as_ref().clone().with_data_type(arrow::datatypes::DataType::Utf8)),
                        false => f.clone(),
                    })
                    .collect();
                (Arc::new(Schema::new(fields)), Some(rows as u64))
            }
        };
        if full_schema.fields().is_empty() || total_rows == Some(0) {
            return Err(err(ErrorKind::Empty));
        }
        Ok(Self::of(role, src, full_schema, total_rows, Backing::File(file)))
    }

    /// A source over `backing`, PII columns left out of its schema.
    fn of(role: Role, src: &TableSource, full_schema: SchemaRef, total_rows: Option<u64>, backing: Backing) -> Self {
        let (schema, dropped_pii) = without_pii(&full_schema, src);
        SourceFile {
            role,
            path: src.path.clone(),
            format: src.format,
            schema,
            total_rows,
            dropped_pii,
            backing,
            full_schema,
        }
    }

    /// A folder table: every Parquet file under it, which must share one schema.
    fn open_folder(role: Role, src: &TableSource) -> Result<Self, IngestError> {
        let path = &src.path;
        let err = |kind| IngestError::table(role, path, kind);
        if src.format != FileFormat::Parquet {
            return Err(err(ErrorKind::IsDirectory));
        }
        let files = match &src.parts {
            None => parquet_files(path),
            Some(keys) => keys
                .iter()
                .map(|k| parquet_files(&path.join(format!("{PART_PREFIX}{k}"))))
                .collect::<std::io::Result<Vec<_>>>()
                .map(|f| f.concat()),
        }
        .map_err(|e| err(ErrorKind::Io(e)))?;
        let mut full_schema: Option<SchemaRef> = None;
        let mut total_rows = 0u64;
        for file in &files {
            let opened = File::open(file).map_err(|e| err(ErrorKind::Io(e)))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(opened).map_err(|e| {
                err(ErrorKind::FolderFile {
                    file: file.clone(),
                    cause: e.to_string(),
                })
            })?;
            total_rows = total_rows.saturating_add(builder.metadata().file_metadata().num_rows().max(0) as u64);
            let schema = builder.schema().clone();
            match &full_schema {
                None => full_schema = Some(schema),
                Some(first) if same_columns(first, &schema) => {}
                Some(first) => {
                    return Err(err(ErrorKind::FolderFile {
                        file: file.clone(),
                        cause: format!(
                            "its columns ({}) differ from those of {} ({})",
                            column_list(&schema),
                            files[0].display(),
                            column_list(first)
                        ),
                    }));
                }
            }
        }
        let Some(file_schema) = full_schema else {
            return Err(err(ErrorKind::NoParquetFiles));
        };
        let hive = HiveColumns::of(path, &files, &file_schema)
            .map_err(|(file, cause)| err(ErrorKind::FolderFile { file, cause }))?;
        let fields = file_schema.fields().iter().cloned().chain(hive.fields());
        let full_schema = Arc::new(Schema::new(fields.collect::<Vec<_>>()));
        let partition = src.parts.is_some();
        if total_rows == 0 && !partition {
            return Err(err(ErrorKind::Empty));
        }
        Ok(Self::of(
            role,
            src,
            full_schema,
            Some(total_rows),
            Backing::Folder {
                files,
                partition,
                hive: Arc::new(hive),
            },
        ))
    }

    /// A table whose rows are already in memory, named `name` in messages; PII columns are
    /// dropped as from a file. Unlike a file it may be empty (a customer without contacts).
    pub fn from_rows(role: Role, src: &TableSource, batch: RecordBatch, name: &Path) -> Self {
        let full_schema = batch.schema();
        let (schema, dropped_pii) = without_pii(&full_schema, src);
        SourceFile {
            role,
            path: name.to_path_buf(),
            format: src.format,
            schema,
            total_rows: Some(batch.num_rows() as u64),
            dropped_pii,
            backing: Backing::Memory(batch),
            full_schema,
        }
    }

    /// Whether the rows are in memory rather than in a file.
    pub fn in_memory(&self) -> bool {
        matches!(self.backing, Backing::Memory(_))
    }

    /// Whether the table may hold no rows: rows of a request (a customer without contacts), or
    /// one partition of a table (no customer of the partition has such rows).
    pub fn may_be_empty(&self) -> bool {
        matches!(
            self.backing,
            Backing::Memory(_) | Backing::Folder { partition: true, .. }
        )
    }

    /// Column names, PII excluded.
    pub fn column_names(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// Streams the named columns, in the file's column order.
    pub fn stream(&self, columns: &[&str], batch_rows: usize) -> Result<BatchStream, IngestError> {
        let err = |kind| IngestError::table(self.role, &self.path, kind);
        let mut indices: Vec<usize> = columns
            .iter()
            .filter_map(|c| self.full_schema.index_of(c).ok())
            .collect();
        indices.sort_unstable();
        indices.dedup();
        let file = match &self.backing {
            Backing::Memory(batch) => {
                let projected = batch.project(&indices).map_err(|e| {
                    err(ErrorKind::Decode {
                        rows_read: 0,
                        cause: e.into(),
                    })
                })?;
                return Ok(BatchStream::Memory(Some(projected)));
            }
            Backing::Folder { files, hive, .. } => {
                let in_files = self.full_schema.fields().len() - hive.keys.len();
                let (columns, folder_columns): (Vec<usize>, Vec<usize>) =
                    indices.iter().copied().partition(|&i| i < in_files);
                return Ok(BatchStream::Folder(FolderStream {
                    files: files.clone().into_iter().enumerate(),
                    current: None,
                    columns,
                    hive_columns: folder_columns.iter().map(|i| i - in_files).collect(),
                    hive: hive.clone(),
                    batch_rows,
                }));
            }
            Backing::File(f) => f.try_clone().map_err(|e| err(ErrorKind::Io(e)))?,
        };
        match self.format {
            FileFormat::Parquet => {
                let reader = parquet_reader(file, &indices, batch_rows).map_err(|e| err(ErrorKind::NotParquet(e)))?;
                Ok(BatchStream::Parquet(reader))
            }
            FileFormat::Csv => {
                let reader = arrow::csv::ReaderBuilder::new(self.full_schema.clone())
                    .with_format(csv_format())
                    .with_batch_size(batch_rows)
                    .with_projection(indices)
                    .build(LineBounded::new(file))
                    .map_err(|e| err(ErrorKind::BadCsv(e)))?;
                Ok(BatchStream::Csv(Box::new(reader)))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The name of a partition's folder starts with this (Hive style: `part=7`).
pub const PART_PREFIX: &str = "part=";

/// Every `.parquet` file under `dir` (sub-folders included, hidden names skipped), in path
/// order: the order rows are read in must not depend on the file system.
pub fn parquet_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Staged files of a writer still at work (`.x.tmp`) and hidden files are not data.
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() && name.ends_with(".parquet") {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

fn column_list(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The schema without the configured PII columns, and the PII columns the table really has.
fn without_pii(full: &SchemaRef, src: &TableSource) -> (SchemaRef, Vec<String>) {
    let dropped = src
        .pii_columns
        .iter()
        .filter(|c| full.field_with_name(c).is_ok())
        .cloned()
        .collect();
    let kept: Vec<_> = full
        .fields()
        .iter()
        .filter(|f| !src.pii_columns.iter().any(|p| p == f.name()))
        .cloned()
        .collect();
    (Arc::new(Schema::new(kept)), dropped)
}

/// The longest CSV line read (any field is shorter still): a file with no line breaks, or
/// `/dev/zero` renamed, must fail with a message rather than grow memory until the process dies.
pub const MAX_CSV_LINE_BYTES: usize = 1 << 20;

/// A reader that fails once a line runs past [`MAX_CSV_LINE_BYTES`], naming the line.
pub(crate) struct LineBounded<R> {
    inner: R,
    since_newline: usize,
    line: u64,
}

impl<R> LineBounded<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineBounded {
            inner,
            since_newline: 0,
            line: 1,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineBounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for part in buf[..n].split_inclusive(|&b| b == b'\n') {
            let ends = part.last() == Some(&b'\n');
            self.since_newline += part.len() - usize::from(ends);
            if self.since_newline > MAX_CSV_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {MAX_CSV_LINE_BYTES} bytes, more than any table row needs (is this a CSV file?)",
                        self.line
                    ),
                ));
            }
            if ends {
                self.since_newline = 0;
                self.line += 1;
            }
        }
        Ok(n)
    }
}

fn csv_format() -> arrow::csv::reader::Format {
    arrow::csv::reader::Format::default().with_header(true)
}
