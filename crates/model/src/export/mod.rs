//! Exact export to ONNX.
//!
//! The graph reproduces LightGBM's decision rules with standard operators around one
//! `TreeEnsemble` (ai.onnx.ml opset 5):
//!
//! - the trees run in double precision whatever the input type, so every threshold is LightGBM's
//!   own double and a float32 input compares exactly as LightGBM compares it (LightGBM widens
//!   its input to double too), and hundreds of leaf values add up without float32 rounding;
//! - features whose splits treat zero as missing are read through a copy of the input in which
//!   values within LightGBM's zero band are NaN, so one node sends zero and NaN the default way;
//! - categorical splits are set-membership nodes on a copy of the input truncated toward zero
//!   (LightGBM casts to `int`), so every category routes as in LightGBM, with no shared children;
//! - the objective's transform (a sigmoid with LightGBM's coefficient, softmax, exp) is a
//!   separate node, because ONNX Runtime ignores the operator's own `post_transform`.

use prost::Message;

use crate::ModelError;
use crate::ensemble::{Child, Condition, Ensemble, Missing, Objective};
use crate::onnx::*;
use crate::predict::ZERO_THRESHOLD;

mod graph;
use graph::*;

/// The element type of the model's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputType {
    /// 32-bit floats (the usual ONNX Runtime input); widened to double inside the graph.
    #[default]
    F32,
    /// 64-bit floats, LightGBM's own type.
    F64,
}

impl InputType {
    fn onnx(self) -> i32 {
        match self {
            InputType::F32 => data_type::FLOAT,
            InputType::F64 => data_type::DOUBLE,
        }
    }
}

impl std::str::FromStr for InputType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" | "float" | "float32" => Ok(InputType::F32),
            "f64" | "double" | "float64" => Ok(InputType::F64),
            _ => Err(format!("`{s}` is not an input type: use f32 or f64")),
        }
    }
}

/// What to write besides the trees.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The input's element type.
    pub input: InputType,
    /// Extra `metadata_props` entries (package version, feature spec hash, ...).
    pub metadata: Vec<(String, String)>,
    /// A calibration of binary models' probabilities, applied inside the graph.
    pub calibration: Option<LogOddsMap>,
}

/// A map of a binary model's log-odds before its sigmoid: `sigmoid(a * clamp(z) + b)`, where
/// `z` is LightGBM's log-odds (its raw score times the sigmoid coefficient) clamped to
/// `[-clamp, clamp]`, the log-odds a double probability can hold (Platt calibration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogOddsMap {
    /// Slope.
    pub a: f64,
    /// Offset.
    pub b: f64,
    /// Largest |log-odds| kept.
    pub clamp: f64,
}

/// Names of the graph's input and outputs.
pub mod names {
    /// The input: `[rows, features]`.
    pub const INPUT: &str = "features";
    /// Binary (and cross-entropy) models: the positive class probability, `[rows]`.
    pub const PROBABILITY: &str = "probability";
    /// Multiclass models: class probabilities, `[rows, classes]`.
    pub const PROBABILITIES: &str = "probabilities";
    /// Classifiers: the most likely class, `[rows]` (int64).
    pub const LABEL: &str = "label";
    /// Regression and ranking models: the prediction, `[rows]`.
    pub const PREDICTION: &str = "prediction";
}

/// Exports the ensemble as a serialized ONNX model. `model_text` is hashed into the metadata.
pub fn export(e: &Ensemble, model_text: &str, options: &ExportOptions) -> Result<Vec<u8>, ModelError> {
    let mut g = Graph::default();
    let view = input_view(&mut g, e, options.input);
    let trees = Trees::of(e, &view);
    let raw = ensemble_node(&mut g, e, &view.name, trees);
    let outputs = outputs(&mut g, e, &raw, options.input, options.calibration);
    Ok(model_proto(g, e, model_text, options, outputs).encode_to_vec())
}

/// The input as the splits read it: LightGBM's zero band applied, then side by side the raw
/// values, a zero-as-NaN copy and a truncated copy, each only when some split needs it.
struct InputView {
    /// The value holding the view, `[rows, features * blocks]`.
    name: String,
    /// Features per block.
    features: usize,
    /// The block of the zero-as-NaN copy.
    zero_block: Option<usize>,
    /// The block of the truncated copy (categorical splits).
    categorical_block: Option<usize>,
}

