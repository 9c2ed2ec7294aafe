//! `churnguard train` end to end: a package a production job can load, versions and `latest`,
//! byte-identical models from the same config and data, and bad input named clearly.

use std::path::Path;

use churnguard_infer::{OnnxModel, OnnxRuntime};
use churnguard_train::lightgbm::{Booster, Prediction};

use crate::{Scratch, cdnow_sample, cdnow_sample_tables, churnguard, outcome};

fn config(extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "sample"
seed = 3
{tables}[snapshots]
every_days = 30
from = 1997-10-01
to = 1997-12-30
test_cutoff = 1998-04-01
[model]
num_threads = 1
num_leaves = 7
learning_rate = 0.1
num_iterations = 150
early_stopping_rounds = 20
[evaluation]
bootstrap_samples = 200
active_within_days = [180]
{extra}
"#,
        tables = cdnow_sample_tables("1998-07-01")
    )
}

fn train(s: &Scratch, extra: &str, models: &Path) -> (i32, String, crate::Stderr) {
    let p = s.pipeline(&config(extra));
    outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]))
}

#[test]
fn cdnow_is_trained_on_customers_still_with_us_with_calibrated_probabilities() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    let (code, out, err) = outcome(&churnguard(&[
        "train",
        "pipelines/cdnow.toml",
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1998-04-01: 3,817 customers still with us"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models.join("cdnow/v1/manifest.json")).unwrap()).unwrap();
    let c = &manifest["calibration"];
    let f = |side: &str, key: &str| c[side][key].as_f64().unwrap();
    // Calibration on the validation customers improves the out-of-time Brier score, and the
    // mean probability matches the observed churn rate.
    assert!(f("after", "brier") < f("before", "brier"), "{c}");
    assert!(
        (f("after", "mean_predicted") - f("after", "observed_rate")).abs() < 0.03,
        "{c}"
    );
    // Ranked by value at risk, the top of the list holds far more of the churners' spend than
    // ranked by probability alone.
    let v = &manifest["value_capture"];
    assert_eq!(v["ranked_by"], "value_at_risk");
    let top10 = |k: &str| v[k][0][1].as_f64().unwrap();
    assert!(
        top10("captured") > 0.25 && top10("captured") > 3.0 * top10("by_probability"),
        "{v}"
    );
}

fn sha256(bytes: &[u8]) -> String {
    churnguard_model::sha256_hex(bytes)
}

#[test]
fn train_writes_a_complete_loadable_package_and_run_adds_the_next_version() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    let (code, out, err) = train(&s, "", &models);
    assert_eq!(code, 0, "{err}");
    for line in [
        "snapshot     1997-10-01: 409 customers still with us, churn rate 51.3% (1,948 already churned, left out)",
        "test         out of time, every customer at 1998-04-01: ",
        "active 180d  AUC ",
        "calibration  Platt (inside model.onnx), fitted on ",
        "parity       max |ONNX Runtime - LightGBM| = ",
        "Importance (top 10 by gain)",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    let v1 = models.join("sample/v1");
    assert!(out.contains(&format!("package      {}", v1.display())), "{out}");

    // Every file is listed in the manifest with its SHA-256.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v1.join("manifest.json")).unwrap()).unwrap();
    for name in ["model.txt", "model.onnx"] {
        let bytes = std::fs::read(v1.join(name)).unwrap();
        assert_eq!(manifest["files"][name].as_str().unwrap(), sha256(&bytes), "{name}");
    }
    assert_eq!(manifest["version"], "v1");
    assert_eq!(manifest["pipeline"], "sample");
    assert_eq!(manifest["seed"], 3);
    assert_eq!(
        manifest["inputs"][0]["sha256"].as_str().unwrap(),
        sha256(&std::fs::read(cdnow_sample()).unwrap())
    );
    assert_eq!(manifest["config"]["resolved"]["model"]["num_leaves"], 7);
    assert!(manifest["parity"]["max_abs_difference"].as_f64().unwrap() <= 1e-6);
    let auc = manifest["test"]["auc"].as_f64().unwrap();
    // Customers still with us are harder to rank than the long gone: 0.725 on all of CDNOW.
    assert!(auc > 0.65 && auc < 1.0, "{auc}");
    assert!(manifest["test"]["auc_interval"]["lower"].as_f64().unwrap() < auc);
    assert_eq!(manifest["feature_spec"]["features"].as_array().unwrap().len(), 25);
    assert_eq!(manifest["reference_histograms"].as_array().unwrap().len(), 25);
    assert!(manifest["tiers"]["high"].as_f64().unwrap() >= manifest["tiers"]["medium"].as_f64().unwrap());
    assert_eq!(manifest["importance"].as_array().unwrap().len(), 25);
    assert_eq!(manifest["segments"][0]["active_within_days"], 180);

    // The package loads: LightGBM reads model.txt, ONNX Runtime scores model.onnx the same way.
    let text = std::fs::read_to_string(v1.join("model.txt")).unwrap();
    let booster = Booster::from_text(&text).unwrap();
    let row = [
        10.0, 200.0, 3.0, 50.0, 16.0, 20.0, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 2.0, 40.0, 20.0, 60.0,
        5.0, 0.5, 2.0, 2.0, 1.0,
    ];
    let platt: churnguard_eval::Platt = serde_json::from_value(manifest["calibration"]["platt"].clone()).unwrap();
    let want = platt.apply(booster.predict(&row, 25, Prediction::Normal).unwrap()[0]);
    let runtime = OnnxRuntime::load(None).unwrap();
    let mut onnx = OnnxModel::load(runtime, &std::fs::read(v1.join("model.onnx")).unwrap(), 1).unwrap();
    let got = onnx.score(&row, 25).unwrap().values[0];
    // The calibration's own arithmetic in ONNX Runtime and in Rust: a few ulps apart.
    assert!((want - got).abs() <= 1e-12, "{want} vs {got}");

    // `run` trains again: a new version, `latest` moves, the model is the same byte for byte.
    let p = s.0.path().join("pipeline.toml").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["run", &p, "--models", &models.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    let latest = models.join("sample/latest");
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("v2"));
    assert_eq!(std::fs::read(latest.join("model.txt")).unwrap(), text.as_bytes());
    assert_eq!(
        std::fs::read(latest.join("model.onnx")).unwrap(),
        std::fs::read(v1.join("model.onnx")).unwrap()
    );
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(again["test"], manifest["test"]);
}

/// The trees of a model text: LightGBM's text without its `parameters:` section, which names the
/// thread count.
fn trees(package: &Path) -> String {
    let text = std::fs::read_to_string(package.join("model.txt")).unwrap();
    text.split("\nparameters:\n").next().unwrap().to_string()
}

#[test]
fn the_model_is_the_same_on_one_thread_and_on_every_core_and_too_many_threads_are_capped() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    // Bagging and feature sampling, so that thread-dependent sampling would show as well.
    let sampled = config("").replace(
        "num_leaves = 7",
        "num_leaves = 7\nbagging_fraction = 0.8\nbagging_freq = 1\nfeature_fraction = 0.8",
    );
    for threads in ["1", "1024"] {
        let p = s.pipeline(&sampled.replace("num_threads = 1", &format!("num_threads = {threads}")));
        let (code, _, err) = outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]));
        assert_eq!(code, 0, "{err}");
        let capped = err.contains("note: model.num_threads = 1024 is more than this machine's")
            && err.contains("cores: training on");
        assert_eq!(capped, threads == "1024", "{err}");
    }
    let one = trees(&models.join("sample/v1"));
    assert!(one.contains("Tree=10"), "{one}");
    assert_eq!(one, trees(&models.join("sample/v2")));
}

