//! Ingestion against real Parquet and CSV files written into a temporary folder.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampSecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use churnguard_config::{Date, Pipeline};
use churnguard_ingest::{ErrorKind, IdKind, IngestError, Reason, TableReport, ValidationReport, column};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn parquet(&self, name: &str, cols: Vec<(&str, ArrayRef)>) -> PathBuf {
        let path = self.path(name);
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn pipeline(&self, toml: &str) -> Pipeline {
        let path = self.write("pipeline.toml", toml.as_bytes());
        churnguard_config::load(&path).unwrap()
    }
}

fn a<T: Array + 'static>(x: T) -> ArrayRef {
    Arc::new(x)
}

fn events_toml(file: &str, extra: &str) -> String {
    format!(
        "[pipeline]\nname = \"t\"\n[data.events]\npath = \"{file}\"\ncustomer_id = \"cid\"\ntimestamp = \"ts\"\namount = \"amt\"\n{extra}"
    )
}

fn day(s: &str) -> i64 {
    Date::parse_iso(s).unwrap().start_ms()
}

/// Reads every table of the pipeline and returns the batches of each.
fn read_all(p: &Pipeline, as_of: Option<Date>) -> Result<Vec<(TableReport, Vec<RecordBatch>)>, IngestError> {
    let mut tables = churnguard_ingest::open(p, as_of)?;
    let opts = tables.options.clone();
    let mut pseudo = tables.pseudonymizer.take();
    let mut out = Vec::new();
    for t in tables.iter() {
        let mut batches = Vec::new();
        let report = t.scan(&opts, pseudo.as_mut(), |b, _| batches.push(b))?;
        out.push((report, batches));
    }
    Ok(out)
}

fn read_one(p: &Pipeline) -> Result<(TableReport, Vec<RecordBatch>), IngestError> {
    read_all(p, None).map(|mut v| v.remove(0))
}

fn validate(p: &Pipeline) -> ValidationReport {
    churnguard_ingest::validate(p, None, &mut |_| {})
}

fn basic_events(d: &Dir, name: &str) -> PathBuf {
    d.parquet(
        name,
        vec![
            ("cid", a(Int32Array::from(vec![1, 2, 2, 3]))),
            (
                "ts",
                a(StringArray::from(vec![
                    "1997-01-01",
                    "19970105",
                    "1997-02-01T10:00:00Z",
                    "1997-03-01",
                ])),
            ),
            ("amt", a(Float64Array::from(vec![10.0, 0.0, -5.0, 2.5]))),
        ],
    )
}

#[test]
fn reads_and_coerces_a_clean_table() {
    let d = Dir::new();
    basic_events(&d, "e.parquet");
    let p = d.pipeline(&events_toml("e.parquet", "[data]\nas_of = \"1997-02-15\""));
    let (r, batches) = read_all(&p, None).unwrap().remove(0);
    assert_eq!((r.rows_read, r.rows_kept, r.customers), (4, 4, 3));
    assert_eq!((r.zero_amounts, r.negative_amounts), (Some(1), Some(1)));
    assert_eq!(
        (r.first.as_deref(), r.last.as_deref()),
        (Some("1997-01-01"), Some("1997-03-01"))
    );
    assert_eq!(r.future_rows, Some(1));
    assert_eq!(r.id_kind, IdKind::Integer);
    let b = &batches[0];
    let ids = b
        .column_by_name(column::CUSTOMER_ID)
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(ids.values(), &[1, 2, 2, 3]);
    let ts = b
        .column_by_name(column::TIMESTAMP)
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values(),
        &[
            day("1997-01-01"),
            day("1997-01-05"),
            day("1997-02-01") + 36_000_000,
            day("1997-03-01")
        ]
    );
}

