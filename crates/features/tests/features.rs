//! Point-in-time features on real Parquet files: hand-computed values, no leakage, the CDNOW
//! reference figures, and the same bits for any thread count.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int8Type};
use churnguard_config::{Date, Pipeline};
use churnguard_features::{FeatureError, load, snapshot, spec_for};

fn date(s: &str) -> Date {
    Date::parse_iso(s).unwrap()
}

fn write(dir: &Path, name: &str, cols: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(dir.join(name)).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn events(dir: &Path, rows: &[(i64, &str, f64)]) {
    write(
        dir,
        "e.parquet",
        vec![
            (
                "cid",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            ("ts", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1)))),
            (
                "amt",
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ),
        ],
    );
}

fn pipeline(dir: &Path, extra: &str) -> Pipeline {
    let text = format!(
        "[pipeline]\nname = \"t\"\n[data]\nas_of = 1997-12-31\n[data.events]\npath = \"e.parquet\"\ncustomer_id = \"cid\"\ntimestamp = \"ts\"\namount = \"amt\"\n[label]\nkind = \"inactivity\"\nhorizon_days = 30\n[snapshots]\npopulation = \"everyone\"\n[features]\nwindows_days = [10, 30]\n{extra}"
    );
    let path = dir.join("p.toml");
    std::fs::write(&path, text).unwrap();
    churnguard_config::load(&path).unwrap()
}

/// The snapshot at `cutoff` as (customer id, feature name → value, label).
fn features(p: &Pipeline, cutoff: &str) -> RecordBatch {
    let h = load(p, None).unwrap();
    let spec = spec_for(p, &h);
    snapshot(p, &h, &spec, date(cutoff)).unwrap().batch
}

fn get(b: &RecordBatch, customer: i64, name: &str) -> Option<f64> {
    let ids = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
    let row = ids.values().iter().position(|&c| c == customer)?;
    let col = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    if name == "label" {
        let l = col.as_primitive::<Int8Type>();
        return l.is_valid(row).then(|| f64::from(l.value(row)));
    }
    let c = col.as_primitive::<Float64Type>();
    Some(if c.is_valid(row) { c.value(row) } else { f64::NAN })
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9)
}

#[test]
fn hand_computed_values() {
    let d = tempfile::tempdir().unwrap();
    events(
        d.path(),
        &[
            // Customer 1: one event, long ago; window 30 starts before their first event.
            (1, "1997-01-01", 10.0),
            // Customer 2: zero amount, two events at the same instant, a gap, buys after the cutoff.
            (2, "1997-05-01", 0.0),
            (2, "1997-05-21", 20.0),
            (2, "1997-05-21", 40.0),
            (2, "1997-05-31", 60.0),
            (2, "1997-06-05", 5.0),
            // Customer 3: first event at the cutoff: not in the snapshot.
            (3, "1997-06-01", 1.0),
        ],
    );
    let b = features(&pipeline(d.path(), ""), "1997-06-01");
    assert_eq!(b.num_rows(), 2);
    // Customer 1.
    assert!(close(get(&b, 1, "recency_days"), 151.0));
    assert!(close(get(&b, 1, "tenure_days"), 151.0));
    assert!(close(get(&b, 1, "frequency"), 1.0));
    assert!(close(get(&b, 1, "amount_std"), 0.0));
    assert!(close(get(&b, 1, "events_30d"), 0.0));
    assert!(close(get(&b, 1, "trend_30d"), 1.0));
    assert!(close(get(&b, 1, "gap_mean_days"), f64::NAN));
    assert!(close(get(&b, 1, "recency_over_gap"), f64::NAN));
    assert!(close(get(&b, 1, "label"), 1.0), "no event in June: churned");
    // Customer 2: events on May 1 (0), May 21 (20, 40), May 31 (60).
    assert!(close(get(&b, 2, "recency_days"), 1.0));
    assert!(close(get(&b, 2, "tenure_days"), 31.0));
    assert!(close(get(&b, 2, "frequency"), 4.0));
    assert!(close(get(&b, 2, "monetary_total"), 120.0));
    assert!(close(get(&b, 2, "amount_mean"), 30.0));
    assert!(close(get(&b, 2, "amount_max"), 60.0));
    assert!(close(get(&b, 2, "amount_std"), (500.0f64).sqrt()));
    assert!(
        close(get(&b, 2, "events_10d"), 1.0),
        "May 31 only (May 21 is 11 days back)"
    );
    assert!(close(get(&b, 2, "amount_10d"), 60.0));
    assert!(
        close(get(&b, 2, "events_30d"), 3.0),
        "May 21 is within 30 days; May 1 is 31 back"
    );
    assert!(close(get(&b, 2, "active_days_30d"), 2.0));
    assert!(
        close(get(&b, 2, "trend_10d"), (1.0 + 1.0) / (2.0 + 1.0)),
        "previous 10 days hold the May 21 pair"
    );
    assert!(close(get(&b, 2, "trend_30d"), (3.0 + 1.0) / (1.0 + 1.0)));
    // Gaps 20, 0, 10: mean 10, population std sqrt(200/3), max 20, last 10.
    assert!(close(get(&b, 2, "gap_mean_days"), 10.0));
    assert!(close(get(&b, 2, "gap_std_days"), (200.0f64 / 3.0).sqrt()));
    assert!(close(get(&b, 2, "gap_max_days"), 20.0));
    assert!(close(get(&b, 2, "last_gap_days"), 10.0));
    assert!(close(get(&b, 2, "recency_over_gap"), 0.1));
    assert!(close(get(&b, 2, "label"), 0.0), "bought on June 5: stayed");
}

