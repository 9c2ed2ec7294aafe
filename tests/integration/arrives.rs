//! Data as it arrives from other companies: a customers table without an id column, a label
//! stored as 0.0/1.0, a table to score without its label column, a pipeline without dates, an
//! action rule that names a column, one that names nothing, and where the list may go.

use std::path::Path;

use crate::{Scratch, churnguard, outcome, root};

/// The Telco CSV rewritten as another company sends it: no `customerID` column, `Churn` as
/// 1.0/0.0, and (`with_label = false`) no `Churn` column at all.
fn telco_as_sent(dir: &Path, name: &str, with_label: bool) -> String {
    let text = std::fs::read_to_string(root().join("data/telco/Customer_Churn.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut cells: Vec<&str> = line.split(',').skip(1).collect();
        let churn = cells.pop().unwrap();
        let label = match (i, churn) {
            (0, _) => churn,
            (_, "Yes") => "1.0",
            _ => "0.0",
        };
        if with_label {
            cells.push(label);
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path.display().to_string()
}

fn config(table: &str, extra: &str) -> String {
    format!(
        r#"[pipeline]
name = "sent"
[data]
as_of = 2024-01-31
[data.customers]
path = "{table}"
numeric = ["TotalCharges"]
[label]
kind = "column"
column = "Churn"
positive = 1
[model]
num_threads = 1
num_iterations = 60
[scoring]
value_attribute = "MonthlyCharges"
{extra}"#
    )
}

#[test]
fn a_table_without_ids_with_a_float_label_trains_and_a_table_without_label_scores() {
    let s = Scratch::new();
    let table = telco_as_sent(s.0.path(), "train.csv", true);
    let extra = "[[scoring.actions]]\ntier = \"high\"\nreason = \"Contract\"\naction = \"offer a yearly contract\"\n";
    let p = s.pipeline(&config(&table, extra));
    let models = s.0.path().join("models");
    let (code, out, err) = outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    // 1,869 of 7,043 customers churned: the 1.0 cells matched `positive = 1`.
    assert!(out.contains("7,043 customers, churn rate 26.5%"), "{out}");

    // The table to score has no label column; the list goes to a folder that does not exist yet.
    let new = telco_as_sent(s.0.path(), "new.csv", false);
    let scoring = s.0.path().join("score.toml");
    std::fs::write(&scoring, config(&new, extra)).unwrap();
    let list = s.0.path().join("lists/today/risk.csv");
    let (code, out, err) = outcome(&churnguard(&[
        "score",
        "--model",
        &models.join("sent/latest").display().to_string(),
        "--pipeline",
        &scoring.display().to_string(),
        "--out",
        &list.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Scored 7,043 customers"), "{out}");
    let text = std::fs::read_to_string(&list).unwrap();
    let ids: Vec<u64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    // Customers are numbered by their row.
    assert!(ids.iter().all(|&i| (1..=7043).contains(&i)) && ids.len() == 7043);
    // The rule names the column `Contract` (the feature is `attr_Contract`), and a category's
    // reason value is the category itself.
    assert!(
        text.contains(",offer a yearly contract,rule 1,"),
        "the column rule matched nobody"
    );
    assert!(
        text.contains(",attr_Contract,Month-to-month,"),
        "category codes in the list"
    );
}

#[test]
fn a_customers_only_pipeline_without_as_of_is_refused() {
    let s = Scratch::new();
    let table = telco_as_sent(s.0.path(), "train.csv", true);
    let p = s.pipeline(&config(&table, "").replace("as_of = 2024-01-31\n", ""));
    let models = s.0.path().join("models").display().to_string();
    let (code, _, err) = outcome(&churnguard(&["train", &p, "--models", &models]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("set `data.as_of`"), "{err}");
    assert!(!Path::new(&models).join("sent").exists(), "a package was written");
}

#[test]
fn an_action_rule_that_can_match_no_feature_is_a_config_error() {
    let s = Scratch::new();
    let table = telco_as_sent(s.0.path(), "train.csv", true);
    let extra = "[[scoring.actions]]\ntier = \"high\"\nreason = \"number_customer_service_calls\"\naction = \"call\"\n";
    let p = s.pipeline(&config(&table, extra));
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        &p,
        "--models",
        &s.0.path().join("models").display().to_string(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`scoring.actions[0]` (rule 1)") && err.contains("number_customer_service_calls"),
        "{err}"
    );
}

#[test]
fn a_list_inside_a_package_folder_is_refused_before_any_work() {
    let s = Scratch::new();
    let table = telco_as_sent(s.0.path(), "train.csv", true);
    let p = s.pipeline(&config(&table, ""));
    let models = s.0.path().join("models");
    let (code, _, err) = outcome(&churnguard(&["train", &p, "--models", &models.display().to_string()]));
    assert_eq!(code, 0, "{err}");
    let package = models.join("sent/v1");
    let out = package.join("risk.csv");
    let (code, _, err) = outcome(&churnguard(&[
        "score",
        "--model",
        &package.display().to_string(),
        "--pipeline",
        &p,
        "--out",
        &out.display().to_string(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is inside the model package"), "{err}");
    assert!(!out.exists());
}