fn input_view(g: &mut Graph, e: &Ensemble, input: InputType) -> InputView {
    let wide = match input {
        InputType::F32 => g.node("Cast", &[names::INPUT], vec![int("to", data_type::DOUBLE as i64)]),
        InputType::F64 => names::INPUT.to_string(),
    };
    // LightGBM's predictor keeps only values outside the zero band: the rest are exactly 0.0.
    let abs = g.node("Abs", &[&wide], vec![]);
    let band = g.constant_f64(&[ZERO_THRESHOLD], &[]);
    let in_band = g.node("LessOrEqual", &[&abs, &band], vec![]);
    let zero = g.constant_f64(&[0.0], &[]);
    let x = g.node("Where", &[&in_band, &zero, &wide], vec![]);

    let mut uses_zero = false;
    let mut uses_categorical = false;
    for s in e.trees.iter().flat_map(|t| &t.splits) {
        match &s.condition {
            Condition::Numeric {
                missing: Missing::Zero, ..
            } => uses_zero = true,
            Condition::Categorical { .. } => uses_categorical = true,
            Condition::Numeric { .. } => {}
        }
    }
    let mut blocks = vec![x.clone()];
    let zero_block = uses_zero.then(|| {
        let nan = g.constant_f64(&[f64::NAN], &[]);
        blocks.push(g.node("Where", &[&in_band, &nan, &x], vec![]));
        blocks.len() - 1
    });
    let categorical_block = uses_categorical.then(|| {
        let sign = g.node("Sign", &[&x], vec![]);
        let abs = g.node("Abs", &[&x], vec![]);
        let floor = g.node("Floor", &[&abs], vec![]);
        let trunc = g.node("Mul", &[&sign, &floor], vec![]);
        // -0.0 + 0.0 is +0.0: a truncated -0.5 must match category 0 as LightGBM's int cast does.
        blocks.push(g.node("Add", &[&trunc, &zero], vec![]));
        blocks.len() - 1
    });
    let name = if blocks.len() == 1 {
        x
    } else {
        let refs: Vec<&str> = blocks.iter().map(String::as_str).collect();
        g.node("Concat", &refs, vec![int("axis", 1)])
    };
    InputView {
        name,
        features: e.num_features(),
        zero_block,
        categorical_block,
    }
}

impl Trees {
    /// Every tree's nodes and leaves, each split reading the block of the view it needs.
    fn of(e: &Ensemble, view: &InputView) -> Trees {
        let k = e.trees_per_iteration;
        let f = view.features;
        let mut t = Trees::default();
        for (i, tree) in e.trees.iter().enumerate() {
            let target = (i % k) as i64;
            let node_base = t.modes.len() as i64;
            let leaf_base = t.leaf_weights.len() as i64;
            t.roots.push(node_base);
            for (&v, _) in tree.leaf_values.iter().zip(&tree.leaf_counts) {
                t.leaf_weights.push(v);
                t.leaf_targets.push(target);
            }
            if tree.splits.is_empty() {
                // A single leaf: a root whose both branches are that leaf (the operator's own
                // encoding of a degenerate tree).
                t.push(0, BRANCH_LEQ, 0.0, 0, (leaf_base, true), (leaf_base, true));
                continue;
            }
            let link = |c: Child| match c {
                Child::Node(n) => (node_base + i64::from(n), false),
                Child::Leaf(l) => (leaf_base + i64::from(l), true),
            };
            for s in &tree.splits {
                let feature = i64::from(s.feature);
                match &s.condition {
                    Condition::Numeric {
                        threshold,
                        missing,
                        default_left,
                    } => {
                        let (block, nan_left) = match missing {
                            // NaN is read as 0.0: it goes where 0.0 goes.
                            Missing::None => (0, 0.0 <= *threshold),
                            Missing::NaN => (0, *default_left),
                            Missing::Zero => (view.zero_block.unwrap_or(0), *default_left),
                        };
                        t.push(
                            feature + (block * f) as i64,
                            BRANCH_LEQ,
                            *threshold,
                            i64::from(nan_left),
                            link(s.left),
                            link(s.right),
                        );
                    }
                    Condition::Categorical { categories } => {
                        t.members.extend(categories.iter().map(|&c| f64::from(c)));
                        t.members.push(f64::NAN);
                        t.push(
                            feature + (view.categorical_block.unwrap_or(0) * f) as i64,
                            BRANCH_MEMBER,
                            0.0,
                            0,
                            link(s.left),
                            link(s.right),
                        );
                    }
                }
            }
        }
        t
    }
}