#[test]
fn timestamps_of_every_storage_kind() {
    let d = Dir::new();
    let want = [day("1997-01-01"), day("1997-01-02")];
    let kinds: Vec<(&str, ArrayRef)> = vec![
        ("yyyymmdd", a(Int64Array::from(vec![19970101, 19970102]))),
        (
            "date",
            a(Date32Array::from(vec![
                (want[0] / 86_400_000) as i32,
                (want[1] / 86_400_000) as i32,
            ])),
        ),
        (
            "seconds",
            a(TimestampSecondArray::from(vec![want[0] / 1000, want[1] / 1000])),
        ),
        ("iso", a(StringArray::from(vec!["1997-01-01", "1997-01-02 00:00:00"]))),
    ];
    for (i, (name, arr)) in kinds.into_iter().enumerate() {
        let file = format!("k{i}.parquet");
        d.parquet(
            &file,
            vec![
                ("cid", a(Int32Array::from(vec![1, 2]))),
                ("ts", arr),
                ("amt", a(Float64Array::from(vec![1.0, 2.0]))),
            ],
        );
        let (_, batches) = read_one(&d.pipeline(&events_toml(&file, ""))).unwrap();
        let ts = batches[0].column(1).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.values(), &want, "{name}");
    }
}

#[test]
fn timestamps_outside_sane_years_are_rejected_naming_the_value() {
    // The smallest timestamp[ms] Parquet holds once panicked a debug build in date arithmetic;
    // year 9999 made a whole data set end in the year 10000.
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1, 2, 3, 4]))),
            (
                "ts",
                a(arrow::array::TimestampMillisecondArray::from(vec![
                    day("1997-01-01"),
                    -9_223_372_036_854_775_807,
                    day("9999-12-31"),
                    day("1899-12-31"),
                ])),
            ),
            ("amt", a(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]))),
        ],
    );
    let (r, batches) = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap();
    assert_eq!(r.rows_kept, 1);
    assert_eq!(r.rejected_for(Reason::TimestampOutOfRange), 3);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let strict = d.pipeline(&events_toml("e.parquet", "[data]\nstrict = true"));
    let msg = read_one(&strict).unwrap_err().to_string();
    assert!(
        msg.contains("`ts`") && msg.contains("before 1900 or after 2199"),
        "{msg}"
    );
}

#[test]
fn non_finite_and_absurd_amounts_are_rejected_alike_in_parquet_and_csv() {
    let d = Dir::new();
    let amounts = [1.0, f64::NAN, f64::INFINITY, 1e308];
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1, 2, 3, 4]))),
            ("ts", a(StringArray::from(vec!["1997-01-01"; 4]))),
            ("amt", a(Float64Array::from(amounts.to_vec()))),
        ],
    );
    d.write(
        "e.csv",
        b"cid,ts,amt\n1,1997-01-01,1.0\n2,1997-01-01,NaN\n3,1997-01-01,inf\n4,1997-01-01,1e308\n",
    );
    for file in ["e.parquet", "e.csv"] {
        let (r, batches) = read_one(&d.pipeline(&events_toml(file, ""))).unwrap();
        assert_eq!(r.rejected_for(Reason::BadNumber), 3, "{file}");
        assert_eq!(r.rows_kept, 1, "{file}");
        let kept = batches[0].column(2).as_primitive::<Float64Type>();
        assert_eq!(kept.value(0), 1.0, "{file}");
    }
}

#[test]
fn an_attribute_name_lightgbm_refuses_is_an_error_naming_the_column_unless_excluded() {
    let d = Dir::new();
    d.write("c.csv", b"id,pl\tan,region\n1,basic,north\n2,pro,south\n");
    let toml = |extra: &str| {
        format!("[pipeline]\nname = \"t\"\n[data.customers]\npath = \"c.csv\"\ncustomer_id = \"id\"\n{extra}")
    };
    let e = read_one(&d.pipeline(&toml(""))).unwrap_err().to_string();
    assert!(
        e.contains("column `pl\\tan` cannot be a model feature") && e.contains("exclude"),
        "{e}"
    );
    let (r, _) = read_one(&d.pipeline(&toml("exclude = [\"pl\\tan\"]\n"))).unwrap();
    assert_eq!(r.rows_kept, 2);
}

