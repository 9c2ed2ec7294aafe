//! Parquet outputs appear whole or not at all.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use churnguard_ingest::{EncodeCause, OutputError, ParquetOut};
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};

fn batch(from: i64, n: i64) -> RecordBatch {
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(from..from + n)) as ArrayRef),
        (
            "x",
            Arc::new(Float64Array::from_iter(
                (from..from + n).map(|i| (i % 3 != 0).then_some(i as f64 / 2.0)),
            )),
        ),
    ])
    .unwrap()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn batches_become_row_groups_and_the_file_reads_back_equal() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("out.parquet");
    let (a, b) = (batch(0, 1000), batch(1000, 500));
    let mut out = ParquetOut::create(&path, a.schema(), Compression::ZSTD(Default::default())).unwrap();
    out.write(&a).unwrap();
    out.write(&b).unwrap();
    let staged = files(d.path());
    assert!(
        staged.len() == 1 && staged[0].starts_with(".out.parquet.") && staged[0].ends_with(".tmp"),
        "nothing at the final name before finish: {staged:?}"
    );
    assert_eq!(out.finish().unwrap(), path);
    assert_eq!(files(d.path()), ["out.parquet"]);
    let meta = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(meta.metadata().num_row_groups(), 2);
    let read: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(std::fs::File::open(&path).unwrap(), 4096)
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let all = arrow::compute::concat_batches(&a.schema(), &read).unwrap();
    assert_eq!(all, arrow::compute::concat_batches(&a.schema(), &[a, b]).unwrap());
}

#[test]
fn an_unfinished_file_leaves_the_previous_one_intact() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("out.parquet");
    std::fs::write(&path, b"previous").unwrap();
    let a = batch(0, 10);
    let mut out = ParquetOut::create(&path, a.schema(), Compression::UNCOMPRESSED).unwrap();
    out.write(&a).unwrap();
    drop(out);
    assert_eq!(files(d.path()), ["out.parquet"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
}

#[test]
fn a_batch_of_other_columns_and_a_missing_folder_are_errors_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("out.parquet");
    let a = batch(0, 10);
    let mut out = ParquetOut::create(&path, a.schema(), Compression::UNCOMPRESSED).unwrap();
    let other = RecordBatch::try_from_iter([("y", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
    let e = out.write(&other).unwrap_err();
    assert!(
        matches!(
            e,
            OutputError::Encode {
                cause: EncodeCause::SchemaMismatch,
                ..
            }
        ),
        "{e}"
    );
    // The message names the file once, the cause says why (as a chain, never repeated).
    let cause = std::error::Error::source(&e).map(|c| c.to_string()).unwrap_or_default();
    assert!(
        e.to_string().contains("out.parquet") && cause.contains("columns"),
        "{e}: {cause}"
    );
    assert!(!e.to_string().contains("columns"), "{e}");
    drop(out);
    assert!(files(d.path()).is_empty());

    let missing = d.path().join("no/such/folder/out.parquet");
    let e = ParquetOut::create(&missing, a.schema(), Compression::UNCOMPRESSED)
        .err()
        .unwrap();
    assert!(matches!(e, OutputError::Io { .. }), "{e}");
    assert!(e.to_string().contains("no/such/folder/out.parquet"), "{e}");
}

#[test]
fn two_writers_of_one_target_interleaved_leave_one_whole_file() {
    // Both write, batch by batch in turn, to the same path: each has its own temporary file, the
    // last to finish wins, and the file at the target is exactly one writer's data.
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("out.parquet");
    let (a, b) = (batch(0, 700), batch(5000, 300));
    let mut first = ParquetOut::create(&path, a.schema(), Compression::SNAPPY).unwrap();
    let mut second = ParquetOut::create(&path, a.schema(), Compression::SNAPPY).unwrap();
    for _ in 0..3 {
        first.write(&a).unwrap();
        second.write(&b).unwrap();
    }
    first.finish().unwrap();
    second.finish().unwrap();
    assert_eq!(files(d.path()), ["out.parquet"], "no temporary file left");
    let read: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(std::fs::File::open(&path).unwrap(), 4096)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
    let all = arrow::compute::concat_batches(&a.schema(), &read).unwrap();
    let want = arrow::compute::concat_batches(&a.schema(), &[b.clone(), b.clone(), b]).unwrap();
    assert_eq!(all, want, "the second writer's file, whole");
}