/// A tiny deterministic generator for the property test.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn random_rows(seed: u64) -> Vec<(i64, String, f64)> {
    let mut r = Lcg(seed);
    (0..400)
        .map(|_| {
            let day = Date::from_days(date("1997-01-01").days() + r.next(330) as i32);
            (1 + r.next(40) as i64, day.to_string(), r.next(100) as f64)
        })
        .collect()
}

fn feature_columns(b: &RecordBatch) -> Vec<ArrayRef> {
    // Everything but the label, which is meant to look past the cutoff.
    b.columns()[..b.num_columns() - 1].to_vec()
}

#[test]
fn rows_at_or_after_the_cutoff_never_change_a_feature() {
    let cutoff = "1997-08-01";
    for seed in 1..=12u64 {
        let d = tempfile::tempdir().unwrap();
        let rows = random_rows(seed);
        let as_refs =
            |rows: &[(i64, String, f64)]| rows.iter().map(|(c, t, a)| (*c, t.clone(), *a)).collect::<Vec<_>>();
        let write_rows = |rows: &[(i64, String, f64)]| {
            let v: Vec<(i64, &str, f64)> = rows.iter().map(|(c, t, a)| (*c, t.as_str(), *a)).collect();
            events(d.path(), &v);
        };
        write_rows(&rows);
        let p = pipeline(d.path(), "");
        let base = feature_columns(&features(&p, cutoff));
        // Change every later row's amount, delete some later rows, move others further on.
        let mut r = Lcg(seed + 100);
        let mutated: Vec<(i64, String, f64)> = as_refs(&rows)
            .into_iter()
            .filter(|(_, t, _)| t.as_str() < cutoff || r.next(3) > 0)
            .map(|(c, t, a)| {
                if t.as_str() >= cutoff {
                    (c, "1997-11-30".into(), a * 7.0 + 1.0)
                } else {
                    (c, t, a)
                }
            })
            .collect();
        write_rows(&mutated);
        assert_eq!(
            base,
            feature_columns(&features(&p, cutoff)),
            "seed {seed}: a later row leaked into a feature"
        );
        // One event the day before the cutoff changes recency (customer 1 has one now).
        let mut plus = rows.clone();
        plus.push((1, "1997-07-31".into(), 5.0));
        write_rows(&plus);
        let b = features(&p, cutoff);
        assert!(close(get(&b, 1, "recency_days"), 1.0), "seed {seed}");
    }
}