#[test]
fn csv_ids_are_read_as_written_leading_zeros_and_all() {
    let d = Dir::new();
    d.write("c.csv", b"id,plan\n007,a\n7,b\n0007,c\n000,d\n0,e\n");
    let p = d.pipeline("[pipeline]\nname = \"t\"\n[data.customers]\npath = \"c.csv\"\ncustomer_id = \"id\"\n");
    let (r, batches) = read_one(&p).unwrap();
    // Five customers, none a duplicate of another: `007`, `7` and `0007` are three ids.
    assert_eq!(r.rows_kept, 5);
    assert_eq!(r.rejected_for(Reason::DuplicateCustomer), 0);
    let ids: Vec<String> = (0..batches[0].num_rows())
        .map(|i| arrow::util::display::array_value_to_string(batches[0].column(0).as_ref(), i).unwrap())
        .collect();
    assert_eq!(ids, ["007", "7", "0007", "000", "0"]);
}

#[test]
fn numbers_stored_as_text_blank_is_null_junk_is_rejected() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(StringArray::from(vec!["a", "b", "c", " "]))),
            (
                "ts",
                a(StringArray::from(vec![
                    "1997-01-01",
                    "1997-01-02",
                    "1997-01-03",
                    "1997-01-04",
                ])),
            ),
            ("amt", a(StringArray::from(vec![" 12.5 ", "", "twelve", "3"]))),
        ],
    );
    let (r, batches) = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap();
    assert_eq!((r.rows_read, r.rows_kept), (4, 2));
    assert_eq!(r.rejected_for(Reason::BadNumber), 1);
    assert_eq!(r.rejected_for(Reason::MissingId), 1);
    let bad = r.rejected.iter().find(|x| x.reason == Reason::BadNumber).unwrap();
    assert_eq!((bad.examples[0].row, bad.examples[0].column.as_str()), (3, "amt"));
    assert_eq!(bad.examples[0].value.as_deref(), Some("twelve"));
    let amt = r.column("amt").unwrap();
    assert_eq!((amt.nulls, amt.blanks), (1, 1));
    let out = batches[0].column(2).as_primitive::<Float64Type>();
    assert_eq!(out.value(0), 12.5);
    assert!(out.is_null(1));
    assert_eq!(r.id_kind, IdKind::Text);
}

#[test]
fn unparseable_timestamps_are_rejected_with_examples_and_strict_mode_stops() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1, 2, 3]))),
            (
                "ts",
                a(StringArray::from(vec![Some("1997-01-01"), Some("31/12/1997"), None])),
            ),
            ("amt", a(Float64Array::from(vec![1.0, 2.0, 3.0]))),
        ],
    );
    let (r, _) = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap();
    assert_eq!(r.rows_kept, 1);
    assert_eq!(r.rejected_for(Reason::BadTimestamp), 1);
    assert_eq!(r.rejected_for(Reason::MissingTimestamp), 1);
    let strict = d.pipeline(&events_toml("e.parquet", "[data]\nstrict = true"));
    let e = read_one(&strict).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e.kind, ErrorKind::Strict { row: 2, .. }), "{msg}");
    assert!(
        msg.contains("e.parquet") && msg.contains("`ts`") && msg.contains("31/12/1997"),
        "{msg}"
    );
}

#[test]
fn every_timestamp_unparseable_is_an_error_naming_the_column_and_values() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1, 2]))),
            ("ts", a(StringArray::from(vec!["01/02/1997", "yesterday"]))),
            ("amt", a(Float64Array::from(vec![1.0, 2.0]))),
        ],
    );
    let e = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e.kind, ErrorKind::NoTimestamps { .. }), "{msg}");
    assert!(
        msg.contains("e.parquet") && msg.contains("`ts`") && msg.contains("\"01/02/1997\""),
        "{msg}"
    );
}

