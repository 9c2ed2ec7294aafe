//! Customer partitions: every table of a pipeline stored as `part=K/` folders of Parquet files,
//! a customer's rows in the same `K` of every table, so each partition can be read, featured and
//! scored on its own and memory follows the largest partition rather than the whole data.
//!
//! [`write_partitions`] makes that layout from any input: the partition of a row is
//! [`part_of`] its customer id as written (FNV-1a 64 of the text, modulo the number of parts).

use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Pipeline, Role, TableSource};
use parquet::basic::Compression;
use serde::Serialize;

use crate::error::{DecodeCause, ErrorKind, IngestError};
use crate::output::ParquetOut;
use crate::report::Progress;
use crate::source::{PART_PREFIX, SourceFile};

/// The most partitions `churnguard partition` writes: each is an open file while it runs.
pub const MAX_PARTS: u32 = 4096;
/// Rows a partition collects before they go to its file as one row group: memory while
/// partitioning is about this many rows per partition.
const PART_GROUP_ROWS: usize = 65_536;
/// The file each partition of a table is written to, inside its `part=K/` folder.
pub const PART_FILE: &str = "part-0.parquet";

/// The partition of a customer id, as its text: FNV-1a (64 bit) of the id's bytes, modulo `parts`.
/// Integer ids are hashed as their decimal text, so `7` stored as a number or as text goes to the
/// same partition.
pub fn part_of(id: &str, parts: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(parts.max(1))) as u32
}

/// The folder of one partition of a table.
pub fn part_dir(table_dir: &Path, key: &str) -> PathBuf {
    table_dir.join(format!("{PART_PREFIX}{key}"))
}

/// The `part=K` keys of a folder, or none when it is not a partitioned folder.
fn part_keys(dir: &Path) -> std::io::Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(key) = entry.file_name().to_str().and_then(|n| n.strip_prefix(PART_PREFIX)) {
            keys.push(key.to_string());
        }
    }
    sort_keys(&mut keys);
    Ok(keys)
}

/// Numeric keys in number order (`2` before `10`), others after them as text.
fn sort_keys(keys: &mut [String]) {
    keys.sort_by(|a, b| match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    });
}

/// The partitions of a pipeline's tables: `None` when no table is partitioned, else the keys
/// every table has. A partitioned table beside a whole one, or a partition one table lacks, is
/// refused: a customer's rows would be split between partitions.
pub fn partitions(p: &Pipeline) -> Result<Option<Vec<String>>, IngestError> {
    let mut found: Vec<(Role, &TableSource, Vec<String>)> = Vec::new();
    for (role, src) in p.tables() {
        let keys = part_keys(&src.path).map_err(|e| IngestError::table(role, &src.path, ErrorKind::Io(e)))?;
        found.push((role, src, keys));
    }
    let Some((_, _, first)) = found.iter().find(|(_, _, k)| !k.is_empty()) else {
        return Ok(None);
    };
    let first = first.clone();
    for (role, src, keys) in &found {
        if keys.is_empty() {
            return Err(IngestError::table(*role, &src.path, ErrorKind::NotPartitioned));
        }
        if let Some(missing) = first
            .iter()
            .find(|k| !keys.contains(k))
            .or_else(|| keys.iter().find(|k| !first.contains(k)))
        {
            return Err(IngestError::table(
                *role,
                &src.path,
                ErrorKind::PartitionMismatch { key: missing.clone() },
            ));
        }
    }
    Ok(Some(first))
}

/// The pipeline restricted to some partitions: every table reads only its `part=<key>` folders.
pub fn partition_pipeline(p: &Pipeline, keys: &[String]) -> Pipeline {
    let mut out = p.clone();
    let d = &mut out.data;
    let sources = [
        d.events.as_mut().map(|t| &mut t.source),
        d.customers.as_mut().map(|t| &mut t.source),
        d.interactions.as_mut().map(|t| &mut t.source),
    ];
    for src in sources.into_iter().flatten() {
        src.parts = Some(keys.to_vec());
    }
    out
}

