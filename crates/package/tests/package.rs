//! The package contract on a real folder: versions and `latest`, a failed write that leaves the
//! previous version intact, and a reader that refuses every kind of damage by name.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use churnguard_eval::{EvalOptions, evaluate};
use churnguard_features::{Feature, FeatureKind, FeatureSpec, SnapshotReport};
use churnguard_package::{
    ConfigRecord, FORMAT, LATEST, Latest, Libraries, LightGbmRecord, MANIFEST, MODEL_ONNX, MODEL_TEXT, Manifest,
    Package, PackageError, Parity, REPORT, RowCounts, TestDesign, TierThresholds, replace_report, versions, write,
};

fn spec() -> FeatureSpec {
    FeatureSpec {
        version: 1,
        features: vec![Feature {
            name: "recency_days".into(),
            description: "days since the last event".into(),
            kind: FeatureKind::Numeric,
        }],
        windows_days: vec![30],
        complaint_kinds: vec![],
        label: None,
    }
}

/// A whole manifest with real figures, as training would build it.
fn manifest(version: &str, files: &BTreeMap<String, String>) -> Manifest {
    let labels = [true, false, true, false, true, true];
    let probs = [0.9, 0.2, 0.7, 0.4, 0.6, 0.8];
    let evaluation = evaluate(&labels, &probs, &EvalOptions::default()).unwrap();
    let spec = spec();
    Manifest {
        format: FORMAT,
        pipeline: "p".into(),
        version: version.into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        config: ConfigRecord {
            file: "p.toml".into(),
            file_sha256: "0".into(),
            resolved: serde_json::json!({"name": "p"}),
            resolved_sha256: "0".into(),
        },
        inputs: vec![],
        files: files.clone(),
        seed: 42,
        rows: RowCounts {
            train: 4,
            validation: 2,
            test: 6,
            train_churners: 2,
        },
        snapshots: vec![SnapshotReport::default()],
        test_design: TestDesign::OutOfTime {
            cutoff: churnguard_config::Date::parse_iso("1998-04-01").unwrap(),
        },
        lightgbm: LightGbmRecord {
            params: BTreeMap::new(),
            best_round: 1,
            rounds: 1,
            early_stopping_metric: "binary_logloss".into(),
            validation_history: vec![0.5],
        },
        libraries: Libraries {
            churnguard: "0".into(),
            lightgbm: "4.7.0".into(),
            onnx: "5".into(),
            onnx_runtime: "1.32.0".into(),
        },
        feature_spec_sha256: spec.hash(),
        feature_spec: spec,
        validation: evaluation.clone(),
        test: evaluation,
        segments: vec![],
        threshold: 0.5,
        tiers: TierThresholds {
            high: 0.8,
            medium: 0.6,
            rules: serde_json::Value::Null,
            test_counts: [2, 2, 2],
            high_value: None,
        },
        importance: vec![],
        reference_histograms: vec![],
        references_of_test: true,
        score_reference: None,
        tuning: None,
        parity: Parity {
            max_abs_difference: 0.0,
            rows: 6,
            test_rows: 6,
            test_rows_of: 6,
            input_type: "f64".into(),
            onnx_runtime: "1.32.0".into(),
        },
        calibration: None,
        value_capture: None,
        test_list: None,
        data: None,
    }
}

const MODEL_TEXT_BYTES: &[u8] = b"tree\n";

/// An ONNX model whose metadata names this model text, spec and pipeline (as an export does).
/// A report that shows the version it was drawn for.
fn no_report(m: &Manifest) -> String {
    format!("<p>{}</p>", m.version)
}

fn onnx(text: &[u8]) -> Vec<u8> {
    let entry = |key: &str, value: String| churnguard_model::onnx::StringStringEntryProto { key: key.into(), value };
    let model = churnguard_model::onnx::ModelProto {
        metadata_props: vec![
            entry("lightgbm_sha256", churnguard_model::sha256_hex(text)),
            entry("feature_spec_sha256", spec().hash()),
            entry("pipeline", "p".into()),
        ],
        ..Default::default()
    };
    prost::Message::encode_to_vec(&model)
}