#[test]
fn missing_file_directory_not_parquet_and_truncated_are_named() {
    let d = Dir::new();
    let good = basic_events(&d, "good.parquet");
    let bytes = std::fs::read(&good).unwrap();
    d.write("truncated.parquet", &bytes[..bytes.len() / 2]);
    d.write("text.parquet", b"customer_id,date\n1,1997-01-01\n");
    d.write("empty.parquet", b"");
    std::fs::create_dir(d.path("folder.parquet")).unwrap();
    type Check = fn(&ErrorKind) -> bool;
    let cases: [(&str, Check); 5] = [
        ("absent.parquet", |k| matches!(k, ErrorKind::NotFound)),
        ("folder.parquet", |k| matches!(k, ErrorKind::NoParquetFiles)),
        ("text.parquet", |k| matches!(k, ErrorKind::NotParquet(_))),
        ("truncated.parquet", |k| matches!(k, ErrorKind::NotParquet(_))),
        ("empty.parquet", |k| matches!(k, ErrorKind::EmptyFile)),
    ];
    for (file, is) in cases {
        let e = read_one(&d.pipeline(&events_toml(file, ""))).unwrap_err();
        let msg = e.to_string();
        assert!(is(&e.kind), "{file}: {msg}");
        assert!(msg.contains(file) && msg.starts_with("events table"), "{file}: {msg}");
    }
}

#[test]
fn missing_column_lists_the_columns_there_are() {
    let d = Dir::new();
    basic_events(&d, "e.parquet");
    let p = d.pipeline(&events_toml("e.parquet", "quantity = \"Qty\""));
    let e = read_one(&p).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e.kind, ErrorKind::MissingColumn { .. }), "{msg}");
    assert!(
        msg.contains("`Qty`") && msg.contains("data.events.quantity") && msg.contains("cid, ts, amt"),
        "{msg}"
    );
    // A near miss gets a suggestion.
    let p = d.pipeline(&events_toml("e.parquet", "").replace("\"cid\"", "\"CID\""));
    assert!(read_one(&p).unwrap_err().to_string().contains("did you mean `cid`?"));
}

#[test]
fn column_of_a_type_that_cannot_be_coerced() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1]))),
            ("ts", a(Float64Array::from(vec![1.5]))),
            ("amt", a(BooleanArray::from(vec![true]))),
            ("when", a(Date32Array::from(vec![1]))),
        ],
    );
    let e = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e.kind, ErrorKind::WrongType { .. }), "{msg}");
    assert!(
        msg.contains("`ts`") && msg.contains("Float64") && msg.contains("e.parquet"),
        "{msg}"
    );
    // With a good timestamp, the boolean amount is the next column at fault.
    let p = d.pipeline(&events_toml("e.parquet", "").replace("\"ts\"", "\"when\""));
    let msg = read_one(&p).unwrap_err().to_string();
    assert!(
        msg.contains("`amt`") && msg.contains("Boolean") && msg.contains("a number"),
        "{msg}"
    );
}

#[test]
fn empty_tables_are_refused() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(Vec::<i64>::new()))),
            ("ts", a(StringArray::from(Vec::<&str>::new()))),
            ("amt", a(Float64Array::from(Vec::<f64>::new()))),
        ],
    );
    d.write("header.csv", b"cid,ts,amt\n");
    d.write("nothing.csv", b"");
    for file in ["e.parquet", "header.csv", "nothing.csv"] {
        let e = read_one(&d.pipeline(&events_toml(file, ""))).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Empty), "{file}: {e}");
        assert!(e.to_string().contains(file), "{e}");
    }
}

#[test]
fn a_csv_column_with_no_value_at_all_rejects_rows_rather_than_failing() {
    let d = Dir::new();
    d.write("e.csv", b"cid,ts,amt\n1,1997-01-01,\n2,1997-01-02,\n");
    let (r, batches) = read_one(&d.pipeline(&events_toml("e.csv", ""))).unwrap();
    assert_eq!(r.rows_kept, 2);
    assert_eq!(r.column("amt").unwrap().nulls, 2);
    assert!(batches[0].column(2).is_null(0));
    d.write("f.csv", b"cid,ts,amt\n,1997-01-01,1\n,1997-01-02,2\n");
    let e = read_one(&d.pipeline(&events_toml("f.csv", ""))).unwrap_err();
    assert!(
        e.to_string()
            .contains("all 2 rows were rejected: 2 missing customer id"),
        "{e}"
    );
}

