//! The exported model scores as LightGBM does. A matrix of models trained here with LightGBM
//! (binary, multiclass, regression, NaNs, zero-as-missing, no missing handling, many categories,
//! a sigmoid other than 1, random forest, 1 and 500 trees, single-leaf trees) is parsed, scored
//! by the pure-Rust predictor (to 1e-12), exported to ONNX and scored by ONNX Runtime (to 1e-6,
//! float32 and float64 inputs), on random rows and on rows placed exactly on every threshold, on
//! float32 neighbours of thresholds, on zeros, NaNs and out-of-range categories; TreeSHAP
//! contributions equal LightGBM's to 1e-9 and sum to the raw score.

#![allow(clippy::unwrap_used)]

use churnguard_eval::SplitMix64;
use churnguard_infer::{OnnxModel, OnnxRuntime};
use churnguard_model::{
    Condition, Ensemble, ExportOptions, InputType, Missing, export, max_abs_difference, threshold_neighbours,
};
use churnguard_train::lightgbm::{Booster, Dataset, Prediction};

const FEATURES: usize = 6;
const CATEGORY: usize = 5;

/// Rows with NaNs, exact zeros and a categorical column (categories 0..60), and a label of the
/// requested kind.
fn data(rows: usize, seed: u64, kind: &str) -> (Vec<f64>, Vec<f32>) {
    let mut r = SplitMix64::new(seed);
    let mut x = Vec::with_capacity(rows * FEATURES);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut row = [0.0; FEATURES];
        for (j, v) in row.iter_mut().enumerate() {
            *v = r.unit() * 10.0 - 3.0;
            if j == 2 && r.unit() < 0.3 {
                *v = 0.0;
            }
            if j < 2 && r.unit() < 0.1 {
                *v = f64::NAN;
            }
        }
        row[CATEGORY] = (r.next_u64() % 61) as f64;
        let signal = row[0].max(-1.0) + 0.5 * row[1].min(4.0) - 0.8 * row[2]
            + if (row[CATEGORY] as u64).is_multiple_of(3) {
                2.0
            } else {
                -1.0
            }
            + r.unit() * 2.0;
        let signal = if signal.is_nan() { 0.5 } else { signal };
        y.push(match kind {
            "multiclass" => {
                (if signal < 0.0 {
                    0
                } else if signal < 3.0 {
                    1
                } else {
                    2
                }) as f32
            }
            "regression" => signal as f32,
            _ => f32::from(u8::from(signal > 1.5)),
        });
        x.extend(row);
    }
    (x, y)
}

/// Rows that sit exactly on, and just beside, every split threshold, plus special values.
fn edge_rows(e: &Ensemble, base: &[f64], limit: usize) -> Vec<f64> {
    let mut points: Vec<(usize, f64)> = Vec::new();
    for s in e.trees.iter().flat_map(|t| &t.splits) {
        let f = s.feature as usize;
        match &s.condition {
            Condition::Numeric { threshold: t, .. } => {
                points.extend(threshold_neighbours(*t).map(|v| (f, v)));
            }
            Condition::Categorical { categories } => {
                points.extend(categories.iter().take(3).map(|&c| (f, f64::from(c))));
            }
        }
    }
    for f in 0..FEATURES {
        for v in [
            0.0,
            -0.0,
            f64::NAN,
            1e-36,
            -1e-36,
            1e-30,
            -1.0,
            -0.5,
            2.5,
            61.0,
            1000.0,
            3e9,
            f64::INFINITY,
        ] {
            points.push((f, v));
        }
    }
    let step = points.len().div_ceil(limit).max(1);
    let rows = base.len() / FEATURES;
    let mut out = Vec::new();
    for (i, (f, v)) in points.into_iter().step_by(step).enumerate() {
        let mut row = base[(i % rows) * FEATURES..(i % rows + 1) * FEATURES].to_vec();
        row[f] = v;
        out.extend(row);
    }
    out
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    max_abs_difference(a, b)
}