/// The `TreeEnsemble` node summing every tree's leaf (divided by the rounds for averaged
/// models): the raw score, `[rows, targets]`.
fn ensemble_node(g: &mut Graph, e: &Ensemble, view: &str, t: Trees) -> String {
    let mut attributes = vec![
        int("n_targets", e.trees_per_iteration as i64),
        int("aggregate_function", 1),
        int("post_transform", 0),
        ints("tree_roots", t.roots),
        ints("nodes_featureids", t.features),
        tensor_attr("nodes_modes", u8_tensor(&t.modes)),
        tensor_attr("nodes_splits", f64_tensor(&t.splits, &[t.modes.len() as i64])),
        ints("nodes_truenodeids", t.true_ids),
        ints("nodes_trueleafs", t.true_leafs),
        ints("nodes_falsenodeids", t.false_ids),
        ints("nodes_falseleafs", t.false_leafs),
        ints("nodes_missing_value_tracks_true", t.missing_true),
        ints("leaf_targetids", t.leaf_targets),
        tensor_attr(
            "leaf_weights",
            f64_tensor(&t.leaf_weights, &[t.leaf_weights.len() as i64]),
        ),
    ];
    if !t.members.is_empty() {
        attributes.push(tensor_attr(
            "membership_values",
            f64_tensor(&t.members, &[t.members.len() as i64]),
        ));
    }
    let mut raw = g.node_in("TreeEnsemble", ML_DOMAIN, &[view], attributes);
    if e.average_output {
        let n = g.constant_f64(&[e.iterations() as f64], &[]);
        raw = g.node("Div", &[&raw, &n], vec![]);
    }
    raw
}

/// The objective's transform of the raw score and the graph's outputs, in the input's type.
fn outputs(
    g: &mut Graph,
    e: &Ensemble,
    raw: &str,
    input: InputType,
    calibration: Option<LogOddsMap>,
) -> Vec<ValueInfoProto> {
    let input_type = input.onnx();
    let out_type = |g: &mut Graph, v: &str, name: &str| {
        g.node_named("Cast", &[v], vec![int("to", input_type as i64)], name);
    };
    let flat = |g: &mut Graph, v: &str| {
        let shape = g.constant_i64(&[-1]);
        g.node("Reshape", &[v, &shape], vec![])
    };
    let logistic = |g: &mut Graph, v: &str, sigmoid: f64| {
        let scaled = if sigmoid == 1.0 {
            v.to_string()
        } else {
            let s = g.constant_f64(&[sigmoid], &[]);
            g.node("Mul", &[v, &s], vec![])
        };
        g.node("Sigmoid", &[&scaled], vec![])
    };
    let mut outputs = Vec::new();
    match &e.objective {
        Objective::Binary { sigmoid } => {
            let p = match calibration {
                None => logistic(g, raw, *sigmoid),
                Some(map) => {
                    let z = if *sigmoid == 1.0 {
                        raw.to_string()
                    } else {
                        let s = g.constant_f64(&[*sigmoid], &[]);
                        g.node("Mul", &[raw, &s], vec![])
                    };
                    let (low, high) = (g.constant_f64(&[-map.clamp], &[]), g.constant_f64(&[map.clamp], &[]));
                    let z = g.node("Clip", &[&z, &low, &high], vec![]);
                    let a = g.constant_f64(&[map.a], &[]);
                    let z = g.node("Mul", &[&z, &a], vec![]);
                    let b = g.constant_f64(&[map.b], &[]);
                    let z = g.node("Add", &[&z, &b], vec![]);
                    g.node("Sigmoid", &[&z], vec![])
                }
            };
            let p = flat(g, &p);
            out_type(g, &p, names::PROBABILITY);
            let half = g.constant_f64(&[0.5], &[]);
            let yes = g.node("Greater", &[&p, &half], vec![]);
            g.node_named("Cast", &[&yes], vec![int("to", data_type::INT64 as i64)], names::LABEL);
            outputs.push(value_info(names::LABEL, data_type::INT64, &[None]));
            outputs.push(value_info(names::PROBABILITY, input_type, &[None]));
        }
        Objective::CrossEntropy => {
            let p = logistic(g, raw, 1.0);
            let p = flat(g, &p);
            out_type(g, &p, names::PROBABILITY);
            outputs.push(value_info(names::PROBABILITY, input_type, &[None]));
        }
        Objective::Multiclass { classes } | Objective::MulticlassOva { classes, .. } => {
            let p = match &e.objective {
                Objective::MulticlassOva { sigmoid, .. } => logistic(g, raw, *sigmoid),
                _ => g.node("Softmax", &[raw], vec![int("axis", 1)]),
            };
            out_type(g, &p, names::PROBABILITIES);
            g.node_named(
                "ArgMax",
                &[&p],
                vec![int("axis", 1), int("keepdims", 0), int("select_last_index", 0)],
                names::LABEL,
            );
            outputs.push(value_info(names::LABEL, data_type::INT64, &[None]));
            outputs.push(value_info(
                names::PROBABILITIES,
                input_type,
                &[None, Some(*classes as i64)],
            ));
        }
        Objective::Identity { .. } | Objective::Exponential { .. } => {
            let v = if matches!(e.objective, Objective::Exponential { .. }) {
                g.node("Exp", &[raw], vec![])
            } else {
                raw.to_string()
            };
            let v = flat(g, &v);
            out_type(g, &v, names::PREDICTION);
            outputs.push(value_info(names::PREDICTION, input_type, &[None]));
        }
    }
    outputs
}

