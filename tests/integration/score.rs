//! `churnguard score` end to end: the list's probabilities are LightGBM's, its reasons are
//! LightGBM's largest contributions, and bad packages and inputs are refused clearly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt64Type};
use churnguard_config::Date;
use churnguard_features::{load, snapshot};
use churnguard_train::lightgbm::{Booster, Prediction};

use crate::{Scratch, cdnow_sample_tables, churnguard, outcome, root};

/// Trains `config` into `dir/models` and returns the `latest` link.
fn trained(s: &Scratch, config: &str) -> (String, PathBuf) {
    let p = s.pipeline(config);
    let models = s.0.path().join("models");
    let (code, _, err) = outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    let name = churnguard_config::load(Path::new(&p)).unwrap().name;
    (p, models.join(name).join("latest"))
}

/// Runs `churnguard score` with a package, a pipeline, an output and any further arguments.
/// The number (thousands separators allowed) that follows `label` in a command's output.
fn number_after(stdout: &str, label: &str) -> u64 {
    stdout
        .split(label)
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {stdout}"))
}

/// `churnguard score` of a package with a pipeline into `out`.
pub fn score_with(model: &str, pipeline: &str, out: &str, extra: &[&str]) -> (i32, String, crate::Stderr) {
    let mut args = vec!["score", "--model", model, "--pipeline", pipeline, "--out", out];
    args.extend_from_slice(extra);
    outcome(&churnguard(&args))
}

fn cdnow_config() -> String {
    format!(
        r#"
[pipeline]
name = "sample"
{tables}[snapshots]
train_cutoffs = [1997-10-01, 1997-11-01, 1997-12-01]
test_cutoff = 1998-03-01
[model]
num_threads = 1
num_leaves = 7
learning_rate = 0.1
num_iterations = 120
early_stopping_rounds = 20
[evaluation]
bootstrap_samples = 100
[scoring]
lookback_days = 365
explain_all = true
[[scoring.actions]]
tier = "high"
reason = "gap_*"
action = "win-back offer"
"#,
        tables = cdnow_sample_tables("1998-06-30")
    )
}

fn telco_config() -> String {
    let text = std::fs::read_to_string(root().join("pipelines/telco.toml")).unwrap();
    let data = root().join("data/telco/telco_churn.parquet");
    text.replace("../data/telco/telco_churn.parquet", &data.display().to_string())
        .replace("[model]\n", "[model]\nnum_threads = 1\n")
        .replace("[scoring]\n", "[scoring]\nexplain_all = true\n")
}

struct List {
    rank: Vec<u64>,
    ids: Vec<String>,
    probability: Vec<f64>,
    value: Vec<f64>,
    tier: Vec<String>,
    action: Vec<String>,
    reason_features: Vec<[Option<String>; 3]>,
    reason_contributions: Vec<[Option<f64>; 3]>,
}