#[test]
fn a_parameter_lightgbm_rejects_is_a_config_error_naming_the_key() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    let (code, _, err) = train(&s, "[model.lightgbm]\nmax_delta_step = \"big\"\n", &models);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`model.lightgbm.max_delta_step`: LightGBM rejects max_delta_step=big"),
        "{err}"
    );
    assert!(!models.join("sample").exists(), "nothing is written");
}

#[test]
fn a_single_class_snapshot_is_refused_with_its_cutoff() {
    let s = Scratch::new();
    let csv = s.0.path().join("customers.csv");
    let mut text = String::from("id,plan,churn\n");
    for i in 0..300 {
        text.push_str(&format!("{i},{},Yes\n", ["a", "b"][i % 2]));
    }
    std::fs::write(&csv, text).unwrap();
    let p = s.pipeline(
        "[pipeline]\nname = \"gone\"\n[data]\nas_of = 2024-01-31\n[data.customers]\npath = \"customers.csv\"\ncustomer_id = \"id\"\n[label]\nkind = \"column\"\ncolumn = \"churn\"\npositive = \"Yes\"\n",
    );
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        &p,
        "--models",
        &s.0.path().join("m").display().to_string(),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("all 300 customers churned at cutoff 2024-02-01"), "{err}");
}

#[test]
fn a_models_folder_that_cannot_be_written_is_refused_before_training() {
    let s = Scratch::new();
    let blocker = s.0.path().join("models");
    std::fs::write(&blocker, b"a file, not a folder").unwrap();
    let (code, out, err) = train(&s, "", &blocker);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the models folder") && err.contains("models"), "{err}");
    assert!(!out.contains("snapshot"), "refused before the work: {out}");
}