/// What [`write_partitions`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionReport {
    /// The folder holding one sub-folder per table.
    pub dir: PathBuf,
    /// Partitions per table.
    pub parts: u32,
    /// Per table: its role, its folder, and its rows per partition.
    pub tables: Vec<PartitionedTable>,
}

/// One table's partitions.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionedTable {
    /// Its role.
    pub role: Role,
    /// Its folder (`<dir>/<role>`), to set as the table's `path`.
    pub dir: PathBuf,
    /// Rows written to each partition, by partition number.
    pub rows: Vec<u64>,
}

impl PartitionedTable {
    /// Rows of the largest partition.
    pub fn largest(&self) -> u64 {
        self.rows.iter().copied().max().unwrap_or(0)
    }
}

/// Writes every table of `p` as `parts` customer partitions under `out` (`<out>/<role>/part=K/`),
/// reading each table once in batches. `out` must not exist yet, or be an empty folder: the
/// partitions are written into a hidden folder beside it and renamed when all are complete, so a
/// failed or killed run never leaves half a layout under `out`.
pub fn write_partitions(
    p: &Pipeline,
    parts: u32,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<PartitionReport, IngestError> {
    let whole = |kind| IngestError::pipeline(kind);
    if parts == 0 || parts > MAX_PARTS {
        return Err(whole(ErrorKind::PartCount { parts, max: MAX_PARTS }));
    }
    if p.data.customers.as_ref().is_some_and(|c| c.row_number_ids) {
        return Err(whole(ErrorKind::PartitionWithoutIds));
    }
    let occupied = out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true);
    if occupied {
        return Err(whole(ErrorKind::PartitionOutExists(out.to_path_buf())));
    }
    let staging = staging_dir(out);
    let _ = std::fs::remove_dir_all(&staging);
    let result = write_tables(p, parts, &staging, progress);
    let tables = match result {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let io = |e| IngestError::pipeline(ErrorKind::Io(e));
    if out.exists() {
        std::fs::remove_dir(out).map_err(io)?;
    }
    std::fs::rename(&staging, out).map_err(io)?;
    let tables = tables
        .into_iter()
        .map(|t| PartitionedTable {
            dir: out.join(t.role.name()),
            ..t
        })
        .collect();
    Ok(PartitionReport {
        dir: out.to_path_buf(),
        parts,
        tables,
    })
}

/// The hidden folder partitions are written into, beside `out`.
fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "partitions".into());
    out.with_file_name(format!(".{name}.incomplete-{}", std::process::id()))
}