fn read_list(path: &Path) -> List {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1 << 20).unwrap();
    let mut l = List {
        rank: vec![],
        ids: vec![],
        probability: vec![],
        value: vec![],
        tier: vec![],
        action: vec![],
        reason_features: vec![],
        reason_contributions: vec![],
    };
    for b in reader {
        let b = b.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        l.rank
            .extend(col("rank").as_primitive::<UInt64Type>().values().iter().copied());
        let ids = col("customer_id");
        for i in 0..b.num_rows() {
            l.ids
                .push(arrow::util::display::array_value_to_string(ids.as_ref(), i).unwrap());
        }
        l.probability.extend(
            col("churn_probability")
                .as_primitive::<Float64Type>()
                .values()
                .iter()
                .copied(),
        );
        l.value
            .extend(col("value").as_primitive::<Float64Type>().values().iter().copied());
        l.tier
            .extend(col("tier").as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
        l.action
            .extend(col("action").as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
        for i in 0..b.num_rows() {
            let f = |k: usize| {
                let c = col(&format!("reason_{k}_feature"));
                let c = c.as_string::<i32>();
                c.is_valid(i).then(|| c.value(i).to_string())
            };
            let v = |k: usize| {
                let c = col(&format!("reason_{k}_contribution"));
                let c = c.as_primitive::<Float64Type>();
                c.is_valid(i).then(|| c.value(i))
            };
            l.reason_features.push([f(1), f(2), f(3)]);
            l.reason_contributions.push([v(1), v(2), v(3)]);
        }
    }
    l
}

/// Scores with the CLI, then checks every probability and reason against LightGBM run on the same
/// features (built by the library at the same cutoff).
fn scores_match_lightgbm(config: &str, as_of: &str) {
    let s = Scratch::new();
    let (p, latest) = trained(&s, config);
    let out = s.0.path().join("risk.parquet");
    let (code, stdout, err) = score_with(
        &latest.display().to_string(),
        &p,
        &out.display().to_string(),
        &["--as-of", as_of],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("Scored ") && stdout.contains("Top 10 of the list"),
        "{stdout}"
    );
    let list = read_list(&out);
    assert!(list.rank.iter().enumerate().all(|(i, &r)| r == i as u64 + 1));
    if stdout.contains("ranked by value at risk") {
        let var: Vec<f64> = list.probability.iter().zip(&list.value).map(|(p, v)| p * v).collect();
        assert!(var.windows(2).all(|w| w[0] >= w[1] - 1e-9), "ranked by value at risk");
    } else {
        assert!(
            list.probability.windows(2).all(|w| w[0] >= w[1]),
            "ranked by probability"
        );
    }

    let pipeline = churnguard_config::load(Path::new(&p)).unwrap();
    let h = load(&pipeline, None).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("manifest.json")).unwrap()).unwrap();
    let spec: churnguard_features::FeatureSpec = serde_json::from_value(manifest["feature_spec"].clone()).unwrap();
    let cutoff = Date::from_days(Date::parse_iso(as_of).unwrap().days() + 1);
    let snap = snapshot(&pipeline, &h, &spec, cutoff).unwrap();
    let f = spec.features.len();
    let batch = &snap.batch;
    let mut rows = Vec::with_capacity(batch.num_rows() * f);
    for i in 0..batch.num_rows() {
        for j in 0..f {
            let c = batch.column(j + 2).as_primitive::<Float64Type>();
            rows.push(if c.is_null(i) { f64::NAN } else { c.value(i) });
        }
    }
    let booster = Booster::from_text(&std::fs::read_to_string(latest.join("model.txt")).unwrap()).unwrap();
    // Scoring applies the package's calibration to LightGBM's probability (Platt inside
    // `model.onnx`, isotonic after ONNX Runtime).
    let calibration: churnguard_package::Calibration = serde_json::from_value(manifest["calibration"].clone()).unwrap();
    let want: Vec<f64> = booster
        .predict(&rows, f, Prediction::Normal)
        .unwrap()
        .into_iter()
        .map(|x| calibration.apply(x))
        .collect();
    // Early warning is about customers still with us: nobody silent for the label's 90 days.
    if let Some(j) = spec.features.iter().position(|x| x.name == "recency_days") {
        let recency = batch.column(j + 2).as_primitive::<Float64Type>();
        assert!(
            recency.iter().flatten().all(|r| r <= 90.0),
            "an already-churned customer was scored"
        );
    }
    let contrib = booster.predict(&rows, f, Prediction::Contributions).unwrap();
    let by_id: HashMap<String, usize> = (0..batch.num_rows())
        .map(|i| {
            (
                arrow::util::display::array_value_to_string(batch.column(0).as_ref(), i).unwrap(),
                i,
            )
        })
        .collect();
    assert_eq!(list.ids.len(), batch.num_rows());
    let (mut worst, mut explained) = (0.0f64, 0);
    for (k, id) in list.ids.iter().enumerate() {
        let i = by_id[id];
        worst = worst.max((list.probability[k] - want[i]).abs());
        // The reasons are LightGBM's three largest positive contributions, in order, of the
        // features a team can act on (tenure never is, nor what the pipeline holds back).
        let c = &contrib[i * (f + 1)..i * (f + 1) + f];
        let held_back = |name: &str| {
            name == "tenure_days"
                || (pipeline.scoring.not_actionable.iter()).any(|n| churnguard_config::names_feature(n, name))
        };
        let mut top: Vec<usize> = (0..f)
            .filter(|&j| c[j] > 0.0 && !held_back(&spec.features[j].name))
            .collect();
        top.sort_by(|&a, &b| c[b].total_cmp(&c[a]));
        for r in 0..3 {
            match (top.get(r), &list.reason_features[k][r], list.reason_contributions[k][r]) {
                (Some(&j), Some(name), Some(v)) => {
                    assert_eq!(&spec.features[j].name, name, "customer {id} reason {r}");
                    assert!((v - c[j]).abs() <= 1e-9, "customer {id} reason {r}: {v} vs {}", c[j]);
                    explained += 1;
                }
                (None, None, None) => {}
                other => panic!("customer {id} reason {r}: {other:?}"),
            }
        }
    }
    assert!(worst <= 1e-6, "max |score - LightGBM| = {worst}");
    assert!(explained > list.ids.len(), "reasons were compared");
    // Every customer has exactly one action, from a rule or the tier default.
    assert!(list.action.iter().all(|a| !a.is_empty()));
    assert!(
        list.tier
            .iter()
            .all(|t| ["high", "medium", "low"].contains(&t.as_str()))
    );
}

