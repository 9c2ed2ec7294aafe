//! The synthetic data set: deterministic, realistic in the ways the issue asks, and readable by
//! churnguard's own ingestion.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

use churnguard_config::MS_PER_DAY;
use churnguard_synth::{SynthConfig, customer, customers, generate};

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (d, seed) in dirs.iter().zip([7, 7, 8]) {
        let mut cfg = SynthConfig::new(3_000, seed);
        cfg.chunk = 700;
        generate(&cfg, d.path(), &mut |_| {}).unwrap();
    }
    for f in ["events.parquet", "customers.parquet", "interactions.parquet"] {
        let read = |i: usize| std::fs::read(dirs[i].path().join(f)).unwrap();
        assert_eq!(read(0), read(1), "{f} differs between runs with one seed");
        assert_ne!(read(0), read(2), "{f} is the same for two seeds");
    }
}

#[test]
fn thread_count_does_not_change_customers() {
    let cfg = SynthConfig::new(0, 11);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let a = one.install(|| customers(&cfg, 1, 500));
    let b = two.install(|| customers(&cfg, 1, 500));
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn customers_look_like_customers() {
    let cfg = SynthConfig::new(20_000, 3);
    let all = customers(&cfg, 1, 20_000);
    let counts: Vec<f64> = all.iter().map(|c| c.events.len() as f64).collect();
    let mean = counts.iter().sum::<f64>() / counts.len() as f64;
    let var = counts.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / counts.len() as f64;
    assert!((15.0..19.0).contains(&mean), "mean events per customer {mean}");
    assert!(
        var > 5.0 * mean,
        "gamma-mixed rates overdisperse counts: var {var} mean {mean}"
    );

    let end_ms = cfg.end.start_ms() + MS_PER_DAY;
    let (mut near, mut near_days, mut far, mut far_days) = (0.0, 0.0, 0.0, 0.0);
    for c in &all {
        assert!(
            c.events.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
            "events in time order"
        );
        assert!(
            c.events.iter().all(|e| e.at_ms <= c.death_ms),
            "no purchase after death"
        );
        let cancels = c.events.iter().filter(|e| e.kind == "cancel").count();
        assert_eq!(cancels, usize::from(c.plan > 0 && c.death_ms < end_ms));
        let signup_ms = c.signup.start_ms();
        if c.death_ms < end_ms && c.death_ms - signup_ms > 200 * MS_PER_DAY {
            let cut = c.death_ms - 45 * MS_PER_DAY;
            near += c.contacts.iter().filter(|x| x.at_ms >= cut).count() as f64;
            far += c.contacts.iter().filter(|x| x.at_ms < cut).count() as f64;
            near_days += 45.0;
            far_days += ((cut - signup_ms) / MS_PER_DAY) as f64;
        }
    }
    let (near_rate, far_rate) = (near / near_days, far / far_days);
    assert!(
        near_rate > 3.0 * far_rate,
        "contacts grow before death: {near_rate} vs {far_rate}"
    );
    let premium = all.iter().filter(|c| c.plan == 2).count() as f64 / all.len() as f64;
    assert!((0.13..0.17).contains(&premium), "premium share {premium}");
}

#[test]
fn customer_is_a_pure_function_of_seed_and_id() {
    let cfg = SynthConfig::new(10, 5);
    assert_eq!(format!("{:?}", customer(&cfg, 4)), format!("{:?}", customer(&cfg, 4)));
    assert_ne!(format!("{:?}", customer(&cfg, 4)), format!("{:?}", customer(&cfg, 5)));
}

#[test]
fn the_written_data_set_validates_with_matching_counts() {
    let d = tempfile::tempdir().unwrap();
    let cfg = SynthConfig::new(2_000, 1);
    let summary = generate(&cfg, d.path(), &mut |_| {}).unwrap();
    assert_eq!(summary.files.len(), 4);
    let pipeline = churnguard_config::load(&d.path().join("pipeline.toml")).unwrap();
    let report = churnguard_ingest::validate(&pipeline, None, &mut |_| {});
    assert!(report.usable(), "{:?}", report.errors);
    let t = |r| report.table(r).unwrap();
    use churnguard_config::Role;
    assert_eq!(t(Role::Events).rows_kept, summary.events);
    assert_eq!(t(Role::Customers).rows_kept, 2_000);
    assert_eq!(t(Role::Interactions).rows_kept, summary.interactions);
    assert_eq!(t(Role::Events).future_rows, Some(0));
    assert!(
        std::fs::read_dir(d.path())
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
    );
}

#[test]
fn zero_customers_or_an_unwritable_folder_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let e = generate(&SynthConfig::new(0, 1), d.path(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
    let file = d.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let e = generate(&SynthConfig::new(5, 1), &file.join("sub"), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("a-file"), "{e}");
}
