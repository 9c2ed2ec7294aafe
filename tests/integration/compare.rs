//! `churnguard compare`: packages scored on the same labelled customers, each with its own
//! features; DeLong's test, agreement, gates for CI, and bad input named clearly.

use std::path::Path;

use crate::report::{chromium, console_messages, table, train_cdnow};
use crate::{Scratch, churnguard, outcome};

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_package_compared_with_itself_gives_identical_scores_p_one_and_a_diagonal_migration() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models")).display().to_string();
    let out_json = s.0.path().join("same.json");
    let out_html = s.0.path().join("same.html");
    let (code, out, err) = outcome(&churnguard(&[
        "compare",
        &package,
        &package,
        "--pipeline",
        "pipelines/cdnow.toml",
        "--json",
        &out_json.display().to_string(),
        "--html",
        &out_html.display().to_string(),
        "--fail-if-worse",
        "auc=0,brier=0,ece=0",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("not significant"), "{out}");
    let c = json(&out_json);
    let (a, b) = (&c["models"][0], &c["models"][1]);
    for key in ["auc", "pr_auc", "log_loss", "brier"] {
        assert_eq!(a["evaluation"][key], b["evaluation"][key], "{key}");
    }
    let d = &c["paired"][0]["delong"];
    assert_eq!((f(&d["difference"]), f(&d["p_value"])), (0.0, 1.0), "{d}");
    assert_eq!(f(&c["paired"][0]["agreement"]["rank_correlation"]), 1.0);
    assert_eq!(f(&c["paired"][0]["agreement"]["top_overlap"]), 1.0);
    let migration = c["paired"][0]["migration"].as_array().unwrap();
    let mut total = 0.0;
    for (r, row) in migration.iter().enumerate() {
        for (k, n) in row.as_array().unwrap().iter().enumerate() {
            if r != k {
                assert_eq!(f(n), 0.0, "off the diagonal: {migration:?}");
            }
            total += f(n);
        }
    }
    assert_eq!(total, f(&c["customers"]));
    // The baseline's test cutoff by default, where the package's AUC is its training test AUC.
    let m = json(&Path::new(&package).join("manifest.json"));
    assert_eq!(c["cutoff"], "1998-04-01");
    assert!((f(&a["evaluation"]["auc"]) - f(&m["test"]["auc"])).abs() < 1e-12, "{a}");
    assert_eq!(
        a["evaluation"]["auc_interval"], m["test"]["auc_interval"],
        "the same resamples"
    );
    assert_eq!(f(&c["customers"]), f(&m["test"]["rows"]));
    assert!(f(&a["rows_per_second"]) > 0.0 && f(&a["trees"]) == f(&m["lightgbm"]["best_round"]));
    // The page shows the same figures, with the curves of both.
    let html = std::fs::read_to_string(&out_html).unwrap();
    let figures = table(&html, "figures");
    let auc = figures.iter().find(|r| r[0] == "AUC").unwrap();
    assert!((auc[1].parse::<f64>().unwrap() - f(&a["evaluation"]["auc"])).abs() < 1e-6);
    let roc = table(&html, "roc");
    assert!(roc.iter().any(|r| r[0] == "v1 (#1)") && roc.iter().any(|r| r[0] == "v1 (#2)"));
    // It opens in a browser without complaint, every chart drawn.
    let dom = chromium(
        &s.0.path().join("profile"),
        &["--dump-dom", &format!("file://{}", out_html.display())],
    );
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success() && console_messages(&stderr).is_empty(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&dom.stdout).matches("<svg").count(), 6);
}

/// A pipeline named `cdnow` on the bundled CDNOW table with these feature windows.
fn cdnow_with_windows(s: &Scratch, file: &str, windows: &str) -> String {
    crate::cdnow_variant(s.0.path(), file, &[("windows_days", windows)], "")
}

