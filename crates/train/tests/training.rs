//! Training on real files: determinism, planted signals found and shuffled labels not, the package
//! written whole or not at all, and every bad input named clearly.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use churnguard_config::Pipeline;
use churnguard_features::load;
use churnguard_train::{TrainError, Training, train};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pipeline(dir: &Path, text: &str) -> Pipeline {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    churnguard_config::load(&path).unwrap()
}

fn run(p: &Pipeline) -> Result<Training, TrainError> {
    let h = load(p, None).unwrap();
    train(p, &h, &mut |_| {})
}

/// `pipelines/cdnow_sample.toml` (the bundled CDNOW sample) with monthly snapshots and a small,
/// quick model, plus `extra` sections.
fn cdnow_sample(_dir: &Path, extra: &str) -> Pipeline {
    let path = repo().join("pipelines/cdnow_sample.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = format!(
        r#"{text}
[snapshots]
train_cutoffs = [1997-10-01, 1997-11-01, 1997-12-01, 1998-01-01]
test_cutoff = 1998-04-01
[model]
num_threads = 1
num_leaves = 7
learning_rate = 0.1
num_iterations = 200
early_stopping_rounds = 20
[evaluation]
bootstrap_samples = 200
{extra}
"#
    );
    // Parsed as if it were the file itself, so its relative table path still resolves.
    churnguard_config::parse(&text, &path).unwrap()
}

/// A customers table whose label follows `signal` (with some noise) unless `shuffle`.
fn customers(dir: &Path, n: usize, shuffle: bool, all_churn: bool) -> Pipeline {
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let signal: Vec<f64> = (0..n).map(|_| next()).collect();
    let noise: Vec<f64> = (0..n).map(|_| next()).collect();
    let plans: Vec<&str> = (0..n).map(|i| ["basic", "plus", "pro"][i % 3]).collect();
    let mut churn: Vec<bool> = signal.iter().map(|&s| s + 0.05 * next() > 0.6).collect();
    if shuffle {
        // A fixed permutation breaks the link between signal and label.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, (next() * (i + 1) as f64) as usize);
        }
        churn = order.iter().map(|&i| churn[i]).collect();
    }
    if all_churn {
        churn = vec![true; n];
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef),
        ("signal", Arc::new(Float64Array::from(signal))),
        ("noise", Arc::new(Float64Array::from(noise))),
        ("plan", Arc::new(StringArray::from(plans))),
        (
            "churn",
            Arc::new(StringArray::from_iter_values(
                churn.iter().map(|&c| if c { "Yes" } else { "No" }),
            )),
        ),
    ])
    .unwrap();
    let file = dir.join("customers.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&file).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    pipeline(
        dir,
        r#"
[pipeline]
name = "planted"
[data]
as_of = 2024-01-31
[data.customers]
path = "customers.parquet"
customer_id = "id"
[label]
kind = "column"
column = "churn"
positive = "Yes"
[model]
num_threads = 1
num_iterations = 300
early_stopping_rounds = 30
[evaluation]
bootstrap_samples = 100
"#,
    )
}

#[test]
fn same_config_and_data_give_the_same_model_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = cdnow_sample(dir.path(), "");
    let (a, b) = (run(&p).unwrap(), run(&p).unwrap());
    assert_eq!(a.fit.model_text, b.fit.model_text);
    assert_eq!(a.test.auc.to_bits(), b.test.auc.to_bits());
    assert_eq!(a.test.auc_interval, b.test.auc_interval);
    assert_eq!(a.validation.log_loss.to_bits(), b.validation.log_loss.to_bits());
    // The model really was trained and stopped early on the validation customers.
    assert!(
        a.fit.best_round >= 1 && a.fit.best_round < a.fit.rounds,
        "rounds {} of {}",
        a.fit.best_round,
        a.fit.rounds
    );
    // Customers still with us at the test cutoff: harder to rank than the long gone.
    assert!(a.test.auc > 0.65, "test AUC {}", a.test.auc);
    // Five snapshots: four training cutoffs and the out-of-time test.
    assert_eq!(a.snapshots.len(), 5);
    // The test holds the sample's customers still with us at 1998-04-01; the rest are counted.
    let test = &a.snapshots[4];
    assert_eq!(a.test.rows, test.customers);
    assert_eq!(test.customers + test.already_churned, 2357);
    assert!(test.already_churned > test.customers);
}

#[test]
fn another_seed_gives_another_split() {
    let dir = tempfile::tempdir().unwrap();
    let p = cdnow_sample(dir.path(), "");
    let a = run(&p).unwrap();
    let b = run(&Pipeline { seed: p.seed + 1, ..p }).unwrap();
    assert_ne!(a.fit.model_text, b.fit.model_text);
    // The test is out of time: the same rows whatever the seed.
    assert_eq!(a.rows.test, b.rows.test);
}

#[test]
fn validation_customers_are_never_training_customers() {
    let dir = tempfile::tempdir().unwrap();
    let p = cdnow_sample(dir.path(), "");
    let h = load(&p, None).unwrap();
    let spec = churnguard_features::spec_for(&p, &h);
    let snaps: Vec<_> = p
        .snapshots
        .train_cutoffs
        .iter()
        .map(|&c| churnguard_features::snapshot(&p, &h, &spec, c).unwrap())
        .collect();
    let batches: Vec<_> = snaps.iter().map(|s| &s.batch).collect();
    let rows = churnguard_train::gather(&batches, spec.features.len(), &|_| true).unwrap();
    let valid: std::collections::BTreeSet<u64> = rows
        .customers
        .iter()
        .copied()
        .filter(|&c| churnguard_train::position(c, p.seed, churnguard_train::Draw::Validation) < 0.2)
        .collect();
    let train: std::collections::BTreeSet<u64> =
        rows.customers.iter().copied().filter(|c| !valid.contains(c)).collect();
    assert!(valid.is_disjoint(&train));
    // About a fifth of the customers, and customers appear in several snapshots.
    let share = valid.len() as f64 / (valid.len() + train.len()) as f64;
    assert!((0.17..0.23).contains(&share), "validation share {share}");
    assert!(rows.rows > valid.len() + train.len());
}