static ONNX: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| onnx(MODEL_TEXT_BYTES));
static FILES: std::sync::LazyLock<[(&str, &[u8]); 2]> =
    std::sync::LazyLock::new(|| [(MODEL_TEXT, MODEL_TEXT_BYTES), (MODEL_ONNX, ONNX.as_slice())]);

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn packages_get_increasing_versions_latest_follows_and_the_reader_gets_the_same_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "p", &*FILES, &manifest, &no_report, Latest::Move, None).unwrap();
    let b = write(dir.path(), "p", &*FILES, &manifest, &no_report, Latest::Move, None).unwrap();
    assert_eq!((a.version.as_str(), b.version.as_str()), ("v1", "v2"));
    let latest = dir.path().join("p").join(LATEST);
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("v2"));
    let opened = Package::open(&latest).unwrap();
    assert_eq!(opened.manifest.version, "v2");
    assert_eq!(opened.file(MODEL_ONNX), ONNX.as_slice());
    assert_eq!(opened.manifest.test.auc, manifest("v2", &BTreeMap::new()).test.auc);
    assert_eq!(opened.manifest.feature_spec, spec());
    // The report is drawn from the version's own manifest, and can be replaced without
    // breaking the package's verification (it is a view, not a hashed file).
    assert_eq!(std::fs::read_to_string(b.dir.join(REPORT)).unwrap(), "<p>v2</p>");
    replace_report(&b.dir, "<p>again</p>").unwrap();
    assert_eq!(std::fs::read_to_string(b.dir.join(REPORT)).unwrap(), "<p>again</p>");
    Package::open(&latest).unwrap();
    let mut files = entries(&b.dir);
    files.sort();
    assert_eq!(files, vec![MANIFEST, MODEL_ONNX, MODEL_TEXT, REPORT]);
    // Nothing temporary is left behind.
    let names = entries(&dir.path().join("p"));
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_write_failing_midway_leaves_the_previous_version_and_latest_intact() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "p", &*FILES, &manifest, &no_report, Latest::Move, None).unwrap();
    // The second file cannot be created (its folder does not exist): a real failure after the
    // first file was written.
    let broken: [(&str, &[u8]); 2] = [(MODEL_TEXT, b"tree\n"), ("missing/model.onnx", &[1])];
    let e = write(dir.path(), "p", &broken, &manifest, &no_report, Latest::Move, None).unwrap_err();
    assert!(e.to_string().contains("missing/model.onnx"), "{e}");
    let latest = dir.path().join("p").join(LATEST);
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("v1"));
    assert_eq!(versions(&dir.path().join("p")), vec![1]);
    let names = entries(&dir.path().join("p"));
    assert_eq!(names.len(), 2, "temporary folders left: {names:?}");
}

#[test]
fn a_models_folder_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("models");
    std::fs::write(&file, b"").unwrap();
    let e = write(&file, "p", &*FILES, &manifest, &no_report, Latest::Move, None).unwrap_err();
    assert!(matches!(e, PackageError::Io { .. }), "{e:?}");
    assert!(
        e.to_string().contains("cannot write") && e.to_string().contains("models"),
        "{e}"
    );
}

/// Writes one version and returns its folder.
fn one(dir: &Path) -> std::path::PathBuf {
    write(dir, "p", &*FILES, &manifest, &no_report, Latest::Move, None)
        .unwrap()
        .dir
}

fn edit_manifest(v: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = v.join(MANIFEST);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn the_reader_refuses_a_changed_file_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let v = one(dir.path());
    std::fs::write(v.join(MODEL_TEXT), b"tree!\n").unwrap();
    let e = Package::open(&v).unwrap_err();
    assert!(matches!(e, PackageError::Tampered { .. }), "{e:?}");
    assert!(
        e.to_string().contains("model.txt has been modified or corrupted"),
        "{e}"
    );
}

#[test]
fn the_reader_refuses_a_newer_format_with_its_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let v = one(dir.path());
    edit_manifest(&v, |m| m["format"] = serde_json::json!(FORMAT + 1));
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("upgrade churnguard"), "{e}");
}

#[test]
fn the_reader_refuses_a_version_other_than_its_folder_and_a_spec_other_than_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let v = one(dir.path());
    edit_manifest(&v, |m| m["version"] = serde_json::json!("v7"));
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("it says version v7, but the folder is v1"), "{e}");

    let v = one(dir.path());
    edit_manifest(&v, |m| m["feature_spec"]["windows_days"] = serde_json::json!([31]));
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("its FeatureSpec hashes to"), "{e}");
}