#[test]
fn customers_duplicates_are_rejected_and_attributes_typed() {
    let d = Dir::new();
    d.parquet(
        "c.parquet",
        vec![
            ("id", a(StringArray::from(vec!["a", "b", "a"]))),
            ("plan", a(StringArray::from(vec!["gold", " ", "basic"]))),
            ("spend", a(StringArray::from(vec!["1.5", " ", "2"]))),
            ("age", a(Int32Array::from(vec![30, 40, 50]))),
            ("email", a(StringArray::from(vec!["x@y", "z@w", "q@r"]))),
            ("churned", a(Int64Array::from(vec![1, 0, 1]))),
        ],
    );
    let toml = "[pipeline]\nname = \"c\"\n[data.customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\npii_columns = [\"email\"]\n[label]\nkind = \"column\"\ncolumn = \"churned\"\npositive = 1\n";
    let (r, batches) = read_one(&d.pipeline(toml)).unwrap();
    assert_eq!((r.rows_read, r.rows_kept, r.duplicate_customer_rows), (3, 2, Some(1)));
    assert_eq!(r.dropped_pii, vec!["email".to_string()]);
    let b = &batches[0];
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["customer_id", "label", "plan", "spend", "age"]);
    assert_eq!(b.column_by_name("label").unwrap().as_string::<i32>().value(0), "1");
    assert!(b.column_by_name("plan").unwrap().is_null(1), "blank category is null");
    assert_eq!(r.column("plan").unwrap().part, "attribute (categorical)");
    assert_eq!(r.column("age").unwrap().part, "attribute (numeric)");
    // `spend` is text full of numbers but not listed as numeric: a hint says so.
    assert!(r.hints.iter().any(|h| h.contains("`spend`")), "{:?}", r.hints);
    let with_numeric = toml.replace("pii_columns", "numeric = [\"spend\"]\npii_columns");
    let (r, batches) = read_one(&d.pipeline(&with_numeric)).unwrap();
    assert_eq!(r.column("spend").unwrap().blanks, 1);
    assert_eq!(
        batches[0]
            .column_by_name("spend")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0),
        1.5
    );
}

#[test]
fn a_label_value_never_seen_makes_the_data_unusable() {
    let d = Dir::new();
    d.parquet(
        "c.parquet",
        vec![
            ("id", a(Int64Array::from(vec![1, 2]))),
            ("Churn", a(StringArray::from(vec!["No", "No"]))),
        ],
    );
    let toml = "[pipeline]\nname = \"c\"\n[data.customers]\npath = \"c.parquet\"\ncustomer_id = \"id\"\n[label]\nkind = \"column\"\ncolumn = \"Churn\"\npositive = \"yes\"\n";
    let r = validate(&d.pipeline(toml));
    assert!(!r.usable());
    assert!(
        r.errors[0].contains("\"yes\"") && r.errors[0].contains("No"),
        "{:?}",
        r.errors
    );
}