#[test]
fn a_planted_signal_is_found_and_shuffled_labels_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let t = run(&customers(dir.path(), 3000, false, false)).unwrap();
    assert!(t.test.auc > 0.97, "planted signal: test AUC {}", t.test.auc);
    assert_eq!(t.importance[0].feature, "attr_signal", "importance {:?}", t.importance);
    assert!(matches!(
        t.test_design,
        churnguard_package::TestDesign::HeldOutCustomers { .. }
    ));
    assert!((550..650).contains(&t.rows.test), "test rows {}", t.rows.test);

    let dir = tempfile::tempdir().unwrap();
    let t = run(&customers(dir.path(), 3000, true, false)).unwrap();
    assert!(
        (t.test.auc - 0.5).abs() < 0.08,
        "shuffled labels: test AUC {}",
        t.test.auc
    );
}

#[test]
fn a_single_class_snapshot_is_refused_with_its_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let e = run(&customers(dir.path(), 500, false, true)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TrainError::SingleClass { churned: true, .. }), "{msg}");
    assert!(msg.contains("all 500 customers churned at cutoff"), "{msg}");
}

#[test]
fn too_few_rows_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = run(&customers(dir.path(), 60, false, false)).unwrap_err();
    assert!(matches!(e, TrainError::TooFewRows { .. }), "{e}");
    assert!(e.to_string().contains("at least"), "{e}");
}

#[test]
fn a_parameter_lightgbm_rejects_is_named_with_lightgbms_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = cdnow_sample(dir.path(), "[model.lightgbm]\nbagging_fraction_typo = 1\n");
    let e = run(&p).unwrap_err().to_string();
    assert!(
        e.contains("model.lightgbm.bagging_fraction_typo") && e.contains("no parameter"),
        "{e}"
    );

    let p = cdnow_sample(dir.path(), "[model.lightgbm]\nmax_delta_step = \"lots\"\n");
    let e = run(&p).unwrap_err().to_string();
    assert!(
        e.contains("`model.lightgbm.max_delta_step`") && e.contains("LightGBM rejects"),
        "{e}"
    );

    // An alias of a [model] field would shadow it silently: refused.
    let p = cdnow_sample(dir.path(), "[model.lightgbm]\nmin_child_samples = 5\n");
    let e = run(&p).unwrap_err().to_string();
    assert!(
        e.contains("min_data_in_leaf") && e.contains("model.min_data_in_leaf"),
        "{e}"
    );

    let p = cdnow_sample(dir.path(), "[model.lightgbm]\nseed = 5\n");
    let e = run(&p).unwrap_err().to_string();
    assert!(e.contains("pipeline.seed"), "{e}");

    // A per-feature setting of the right length is accepted (the check uses every feature) and
    // one of the wrong length is named.
    let ones = vec!["0"; 25].join(", ");
    let p = cdnow_sample(
        dir.path(),
        &format!("[model.lightgbm]\nmonotone_constraints = [-1, {ones}]\n"),
    );
    let e = run(&p).unwrap_err().to_string();
    assert!(
        e.contains("`model.lightgbm.monotone_constraints`: LightGBM rejects"),
        "{e}"
    );
    let p = cdnow_sample(
        dir.path(),
        &format!("[model.lightgbm]\nmonotone_constraints = [{ones}]\n"),
    );
    assert!(run(&p).is_ok());
}

#[test]
fn tuning_logs_every_trial_and_trains_with_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let p = cdnow_sample(
        dir.path(),
        "[tuning]\nmethod = \"grid\"\nfolds = 3\n[tuning.space]\nnum_leaves = [3, 15]\nmin_data_in_leaf = [20, 80]\n",
    );
    let t = run(&p).unwrap();
    let trials = t.trials.as_ref().unwrap();
    assert_eq!(trials.len(), 4);
    for (i, trial) in trials.iter().enumerate() {
        assert_eq!(trial.number, i + 1);
        assert_eq!(trial.fold_auc.len(), 3);
        assert!(trial.mean_auc > 0.6 && trial.mean_auc < 1.0, "{trial:?}");
    }
    let best = churnguard_train::best(trials).unwrap();
    for (k, v) in &best.params {
        assert!(
            t.params.contains(&(k.clone(), v.clone())),
            "{k}={v} not in {:?}",
            t.params
        );
    }
    // Random search draws distinct combinations, the same ones for the same seed.
    let cfg = churnguard_config::TuningConfig {
        method: churnguard_config::TuningMethod::Random { trials: 5 },
        folds: 3,
        space: vec![
            ("num_leaves".into(), vec!["3".into(), "7".into(), "15".into()]),
            ("lambda_l2".into(), vec!["0".into(), "1".into(), "10".into()]),
        ],
    };
    let a = churnguard_train::combinations(&cfg, 1);
    assert_eq!(a.len(), 5);
    assert_eq!(a.iter().collect::<std::collections::BTreeSet<_>>().len(), 5);
    assert_eq!(a, churnguard_train::combinations(&cfg, 1));
    assert_ne!(a, churnguard_train::combinations(&cfg, 2));
}
