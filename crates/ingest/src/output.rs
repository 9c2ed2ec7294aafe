//! Output files that appear whole or not at all ([`StagedFile`]), and Arrow batches written as
//! such a Parquet file with the columns of each row group encoded in parallel.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

/// Writing an output file failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The file or its folder could not be written.
    #[error("cannot write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Encoding failed (for example, a batch does not match the file's schema).
    #[error("cannot write {}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        cause: EncodeCause,
    },
}

/// Why a batch could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeCause {
    /// The Parquet writer's own error.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow refused the batch.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A batch's columns are not the file's.
    #[error("a batch does not match the file's columns")]
    SchemaMismatch,
    /// A write after the file was finished.
    #[error("the file is already closed")]
    Closed,
}

/// A file written under a hidden temporary name beside its target. [`commit`] renames it into
/// place; dropped uncommitted (an error, a panic), the temporary file is removed and an older
/// file of the target's name stays as it was.
///
/// [`commit`]: StagedFile::commit
pub struct StagedFile {
    path: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl StagedFile {
    /// Creates the temporary file for `path` and returns it open for writing.
    pub fn create(path: &Path) -> std::io::Result<(StagedFile, File)> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A name of its own per writer: two runs writing the same target never share a
        // temporary file (the last rename wins, and each renamed file is whole).
        let tmp = path.with_file_name(format!(".{name}.{}-{}.tmp", std::process::id(), unique()));
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        let staged = StagedFile {
            path: path.to_path_buf(),
            tmp,
            committed: false,
        };
        Ok((staged, file))
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file into place.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        std::fs::rename(&self.tmp, &self.path)?;
        self.committed = true;
        Ok(self.path.clone())
    }
}

/// A number no other call in this process gets.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temporary file is all that is left to clean.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A Parquet file being written under a hidden temporary name beside its target. [`finish`]
/// renames it into place; dropped unfinished (an error, a panic), the temporary file is removed,
/// so a reader never sees half a file.
///
/// [`finish`]: ParquetOut::finish
pub struct ParquetOut {
    staged: StagedFile,
    schema: SchemaRef,
    writer: Option<SerializedFileWriter<File>>,
    factory: Option<ArrowRowGroupWriterFactory>,
    row_groups: usize,
}

impl ParquetOut {
    /// Starts the file at `path` for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef, compression: Compression) -> Result<Self, OutputError> {
        Self::create_with(path, schema, compression, &[])
    }

    /// [`ParquetOut::create`], with the columns in `distinct` written without a dictionary:
    /// their values rarely repeat (ids, sentences, measurements), so building one only costs.
    pub fn create_with(
        path: &Path,
        schema: SchemaRef,
        compression: Compression,
        distinct: &[&str],
    ) -> Result<Self, OutputError> {
        let encode = |cause: EncodeCause| OutputError::Encode {
            path: path.to_path_buf(),
            cause,
        };
        let mut props = distinct
            .iter()
            .fold(WriterProperties::builder().set_compression(compression), |b, c| {
                b.set_column_dictionary_enabled(ColumnPath::from(*c), false)
            })
            .build();
        // Readers rebuild the exact Arrow types (timestamp units, dates) from the embedded schema.
        parquet::arrow::add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let props = std::sync::Arc::new(props);
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)
            .map_err(|e| encode(e.into()))?;
        let (staged, file) = StagedFile::create(path).map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // From here on, dropping `out` removes the temporary file.
        let mut out = ParquetOut {
            staged,
            schema: schema.clone(),
            writer: None,
            factory: None,
            row_groups: 0,
        };
        let writer =
            SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), props).map_err(|e| encode(e.into()))?;
        out.factory = Some(ArrowRowGroupWriterFactory::new(&writer, schema));
        out.writer = Some(writer);
        Ok(out)
    }

    /// The file's final path.
    pub fn path(&self) -> &Path {
        self.staged.path()
    }

    /// Writes one batch as one row group, its columns encoded in parallel.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        let encode = |cause: EncodeCause| OutputError::Encode {
            path: self.staged.path().to_path_buf(),
            cause,
        };
        if batch.schema().fields() != self.schema.fields() {
            return Err(encode(EncodeCause::SchemaMismatch));
        }
        let (Some(writer), Some(factory)) = (self.writer.as_mut(), self.factory.as_ref()) else {
            return Err(encode(EncodeCause::Closed));
        };
        let mut leaves = Vec::new();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column).map_err(|e| encode(e.into()))?);
        }
        let columns = factory
            .create_column_writers(self.row_groups)
            .map_err(|e| encode(e.into()))?;
        let chunks: Vec<ArrowColumnChunk> = columns
            .into_par_iter()
            .zip(leaves.into_par_iter())
            .map(|(mut w, leaf)| {
                w.write(&leaf)?;
                w.close()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| encode(e.into()))?;
        let mut group = writer.next_row_group().map_err(|e| encode(e.into()))?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group).map_err(|e| encode(e.into()))?;
        }
        group.close().map_err(|e| encode(e.into()))?;
        self.row_groups += 1;
        Ok(())
    }

    /// Completes the file and renames it into place; returns its final path.
    pub fn finish(mut self) -> Result<PathBuf, OutputError> {
        let encode = |cause: EncodeCause| OutputError::Encode {
            path: self.staged.path().to_path_buf(),
            cause,
        };
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| encode(e.into()))?;
        }
        let path = self.staged.path().to_path_buf();
        self.staged.commit().map_err(|source| OutputError::Io { path, source })
    }
}
