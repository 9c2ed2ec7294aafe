//! `churnguard export` on a model trained here with LightGBM, and on files that are not models.

use churnguard_train::lightgbm::{Booster, Dataset};

use crate::{Scratch, churnguard, outcome};

/// A binary model with categorical and zero-as-missing splits, as LightGBM's model text.
fn model_text() -> String {
    let n = 2000;
    let mut x = Vec::with_capacity(n * 3);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let a = (i as f64 * 0.618_034).fract() * 10.0;
        let b = if i % 4 == 0 {
            0.0
        } else {
            (i as f64 * 0.414_213).fract() - 0.5
        };
        let c = (i % 45) as f64;
        x.extend([a, b, c]);
        y.push(f32::from(u8::from(
            a + 4.0 * b + if (c as i64) % 3 == 0 { 3.0 } else { 0.0 } > 6.0,
        )));
    }
    let params = "objective=binary num_leaves=15 zero_as_missing=true categorical_feature=2 verbose=-1 num_threads=1 min_data_in_leaf=5";
    let ds = Dataset::from_rows(&x, 3, &y, params).unwrap();
    Booster::train(ds, params, 25).unwrap().model_text().unwrap()
}

#[test]
fn export_writes_an_onnx_model_that_matches_lightgbm() {
    let s = Scratch::new();
    let model = s.0.path().join("model.txt");
    std::fs::write(&model, model_text()).unwrap();
    for input in ["f32", "f64"] {
        let out = s.0.path().join(format!("model_{input}.onnx"));
        let (code, stdout, err) = outcome(&churnguard(&[
            "export",
            &model.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--input-type",
            input,
        ]));
        assert_eq!(code, 0, "{err}");
        assert!(stdout.starts_with("25 trees ("), "{stdout}");
        assert!(stdout.contains("binary, 3 features"), "{stdout}");
        assert!(
            stdout.contains("parity: max |ONNX Runtime - LightGBM rules| = "),
            "{stdout}"
        );
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.windows(12).any(|w| w == b"TreeEnsemble"), "an ONNX tree ensemble");
        let left: Vec<_> = std::fs::read_dir(s.0.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}

#[test]
fn export_refuses_what_is_not_a_model() {
    let s = Scratch::new();
    let out = s.0.path().join("m.onnx").display().to_string();
    let junk = s.0.path().join("junk.txt");
    std::fs::write(&junk, "this is not a model\n").unwrap();
    let (code, _, err) = outcome(&churnguard(&["export", &junk.display().to_string(), "--out", &out]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("junk.txt is not a usable LightGBM model") && err.contains("version"),
        "{err}"
    );
    // The model text as its own output: refused, the file untouched.
    let junk_path = junk.display().to_string();
    let (code, _, err) = outcome(&churnguard(&["export", &junk_path, "--out", &junk_path]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is the model text itself"), "{err}");
    assert_eq!(std::fs::read_to_string(&junk).unwrap(), "this is not a model\n");
    let (code, _, err) = outcome(&churnguard(&["export", "no/such/model.txt", "--out", &out]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read no/such/model.txt"), "{err}");
    let (code, _, err) = outcome(&churnguard(&[
        "export",
        &junk.display().to_string(),
        "--out",
        &out,
        "--input-type",
        "f16",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("f16"), "{err}");
    assert!(!std::path::Path::new(&out).exists());
}