#[test]
fn pseudonymized_ids_agree_across_tables_and_never_show_the_originals() {
    let d = Dir::new();
    basic_events(&d, "e.parquet");
    d.parquet(
        "c.parquet",
        vec![
            ("cid", a(StringArray::from(vec!["1", "2", "3"]))),
            ("phone", a(StringArray::from(vec!["555", "556", "557"]))),
        ],
    );
    let var = "CHURNGUARD_TEST_KEY_AGREE";
    let toml = format!(
        "{}[data.customers]\npath = \"c.parquet\"\ncustomer_id = \"cid\"\npii_columns = [\"phone\"]\n[privacy]\npseudonymize = true\nkey_env = \"{var}\"\n",
        events_toml("e.parquet", "")
    );
    let p = d.pipeline(&toml);
    let e = read_all(&p, None).err().unwrap();
    assert!(e.to_string().contains(var), "{e}");
    // SAFETY: this test is the only user of this variable.
    unsafe { std::env::set_var(var, "a-secret-key-of-enough-length") };
    let tables = read_all(&p, None).unwrap();
    let ids = |i: usize| -> Vec<String> {
        let col = tables[i].1[0]
            .column_by_name(column::CUSTOMER_ID)
            .unwrap()
            .as_string::<i32>()
            .clone();
        col.iter().map(|v| v.unwrap().to_string()).collect()
    };
    let (ev, cu) = (ids(0), ids(1));
    assert_eq!(ev.len(), 4);
    assert!(
        ev.iter()
            .all(|id| id.len() == 32 && !["1", "2", "3"].contains(&id.as_str()))
    );
    assert_eq!(ev[0], cu[0], "integer 1 and text \"1\" give one pseudonym");
    assert_eq!(ev[1], ev[2]);
    assert!(tables.iter().all(|(r, _)| r.pseudonymized));
    let cust = &tables[1].1[0];
    assert!(cust.column_by_name("phone").is_none(), "PII column must never be read");
}

#[test]
fn csv_and_parquet_of_the_same_table_agree() {
    let d = Dir::new();
    basic_events(&d, "e.parquet");
    d.write(
        "e.csv",
        b"cid,ts,amt\n1,1997-01-01,10.0\n2,19970105,0\n2,1997-02-01T10:00:00Z,-5\n3,1997-03-01,2.5\n",
    );
    let (rp, bp) = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap();
    let (rc, bc) = read_one(&d.pipeline(&events_toml("e.csv", ""))).unwrap();
    assert_eq!(
        (rp.rows_kept, rp.customers, rp.first.clone(), rp.last.clone()),
        (rc.rows_kept, rc.customers, rc.first, rc.last)
    );
    assert_eq!(bp[0].column(1).as_ref(), bc[0].column(1).as_ref());
    assert_eq!(bp[0].column(2).as_ref(), bc[0].column(2).as_ref());
}

#[test]
fn large_files_stream_in_bounded_batches() {
    let d = Dir::new();
    let n = 50_000;
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from_iter_values((0..n).map(|i| i % 997)))),
            (
                "ts",
                a(Int64Array::from_iter_values((0..n).map(|i| 19970101 + (i % 28)))),
            ),
            ("amt", a(Float64Array::from_iter_values((0..n).map(|i| i as f64)))),
        ],
    );
    let p = d.pipeline(&events_toml("e.parquet", "[data]\nbatch_rows = 4096"));
    let (r, batches) = read_one(&p).unwrap();
    assert_eq!(r.rows_kept, n as u64);
    assert_eq!(r.customers, 997);
    assert!(batches.iter().all(|b| b.num_rows() <= 4096));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), n as usize);
}

#[test]
fn bundled_cdnow_and_telco_give_the_reference_figures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let cdnow = churnguard_config::load(&root.join("cdnow.toml")).unwrap();
    let r = validate(&cdnow);
    assert!(r.usable(), "{:?}", r.errors);
    let ev = r.table(churnguard_config::Role::Events).unwrap();
    assert_eq!(
        (ev.rows_kept, ev.customers, ev.zero_amounts),
        (69_659, 23_570, Some(80))
    );
    assert_eq!(
        (ev.first.as_deref(), ev.last.as_deref()),
        (Some("1997-01-01"), Some("1998-06-30"))
    );
    for file in ["telco.toml", "telco_csv.toml"] {
        let telco = churnguard_config::load(&root.join(file)).unwrap();
        let r = validate(&telco);
        assert!(r.usable(), "{:?}", r.errors);
        let cu = r.table(churnguard_config::Role::Customers).unwrap();
        assert_eq!(cu.rows_kept, 7_043, "{file}");
        let total = cu.column("TotalCharges").unwrap();
        assert_eq!((total.nulls, total.blanks), (11, 11), "{file}");
        let churn = cu.value_counts.iter().find(|v| v.column == "Churn").unwrap();
        assert_eq!(
            churn.counts,
            vec![("No".to_string(), 5_174), ("Yes".to_string(), 1_869)]
        );
    }
}

