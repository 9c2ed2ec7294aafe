//! Model text: a hand-written model scores as computed by hand, and malformed or hostile text is
//! an error naming the tree and the field, never a panic.

#![allow(clippy::unwrap_used)]

use churnguard_model::{Ensemble, ModelError, Objective};

/// Two features; one tree: `x0 <= 1.5` (NaN goes left) then, on the right, category of `x1` in
/// {1, 40} goes left.
const MODEL: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:2
feature_names=spend region
feature_infos=[0:10] 1:2:40

Tree=0
num_leaves=3
num_cat=1
split_feature=0 1
split_gain=1 1
threshold=1.5 0
decision_type=10 1
left_child=-1 -2
right_child=1 -3
leaf_value=0.5 -0.25 1
leaf_weight=1 1 1
leaf_count=50 30 20
internal_value=0 0
internal_weight=1 1
internal_count=100 50
cat_boundaries=0 2
cat_threshold=2 256
is_linear=0
shrinkage=1


end of trees
";

fn parse_err(text: &str) -> String {
    match Ensemble::parse(text) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("parsed:\n{text}"),
    }
}

#[test]
fn a_hand_written_model_predicts_as_computed_by_hand() {
    let e = Ensemble::parse(MODEL).unwrap();
    assert_eq!(e.objective, Objective::Binary { sigmoid: 2.0 });
    assert_eq!(e.feature_names, ["spend", "region"]);
    let p = |x0: f64, x1: f64| e.raw_scores(&[x0, x1])[0];
    assert_eq!(p(1.0, 0.0), 0.5);
    assert_eq!(p(1.5, 0.0), 0.5, "on the threshold goes left");
    assert_eq!(p(f64::NAN, 0.0), 0.5, "missing type NaN, default left");
    assert_eq!(p(2.0, 1.0), -0.25);
    assert_eq!(p(2.0, 40.0), -0.25, "category above 31 (second bitset word)");
    assert_eq!(p(2.0, 40.7), -0.25, "truncated like a C++ int cast");
    assert_eq!(p(2.0, 2.0), 1.0);
    assert_eq!(p(2.0, -1.0), 1.0, "negative categories go right");
    assert_eq!(p(2.0, f64::NAN), 1.0, "NaN categories go right");
    let prob = e.predict(&[2.0, 2.0])[0];
    assert!((prob - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
    // Expected value: 0.5 * 0.5 + 0.3 * -0.25 + 0.2 * 1.0 = 0.375.
    let c = e.contributions(&[2.0, 2.0]);
    assert!((c[2] - 0.375).abs() < 1e-15, "{c:?}");
    assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{c:?}");
}

#[test]
fn malformed_text_names_the_tree_and_the_field() {
    let cases: Vec<(String, &str)> = vec![
        ("hello world".into(), "`version`"),
        (
            MODEL.replace("threshold=1.5 0", "threshold=1.5"),
            "tree 0, field `threshold`: 1 values where 2",
        ),
        (
            MODEL.replace("threshold=1.5 0", "threshold=1.5 zero"),
            "tree 0, field `threshold`: value 1 `zero`",
        ),
        (
            MODEL.replace("left_child=-1 -2", "left_child=-1 -9"),
            "tree 0, field `left_child`: leaf 8 is out of range",
        ),
        (
            MODEL.replace("left_child=-1 -2", "left_child=-1 1"),
            "node 1 is reached twice",
        ),
        (
            MODEL.replace("split_feature=0 1", "split_feature=0 7"),
            "field `split_feature`: node 1 uses feature 7 of 2",
        ),
        (
            MODEL.replace("num_leaves=3", "num_leaves=999999999999"),
            "field `num_leaves`",
        ),
        (MODEL.replace("num_leaves=3", "num_leaves=-3"), "field `num_leaves`"),
        (
            MODEL.replace("threshold=1.5 0", "threshold=1.5 3"),
            "field `threshold`: node 1: category set 3 does not exist",
        ),
        (
            MODEL.replace("cat_boundaries=0 2", "cat_boundaries=0 9"),
            "field `cat_boundaries`",
        ),
        (
            MODEL.replace("decision_type=10 1", "decision_type=14 1"),
            "missing type 3 is unknown",
        ),
        (
            MODEL.replace("max_feature_idx=1", "max_feature_idx=4"),
            "field `feature_names`: 2 names",
        ),
        (MODEL.replace("num_class=1", "num_class=0"), "field `num_class`"),
        (MODEL.replace("Tree=0", "Tree=5"), "trees are out of order"),
        (
            MODEL.replace("leaf_value=0.5 -0.25 1", "leaf_value=0.5 inf 1"),
            "field `leaf_value`",
        ),
    ];
    for (text, expected) in cases {
        let e = parse_err(&text);
        assert!(e.contains(expected), "expected `{expected}` in: {e}");
    }
    // No tree at all.
    let head = &MODEL[..MODEL.find("Tree=0").unwrap()];
    assert!(parse_err(head).contains("field `Tree`"));
}

#[test]
fn what_cannot_be_reproduced_exactly_is_refused() {
    let linear = MODEL.replace("is_linear=0", "is_linear=1");
    assert!(matches!(Ensemble::parse(&linear), Err(ModelError::Unsupported(m)) if m.contains("linear")));
    let sqrt = MODEL.replace("objective=binary sigmoid:2", "objective=regression sqrt");
    assert!(matches!(Ensemble::parse(&sqrt), Err(ModelError::Unsupported(m)) if m.contains("square root")));
    let lambda = MODEL.replace("objective=binary sigmoid:2", "objective=cross_entropy_lambda");
    assert!(matches!(Ensemble::parse(&lambda), Err(ModelError::Unsupported(_))));
}

#[test]
fn random_damage_never_panics() {
    // Every prefix, and every line dropped in turn: an error or a model, never a panic.
    for end in (0..MODEL.len()).step_by(7) {
        let _ = Ensemble::parse(&MODEL[..end]);
    }
    let lines: Vec<&str> = MODEL.lines().collect();
    for skip in 0..lines.len() {
        let text: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| *l)
            .collect();
        let _ = Ensemble::parse(&text.join("\n"));
    }
}