/// The model around the graph: opsets, metadata (feature names, the model text's hash, the
/// caller's entries), producer.
fn model_proto(
    g: Graph,
    e: &Ensemble,
    model_text: &str,
    options: &ExportOptions,
    outputs: Vec<ValueInfoProto>,
) -> ModelProto {
    let mut metadata = vec![
        ("feature_names".to_string(), json_list(&e.feature_names)),
        ("lightgbm_sha256".to_string(), crate::sha256_hex(model_text.as_bytes())),
        ("objective".to_string(), format!("{:?}", e.objective)),
        (
            "producer".to_string(),
            format!("churnguard {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    metadata.extend(options.metadata.iter().cloned());
    let input_type = options.input.onnx();
    ModelProto {
        ir_version: 10,
        producer_name: "churnguard".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 1,
        doc_string: "LightGBM model exported exactly by churnguard".into(),
        graph: Some(GraphProto {
            node: g.nodes,
            name: "lightgbm".into(),
            initializer: g.initializers,
            input: vec![value_info(
                names::INPUT,
                input_type,
                &[None, Some(e.num_features() as i64)],
            )],
            output: outputs,
        }),
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            },
            OperatorSetIdProto {
                domain: ML_DOMAIN.into(),
                version: 5,
            },
        ],
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
    }
}

const ML_DOMAIN: &str = "ai.onnx.ml";
const BRANCH_LEQ: u8 = 0;
const BRANCH_MEMBER: u8 = 6;

/// The node arrays of the `TreeEnsemble` operator.
#[derive(Default)]
struct Trees {
    roots: Vec<i64>,
    features: Vec<i64>,
    modes: Vec<u8>,
    splits: Vec<f64>,
    true_ids: Vec<i64>,
    true_leafs: Vec<i64>,
    false_ids: Vec<i64>,
    false_leafs: Vec<i64>,
    missing_true: Vec<i64>,
    members: Vec<f64>,
    leaf_targets: Vec<i64>,
    leaf_weights: Vec<f64>,
}

impl Trees {
    fn push(&mut self, feature: i64, mode: u8, split: f64, missing_true: i64, yes: (i64, bool), no: (i64, bool)) {
        self.features.push(feature);
        self.modes.push(mode);
        self.splits.push(split);
        self.missing_true.push(missing_true);
        self.true_ids.push(yes.0);
        self.true_leafs.push(i64::from(yes.1));
        self.false_ids.push(no.0);
        self.false_leafs.push(i64::from(no.1));
    }
}