#[test]
fn cdnow_reference_snapshot() {
    let mut p =
        churnguard_config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/cdnow.toml")).unwrap();
    // The reference figures are of every customer with history, the already-churned included.
    p.snapshots.population = churnguard_config::Population::Everyone;
    let h = load(&p, None).unwrap();
    let spec = spec_for(&p, &h);
    let s = snapshot(&p, &h, &spec, date("1998-04-01")).unwrap();
    assert_eq!(s.report.customers, 23_570);
    assert_eq!(s.report.labelled, 23_570);
    let rate = s.report.churn_rate().unwrap();
    assert!((rate - 0.860).abs() < 0.0005, "churn rate {rate}");
    // A cutoff whose horizon runs past the data is a scoring snapshot: no labels, and it says so.
    let late = snapshot(&p, &h, &spec, date("1998-06-01")).unwrap();
    assert_eq!(late.report.labelled, 0);
    assert!(
        late.report
            .unlabelled_reason
            .as_deref()
            .unwrap_or("")
            .contains("past the end of the data")
    );
    assert!(matches!(
        snapshot(&p, &h, &spec, date("1997-01-01")),
        Err(FeatureError::CutoffBeforeData { .. })
    ));
}

#[test]
fn one_thread_and_two_threads_give_the_same_bits() {
    let d = tempfile::tempdir().unwrap();
    churnguard_synth::generate(&churnguard_synth::SynthConfig::new(3_000, 4), d.path(), &mut |_| {}).unwrap();
    let p = churnguard_config::load(&d.path().join("pipeline.toml")).unwrap();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let h = load(&p, None).unwrap();
                snapshot(&p, &h, &spec_for(&p, &h), date("2023-06-01")).unwrap().batch
            })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b);
    // Contacts, complaints and attributes are there and sensible.
    let names: Vec<String> = a.schema().fields().iter().map(|f| f.name().clone()).collect();
    for n in [
        "contacts_30d",
        "complaints_30d",
        "score_mean",
        "days_since_complaint",
        "attr_plan",
        "attr_signup_date_days",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    let plan = a.column_by_name("attr_plan").unwrap().as_primitive::<Float64Type>();
    assert!(plan.values().iter().all(|v| [0.0, 1.0, 2.0].contains(v)));
}

#[test]
fn a_model_spec_that_differs_is_refused_and_unseen_categories_are_counted() {
    let d = tempfile::tempdir().unwrap();
    churnguard_synth::generate(&churnguard_synth::SynthConfig::new(500, 2), d.path(), &mut |_| {}).unwrap();
    let p = churnguard_config::load(&d.path().join("pipeline.toml")).unwrap();
    let h = load(&p, None).unwrap();
    let mut spec = spec_for(&p, &h);
    let cutoff = date("2023-06-01");
    let mut renamed = spec.clone();
    renamed.features[0].name = "recency".into();
    let e = snapshot(&p, &h, &renamed, cutoff).unwrap_err().to_string();
    assert!(
        e.contains("`recency` is missing") && e.contains("`recency_days` is new"),
        "{e}"
    );
    // A model trained before "premium" existed: premium customers map to missing and are counted.
    let plan = spec.features.iter_mut().find(|f| f.name == "attr_plan").unwrap();
    plan.kind = churnguard_features::FeatureKind::Categorical {
        values: vec!["basic".into(), "plus".into()],
    };
    let s = snapshot(&p, &h, &spec, cutoff).unwrap();
    let (name, n) = &s.report.unseen_categories[0];
    assert_eq!(name, "attr_plan");
    let col = s.batch.column_by_name("attr_plan").unwrap();
    assert_eq!(col.null_count() as u64, *n);
    assert!(*n > 0);
}

