use super::*;

const GOOD: &str = r#"
[pipeline]
name = "cdnow"
seed = 7

[data]
as_of = 1998-07-01

[data.events]
path = "../data/cdnow/cdnow_master.parquet"
customer_id = "customer_id"
timestamp = "date"
amount = "dollar_value"

[label]
kind = "inactivity"
horizon_days = 90
"#;

fn parse_at(text: &str) -> Result<Pipeline, ConfigError> {
    parse(text, Path::new("pipelines/x.toml"))
}

fn err(text: &str) -> ConfigError {
    match parse_at(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn good_config_is_resolved() {
    let p = parse_at(GOOD).unwrap();
    assert_eq!(p.name, "cdnow");
    assert_eq!(p.seed, 7);
    assert_eq!(p.data.as_of.map(|d| d.to_string()).as_deref(), Some("1998-07-01"));
    assert_eq!(p.data.batch_rows, DEFAULT_BATCH_ROWS);
    let ev = p.data.events.as_ref().unwrap();
    assert_eq!(ev.source.path, Path::new("data/cdnow/cdnow_master.parquet"));
    assert_eq!(ev.source.format, FileFormat::Parquet);
    assert_eq!(p.label, Some(Label::Inactivity { horizon_days: 90 }));
    assert!(!p.privacy.pseudonymize);
    assert_eq!(p.privacy.key_env, DEFAULT_KEY_ENV);
}

#[test]
fn unknown_key_is_named_with_its_table_and_line() {
    let e = err(&GOOD.replace("horizon_days = 90", "horizon_days = 90\nhorizn = 3"));
    assert_eq!(e.key(), Some("label.horizn"), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("pipelines/x.toml, line 18"), "{msg}");
    assert!(msg.contains("unknown key `horizn`"), "{msg}");
}

#[test]
fn unknown_top_level_table_is_named() {
    let e = err(&format!("{GOOD}\n[modle]\nx = 1\n"));
    assert_eq!(e.key(), Some("modle"), "{e}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let e = err(&GOOD.replace("seed = 7", "seed = \"seven\""));
    assert_eq!(e.key(), Some("pipeline.seed"), "{e}");
    assert!(e.to_string().contains("line 4"), "{e}");
    assert!(e.to_string().contains("invalid type"), "{e}");
}

#[test]
fn missing_required_key_is_named() {
    let e = err(&GOOD.replace("timestamp = \"date\"\n", ""));
    assert!(e.to_string().contains("missing key `timestamp`"), "{e}");
    assert_eq!(e.key(), Some("data.events"), "{e}");
}

#[test]
fn negative_horizon_is_impossible() {
    let e = err(&GOOD.replace("horizon_days = 90", "horizon_days = -30"));
    assert_eq!(e.key(), Some("label.horizon_days"));
    let msg = e.to_string();
    assert!(
        msg.contains("got -30") && msg.contains("line 17") && msg.contains("pipelines/x.toml"),
        "{msg}"
    );
}

#[test]
fn impossible_values_are_refused() {
    let cases = [
        (GOOD.replace("name = \"cdnow\"", "name = \"a b\""), "pipeline.name"),
        (GOOD.replace("seed = 7", "seed = -1"), "pipeline.seed"),
        (
            GOOD.replace("as_of = 1998-07-01", "as_of = \"1998-02-30\""),
            "data.as_of",
        ),
        (GOOD.replace("[data]", "[data]\nbatch_rows = 0"), "data.batch_rows"),
        (GOOD.replace("kind = \"inactivity\"", "kind = \"churny\""), "label.kind"),
        (
            GOOD.replace("horizon_days = 90", "horizon_days = 90\ncolumn = \"x\""),
            "label.column",
        ),
        (
            GOOD.replace("amount = \"dollar_value\"", "amount = \"date\""),
            "data.events.amount",
        ),
        (
            GOOD.replace("cdnow_master.parquet", "cdnow_master.dat"),
            "data.events.path",
        ),
        (
            GOOD.replace("customer_id = \"customer_id\"", "customer_id = \" \""),
            "data.events.customer_id",
        ),
        (
            GOOD.replace("amount = \"dollar_value\"", "pii_columns = [\"date\"]"),
            "data.events.pii_columns",
        ),
    ];
    for (text, key) in cases {
        let e = err(&text);
        assert_eq!(e.key(), Some(key), "{e}");
        assert!(e.to_string().contains("pipelines/x.toml"), "{e}");
    }
}

#[test]
fn a_pipeline_needs_events_or_customers() {
    let text = "[pipeline]\nname = \"x\"\n[data]\nstrict = true\n";
    assert_eq!(err(text).key(), Some("data"));
}

#[test]
fn column_label_needs_customers_and_keeps_text_positive() {
    let text = r#"
[pipeline]
name = "telco"
[data.customers]
path = "t.csv"
customer_id = "customerID"
numeric = ["TotalCharges"]
[label]
kind = "column"
column = "Churn"
positive = "Yes"
"#;
    let p = parse_at(text).unwrap();
    assert_eq!(p.data.customers.as_ref().unwrap().source.format, FileFormat::Csv);
    assert_eq!(
        p.label,
        Some(Label::Column {
            column: "Churn".into(),
            positive: "Yes".into()
        })
    );
    // A label stored as 1.0 / 0.0: `positive = 1.0` matches cells 1, 1.0 and true.
    let p = parse_at(&text.replace("positive = \"Yes\"", "positive = 1.0")).unwrap();
    let Some(Label::Column { positive, .. }) = &p.label else {
        panic!("a column label")
    };
    assert!(["1", "1.0", "true"].iter().all(|cell| label_matches(cell, positive)));
    assert!(!label_matches("0.0", positive));
    let e = err(&text.replace("positive = \"Yes\"", "positive = [1]"));
    assert_eq!(e.key(), Some("label.positive"));
    let e = err(&text.replace("numeric = [\"TotalCharges\"]", "numeric = [\"customerID\"]"));
    assert_eq!(e.key(), Some("data.customers.numeric[0]"));
}

#[test]
fn syntax_error_names_file_and_line() {
    let e = err("[pipeline]\nname = \"x\n");
    assert!(matches!(e, ConfigError::Syntax { line: Some(2), .. }), "{e:?}");
}

#[test]
fn missing_file_is_named() {
    let e = load(Path::new("/nonexistent/p.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/p.toml"), "{e}");
}

#[test]
fn snapshots_as_a_list_or_every_n_days() {
    let p = parse_at(&format!("{GOOD}[snapshots]\ntrain_cutoffs = [1997-10-01, \"1997-12-01\"]\ntest_cutoff = 1998-04-01\nactive_within_days = 180\n")).unwrap();
    assert_eq!(p.snapshots.train_cutoffs.len(), 2);
    assert_eq!(
        p.snapshots.test_cutoff.map(|d| d.to_string()).as_deref(),
        Some("1998-04-01")
    );
    assert_eq!(p.snapshots.active_within_days, Some(180));
    let p = parse_at(&format!(
        "{GOOD}[snapshots]\nevery_days = 30\nfrom = 1997-06-01\nto = 1997-08-30\n"
    ))
    .unwrap();
    let got: Vec<String> = p.snapshots.train_cutoffs.iter().map(|d| d.to_string()).collect();
    assert_eq!(got, ["1997-06-01", "1997-07-01", "1997-07-31", "1997-08-30"]);
    assert_eq!(p.features, FeaturesConfig::default());
    for (extra, key) in [
        (
            "[snapshots]\ntrain_cutoffs = [1997-12-01, 1997-10-01]\n",
            "snapshots.train_cutoffs",
        ),
        (
            "[snapshots]\ntrain_cutoffs = [1997-12-01]\ntest_cutoff = 1997-11-01\n",
            "snapshots.test_cutoff",
        ),
        (
            "[snapshots]\nevery_days = 30\nfrom = 1997-06-01\n",
            "snapshots.every_days",
        ),
        ("[snapshots]\nactive_within_days = 0\n", "snapshots.active_within_days"),
        ("[features]\nwindows_days = [90, 30]\n", "features.windows_days"),
        ("[features]\nwindows_days = [30, -1]\n", "features.windows_days[1]"),
        ("[features]\nwindow_days = [30]\n", "features.window_days"),
    ] {
        assert_eq!(err(&format!("{GOOD}{extra}")).key(), Some(key), "{extra}");
    }
}

const TRAINING: &str = r#"
[model]
learning_rate = 0.1
num_leaves = 15
scale_pos_weight = 3.0
early_stopping_metric = "auc"
[model.lightgbm]
cat_smooth = 20
monotone_constraints = [1, 0, -1]
[split]
validation_fraction = 0.25
[evaluation]
threshold = "min_cost"
cost_missed_churner = 100
cost_needless_offer = 10
active_within_days = [180]
[tiers]
high = { probability = 0.7 }
medium = { top_percent = 40 }
[tuning]
method = "grid"
folds = 3
[tuning.space]
num_leaves = [7, 15, 31]
learning_rate = [0.05, 0.1]
[output]
models_dir = "../models"
"#;

#[test]
fn training_sections_are_resolved_with_defaults_for_the_rest() {
    let p = parse_at(&format!("{GOOD}{TRAINING}")).unwrap();
    assert_eq!(p.model.learning_rate, 0.1);
    assert_eq!(p.model.num_leaves, 15);
    assert_eq!(p.model.min_data_in_leaf, 20);
    assert_eq!(p.model.class_weight, ClassWeight::ScalePositive(3.0));
    assert_eq!(p.model.early_stopping_metric, StoppingMetric::Auc);
    let params = p.model.lightgbm_params();
    assert!(params.contains(&("scale_pos_weight".into(), "3".into())), "{params:?}");
    assert!(
        params.contains(&("monotone_constraints".into(), "1,0,-1".into())),
        "{params:?}"
    );
    assert_eq!(p.split.validation_fraction, 0.25);
    assert_eq!(p.split.test_fraction, 0.2);
    assert_eq!(
        p.evaluation.threshold,
        ThresholdStrategy::MinCost {
            missed_churner: 100.0,
            needless_offer: 10.0
        }
    );
    assert_eq!(p.evaluation.active_within_days, vec![180]);
    assert_eq!(p.tiers.high, TierRule::Probability(0.7));
    assert_eq!(p.tiers.medium, TierRule::TopPercent(40.0));
    let t = p.tuning.as_ref().unwrap();
    assert_eq!((t.method, t.folds, t.combinations()), (TuningMethod::Grid, 3, 6));
    assert_eq!(p.output.models_dir.as_deref(), Some(Path::new("models")));

    let plain = parse_at(GOOD).unwrap();
    assert_eq!(plain.model, ModelConfig::default());
    assert_eq!(plain.tiers, TiersConfig::default());
    assert!(plain.tuning.is_none());
}

#[test]
fn training_sections_reject_impossible_values_naming_the_key() {
    for (extra, key) in [
        ("[model]\nlearning_rate = 0\n", "model.learning_rate"),
        ("[model]\nnum_leaves = 1\n", "model.num_leaves"),
        ("[model]\nnum_leavs = 31\n", "model.num_leavs"),
        (
            "[model]\nis_unbalance = true\nscale_pos_weight = 2.0\n",
            "model.scale_pos_weight",
        ),
        (
            "[model]\nearly_stopping_metric = \"rmse\"\n",
            "model.early_stopping_metric",
        ),
        ("[model.lightgbm]\nx = { a = 1 }\n", "model.lightgbm.x"),
        ("[split]\nvalidation_fraction = 0.9\n", "split.validation_fraction"),
        ("[evaluation]\nthreshold = \"top_percent\"\n", "evaluation.top_percent"),
        ("[evaluation]\nthreshold = \"best\"\n", "evaluation.threshold"),
        ("[evaluation]\ntop_percent = 5\n", "evaluation.top_percent"),
        (
            "[evaluation]\nthreshold = \"min_cost\"\ncost_missed_churner = 1\n",
            "evaluation.cost_needless_offer",
        ),
        (
            "[tiers]\nhigh = { top_percent = 30 }\nmedium = { top_percent = 10 }\n",
            "tiers.medium",
        ),
        (
            "[tiers]\nhigh = { top_percent = 30, probability = 0.5 }\n",
            "tiers.high",
        ),
        ("[tiers]\nhigh = { probability = 1.5 }\n", "tiers.high"),
        (
            "[tuning]\nmethod = \"grid\"\ntrials = 3\n[tuning.space]\nnum_leaves = [3]\n",
            "tuning.trials",
        ),
        ("[tuning]\n[tuning.space]\nnum_leaves = []\n", "tuning.space.num_leaves"),
        (
            "[tuning]\nfolds = 1\n[tuning.space]\nnum_leaves = [3]\n",
            "tuning.folds",
        ),
        ("[output]\nmodels_dir = \" \"\n", "output.models_dir"),
    ] {
        let e = err(&format!("{GOOD}{extra}"));
        assert_eq!(e.key(), Some(key), "{extra}: {e}");
    }
}

#[test]
fn every_tier_rule_resolves_to_a_probability_cut_off_on_the_test_customers() {
    let cuts = |tiers: &str, probabilities: &[f64]| {
        let p = parse_at(&format!("{GOOD}[tiers]\n{tiers}")).unwrap();
        p.tiers.cut_offs(probabilities)
    };
    // 100 customers from 1.00 down to 0.01, mean 0.505, in any order.
    let mut list: Vec<f64> = (0..100).map(|i| 1.0 - f64::from(i) / 100.0).collect();
    list.reverse();
    let close = |(high, medium): (f64, f64), want: (f64, f64)| {
        assert!(
            (high - want.0).abs() < 1e-12 && (medium - want.1).abs() < 1e-12,
            "{high} {medium} against {want:?}"
        )
    };
    close(cuts("high = { top = 7 }\nmedium = { top = 20 }\n", &list), (0.94, 0.81));
    close(
        cuts("high = { top_percent = 10 }\nmedium = { top_percent = 30 }\n", &list),
        (0.91, 0.71),
    );
    close(
        cuts("high = { probability = 0.6 }\nmedium = { probability = 0.3 }\n", &list),
        (0.6, 0.3),
    );
    close(
        cuts("high = { lift = 1.8 }\nmedium = { lift = 1.5 }\n", &list),
        (0.909, 0.7575),
    );
    // The default: the base rate and halfway from it to certainty, whatever the base rate.
    close(cuts("", &list), (0.7525, 0.505));
    let rare: Vec<f64> = list.iter().map(|x| x * 0.28).collect();
    close(cuts("", &rare), (0.5707, 0.1414));
    // More customers asked for than the test holds: all of them; none: no one.
    close(cuts("high = { top = 500 }\n", &list), (0.01, 0.01));
    assert!(cuts("high = { top = 5 }\n", &[]).0 > 1.0);
    assert!(parse_at(&format!("{GOOD}[tiers]\nhigh = {{ top = 0 }}\n")).is_err());
    assert!(parse_at(&format!("{GOOD}[tiers]\nhigh = {{ top = 5, lift = 2 }}\n")).is_err());
    assert!(parse_at(&format!("{GOOD}[tiers]\nhigh = {{ above_base_rate = 1.0 }}\n")).is_err());
    let e = parse_at(&format!(
        "{GOOD}[tiers]\nhigh = {{ above_base_rate = 0.2 }}\nmedium = {{ above_base_rate = 0.4 }}\n"
    ));
    assert!(e.is_err());
}

#[test]
fn an_action_rule_may_name_the_source_column_and_one_that_names_nothing_is_found() {
    let p = parse_at(&format!(
        "{GOOD}[[scoring.actions]]\ntier = \"high\"\nreason = \"number_customer_service_calls\"\naction = \"call\"\n[[scoring.actions]]\ntier = \"high\"\nreason = \"no_such_feature\"\naction = \"email\"\n"
    ))
    .unwrap();
    let features = ["recency_days", "attr_number_customer_service_calls"];
    assert!(p.scoring.actions[0].matches(
        Tier::High,
        ValueSegment::Low,
        Some("attr_number_customer_service_calls")
    ));
    assert_eq!(p.scoring.unmatched_rules(&features), vec![1]);
}

#[test]
fn label_cells_match_positive_as_text_number_or_truth() {
    assert!(label_matches("Yes", "Yes"));
    assert!(!label_matches("No", "Yes"));
    assert!(label_matches("1.0", "1"));
    assert!(label_matches("1", "true"));
    assert!(label_matches("true", "1"));
    assert!(!label_matches("0.0", "1"));
    assert!(!label_matches("false", "true"));
    assert!(!label_matches("yes", "1"));
}

#[test]
fn dates_outside_the_years_data_can_hold_are_refused_naming_the_key() {
    let text = GOOD.replace("as_of = 1998-07-01", "as_of = 9999-12-31");
    let e = parse_at(&text).unwrap_err().to_string();
    assert!(
        e.contains("data.as_of") && e.contains("outside the years 1900..=2199"),
        "{e}"
    );
}

#[test]
fn a_long_name_and_linear_trees_are_refused_before_any_training() {
    let long = "p".repeat(300);
    let e = parse_at(&GOOD.replace("name = \"cdnow\"", &format!("name = \"{long}\""))).unwrap_err();
    assert!(
        e.to_string().contains("pipeline.name") && e.to_string().contains("1 to 64"),
        "{e}"
    );
    let e = parse_at(&format!("{GOOD}[model.lightgbm]\nlinear_tree = true\n")).unwrap_err();
    assert!(
        e.to_string().contains("model.lightgbm.linear_tree") && e.to_string().contains("exported exactly"),
        "{e}"
    );
}

#[test]
fn monitoring_and_retraining_have_documented_defaults_and_refuse_bad_values() {
    let p = parse_at(GOOD).unwrap();
    assert_eq!(p.monitoring, MonitoringConfig::default());
    assert_eq!((p.monitoring.psi_warn, p.monitoring.psi_alert), (0.1, 0.25));
    assert!(p.monitoring.keep_lists);
    assert_eq!(p.retraining, RetrainingConfig::default());
    let p = parse_at(&format!(
        "{GOOD}\n[monitoring]\npsi_alert = 0.4\nkeep_lists = false\n[retraining]\nauc_margin = 0\nroll_cutoffs = false\n"
    ))
    .unwrap();
    assert_eq!((p.monitoring.psi_alert, p.monitoring.keep_lists), (0.4, false));
    assert_eq!((p.retraining.auc_margin, p.retraining.roll_cutoffs), (0.0, false));
    let e = err(&format!("{GOOD}\n[monitoring]\npsi_warn = 0.3\npsi_alert = 0.2\n")).to_string();
    assert!(e.contains("monitoring.psi_warn") && e.contains("psi_alert"), "{e}");
    let e = err(&format!("{GOOD}\n[monitoring]\nauc_drop = 2\n")).to_string();
    assert!(
        e.contains("monitoring.auc_drop") && e.contains("between 0 and 1"),
        "{e}"
    );
    let e = err(&format!("{GOOD}\n[retraining]\nauc_margn = 0.01\n")).to_string();
    assert!(e.contains("auc_margn"), "{e}");
}

#[test]
fn a_shifted_schedule_moves_every_cutoff_by_the_same_days() {
    let p = parse_at(&format!(
        "{GOOD}\n[snapshots]\ntrain_cutoffs = [1997-10-01, 1997-11-01]\ntest_cutoff = 1998-01-01\n"
    ))
    .unwrap();
    let s = p.snapshots.shifted(31);
    let days: Vec<String> = s.train_cutoffs.iter().map(|d| d.to_string()).collect();
    assert_eq!(days, ["1997-11-01", "1997-12-02"]);
    assert_eq!(s.test_cutoff.unwrap().to_string(), "1998-02-01");
}

#[test]
fn distributed_workers_are_checked_once() {
    let with = |section: &str| format!("{GOOD}\n[distributed]\n{section}\n");
    let p = parse_at(&with("machines = [\"10.0.0.1:12400\", \"10.0.0.2:12400\"]")).unwrap();
    let d = p.distributed.as_ref().unwrap();
    assert_eq!(d.coordinator, "10.0.0.1:12401");
    assert_eq!(d.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
    assert_eq!((d.rank, d.port_of(1)), (None, Some(12400)));
    let cases = [
        (
            "machines = [\"10.0.0.1:12400\"]",
            "distributed.machines",
            "needs at least 2",
        ),
        (
            "machines = [\"a:1\", \"b\"]",
            "distributed.machines[1]",
            "is not host:port",
        ),
        (
            "machines = [\"a:1\", \"a:1\"]",
            "distributed.machines[1]",
            "listed twice",
        ),
        (
            "machines = [\"a:1\", \"b:2\"]\nrank = 2",
            "distributed.rank",
            "between 0 and 1",
        ),
        (
            "machines = [\"a:1\", \"b:2\"]\ncoordinator = \"b:2\"",
            "distributed.coordinator",
            "also a worker",
        ),
        (
            "machines = [\"a:1\", \"b:2\"]\ntimeout_seconds = 0",
            "distributed.timeout_seconds",
            "between 1",
        ),
        (
            "machines = [\"a:1\", \"b:2\"]\nranks = 1",
            "distributed.ranks",
            "unknown key",
        ),
    ];
    for (section, key, want) in cases {
        let e = err(&with(section));
        assert_eq!(e.key(), Some(key), "{e}");
        assert!(e.to_string().contains(want), "{e}");
    }
    let tuned = format!(
        "{GOOD}\n[tuning]\nfolds = 3\n[tuning.space]\nnum_leaves = [\"15\", \"31\"]\n[distributed]\nmachines = [\"a:1\", \"b:2\"]\n"
    );
    let e = err(&tuned);
    assert!(e.to_string().contains("tuning does not run distributed"), "{e}");
}

#[test]
fn actions_come_from_risk_level_and_value_together() {
    let p = parse_at(GOOD).unwrap();
    let s = &p.scoring;
    let action = |tier, value| s.choices()[s.action_for(Some(tier), value, None)].0.clone();
    // The default matrix: risk by value.
    assert_eq!(action(Tier::High, ValueSegment::High), "personal retention call");
    assert_eq!(action(Tier::High, ValueSegment::Low), "personal retention call");
    assert_eq!(action(Tier::Medium, ValueSegment::Low), "retention offer by email");
    assert_eq!(action(Tier::Low, ValueSegment::High), "loyalty care");
    assert_eq!(action(Tier::Low, ValueSegment::Low), "no action");
    let rule = |tier, value| s.choices()[s.action_for(Some(tier), value, None)].1.clone();
    assert_eq!(rule(Tier::Low, ValueSegment::High), "default for low, high value");
    // Who gets reasons: everyone an action may reach.
    assert!(s.explains(Some(Tier::Low), ValueSegment::High) && s.explains(Some(Tier::Medium), ValueSegment::Low));
    assert!(!s.explains(Some(Tier::Low), ValueSegment::Low));
    // A customer of unknown risk gets no reasons and the unknown action, whatever else holds.
    assert!(!s.explains(None, ValueSegment::High));
    assert_eq!(s.action_for(None, ValueSegment::High, Some("x")), s.unknown_action());
    // A rule may name the value segment; the first that matches wins.
    let p = parse_at(&format!(
        "{GOOD}[[scoring.actions]]\ntier = \"high\"\nvalue = \"low\"\naction = \"automated offer\"\n\
         [scoring.high_value_actions]\nlow = \"thank-you note\"\n"
    ))
    .unwrap();
    let s = &p.scoring;
    let action = |tier, value| s.choices()[s.action_for(Some(tier), value, None)].0.clone();
    assert_eq!(action(Tier::High, ValueSegment::Low), "automated offer");
    assert_eq!(action(Tier::High, ValueSegment::High), "personal retention call");
    assert_eq!(action(Tier::Low, ValueSegment::High), "thank-you note");
    let e = parse_at(&format!(
        "{GOOD}[[scoring.actions]]\ntier = \"high\"\nvalue = \"rich\"\naction = \"x\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key(), Some("scoring.actions[0].value"), "{e}");
    assert!(parse_at(&format!("{GOOD}[scoring]\nhigh_value_percent = 0\n")).is_err());
}

#[test]
fn a_config_is_read_once_and_its_text_is_what_was_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, GOOD).unwrap();
    let (pipeline, text) = load_with_text(&path).unwrap();
    assert_eq!(text, GOOD);
    assert_eq!(pipeline.name, parse(GOOD, &path).unwrap().name);
}

#[test]
fn a_customer_missing_most_inputs_has_an_unknown_risk_and_no_action() {
    let p = parse_at(GOOD).unwrap();
    let s = &p.scoring;
    assert!(s.risk_unknown(18, 19) && !s.risk_unknown(9, 19) && !s.risk_unknown(0, 0));
    assert_eq!(s.choices()[s.unknown_action()].0, "no action");
    assert_eq!(s.choices().len(), s.unknown_action() + 1);
    let strict = parse_at(&format!("{GOOD}[scoring]\nmax_missing_share = 0.1\n")).unwrap();
    assert!(strict.scoring.risk_unknown(2, 19));
    assert!(parse_at(&format!("{GOOD}[scoring]\nmax_missing_share = 1.5\n")).is_err());
}

#[test]
fn capacity_is_a_count_or_a_share_of_the_list() {
    let p = parse_at(&format!("{GOOD}[scoring]\ncapacity = {{ top_percent = 10 }}\n")).unwrap();
    let c = p.scoring.capacity.unwrap();
    assert_eq!(c, Capacity::TopPercent(10.0));
    assert_eq!((c.customers(3282), c.customers(0), c.customers(5)), (329, 0, 1));
    let p = parse_at(&format!("{GOOD}[scoring]\ncapacity = {{ top = 500 }}\n")).unwrap();
    let c = p.scoring.capacity.unwrap();
    assert_eq!((c.customers(3282), c.customers(200)), (500, 200));
    assert_eq!(parse_at(GOOD).unwrap().scoring.capacity, None);
    for bad in [
        "capacity = { top = 0 }",
        "capacity = { top = -3 }",
        "capacity = { top_percent = 0 }",
        "capacity = { top_percent = 120 }",
        "capacity = { top = 5, top_percent = 10 }",
        "capacity = {}",
    ] {
        let e = err(&format!("{GOOD}[scoring]\n{bad}\n")).to_string();
        assert!(e.contains("scoring.capacity"), "{bad}: {e}");
    }
    assert!(
        err(&format!("{GOOD}[scoring]\ncapacity = {{ people = 5 }}\n"))
            .to_string()
            .contains("people")
    );
    assert_eq!(Capacity::parse("500"), Ok(Capacity::Top(500)));
    assert_eq!(Capacity::parse("12.5%"), Ok(Capacity::TopPercent(12.5)));
    for bad in ["0", "0%", "101%", "-5", "ten", "%", ""] {
        let e = Capacity::parse(bad).unwrap_err();
        assert!(e.contains("is not a capacity"), "{bad}: {e}");
    }
}