#[test]
fn cdnow_scores_and_reasons_equal_lightgbm() {
    scores_match_lightgbm(&cdnow_config(), "1998-06-30");
}

#[test]
fn an_isotonic_calibration_is_applied_after_onnx_runtime() {
    let config = cdnow_config().replace("[evaluation]\n", "[evaluation]\ncalibration = \"isotonic\"\n");
    assert!(config.contains("calibration = \"isotonic\""));
    scores_match_lightgbm(&config, "1998-06-30");
}

#[test]
fn telco_scores_and_reasons_equal_lightgbm() {
    scores_match_lightgbm(&telco_config(), "2024-01-31");
}

#[test]
fn rules_choose_actions_and_csv_is_written() {
    let s = Scratch::new();
    let (p, latest) = trained(&s, &cdnow_config());
    let out = s.0.path().join("risk.csv");
    let (code, stdout, err) = score_with(&latest.display().to_string(), &p, &out.display().to_string(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("data up to 1998-06-30"),
        "as_of from the config: {stdout}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("rank,customer_id,churn_probability,tier,value,value_at_risk,action,action_rule,reason_1,"),
        "{header}"
    );
    let scored = number_after(&stdout, "Scored ") as usize;
    assert_eq!(text.lines().count(), scored + 1);
    // The already-churned are in the win-back list beside it, most valuable first.
    let win_back = std::fs::read_to_string(s.0.path().join("risk.win-back.csv")).unwrap();
    assert!(
        win_back.starts_with("rank,customer_id,past_value,days_silent\n"),
        "{win_back}"
    );
    let past: Vec<f64> = win_back
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert!(past.len() > scored && past.windows(2).all(|w| w[0] >= w[1]));
    let mut by_rule = 0;
    for line in text.lines().skip(1) {
        if line.contains(",win-back offer,rule 1,") {
            assert!(line.contains(",high,") && line.contains(",gap_"), "{line}");
            by_rule += 1;
        }
    }
    assert!(by_rule > 0, "the rule matched nobody");
}

#[test]
fn a_tampered_package_file_is_refused_naming_the_file() {
    let s = Scratch::new();
    let (p, latest) = trained(&s, &cdnow_config());
    let onnx = latest.join("model.onnx");
    let original = std::fs::read(&onnx).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&onnx, bytes).unwrap();
    let out = s.0.path().join("risk.parquet");
    let (code, _, err) = score_with(&latest.display().to_string(), &p, &out.display().to_string(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("model.onnx has been modified or corrupted"), "{err}");
    assert!(!out.exists());

    std::fs::write(&onnx, original).unwrap();
    std::fs::remove_file(latest.join("model.txt")).unwrap();
    let (code, _, err) = score_with(&latest.display().to_string(), &p, &out.display().to_string(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read") && err.contains("model.txt"), "{err}");

    std::fs::write(latest.join("manifest.json"), b"{ not json").unwrap();
    let (_, _, err) = score_with(&latest.display().to_string(), &p, &out.display().to_string(), &[]);
    assert!(err.contains("manifest.json is not a valid package manifest"), "{err}");
}

#[test]
fn bad_scoring_inputs_are_clear_errors() {
    let s = Scratch::new();
    let (p, latest) = trained(&s, &cdnow_config());
    let model = latest.display().to_string();
    let out = s.0.path().join("risk.parquet").display().to_string();

    // A package of another pipeline.
    let other = s.0.path().join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("name = \"sample\"", "name = \"other\""),
    )
    .unwrap();
    let (code, _, err) = score_with(&model, &other.display().to_string(), &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("trained for pipeline \"sample\", not \"other\""), "{err}");

    // More threads than the machine has: capped, with a note, not gigabytes of sessions.
    let threads_out = s.0.path().join("threads.parquet").display().to_string();
    let (code, _, err) = score_with(&model, &p, &threads_out, &["--threads", "100000", "--top", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--threads 100000 is more than this machine's"), "{err}");

    // A capacity that reaches no one, or is no number.
    for bad in ["0", "150%", "ten"] {
        let (code, _, err) = score_with(&model, &p, &out, &["--capacity", bad]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("\"{bad}\" is not a capacity")), "{err}");
    }

    // A date before the data starts.
    let (code, _, err) = score_with(&model, &p, &out, &["--as-of", "1996-01-01"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--as-of 1996-01-01") && err.contains("first event"),
        "{err}"
    );

    // Input tables that no longer give a feature the model reads (no amount column).
    let fewer = s.0.path().join("fewer.toml");
    std::fs::write(
        &fewer,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("amount = \"dollar_value\"\n", ""),
    )
    .unwrap();
    let (code, _, err) = score_with(&model, &fewer.display().to_string(), &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("differ from the model's FeatureSpec") && err.contains("monetary_total"),
        "{err}"
    );

    // A missing package and a missing ONNX Runtime library.
    let (code, _, err) = score_with("/nonexistent/pkg", &p, &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/pkg"), "{err}");
    let (code, _, err) = score_with(&model, &p, &out, &["--ort-lib", "/nonexistent/libonnxruntime.so"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    // A file that is no ONNX Runtime (as an old or broken install would be): the message says
    // which version is needed and how to install it.
    let broken = s.0.path().join("libonnxruntime.so.1.0.0");
    std::fs::write(&broken, b"not a shared library").unwrap();
    let (code, _, err) = score_with(&model, &p, &out, &["--ort-lib", &broken.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot use ONNX Runtime from")
            && err.contains("1.31 or newer")
            && err.contains("scripts/setup.sh"),
        "{err}"
    );
    assert!(!Path::new(&out).exists(), "no list written on failure");
}

#[test]
fn scoring_memory_stays_within_its_budget_and_unseen_categories_are_counted() {
    // 40,000 synthetic customers scored 2,048 at a time: the whole process stays under 400 MB
    // (1,000,000 customers peak at about 1.6 GB in `make bench`).
    let s = Scratch::new();
    let data = s.0.path().join("synth");
    let (code, _, err) = outcome(&churnguard(&[
        "synth",
        "--customers",
        "40000",
        "--seed",
        "5",
        "--out",
        &data.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let mut config = std::fs::read_to_string(data.join("pipeline.toml")).unwrap();
    config.push_str(
        "[snapshots]\ntrain_cutoffs = [2024-06-01]\ntest_cutoff = 2024-09-01\n[model]\nnum_threads = 1\nnum_iterations = 60\n[evaluation]\nbootstrap_samples = 50\n[scoring]\nbatch_rows = 2048\n",
    );
    let pipeline = data.join("train.toml");
    std::fs::write(&pipeline, &config).unwrap();
    let p = pipeline.display().to_string();
    let models = s.0.path().join("models");
    let (code, _, err) = outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    let out = s.0.path().join("risk.parquet").display().to_string();
    let latest = models.join("synth/latest").display().to_string();
    let (code, stdout, err) = score_with(&latest, &p, &out, &["--as-of", "2024-12-31", "--top", "0"]);
    assert_eq!(code, 0, "{err}");
    let peak = number_after(&stdout, "peak memory ");
    assert!(peak < 400, "peak memory {peak} MB");
    eprintln!("scoring 40,000 customers: peak memory {peak} MB");
    // The customers still with us are scored, the already-churned listed for win-back: together
    // at most every customer of the data set.
    let (scored, gone) = (
        number_after(&stdout, "Scored "),
        number_after(&stdout, "already churned: "),
    );
    assert!(scored > 1000 && gone > 1000 && scored + gone <= 40_000, "{stdout}");

    // A plan never seen at training is scored as unknown and counted.
    let customers = data.join("customers.parquet");
    let file = std::fs::File::open(&customers).unwrap();
    let batches: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1 << 16)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let schema = batches[0].schema();
    let plan = schema.index_of("plan").unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&customers).unwrap(), schema.clone(), None).unwrap();
    for (k, b) in batches.iter().enumerate() {
        let mut cols = b.columns().to_vec();
        let plans = cols[plan].as_string::<i32>();
        let changed: arrow::array::StringArray = plans
            .iter()
            .enumerate()
            .map(|(i, v)| if k == 0 && i < 100 { Some("platinum") } else { v })
            .collect();
        cols[plan] = std::sync::Arc::new(changed);
        w.write(&arrow::record_batch::RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
    }
    w.close().unwrap();
    let (code, stdout, err) = score_with(&latest, &p, &out, &["--as-of", "2024-12-31", "--top", "0"]);
    assert_eq!(code, 0, "{err}");
    // Of the 100 changed rows, those of customers still with us are scored and counted.
    let unseen = number_after(&stdout, "attr_plan: ");
    assert!(unseen > 0 && unseen <= 100, "{stdout}");
    assert!(
        stdout.contains("values unseen at training, scored as unknown"),
        "{stdout}"
    );
}

#[test]
fn a_feature_marked_not_actionable_is_never_a_reason_and_a_name_matching_none_is_refused() {
    let s = Scratch::new();
    let config = cdnow_config().replace(
        "[scoring]\n",
        "[scoring]\nnot_actionable = [\"gap_*\", \"quantity_total\"]\n",
    );
    let (p, latest) = trained(&s, &config);
    let out = s.0.path().join("risk.parquet");
    let (code, _, err) = score_with(&latest.display().to_string(), &p, &out.display().to_string(), &[]);
    assert_eq!(code, 0, "{err}");
    let list = read_list(&out);
    let given: Vec<&String> = list.reason_features.iter().flatten().flatten().collect();
    assert!(given.len() > list.ids.len(), "reasons were given");
    // Tenure (it grows with the calendar) and the names the config holds back: never reasons.
    for name in given {
        assert!(
            name != "tenure_days" && !name.starts_with("gap_") && name != "quantity_total",
            "{name} was given as a reason"
        );
    }
    // Each numeric reason carries its yardstick: the share of customers below, in the
    // sentence and as a column.
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1 << 20).unwrap();
    let mut placed = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let sentences = batch.column_by_name("reason_1").unwrap().as_string::<i32>().clone();
        let percentiles = batch
            .column_by_name("reason_1_percentile")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in (0..batch.num_rows()).filter(|&i| percentiles.is_valid(i)) {
            let p = percentiles.value(i);
            assert!((0.0..=100.0).contains(&p), "{p}");
            assert!(
                sentences.value(i).ends_with("% of customers)"),
                "{}",
                sentences.value(i)
            );
            placed += 1;
        }
    }
    assert!(placed > 100, "{placed} reasons placed among customers");
    // A name that matches no feature is a typo, refused before any work.
    let typo = s.pipeline(&cdnow_config().replace("[scoring]\n", "[scoring]\nnot_actionable = [\"gapp_*\"]\n"));
    let (code, _, err) = score_with(&latest.display().to_string(), &typo, &out.display().to_string(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("scoring.not_actionable names `gapp_*`"), "{err}");
}