/// Reorders the rows of a Parquet file with `order` (row indices) into `to`.
fn reorder(from: &Path, to: &Path, order: impl Fn(&[i64]) -> Vec<u32>) {
    let file = std::fs::File::open(from).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let ids = all
        .column_by_name("customer_id")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    let idx = arrow::array::UInt32Array::from(order(ids.values()));
    let columns = all
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &idx, None).unwrap())
        .collect();
    let out = RecordBatch::try_new(all.schema(), columns).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(to).unwrap(), out.schema(), None).unwrap();
    w.write(&out).unwrap();
    w.close().unwrap();
}

#[test]
fn row_order_of_the_files_does_not_change_the_features() {
    let d = tempfile::tempdir().unwrap();
    churnguard_synth::generate(&churnguard_synth::SynthConfig::new(2_000, 9), d.path(), &mut |_| {}).unwrap();
    let p = churnguard_config::load(&d.path().join("pipeline.toml")).unwrap();
    let reference = features(&p, "2023-06-01");
    let events = d.path().join("events.parquet");
    let original = d.path().join("events_original.parquet");
    std::fs::copy(&events, &original).unwrap();
    // Grouped by customer but each customer's rows newest first (sorted in place), then fully
    // shuffled (the general regrouping path), then time-ordered across customers.
    let reversed = |ids: &[i64]| {
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order
            .chunk_by_mut(|&a, &b| ids[a as usize] == ids[b as usize])
            .for_each(|c| c.reverse());
        order
    };
    let shuffled = |ids: &[i64]| {
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order.sort_by_key(|&i| (u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 7);
        order
    };
    let interleaved = |ids: &[i64]| {
        let mut order: Vec<u32> = (0..ids.len() as u32).collect();
        order.sort_by_key(|&i| (ids[i as usize] * 7919) % 1009);
        order
    };
    for (name, order) in [
        ("reversed", &reversed as &dyn Fn(&[i64]) -> Vec<u32>),
        ("shuffled", &shuffled),
        ("interleaved", &interleaved),
    ] {
        reorder(&original, &events, order);
        let b = features(&p, "2023-06-01");
        assert_eq!(b.num_rows(), reference.num_rows(), "{name}");
        assert_eq!(b.column(0), reference.column(0), "{name}");
        for (i, f) in reference.schema().fields().iter().enumerate().skip(2) {
            let (x, y) = (reference.column(i), b.column(i));
            assert_eq!(x.logical_nulls(), y.logical_nulls(), "{name}: {}", f.name());
            if let (Some(x), Some(y)) = (x.as_primitive_opt::<Float64Type>(), y.as_primitive_opt::<Float64Type>()) {
                for (a, b) in x.values().iter().zip(y.values()) {
                    assert!(
                        (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                        "{name}: {} {a} vs {b}",
                        f.name()
                    );
                }
            } else {
                assert_eq!(x, y, "{name}: {}", f.name());
            }
        }
    }
}

#[test]
fn outcomes_without_features_are_the_snapshots_population_and_labels() {
    let p = churnguard_config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/cdnow.toml")).unwrap();
    let h = load(&p, None).unwrap();
    let spec = spec_for(&p, &h);
    for cutoff in ["1998-01-01", "1998-04-01", "1998-06-01"] {
        let s = snapshot(&p, &h, &spec, date(cutoff)).unwrap();
        let o = churnguard_features::outcomes(&p, &h, date(cutoff));
        assert_eq!(o.population, s.population, "{cutoff}");
        assert_eq!(o.labels, s.labels(), "{cutoff}");
        assert_eq!(o.unlabelled_reason, s.report.unlabelled_reason, "{cutoff}");
        assert_eq!(o.already_churned, s.report.already_churned, "{cutoff}");
    }
    assert!(
        churnguard_features::outcomes(&p, &h, date("1998-04-01"))
            .labels
            .contains(&Some(true))
    );
}