#[test]
fn two_cdnow_packages_with_different_windows_compare_each_with_its_own_features() {
    let s = Scratch::new();
    let models = s.0.path().join("models").display().to_string();
    let wide = cdnow_with_windows(&s, "wide.toml", "[30, 90, 180]");
    let narrow = cdnow_with_windows(&s, "narrow.toml", "[30]");
    for p in [&wide, &narrow] {
        let (code, _, err) = outcome(&churnguard(&["train", p, "--models", &models]));
        assert_eq!(code, 0, "{err}");
    }
    let (v1, v2) = (format!("{models}/cdnow/v1"), format!("{models}/cdnow/v2"));
    let out_json = s.0.path().join("c.json");
    let compare = |gate: &str| {
        outcome(&churnguard(&[
            "compare",
            &v1,
            &v2,
            "--pipeline",
            &wide,
            "--json",
            &out_json.display().to_string(),
            "--fail-if-worse",
            gate,
        ]))
    };
    let (code, out, err) = compare("auc=1");
    assert_eq!(code, 0, "{err}");
    let c = json(&out_json);
    let (a, b) = (&c["models"][0], &c["models"][1]);
    assert!(f(&a["features"]) > f(&b["features"]), "{out}");
    // Each package's AUC on its own features is its training test AUC.
    for (k, v) in [&v1, &v2].iter().enumerate() {
        let m = json(&Path::new(v).join("manifest.json"));
        let ours = f(&c["models"][k]["evaluation"]["auc"]);
        assert!(
            (ours - f(&m["test"]["auc"])).abs() < 1e-12,
            "{}: {ours} vs {}",
            v,
            m["test"]["auc"]
        );
    }
    let d = &c["paired"][0]["delong"];
    assert!(
        f(&d["p_value"]) > 0.0 && f(&d["p_value"]) <= 1.0 && f(&d["standard_error"]) > 0.0,
        "{d}"
    );
    assert!(f(&c["paired"][0]["agreement"]["rank_correlation"]) < 1.0);
    // A gate with no margin fails exactly when the candidate is worse.
    let worse = f(&b["evaluation"]["auc"]) < f(&a["evaluation"]["auc"]);
    let (code, out, err) = compare("auc=0");
    assert_eq!(code, if worse { 3 } else { 0 }, "{out}{err}");
    assert_eq!(json(&out_json)["gates"][0]["failed"], worse);
    // The narrow pipeline as the baseline's data works too: features follow each package.
    let (code, _, err) = outcome(&churnguard(&["compare", &v1, &v2, "--pipeline", &narrow]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn compare_refuses_bad_input_with_a_clear_error() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models")).display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["compare"];
        all.extend_from_slice(args);
        outcome(&churnguard(&all))
    };
    // One package only.
    let (code, _, err) = run(&[&package, "--pipeline", "pipelines/cdnow.toml"]);
    assert_eq!(code, 2, "{err}");
    // A package of another pipeline.
    let (code, _, err) = run(&[&package, &package, "--pipeline", "pipelines/telco.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cdnow") && err.contains("telco"), "{err}");
    // An unknown gate metric.
    let (code, _, err) = run(&[
        &package,
        &package,
        "--pipeline",
        "pipelines/cdnow.toml",
        "--fail-if-worse",
        "gini=0.1",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown metric `gini`"), "{err}");
    let at = |cutoff: &str| {
        run(&[
            &package,
            &package,
            "--pipeline",
            "pipelines/cdnow.toml",
            "--cutoff",
            cutoff,
        ])
    };
    // A cutoff whose outcomes are not known yet.
    let (code, _, err) = at("1998-06-01");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not known yet"), "{err}");
    // A training cutoff of an out-of-time package: every customer there was trained on.
    let (code, _, err) = at("1997-12-01");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("trained on every customer at 1997-12-01") && err.contains("such as 1998-04-01"),
        "{err}"
    );
    // A folder that is no package.
    let (code, _, err) = run(&[
        &package,
        &s.0.path().display().to_string(),
        "--pipeline",
        "pipelines/cdnow.toml",
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("manifest.json"), "{err}");
}

/// The Telco table as another company sends it: one row per customer and no id column (ids are
/// row numbers), its first `rows` customers, written once in `dir`; returns the file.
pub fn mlc_table(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join(format!("mlc-{rows}.csv"));
    if !path.exists() {
        let text = std::fs::read_to_string(crate::root().join("data/telco/Customer_Churn.csv")).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .take(rows + 1)
            .map(|l| l.split_once(',').unwrap().1)
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
    path
}

/// A pipeline named `mlc` on [`mlc_table`] with 20% of customers held out for the test, drawn
/// by `seed`; returns its path.
pub fn mlc_pipeline(dir: &Path, rows: usize, seed: u64) -> String {
    let table = mlc_table(dir, rows);
    let path = dir.join(format!("mlc-{rows}-{seed}.toml"));
    let text = format!(
        "[pipeline]\nname = \"mlc\"\nseed = {seed}\n[data]\nas_of = 2024-01-31\n[data.customers]\npath = \"{}\"\nnumeric = [\"TotalCharges\"]\n[label]\nkind = \"column\"\ncolumn = \"Churn\"\npositive = \"Yes\"\n[model]\nlearning_rate = 0.1\nnum_leaves = 8\nnum_iterations = 300\nearly_stopping_rounds = 30\n[split]\ntest_fraction = 0.2\n",
        table.display()
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn compare_measures_a_customer_split_package_on_its_held_out_customers_only() {
    let s = Scratch::new();
    let dir = s.0.path();
    let models = dir.join("models").display().to_string();
    let (first, other) = (mlc_pipeline(dir, 7043, 42), mlc_pipeline(dir, 7043, 7));
    for p in [&first, &other] {
        let (code, _, err) = outcome(&churnguard(&["train", p, "--models", &models]));
        assert_eq!(code, 0, "{err}");
    }
    let (v1, v2) = (format!("{models}/mlc/v1"), format!("{models}/mlc/v2"));
    let m = json(&Path::new(&v1).join("manifest.json"));
    let out_json = dir.join("c.json");
    let j = out_json.display().to_string();
    // With itself: the figures of its own training test, on exactly those customers.
    let (code, out, err) = outcome(&churnguard(&["compare", &v1, &v1, "--pipeline", &first, "--json", &j]));
    assert_eq!(code, 0, "{err}");
    let c = json(&out_json);
    assert_eq!(f(&c["customers"]), f(&m["test"]["rows"]), "{out}");
    let auc = f(&c["models"][0]["evaluation"]["auc"]);
    assert!(
        (auc - f(&m["test"]["auc"])).abs() < 1e-9,
        "{auc} against {}",
        m["test"]["auc"]
    );
    assert!(
        out.contains("held out by every package (v1: 20% held out, seed 42"),
        "{out}"
    );
    // Two splits: only the customers both held out, counted and said.
    let (code, out, err) = outcome(&churnguard(&["compare", &v1, &v2, "--pipeline", &first, "--json", &j]));
    assert_eq!(code, 0, "{err}");
    let c = json(&out_json);
    let shared = f(&c["customers"]);
    assert!(shared > 50.0 && shared < 0.5 * f(&m["test"]["rows"]), "{out}");
    let said = format!("the {shared} of 7043 customers at 2024-02-01 held out by every package");
    assert!(out.contains(&said), "{said}\n{out}");
    assert!(out.contains("v2: 20% held out, seed 7"), "{out}");
}
