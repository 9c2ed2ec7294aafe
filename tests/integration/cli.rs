//! Help, usage errors and exit codes.

use crate::{churnguard, outcome};

#[test]
fn every_subcommand_has_help() {
    let (code, out, _) = outcome(&churnguard(&["--help"]));
    assert_eq!(code, 0);
    let subcommands = ["validate", "features", "synth", "export", "doctor"];
    for s in subcommands {
        assert!(out.contains(s), "top-level help lists {s}:\n{out}");
        let (code, help, _) = outcome(&churnguard(&[s, "--help"]));
        assert_eq!(code, 0, "{s} --help");
        assert!(help.contains("Usage: churnguard") && help.contains(s), "{help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["frobnicate"],
        vec!["validate"],
        vec!["validate", "pipelines/cdnow.toml", "--bogus"],
        vec!["validate", "pipelines/cdnow.toml", "--as-of", "1998-13-01"],
    ] {
        let (code, _, err) = outcome(&churnguard(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (_, _, err) = outcome(&churnguard(&[
        "validate",
        "pipelines/cdnow.toml",
        "--as-of",
        "1998-13-01",
    ]));
    assert!(err.contains("\"1998-13-01\" is not a date"), "{err}");
}

#[test]
fn doctor_reports_the_onnx_runtime_version() {
    let (code, out, err) = outcome(&churnguard(&["doctor"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ONNX Runtime 1."), "{out}");
}

#[test]
fn the_binary_keeps_openmp_passive_unless_the_user_chose_a_policy() {
    // The harness clears the environment; without the variable the binary sets it itself.
    let dir = crate::root();
    let ort = std::env::var("ORT_DYLIB_PATH").unwrap_or_default();
    let cleared = crate::churnguard_in_without(&dir, &["doctor"], &[("ORT_DYLIB_PATH", &ort)], &["OMP_WAIT_POLICY"]);
    let (code, out, err) = outcome(&cleared);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OMP_WAIT_POLICY=passive"), "{out}");
    let chosen = crate::churnguard_in(&dir, &["doctor"], &[("OMP_WAIT_POLICY", "active")]);
    let (code, out, err) = outcome(&chosen);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("OMP_WAIT_POLICY=active"), "{out}");
}

#[test]
fn doctor_explains_a_missing_or_unusable_library() {
    let (code, _, err) = outcome(&churnguard(&["doctor", "--ort-lib", "/nonexistent/libonnxruntime.so"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/libonnxruntime.so") && err.contains("scripts/setup.sh"),
        "{err}"
    );
    let scratch = crate::Scratch::new();
    let fake = scratch.0.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let (code, _, err) = outcome(&churnguard(&["doctor", "--ort-lib", &fake.display().to_string()]));
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot use ONNX Runtime") && err.contains("1.31 or newer"),
        "{err}"
    );
}

#[test]
fn synth_writes_a_data_set_that_validates() {
    let s = crate::Scratch::new();
    let dir = s.0.path().join("synth");
    let dir = dir.display().to_string();
    let (code, out, err) = outcome(&churnguard(&[
        "synth",
        "--customers",
        "300",
        "--seed",
        "9",
        "--out",
        &dir,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("300 customers, "), "{out}");
    let (code, out, _) = outcome(&churnguard(&["validate", &format!("{dir}/pipeline.toml")]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("300 customers") && out.contains("Result: usable"), "{out}");
}

#[test]
fn synth_refuses_nonsense() {
    let s = crate::Scratch::new();
    let dir = s.0.path().display().to_string();
    let (code, _, err) = outcome(&churnguard(&["synth", "--customers", "0", "--out", &dir]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 1"), "{err}");
    let (code, _, err) = outcome(&churnguard(&[
        "synth",
        "--out",
        &dir,
        "--start",
        "2024-01-01",
        "--end",
        "2023-01-01",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ends (2023-01-01) before it starts (2024-01-01)"), "{err}");
    let file = s.0.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, _, err) = outcome(&churnguard(&[
        "synth",
        "--customers",
        "3",
        "--out",
        &file.display().to_string(),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("plain-file"), "{err}");
}

#[test]
fn features_writes_the_cdnow_snapshot_and_refuses_a_cutoff_before_the_data() {
    let s = crate::Scratch::new();
    let out = s.0.path().join("f.parquet").display().to_string();
    let (code, stdout, err) = outcome(&churnguard(&[
        "features",
        "pipelines/cdnow.toml",
        "--cutoff",
        "1998-04-01",
        "--out",
        &out,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("3,817 customers at cutoff 1998-04-01\n"), "{stdout}");
    assert!(stdout.contains("3,817 rows (1 snapshot), 25 features"), "{stdout}");
    assert!(stdout.contains("churned 2,061 (rate 0.540)"), "{stdout}");
    let file = std::fs::File::open(&out).unwrap();
    let meta = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(meta.metadata().file_metadata().num_rows(), 3_817);
    let (code, _, err) = outcome(&churnguard(&[
        "features",
        "pipelines/cdnow.toml",
        "--cutoff",
        "1996-01-01",
        "--out",
        &out,
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("before the first event (1997-01-01)"), "{err}");
}

#[test]
fn features_without_a_cutoff_writes_every_snapshot_of_the_pipeline() {
    let s = crate::Scratch::new();
    let out = s.0.path().join("f.parquet").display().to_string();
    let (code, stdout, err) = outcome(&churnguard(&["features", "pipelines/cdnow.toml", "--out", &out]));
    assert_eq!(code, 0, "{err}");
    // Training cutoffs every 30 days from 1997-07-01 to 1998-01-01, then the test cutoff.
    // The customers still with us at each cutoff (an event in the 90 days before it).
    for (customers, cutoff) in [
        ("5,322", "1997-07-01"),
        ("4,841", "1997-07-31"),
        ("4,601", "1997-08-30"),
        ("4,207", "1997-09-29"),
        ("4,029", "1997-10-29"),
        ("4,096", "1997-11-28"),
        ("4,190", "1997-12-28"),
        ("3,817", "1998-04-01"),
    ] {
        assert!(
            stdout.contains(&format!("{customers} customers at cutoff {cutoff}\n")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("35,103 rows (8 snapshots)"), "{stdout}");
    use parquet::file::reader::FileReader;
    let meta = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(meta.metadata().num_row_groups(), 8);
    assert_eq!(meta.metadata().file_metadata().num_rows(), 35_103);

    // A pipeline without [snapshots] needs --cutoff, and says so.
    let (code, _, err) = outcome(&churnguard(&["features", "pipelines/cdnow_sample.toml", "--out", &out]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("give --cutoff"), "{err}");
}
