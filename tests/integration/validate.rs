//! `churnguard validate` on the bundled data and on broken inputs.

use crate::{Scratch, cdnow_sample, churnguard, outcome};

#[test]
fn cdnow_report_has_the_reference_figures() {
    let (code, out, err) = outcome(&churnguard(&["validate", "pipelines/cdnow.toml"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("69,659 events of 23,570 customers from 1997-01-01 to 1998-06-30"),
        "{out}"
    );
    assert!(out.contains("80 zero-amount rows"), "{out}");
    assert!(out.contains("Result: usable"), "{out}");
}

#[test]
fn telco_report_counts_customers_and_blank_charges() {
    for config in ["pipelines/telco.toml", "pipelines/telco_csv.toml"] {
        let (code, out, err) = outcome(&churnguard(&["validate", config]));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("7,043 customers"), "{out}");
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("TotalCharges"))
            .unwrap_or_default();
        assert!(line.contains("11 (11 blank)"), "{line}");
        assert!(out.contains("values of `Churn`: No 5,174, Yes 1,869"), "{out}");
        assert!(
            out.contains("churners    1,869 of 7,043 rows match positive = \"Yes\" (26.5%)"),
            "{out}"
        );
    }
}

#[test]
fn a_label_stored_as_one_point_zero_counts_its_churners() {
    let s = Scratch::new();
    let csv = s.0.path().join("customers.csv");
    std::fs::write(
        &csv,
        "plan,minutes,churned\na,10,1.0\nb,20,0.0\na,30,1.0\nb,40,0.0\nb,50,0.0\n",
    )
    .unwrap();
    let p = s.pipeline(&format!(
        "[pipeline]\nname = \"t\"\n[data]\nas_of = 2024-01-31\n[data.customers]\npath = \"{}\"\n[label]\nkind = \"column\"\ncolumn = \"churned\"\npositive = 1.0\n",
        csv.display()
    ));
    let (code, out, err) = outcome(&churnguard(&["validate", &p]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("churners    2 of 5 rows match positive = \"1\" (40.0%)"),
        "{out}"
    );
}

#[test]
fn json_report_is_machine_readable() {
    let (code, out, _) = outcome(&churnguard(&[
        "validate",
        "pipelines/cdnow_sample.toml",
        "--json",
        "--as-of",
        "1998-01-01",
    ]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["tables"][0]["report"];
    assert_eq!(t["rows_kept"], 6_919);
    assert_eq!(t["customers"], 2_357);
    assert_eq!(t["as_of"], "1998-01-01");
    assert!(t["future_rows"].as_u64().unwrap() > 0);
    assert_eq!(t["dropped_pii"][0], "orig_customer_id");
}

fn sample_config(extra: &str) -> String {
    format!(
        "[pipeline]\nname = \"s\"\n\n[data.events]\npath = \"{}\"\ncustomer_id = \"customer_id\"\ntimestamp = \"date\"\n{extra}",
        cdnow_sample()
    )
}

#[test]
fn config_errors_exit_2_naming_file_and_key() {
    let s = Scratch::new();
    let cases = [
        (sample_config("amout = \"dollar_value\"\n"), "data.events.amout"),
        (
            sample_config("[label]\nkind = \"inactivity\"\nhorizon_days = \"ninety\"\n"),
            "label.horizon_days",
        ),
        (
            sample_config("[label]\nkind = \"inactivity\"\nhorizon_days = -90\n"),
            "label.horizon_days",
        ),
        ("[pipeline]\nname = \"s\"\n".to_string(), "data"),
    ];
    for (text, key) in cases {
        let path = s.pipeline(&text);
        let (code, _, err) = outcome(&churnguard(&["validate", &path]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&path) && err.contains(&format!("`{key}`")), "{key}: {err}");
    }
    let (code, _, err) = outcome(&churnguard(&["validate", "pipelines/no-such.toml"]));
    assert_eq!(code, 2);
    assert!(err.contains("pipelines/no-such.toml"), "{err}");
}

/// A named pipe in `dir` (nobody ever writes to it).
fn fifo(dir: &std::path::Path, name: &str) -> String {
    let path = dir.join(name);
    let made = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success(), "mkfifo");
    path.display().to_string()
}

#[test]
fn a_config_that_is_a_pipe_a_device_or_huge_is_refused_without_reading_it() {
    let s = Scratch::new();
    let huge = s.0.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; 2 << 20]).unwrap();
    for path in [
        fifo(s.0.path(), "p.toml"),
        "/dev/zero".to_string(),
        huge.display().to_string(),
    ] {
        let (code, _, err) = outcome(&churnguard(&["validate", &path]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is not a pipeline config"), "{err}");
    }
}

/// A saved finding of the `parquet` fuzz target, in the same columns as the CDNOW sample.
fn damaged_parquet(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../fuzz/regressions/parquet/{name}.parquet"))
        .display()
        .to_string()
}

#[test]
fn unusable_data_exits_1_naming_the_file() {
    let s = Scratch::new();
    let dir = s.0.path().join("events.parquet");
    std::fs::create_dir(&dir).unwrap();
    let cases = [
        (
            sample_config("").replace(&cdnow_sample(), &dir.display().to_string()),
            "is a folder without any .parquet file",
        ),
        (
            sample_config("").replace("cdnow_sample", "cdnow_missing"),
            "file not found",
        ),
        (
            // A FIFO would block the read forever.
            sample_config("").replace(&cdnow_sample(), &fifo(s.0.path(), "fifo.parquet")),
            "not a regular file",
        ),
        (
            sample_config("amount = \"price\"\n"),
            "column `price` (set by `data.events.amount`) is not in the file",
        ),
        (
            // Found by `make fuzz`: a dictionary-encoded page without its dictionary, on which
            // the parquet crate panics.
            sample_config("").replace(&cdnow_sample(), &damaged_parquet("dictionary-page-missing")),
            "reading failed after 0 rows: Parquet argument error: Parquet error: damaged data: the Parquet reader gave up",
        ),
        (
            // Row counts whose sum overflows, on which the parquet crate panics in debug builds.
            sample_config("").replace(&cdnow_sample(), &damaged_parquet("row-counts-overflow")),
            "not a readable Parquet file (is it truncated, or another format?): Parquet error: damaged data",
        ),
    ];
    for (text, want) in cases {
        let path = s.pipeline(&text);
        let (code, out, err) = outcome(&churnguard(&["validate", &path]));
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains(want) && out.contains("NOT usable"), "{want}: {out}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn strict_flag_turns_a_rejection_into_failure() {
    let s = Scratch::new();
    let csv = s.0.path().join("e.csv");
    std::fs::write(&csv, "id,day\n1,1997-01-01\n2,not-a-day\n").unwrap();
    let text = format!(
        "[pipeline]\nname = \"s\"\n[data.events]\npath = \"{}\"\ncustomer_id = \"id\"\ntimestamp = \"day\"\n",
        csv.display()
    );
    let path = s.pipeline(&text);
    let (code, out, _) = outcome(&churnguard(&["validate", &path]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("1 rows: timestamp does not parse") && out.contains("row 2 `day` \"not-a-day\""),
        "{out}"
    );
    let (code, out, _) = outcome(&churnguard(&["validate", &path, "--strict"]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("row 2: timestamp does not parse in column `day` value \"not-a-day\""),
        "{out}"
    );
}

#[test]
fn pseudonymization_without_its_key_is_refused() {
    let s = Scratch::new();
    let path = s.pipeline(&format!(
        "{}[privacy]\npseudonymize = true\nkey_env = \"CG_TEST_ABSENT_KEY\"\n",
        sample_config("")
    ));
    let (code, out, _) = outcome(&churnguard(&["validate", &path]));
    assert_eq!(code, 1);
    assert!(out.contains("CG_TEST_ABSENT_KEY is not set"), "{out}");
}