#[test]
fn the_reader_refuses_a_manifest_that_is_not_one_and_a_missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let v = one(dir.path());
    std::fs::write(v.join(MANIFEST), b"{ not json").unwrap();
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("is not a valid package manifest"), "{e}");

    let v = one(dir.path());
    edit_manifest(&v, |m| {
        m["files"].as_object_mut().unwrap().remove(MODEL_ONNX);
    });
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("no SHA-256 recorded for model.onnx"), "{e}");

    let v = one(dir.path());
    edit_manifest(&v, |m| {
        m["files"]["../escape"] = serde_json::json!("00");
    });
    let e = Package::open(&v).unwrap_err().to_string();
    assert!(e.contains("outside the package"), "{e}");
}

#[test]
fn the_reader_refuses_files_that_disagree_with_each_other() {
    // model.txt edited together with its manifest hash: the hashes agree, but model.onnx still
    // names the original model text, so the reasons would explain another model.
    let dir = tempfile::tempdir().unwrap();
    let v1 = write(dir.path(), "p", &*FILES, &manifest, &no_report, Latest::Move, None)
        .unwrap()
        .dir;
    let edited = b"tree edited\n";
    std::fs::write(v1.join(MODEL_TEXT), edited).unwrap();
    let path = v1.join(MANIFEST);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["files"][MODEL_TEXT] = churnguard_model::sha256_hex(edited).into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Package::open(&v1).unwrap_err();
    assert!(e.to_string().contains("model.onnx records lightgbm_sha256"), "{e}");
    // model.onnx of another pipeline, with its hash set right in the manifest.
    let other = onnx(MODEL_TEXT_BYTES);
    let mut other_model: churnguard_model::onnx::ModelProto = prost::Message::decode(other.as_slice()).unwrap();
    other_model.metadata_props[2].value = "q".into();
    let other = prost::Message::encode_to_vec(&other_model);
    std::fs::write(v1.join(MODEL_TEXT), MODEL_TEXT_BYTES).unwrap();
    std::fs::write(v1.join(MODEL_ONNX), &other).unwrap();
    m["files"][MODEL_TEXT] = churnguard_model::sha256_hex(MODEL_TEXT_BYTES).into();
    m["files"][MODEL_ONNX] = churnguard_model::sha256_hex(&other).into();
    std::fs::write(&path, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Package::open(&v1).unwrap_err();
    assert!(e.to_string().contains("records pipeline q"), "{e}");
}

#[test]
fn a_signed_package_opens_with_its_key_and_is_refused_unsigned_edited_or_with_another_key() {
    use churnguard_package::{SIGNATURE, SigningKey};
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::new(b"sixteen byte key, or more").unwrap();
    let other = SigningKey::new(b"another sixteen-byte key").unwrap();
    let signed = write(
        dir.path(),
        "p",
        &*FILES,
        &manifest,
        &no_report,
        Latest::Move,
        Some(&key),
    )
    .unwrap()
    .dir;
    assert!(signed.join(SIGNATURE).exists());
    Package::open_signed(&signed, Some(&key)).unwrap();
    // Without a key set, signatures are not checked.
    Package::open_signed(&signed, None).unwrap();
    let e = Package::open_signed(&signed, Some(&other)).unwrap_err();
    assert!(matches!(e, PackageError::BadSignature { .. }), "{e}");
    // A manifest edited after signing (its file hashes still right) is refused.
    edit_manifest(&signed, |m| m["test"]["auc"] = serde_json::json!(0.99));
    let e = Package::open_signed(&signed, Some(&key)).unwrap_err();
    assert!(
        matches!(e, PackageError::BadSignature { .. }) && e.to_string().contains("changed after signing"),
        "{e}"
    );
    let unsigned = write(dir.path(), "p", &*FILES, &manifest, &no_report, Latest::Move, None)
        .unwrap()
        .dir;
    let e = Package::open_signed(&unsigned, Some(&key)).unwrap_err();
    assert!(
        matches!(e, PackageError::Unsigned { .. }) && e.to_string().contains("CHURNGUARD_SIGNING_KEY"),
        "{e}"
    );
    let e = SigningKey::new(b"short").unwrap_err();
    assert!(e.to_string().contains("at least 16"), "{e}");
}
