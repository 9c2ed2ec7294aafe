//! Customer partitions: `partition`, scoring one partition at a time, `score --part` and `merge`,
//! against scoring every customer at once, and the inputs they refuse.

use std::path::Path;

use crate::{Scratch, cdnow_variant, churnguard, outcome};

/// A synthetic data set of `customers` in `dir` with three tables, and its pipeline with
/// training snapshots (one thread, few rounds: the test is about the data path, not the model).
fn synthetic(dir: &Path, customers: &str) -> String {
    let out = dir.display().to_string();
    let (code, _, err) = outcome(&churnguard(&[
        "synth",
        "--customers",
        customers,
        "--seed",
        "11",
        "--out",
        &out,
    ]));
    assert_eq!(code, 0, "{err}");
    let mut text = std::fs::read_to_string(dir.join("pipeline.toml")).unwrap();
    text.push_str(
        "\n[snapshots]\nevery_days = 30\nfrom = 2024-03-01\nto = 2024-06-01\ntest_cutoff = 2024-09-01\n\
         [model]\nnum_iterations = 60\nnum_threads = 1\n[evaluation]\nbootstrap_samples = 20\n",
    );
    let path = dir.join("whole.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Splits the tables of `pipeline` into `parts` under `dir/parts`, and writes `parts.toml`: the
/// same pipeline reading the partitions.
fn partitioned(pipeline: &str, parts: &str, dir: &Path) -> String {
    let out = dir.join("parts");
    let (code, stdout, err) = outcome(&churnguard(&[
        "partition",
        pipeline,
        "--parts",
        parts,
        "--out",
        &out.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains(&format!("Wrote {parts} partitions")), "{stdout}");
    let text = std::fs::read_to_string(pipeline).unwrap();
    let mut role = String::new();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if let Some(r) = l.strip_prefix("[data.").and_then(|r| r.strip_suffix(']')) {
                role = r.to_string();
            }
            match l.split('=').next().map(str::trim) {
                Some("path") => format!("path = \"{}\"", out.join(&role).display()),
                _ => l.to_string(),
            }
        })
        .collect();
    let path = dir.join("parts.toml");
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path.display().to_string()
}

fn score(package: &str, pipeline: &str, out: &Path, extra: &[&str]) -> (i32, String, crate::Stderr) {
    let out = out.display().to_string();
    let mut args = vec!["score", "--model", package, "--pipeline", pipeline, "--out", &out];
    args.extend_from_slice(extra);
    outcome(&churnguard(&args))
}

fn same_bytes(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        x == y,
        "{} and {} differ ({} and {} bytes)",
        a.display(),
        b.display(),
        x.len(),
        y.len()
    );
}

/// Every row of a Parquet file as its cells' text joined by `|`, in file order.
fn parquet_rows(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let b = b.unwrap();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = (0..b.num_columns())
                .map(|c| arrow::util::display::array_value_to_string(b.column(c), i).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

#[test]
fn scoring_partitions_gives_the_list_of_scoring_everyone_at_once() {
    let s = Scratch::new();
    let d = s.0.path();
    let whole = synthetic(&d.join("data"), "6000");
    let models = d.join("models").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["train", &whole, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    let package = format!("{models}/synth/latest");
    let parts = partitioned(&whole, "3", d);
    for k in 0..3 {
        for table in ["events", "customers", "interactions"] {
            assert!(d.join(format!("parts/{table}/part={k}/part-0.parquet")).is_file());
        }
    }

    // Every partition scored in turn and merged: the same files, byte for byte, capacity
    // resolved on the whole list.
    let (code, _, err) = score(&package, &whole, &d.join("whole.csv"), &["--capacity", "7%"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = score(&package, &parts, &d.join("merged.csv"), &["--capacity", "7%"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Top 10 of the list") && out.contains("already churned"),
        "{out}"
    );
    same_bytes(&d.join("whole.csv"), &d.join("merged.csv"));
    same_bytes(&d.join("whole.win-back.csv"), &d.join("merged.win-back.csv"));
    // The capacity marks the first 7% of the list (every risk known here), and no one after.
    let text = std::fs::read_to_string(d.join("whole.csv")).unwrap();
    let marks: Vec<&str> = text.lines().skip(1).map(|l| l.rsplit(',').next().unwrap()).collect();
    let reach = (marks.len() as f64 * 0.07).ceil() as usize;
    assert!(marks[..reach].iter().all(|m| *m == "true"), "{:?}", &marks[..reach]);
    assert!(marks[reach..].iter().all(|m| *m == "false"));
    assert!(
        out.contains(&format!("capacity: 7% of the list: the first {reach} customers")),
        "{out}"
    );
    // No partition list is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partitions-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One partition per job (as on several machines), then `merge`.
    let mut lists = Vec::new();
    for k in 0..3 {
        let list = d.join(format!("p{k}.parquet"));
        let (code, out, err) = score(&package, &parts, &list, &["--part", &k.to_string()]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("Scored partition part={k}")), "{out}");
        lists.push(list.display().to_string());
    }
    let merged = d.join("merge.csv").display().to_string();
    let mut args = vec![
        "merge",
        "--model",
        &package,
        "--pipeline",
        &parts,
        "--out",
        &merged,
        "--capacity",
        "7%",
    ];
    args.extend(lists.iter().map(String::as_str));
    let (code, _, err) = outcome(&churnguard(&args));
    assert_eq!(code, 0, "{err}");
    same_bytes(&d.join("whole.csv"), &d.join("merge.csv"));
    same_bytes(&d.join("whole.win-back.csv"), &d.join("merge.win-back.csv"));

    // The feature table, partition by partition: the same rows (in partition order), the same
    // category codes.
    for (pipeline, out) in [(&whole, "fw.parquet"), (&parts, "fp.parquet")] {
        let out = d.join(out).display().to_string();
        let (code, _, err) = outcome(&churnguard(&[
            "features",
            pipeline,
            "--cutoff",
            "2024-06-01",
            "--out",
            &out,
        ]));
        assert_eq!(code, 0, "{err}");
    }
    let (mut a, mut b) = (parquet_rows(&d.join("fw.parquet")), parquet_rows(&d.join("fp.parquet")));
    assert_ne!(a, b, "partition order is not id order");
    a.sort();
    b.sort();
    assert!(a == b && a.len() > 1000, "{} and {} rows", a.len(), b.len());

    // Trained one partition at a time: the same rows in another order (LightGBM's bagging
    // draws differ), so a model as good, with the same counts.
    let (code, out, err) = outcome(&churnguard(&["train", &parts, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    let manifest = |v: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join(format!("models/synth/{v}/manifest.json"))).unwrap()).unwrap()
    };
    let (whole, parted) = (manifest("v1"), manifest("v2"));
    assert_eq!(whole["rows"], parted["rows"], "{out}");
    assert_eq!(whole["snapshots"], parted["snapshots"], "{out}");
    assert_eq!(whole["feature_spec"], parted["feature_spec"], "{out}");
    let auc = |m: &serde_json::Value| m["test"]["auc"].as_f64().unwrap();
    assert!(
        (auc(&whole) - auc(&parted)).abs() <= 0.005,
        "{} against {}",
        auc(&parted),
        auc(&whole)
    );
}

#[test]
fn risk_levels_of_the_merged_list_are_those_of_the_whole_list() {
    let s = Scratch::new();
    let d = s.0.path();
    let tiers = "[tiers]\nhigh = { top = 150 }\nmedium = { lift = 1.2 }\n";
    let whole = cdnow_variant(d, "cdnow.toml", &[("num_iterations", "80")], "");
    let text = std::fs::read_to_string(&whole).unwrap();
    let start = text.find("[tiers]").unwrap();
    let end = start + text[start..].find("\n[scoring]").unwrap();
    std::fs::write(&whole, format!("{}{tiers}{}", &text[..start], &text[end..])).unwrap();
    let models = d.join("models").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["train", &whole, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    let package = format!("{models}/cdnow/latest");
    let parts = partitioned(&whole, "5", d);
    let (code, _, err) = score(&package, &whole, &d.join("whole.parquet"), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = score(&package, &parts, &d.join("merged.parquet"), &[]);
    assert_eq!(code, 0, "{err}");
    // `top = 150` was resolved at training into a probability cut-off, the same on every list.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{package}/manifest.json")).unwrap()).unwrap();
    let high_from = manifest["tiers"]["high"].as_f64().unwrap();
    assert!(out.contains(&format!("high from probability {high_from:.3}")), "{out}");
    // Test customers tied with the 150th (trees give equal probabilities) join them.
    let high_at_test = manifest["tiers"]["test_counts"][0].as_u64().unwrap();
    assert!((150..160).contains(&high_at_test), "{high_at_test}");
    let (a, b) = (
        parquet_rows(&d.join("whole.parquet")),
        parquet_rows(&d.join("merged.parquet")),
    );
    assert_eq!(a.len(), b.len());
    assert!(a.iter().any(|r| r.contains("|high|")));
    assert!(a == b, "the merged list differs from the whole list");
}

#[test]
fn partition_refuses_what_it_cannot_split_and_score_refuses_a_layout_that_mixes() {
    let s = Scratch::new();
    let d = s.0.path();
    let whole = synthetic(&d.join("data"), "800");
    let parts = partitioned(&whole, "2", d);

    // The folder is in use now: a second run must not write into it.
    let again = outcome(&churnguard(&[
        "partition",
        &whole,
        "--parts",
        "2",
        "--out",
        &d.join("parts").display().to_string(),
    ]));
    assert_eq!(again.0, 1, "{}", again.2);
    assert!(again.2.contains("already exists and is not empty"), "{}", again.2);
    let zero = outcome(&churnguard(&["partition", &whole, "--parts", "0", "--out", "x"]));
    assert_eq!(zero.0, 2, "{}", zero.2);

    // A partitioned table beside a whole one would split customers.
    let text = std::fs::read_to_string(&parts).unwrap();
    let mixed_text = text.replacen(
        &format!("path = \"{}\"", d.join("parts/customers").display()),
        &format!("path = \"{}\"", d.join("data/customers.parquet").display()),
        1,
    );
    assert_ne!(mixed_text, text);
    let mixed = d.join("mixed.toml");
    std::fs::write(&mixed, mixed_text).unwrap();
    let (code, out, err) = outcome(&churnguard(&["validate", &mixed.display().to_string()]));
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("customers table") && out.contains("is not partitioned"),
        "{out}"
    );

    // A partition one table lacks.
    std::fs::rename(d.join("parts/interactions/part=1"), d.join("parts/interactions/part=9")).unwrap();
    let (code, out, err) = outcome(&churnguard(&["validate", &parts]));
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("has no partition part="), "{out}");
}

#[test]
fn merge_refuses_lists_that_do_not_belong_together() {
    let s = Scratch::new();
    let d = s.0.path();
    let whole = cdnow_variant(d, "cdnow.toml", &[("num_iterations", "40")], "");
    let models = d.join("models").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["train", &whole, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    let package = format!("{models}/cdnow/latest");
    let parts = partitioned(&whole, "2", d);
    let list = |k: &str, extra: &[&str]| {
        let path = d.join(format!("p{k}-{}.parquet", extra.len()));
        let mut args = vec!["--part", k];
        args.extend_from_slice(extra);
        let (code, _, err) = score(&package, &parts, &path, &args);
        assert_eq!(code, 0, "{err}");
        path.display().to_string()
    };
    let (p0, p1) = (list("0", &[]), list("1", &[]));
    let p1_earlier = list("1", &["--as-of", "1998-05-31"]);
    let merge = |lists: &[&str]| {
        let out = d.join("m.csv").display().to_string();
        let mut args = vec!["merge", "--model", &package, "--pipeline", &parts, "--out", &out];
        args.extend_from_slice(lists);
        outcome(&churnguard(&args))
    };
    // A reader that stops early (`| head`) ends the printing quietly.
    let out = d.join("piped.csv").display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_churnguard"))
        .args([
            "merge",
            "--model",
            &package,
            "--pipeline",
            &parts,
            "--out",
            &out,
            "--top",
            "3000",
            &p0,
            &p1,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(d.join("piped.csv").is_file(), "the list is written before the summary");

    let (code, _, err) = merge(&[&p0, &p1_earlier]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("scoring date 1998-05-31, the merge needs 1998-07-01"),
        "{err}"
    );
    let (code, _, err) = merge(&[&p0, &p0]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is in two partition lists"), "{err}");

    // A whole list is not a partition list; a cut file is not a list at all.
    let whole_list = d.join("whole.parquet");
    let (code, _, err) = score(&package, &whole, &whole_list, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = merge(&[&p0, &whole_list.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not a readable partition list: no churnguard.partition"),
        "{err}"
    );
    let bytes = std::fs::read(&p1).unwrap();
    let cut = d.join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = merge(&[&p0, &cut.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cut.parquet: not a readable partition list"), "{err}");
    assert!(!d.join("m.csv").exists());

    // A partition that does not exist, and a layout without a scoring date.
    let (code, _, err) = score(&package, &parts, &d.join("x.parquet"), &["--part", "7"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no partition part=7; its partitions are 0, 1"), "{err}");
    let text = std::fs::read_to_string(&parts).unwrap();
    let undated = d.join("undated.toml");
    std::fs::write(&undated, text.replace("as_of = 1998-07-01", "")).unwrap();
    let (code, _, err) = score(&package, &undated.display().to_string(), &d.join("x.csv"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("are partitioned: pass --as-of or set `data.as_of`"),
        "{err}"
    );
}

#[test]
fn partitions_of_one_customer_or_none_score_and_train_like_the_whole_table() {
    let s = Scratch::new();
    let d = s.0.path();
    let whole = d.join("sample.toml");
    std::fs::write(
        &whole,
        format!(
            "[pipeline]\nname = \"sample\"\n{}\n[snapshots]\nevery_days = 30\nfrom = 1997-10-01\nto = 1998-01-01\ntest_cutoff = 1998-04-01\n[model]\nnum_iterations = 40\nnum_threads = 1\n[evaluation]\nbootstrap_samples = 20\n",
            crate::cdnow_sample_tables("1998-07-01")
        ),
    )
    .unwrap();
    let whole = whole.display().to_string();
    let parts = partitioned(&whole, "400", d);
    let empty = std::fs::read_dir(d.join("parts/events"))
        .unwrap()
        .flatten()
        .filter(|e| {
            let file = std::fs::File::open(e.path().join("part-0.parquet")).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows()
                == 0
        })
        .count();
    assert!(empty > 0, "no empty partition to test");
    let models = d.join("models").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["train", &whole, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    // Scored one customer at a time or none, the list is still the whole table's, byte for byte
    // (ONNX Runtime's path for a lone row rounds otherwise: every row is scored in a pair).
    let package = format!("{models}/sample/v1");
    let (code, _, err) = score(&package, &whole, &d.join("whole.csv"), &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = score(&package, &parts, &d.join("merged.csv"), &[]);
    assert_eq!(code, 0, "{err}");
    same_bytes(&d.join("whole.csv"), &d.join("merged.csv"));
    // Trained partition by partition: some partitions hold one class or no one, the whole does not.
    let (code, out, err) = outcome(&churnguard(&["train", &parts, "--models", &models]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rows         train 1,251"), "{out}");
}