#[test]
fn a_pipeline_without_label_is_a_usage_error() {
    let s = Scratch::new();
    let text = config("").replace("[label]\nkind = \"inactivity\"\nhorizon_days = 90\n", "");
    let p = s.pipeline(&text);
    let (code, _, err) = outcome(&churnguard(&["train", &p]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("defines no churn label"), "{err}");
}

#[test]
fn with_a_signing_key_packages_are_signed_and_unsigned_or_foreign_ones_are_refused() {
    let s = Scratch::new();
    let models = s.0.path().join("models").display().to_string();
    let key = ("CHURNGUARD_SIGNING_KEY", "a key of sixteen bytes or more");
    let root = crate::root();
    let run = |args: &[&str], env: &[(&str, &str)]| outcome(&crate::churnguard_in(&root, args, env));
    // A key too short is refused before any work.
    let (code, _, err) = run(
        &["train", "pipelines/cdnow.toml", "--models", &models],
        &[("CHURNGUARD_SIGNING_KEY", "short")],
    );
    assert!(code == 2 && err.contains("at least 16"), "{err}");
    assert!(!s.0.path().join("models/cdnow/v1").exists());
    let (code, _, err) = run(&["train", "pipelines/cdnow.toml", "--models", &models], &[key]);
    assert_eq!(code, 0, "{err}");
    let signed = s.0.path().join("models/cdnow/v1");
    assert!(signed.join("manifest.sig").exists());
    let out = s.0.path().join("list.csv").display().to_string();
    let score = |env: &[(&str, &str)]| {
        run(
            &[
                "score",
                "--model",
                &signed.display().to_string(),
                "--pipeline",
                "pipelines/cdnow.toml",
                "--out",
                &out,
            ],
            env,
        )
    };
    assert_eq!(score(&[key]).0, 0);
    assert_eq!(score(&[]).0, 0, "without a key, signatures are not checked");
    let (code, _, err) = score(&[("CHURNGUARD_SIGNING_KEY", "another key, sixteen bytes long")]);
    assert!(code == 1 && err.contains("signed with another key"), "{err}");
    // An unsigned package is refused while a key is set.
    let (code, _, err) = run(&["train", "pipelines/cdnow.toml", "--models", &models], &[]);
    assert_eq!(code, 0, "{err}");
    let unsigned = s.0.path().join("models/cdnow/v2").display().to_string();
    let (code, _, err) = run(
        &[
            "score",
            "--model",
            &unsigned,
            "--pipeline",
            "pipelines/cdnow.toml",
            "--out",
            &out,
        ],
        &[key],
    );
    assert!(code == 1 && err.contains("has no signature"), "{err}");
}

#[test]
fn risk_levels_rise_in_observed_churn_on_telco_and_synthetic_data() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    let m = models.display().to_string();
    let synth = s.0.path().join("synth");
    let (code, _, err) = outcome(&churnguard(&[
        "synth",
        "--customers",
        "6000",
        "--seed",
        "3",
        "--out",
        &synth.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let mut text = std::fs::read_to_string(synth.join("pipeline.toml")).unwrap();
    text.push_str(
        "\n[snapshots]\nevery_days = 30\nfrom = 2024-03-01\nto = 2024-06-01\ntest_cutoff = 2024-09-01\n\
         [model]\nnum_iterations = 200\n[evaluation]\nbootstrap_samples = 50\n",
    );
    std::fs::write(synth.join("levels.toml"), text).unwrap();
    let synth_pipeline = synth.join("levels.toml").display().to_string();
    for (pipeline, name) in [("pipelines/telco.toml", "telco"), (synth_pipeline.as_str(), "synth")] {
        let (code, _, err) = outcome(&churnguard(&["train", pipeline, "--models", &m]));
        assert_eq!(code, 0, "{err}");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(models.join(name).join("v1/manifest.json")).unwrap()).unwrap();
        crate::report::levels_mean_risk(&manifest);
    }
}