struct Case {
    name: &'static str,
    params: &'static str,
    kind: &'static str,
    iterations: usize,
    rows: usize,
    shap_rows: usize,
}

fn check(case: &Case) {
    let (x, y) = data(case.rows, 7, case.kind);
    let common = "verbose=-1 num_threads=1 deterministic=true force_row_wise=true seed=3 min_data_in_leaf=5";
    // LightGBM keeps the first of repeated keys: the case's own settings come first.
    let params = format!("{} {common}", case.params);
    let ds = Dataset::from_rows(&x, FEATURES, &y, &params).unwrap();
    let booster = Booster::train(ds, &params, case.iterations).unwrap();
    let text = booster.model_text().unwrap();
    let e = Ensemble::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", case.name));
    // LightGBM stops adding trees once a round cannot split at all.
    assert!(
        !e.trees.is_empty() && e.trees.len() <= case.iterations * e.trees_per_iteration,
        "{}: {} trees",
        case.name,
        e.trees.len()
    );
    // Each case really contains what it is named after.
    let splits = || e.trees.iter().flat_map(|t| &t.splits);
    let has = match case.name {
        "zero_as_missing" => splits().any(|s| {
            matches!(
                s.condition,
                Condition::Numeric {
                    missing: Missing::Zero,
                    ..
                }
            )
        }),
        "binary_with_nans" => splits().any(|s| {
            matches!(
                s.condition,
                Condition::Numeric {
                    missing: Missing::NaN,
                    ..
                }
            )
        }),
        "without_missing_handling" => splits().all(|s| {
            matches!(
                s.condition,
                Condition::Numeric {
                    missing: Missing::None,
                    ..
                }
            )
        }),
        "many_categories" => splits().any(
            |s| matches!(&s.condition, Condition::Categorical { categories } if categories.iter().any(|&c| c > 31)),
        ),
        "single_leaf_trees" => e.trees.iter().any(|t| t.splits.is_empty()),
        "random_forest" => e.average_output,
        "five_hundred_trees_of_255_leaves" => e.trees.iter().any(|t| t.leaf_values.len() == 255),
        _ => true,
    };
    assert!(has, "{}: the trained model lacks the feature under test", case.name);

    let (test_x, _) = data(300, 99, case.kind);
    let mut rows = test_x.clone();
    rows.extend(edge_rows(&e, &test_x, 4000));
    let n = rows.len() / FEATURES;
    let k = e.objective.outputs();

    // Pure-Rust predictor against LightGBM.
    let want = booster.predict(&rows, FEATURES, Prediction::Normal).unwrap();
    let got: Vec<f64> = rows.chunks(FEATURES).flat_map(|r| e.predict(r)).collect();
    let d = max_diff(&want, &got);
    assert!(d <= 1e-12, "{}: predictor differs from LightGBM by {d:e}", case.name);

    // TreeSHAP against LightGBM's predict_contrib, and the sum against the raw score.
    let shap_rows = &rows[..case.shap_rows.min(n) * FEATURES];
    let want = booster.predict(shap_rows, FEATURES, Prediction::Contributions).unwrap();
    let got: Vec<f64> = shap_rows.chunks(FEATURES).flat_map(|r| e.contributions(r)).collect();
    let d = max_diff(&want, &got);
    assert!(d <= 1e-9, "{}: TreeSHAP differs from LightGBM by {d:e}", case.name);
    // The batch form (rows deciding alike in a tree share one computation) gives the same.
    let columns: Vec<Vec<f64>> = (0..FEATURES)
        .map(|j| shap_rows.iter().skip(j).step_by(FEATURES).copied().collect())
        .collect();
    let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let batch = e.contributions_batch(&columns);
    let d = max_diff(&got, &batch);
    assert!(
        d <= 1e-12,
        "{}: batched TreeSHAP differs from per-row by {d:e}",
        case.name
    );
    let raw = booster.predict(shap_rows, FEATURES, Prediction::Raw).unwrap();
    for (i, contrib) in got.chunks(k * (FEATURES + 1)).enumerate() {
        for c in 0..k {
            let sum: f64 = contrib[c * (FEATURES + 1)..(c + 1) * (FEATURES + 1)].iter().sum();
            let raw = raw[i * k + c];
            if !e.average_output {
                assert!(
                    (sum - raw).abs() <= 1e-9,
                    "{}: row {i}: contributions sum to {sum}, raw {raw}",
                    case.name
                );
            }
        }
    }

    // ONNX Runtime against LightGBM, for both input types.
    let runtime = OnnxRuntime::load(None).unwrap();
    for input in [InputType::F32, InputType::F64] {
        let rows_in: Vec<f64> = match input {
            InputType::F32 => rows.iter().map(|&v| f64::from(v as f32)).collect(),
            InputType::F64 => rows.clone(),
        };
        let want = booster.predict(&rows_in, FEATURES, Prediction::Normal).unwrap();
        let bytes = export(
            &e,
            &text,
            &ExportOptions {
                input,
                ..Default::default()
            },
        )
        .unwrap();
        let mut model = OnnxModel::load(runtime, &bytes, 1).unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let scores = model.score(&rows_in, FEATURES).unwrap();
        assert_eq!(scores.width, k, "{}", case.name);
        let d = max_diff(&want, &scores.values);
        let tolerance = if e.objective.is_classification() {
            1e-6
        } else {
            1e-6 * want.iter().fold(1.0, |m: f64, v| m.max(v.abs()))
        };
        assert!(
            d <= tolerance,
            "{} ({input:?}): ONNX Runtime differs from LightGBM by {d:e}",
            case.name
        );
        // Three sessions share the rows out; every row is summed alone, so the figures, the
        // labels and their order are those of one session.
        let many: Vec<f64> = rows_in.iter().copied().cycle().take(4000 * FEATURES).collect();
        let mut three = OnnxModel::load(runtime, &bytes, 3).unwrap();
        assert_eq!(
            three.score(&many, FEATURES).unwrap(),
            model.score(&many, FEATURES).unwrap(),
            "{} ({input:?}): three sessions differ from one",
            case.name
        );
    }
}