fn write_tables(
    p: &Pipeline,
    parts: u32,
    staging: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<PartitionedTable>, IngestError> {
    let mut tables = Vec::new();
    for (role, src) in p.tables() {
        let dir = staging.join(role.name());
        let rows = write_table(role, src, parts, &dir, p.data.batch_rows, progress)?;
        tables.push(PartitionedTable { role, dir, rows });
    }
    Ok(tables)
}

/// One partition's file being written, with the rows waiting to become a row group.
struct PartOut {
    out: ParquetOut,
    waiting: Vec<RecordBatch>,
    waiting_rows: usize,
    written: u64,
}

impl PartOut {
    fn push(&mut self, batch: RecordBatch, schema: &SchemaRef, force: bool) -> Result<(), crate::OutputError> {
        if batch.num_rows() > 0 {
            self.waiting_rows += batch.num_rows();
            self.written += batch.num_rows() as u64;
            self.waiting.push(batch);
        }
        if self.waiting_rows >= PART_GROUP_ROWS || (force && self.waiting_rows > 0) {
            let group =
                arrow::compute::concat_batches(schema, &self.waiting).map_err(|e| crate::OutputError::Encode {
                    path: self.out.path().to_path_buf(),
                    cause: e.into(),
                })?;
            self.out.write(&group)?;
            self.waiting.clear();
            self.waiting_rows = 0;
        }
        Ok(())
    }
}

/// Reads one table and writes its rows to their partitions; returns rows per partition.
fn write_table(
    role: Role,
    src: &TableSource,
    parts: u32,
    dir: &Path,
    batch_rows: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u64>, IngestError> {
    let source = SourceFile::open(role, src)?;
    let err = |kind| IngestError::table(role, &src.path, kind);
    let names = source.column_names();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let id_at = names.iter().position(|n| n == &src.customer_id).ok_or_else(|| {
        err(ErrorKind::MissingColumn {
            key: format!("data.{role}.customer_id"),
            column: src.customer_id.clone(),
            available: names.clone(),
        })
    })?;
    let schema = source.schema.clone();
    let written = |e: crate::OutputError| err(ErrorKind::PartitionWrite(Box::new(e)));
    let mut outs: Vec<PartOut> = Vec::with_capacity(parts as usize);
    for k in 0..parts {
        let folder = part_dir(dir, &k.to_string());
        std::fs::create_dir_all(&folder).map_err(|e| err(ErrorKind::Io(e)))?;
        let out = ParquetOut::create(&folder.join(PART_FILE), schema.clone(), Compression::SNAPPY).map_err(written)?;
        outs.push(PartOut {
            out,
            waiting: Vec::new(),
            waiting_rows: 0,
            written: 0,
        });
    }
    let mut rows_read = 0u64;
    let mut rows_of: Vec<Vec<u32>> = vec![Vec::new(); parts as usize];
    for batch in source.stream(&columns, batch_rows.max(1))? {
        let failed = |e| {
            err(ErrorKind::Decode {
                rows_read,
                cause: DecodeCause::Reader(e),
            })
        };
        let batch = batch.map_err(failed)?;
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(failed)?;
        route(batch.column(id_at), parts, &mut rows_of).map_err(failed)?;
        for (out, rows) in outs.iter_mut().zip(&mut rows_of) {
            if rows.is_empty() {
                continue;
            }
            let indices = UInt32Array::from(std::mem::take(rows));
            let part = arrow::compute::take_record_batch(&batch, &indices).map_err(failed)?;
            out.push(part, &schema, false).map_err(written)?;
        }
        rows_read += batch.num_rows() as u64;
        progress(Progress {
            role,
            rows_read,
            total_rows: source.total_rows,
        });
    }
    let mut counts = Vec::with_capacity(outs.len());
    for mut out in outs {
        out.push(RecordBatch::new_empty(schema.clone()), &schema, true)
            .map_err(written)?;
        counts.push(out.written);
        out.out.finish().map_err(written)?;
    }
    Ok(counts)
}

/// Sorts the rows of a batch by partition (`rows_of[k]`: the rows of partition `k`, in order).
fn route(ids: &ArrayRef, parts: u32, rows_of: &mut [Vec<u32>]) -> Result<(), arrow::error::ArrowError> {
    let text: ArrayRef = match ids.data_type() {
        DataType::Utf8 => ids.clone(),
        _ => arrow::compute::cast(ids, &DataType::Utf8)?,
    };
    let text = text
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .ok_or_else(|| arrow::error::ArrowError::CastError("customer ids are not text".into()))?;
    for i in 0..text.len() {
        // A row without an id is rejected when the partition is read; it goes to partition 0.
        let k = if text.is_null(i) {
            0
        } else {
            part_of(text.value(i), parts)
        };
        rows_of[k as usize].push(i as u32);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_of_is_fnv1a_and_spreads() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(
            part_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
        );
        let mut counts = [0u32; 8];
        for i in 0..80_000 {
            counts[part_of(&i.to_string(), 8) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        assert_ne!(part_of("007", 1000), part_of("7", 1000));
    }

    #[test]
    fn keys_sort_as_numbers() {
        let mut k: Vec<String> = ["10", "2", "x", "0"].iter().map(|s| s.to_string()).collect();
        sort_keys(&mut k);
        assert_eq!(k, ["0", "2", "10", "x"]);
    }
}