#[test]
fn interactions_and_event_types_are_read_and_counted() {
    let d = Dir::new();
    d.parquet(
        "e.parquet",
        vec![
            ("cid", a(Int64Array::from(vec![1, 1, 2]))),
            (
                "ts",
                a(StringArray::from(vec!["1997-01-01", "1997-02-01", "1997-01-03"])),
            ),
            ("amt", a(Float64Array::from(vec![5.0, 0.0, 7.0]))),
            ("type", a(StringArray::from(vec!["purchase", "cancel", "purchase"]))),
        ],
    );
    d.parquet(
        "i.parquet",
        vec![
            ("customer", a(Int64Array::from(vec![1, 2, 2]))),
            ("opened", a(Int64Array::from(vec![19970110, 19970111, 19990101]))),
            (
                "channel",
                a(StringArray::from(vec!["complaint", "ticket", "complaint"])),
            ),
            ("csat", a(StringArray::from(vec!["3", "", "1"]))),
        ],
    );
    let toml = format!(
        "{}event_type = \"type\"\n[data.interactions]\npath = \"i.parquet\"\ncustomer_id = \"customer\"\ntimestamp = \"opened\"\nkind = \"channel\"\nscore = \"csat\"\n[data]\nas_of = 1998-01-01\n[label]\nkind = \"event\"\nevent_type = \"cancel\"\nhorizon_days = 30\n",
        events_toml("e.parquet", "")
    );
    let p = d.pipeline(&toml);
    let tables = read_all(&p, None).unwrap();
    let (ir, ib) = &tables[1];
    assert_eq!(ir.role, "interactions");
    assert_eq!((ir.rows_kept, ir.customers, ir.future_rows), (3, 2, Some(1)));
    let kinds = &ir.value_counts[0];
    assert_eq!(
        kinds.counts,
        vec![("complaint".to_string(), 2), ("ticket".to_string(), 1)]
    );
    let schema = ib[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, vec!["customer_id", "timestamp", "kind", "score"]);
    assert!(ib[0].column(3).is_null(1));
    let r = validate(&p);
    assert!(
        r.usable() && r.warnings.iter().all(|w| !w.contains("cancel")),
        "{:?}",
        r.warnings
    );
    // A churn event type that never occurs is worth a warning.
    let r = validate(&d.pipeline(&toml.replace("event_type = \"cancel\"", "event_type = \"cancelled\"")));
    assert!(
        r.warnings.iter().any(|w| w.contains("\"cancelled\"")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_csv_line_longer_than_the_bound_fails_naming_it_and_a_long_normal_file_reads() {
    let d = Dir::new();
    let limit = churnguard_ingest::MAX_CSV_LINE_BYTES;
    // A line of junk past the bound (a file without line breaks, say), after two good rows.
    let mut bytes = b"cid,ts,amt\n1,1997-01-01,1\n2,1997-01-02,2\n3,1997-01-03,".to_vec();
    bytes.extend(std::iter::repeat_n(b'9', limit + 10));
    bytes.push(b'\n');
    d.write("long.csv", &bytes);
    let e = read_one(&d.pipeline(&events_toml("long.csv", ""))).unwrap_err();
    let message = churnguard_config::with_causes(&e);
    assert!(
        message.contains(&format!("line 4 is longer than {limit} bytes")),
        "{message}"
    );
    // Many short lines adding up to more than the bound are fine.
    let mut rows = b"cid,ts,amt\n".to_vec();
    for i in 0..(limit / 16) {
        rows.extend(format!("{},1997-01-01,1\n", i % 50 + 1).as_bytes());
    }
    d.write("many.csv", &rows);
    let (r, _) = read_one(&d.pipeline(&events_toml("many.csv", ""))).unwrap();
    assert_eq!(r.rows_read, (limit / 16) as u64);
}

/// The `(customer, timestamp, amount)` rows of a read table, sorted.
fn event_rows(batches: &[RecordBatch]) -> Vec<(i64, i64, u64)> {
    let mut rows = Vec::new();
    for b in batches {
        let ids = b
            .column_by_name(column::CUSTOMER_ID)
            .unwrap()
            .as_primitive::<Int64Type>();
        let ts = b
            .column_by_name(column::TIMESTAMP)
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        let amt = b.column_by_name(column::AMOUNT).unwrap().as_primitive::<Float64Type>();
        rows.extend((0..b.num_rows()).map(|i| (ids.value(i), ts.value(i), amt.value(i).to_bits())));
    }
    rows.sort_unstable();
    rows
}

#[test]
fn a_hive_partitioned_folder_as_spark_writes_it_reads_as_the_flat_table() {
    let d = Dir::new();
    basic_events(&d, "e.parquet");
    // Spark's `partitionBy("ts")`: the value is in the folder's name (`:` escaped), not in the
    // files; beside the parts, a `_SUCCESS` marker and hidden checksum files.
    let rows = [
        (1, "1997-01-01", 10.0),
        (2, "19970105", 0.0),
        (2, "1997-02-01T10%3A00%3A00Z", -5.0),
        (3, "1997-03-01", 2.5),
    ];
    std::fs::create_dir(d.path("events")).unwrap();
    d.write("events/_SUCCESS", b"");
    for (i, (cid, ts, amt)) in rows.into_iter().enumerate() {
        let folder = format!("events/ts={ts}");
        std::fs::create_dir_all(d.path(&folder)).unwrap();
        let part = format!("{folder}/part-0000{i}-3f2a-c000.snappy.parquet");
        d.parquet(
            &part,
            vec![
                ("cid", a(Int32Array::from(vec![cid]))),
                ("amt", a(Float64Array::from(vec![amt]))),
            ],
        );
        d.write(&format!("{folder}/.part-0000{i}-3f2a-c000.snappy.parquet.crc"), b"crc");
    }
    let (flat, flat_rows) = read_one(&d.pipeline(&events_toml("e.parquet", ""))).unwrap();
    let (hive, hive_rows) = read_one(&d.pipeline(&events_toml("events", ""))).unwrap();
    assert_eq!(
        (
            hive.rows_read,
            hive.rows_kept,
            hive.customers,
            hive.first.clone(),
            hive.last.clone()
        ),
        (flat.rows_read, flat.rows_kept, flat.customers, flat.first, flat.last)
    );
    assert_eq!(event_rows(&hive_rows), event_rows(&flat_rows));

    // A missing value (Hive's default partition) is a missing timestamp: the row is rejected.
    std::fs::create_dir(d.path("events/ts=__HIVE_DEFAULT_PARTITION__")).unwrap();
    d.parquet(
        "events/ts=__HIVE_DEFAULT_PARTITION__/part-00009.parquet",
        vec![
            ("cid", a(Int32Array::from(vec![4]))),
            ("amt", a(Float64Array::from(vec![1.0]))),
        ],
    );
    let (with_missing, _) = read_one(&d.pipeline(&events_toml("events", ""))).unwrap();
    assert_eq!((with_missing.rows_read, with_missing.rows_kept), (5, 4));
}

#[test]
fn files_of_one_folder_table_under_other_partition_keys_are_refused_naming_the_file() {
    let d = Dir::new();
    std::fs::create_dir_all(d.path("events/ts=1997-01-01")).unwrap();
    let cols = || {
        vec![
            ("cid", a(Int32Array::from(vec![1]))),
            ("amt", a(Float64Array::from(vec![1.0]))),
        ]
    };
    d.parquet("events/ts=1997-01-01/part-0.parquet", cols());
    d.parquet("events/stray.parquet", cols());
    let e = read_one(&d.pipeline(&events_toml("events", ""))).unwrap_err();
    let message = format!("{e}: {}", e.kind);
    assert!(matches!(e.kind, ErrorKind::FolderFile { .. }), "{message}");
    assert!(
        message.contains("stray.parquet") && message.contains("(ts=)") && message.contains("same key=value folders"),
        "{message}"
    );
}