macro_rules! cases {
    ($($test:ident: $params:expr, $kind:expr, $iterations:expr, $rows:expr, $shap:expr;)*) => {$(
        #[test]
        fn $test() {
            check(&Case {
                name: stringify!($test),
                params: $params,
                kind: $kind,
                iterations: $iterations,
                rows: $rows,
                shap_rows: $shap,
            });
        }
    )*};
}

cases! {
    binary_with_nans: "objective=binary num_leaves=15", "binary", 40, 2000, 200;
    multiclass_three_classes: "objective=multiclass num_class=3 num_leaves=15", "multiclass", 30, 2000, 100;
    multiclass_one_versus_all: "objective=multiclassova num_class=3 num_leaves=7", "multiclass", 20, 1500, 50;
    regression: "objective=regression num_leaves=31", "regression", 40, 2000, 200;
    zero_as_missing: "objective=binary num_leaves=15 zero_as_missing=true", "binary", 40, 2000, 200;
    without_missing_handling: "objective=binary num_leaves=15 use_missing=false", "binary", 40, 2000, 200;
    many_categories: "objective=binary num_leaves=31 categorical_feature=5 max_cat_to_onehot=4 min_data_per_group=5 cat_smooth=1 max_cat_threshold=64", "binary", 40, 3000, 200;
    sigmoid_one_half: "objective=binary sigmoid=0.5 num_leaves=15", "binary", 30, 2000, 100;
    random_forest: "objective=binary boosting=rf bagging_freq=1 bagging_fraction=0.7 feature_fraction=0.8 num_leaves=15", "binary", 20, 2000, 100;
    one_tree: "objective=binary num_leaves=15", "binary", 1, 1000, 100;
    five_hundred_trees_of_255_leaves: "objective=binary num_leaves=255 min_data_in_leaf=2 learning_rate=0.05 categorical_feature=5", "binary", 500, 6000, 5;
    single_leaf_trees: "objective=binary min_data_in_leaf=5000", "binary", 3, 1000, 50;
}
