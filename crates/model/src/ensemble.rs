//! LightGBM's model text (format v4) parsed into a typed, checked ensemble. Every array is
//! checked against the tree's declared size and every child index against the tree's shape, so
//! code downstream can index without fear; sizes come from the text itself, so hostile text
//! cannot make us allocate more than its own length.

use crate::ModelError;

/// Deepest tree accepted: TreeSHAP needs memory quadratic in depth.
pub const MAX_DEPTH: usize = 1024;
/// Most classes accepted.
pub const MAX_CLASSES: usize = 10_000;

/// How raw scores become predictions.
#[derive(Clone, Debug, PartialEq)]
pub enum Objective {
    /// Binary classification: `1 / (1 + exp(-sigmoid * raw))`.
    Binary {
        /// LightGBM's `sigmoid` parameter.
        sigmoid: f64,
    },
    /// Multiclass with softmax over the class scores.
    Multiclass {
        /// Number of classes.
        classes: usize,
    },
    /// One-versus-all multiclass: a sigmoid per class.
    MulticlassOva {
        /// Number of classes.
        classes: usize,
        /// LightGBM's `sigmoid` parameter.
        sigmoid: f64,
    },
    /// Cross-entropy on probabilities: a plain logistic.
    CrossEntropy,
    /// Regression and ranking objectives whose prediction is the raw score.
    Identity {
        /// LightGBM's objective name.
        name: String,
    },
    /// Log-link objectives (poisson, gamma, tweedie): `exp(raw)`.
    Exponential {
        /// LightGBM's objective name.
        name: String,
    },
}

impl Objective {
    /// Scores per row: the number of classes for multiclass models, else one.
    pub fn outputs(&self) -> usize {
        match self {
            Objective::Multiclass { classes } | Objective::MulticlassOva { classes, .. } => *classes,
            _ => 1,
        }
    }

    /// A binary model's log-odds per unit of raw score (LightGBM's `sigmoid`), what an exported
    /// calibration maps; none for other objectives.
    pub fn log_odds_scale(&self) -> Option<f64> {
        match self {
            Objective::Binary { sigmoid } => Some(*sigmoid),
            _ => None,
        }
    }

    /// Whether predictions are class probabilities.
    pub fn is_classification(&self) -> bool {
        matches!(
            self,
            Objective::Binary { .. } | Objective::Multiclass { .. } | Objective::MulticlassOva { .. }
        )
    }
}

/// How a node treats missing values (LightGBM's `MissingType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No missing values seen in training: NaN is read as zero.
    None,
    /// Zero (and NaN) is missing and takes the default direction.
    Zero,
    /// NaN is missing and takes the default direction.
    NaN,
}

/// One side of a split: another split or a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    /// An internal node, by index in the tree's node arrays.
    Node(u32),
    /// A leaf, by index in the tree's leaf arrays.
    Leaf(u32),
}

/// What a split tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `value <= threshold` goes left.
    Numeric {
        /// LightGBM's double threshold.
        threshold: f64,
        /// Missing-value handling.
        missing: Missing,
        /// Where missing values go.
        default_left: bool,
    },
    /// Category in the set goes left; NaN, negative and other categories go right.
    Categorical {
        /// The categories that go left, increasing.
        categories: Vec<u32>,
    },
}

/// An internal node.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Feature index.
    pub feature: u32,
    /// The test.
    pub condition: Condition,
    /// Where the test's "yes" goes.
    pub left: Child,
    /// Where the test's "no" goes.
    pub right: Child,
    /// Training rows that reached this node (TreeSHAP's cover).
    pub count: f64,
}

/// One regression tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// Internal nodes; the root is node 0 (absent for a single-leaf tree).
    pub splits: Vec<Split>,
    /// Leaf outputs.
    pub leaf_values: Vec<f64>,
    /// Training rows per leaf.
    pub leaf_counts: Vec<f64>,
    /// Longest root-to-leaf path, in splits.
    pub depth: usize,
}

/// A whole LightGBM model.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    /// How raw scores become predictions.
    pub objective: Objective,
    /// Trees per boosting iteration (the number of classes for multiclass).
    pub trees_per_iteration: usize,
    /// Feature names, in input order.
    pub feature_names: Vec<String>,
    /// LightGBM's `feature_infos` (value ranges or category lists), per feature.
    pub feature_infos: Vec<String>,
    /// Random-forest mode: the raw score is the mean over iterations, not the sum.
    pub average_output: bool,
    /// The trees, iteration by iteration (tree `i` scores class `i % trees_per_iteration`).
    pub trees: Vec<Tree>,
}

impl Ensemble {
    /// Number of input features.
    pub fn num_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Boosting iterations.
    pub fn iterations(&self) -> usize {
        self.trees.len() / self.trees_per_iteration.max(1)
    }

    /// Parses LightGBM's model text.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        parse(text)
    }
}

fn err(tree: Option<usize>, field: &str, message: impl Into<String>) -> ModelError {
    ModelError::Parse {
        tree,
        field: field.to_string(),
        message: message.into(),
    }
}

/// The `key=value` lines of one section.
struct Section<'a> {
    tree: Option<usize>,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Section<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn require(&self, key: &str) -> Result<&'a str, ModelError> {
        self.get(key).ok_or_else(|| err(self.tree, key, "missing"))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, ModelError> {
        let v = self.require(key)?;
        v.trim()
            .parse()
            .map_err(|_| err(self.tree, key, format!("`{}` is not a valid number", clip(v))))
    }

    /// A space-separated array of exactly `len` numbers.
    fn array<T: std::str::FromStr>(&self, key: &str, len: usize) -> Result<Vec<T>, ModelError> {
        let v = self.get(key).unwrap_or("");
        let mut out = Vec::new();
        for (i, item) in v.split_whitespace().enumerate() {
            if i >= len {
                return Err(err(self.tree, key, format!("more than the {len} values expected")));
            }
            out.push(item.parse().map_err(|_| {
                err(
                    self.tree,
                    key,
                    format!("value {i} `{}` is not a valid number", clip(item)),
                )
            })?);
        }
        if out.len() != len {
            return Err(err(
                self.tree,
                key,
                format!("{} values where {len} were expected", out.len()),
            ));
        }
        Ok(out)
    }
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

fn parse(text: &str) -> Result<Ensemble, ModelError> {
    let mut header = Section {
        tree: None,
        pairs: Vec::new(),
    };
    let mut trees: Vec<Section> = Vec::new();
    let mut average_output = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line == "end of trees" {
            break;
        }
        if line.is_empty() {
            continue;
        }
        if let Some(n) = line.strip_prefix("Tree=") {
            let index: usize = n
                .trim()
                .parse()
                .map_err(|_| err(Some(trees.len()), "Tree", format!("`{}` is not a tree index", clip(n))))?;
            if index != trees.len() {
                return Err(err(
                    Some(trees.len()),
                    "Tree",
                    format!("trees are out of order: found Tree={index}"),
                ));
            }
            trees.push(Section {
                tree: Some(index),
                pairs: Vec::new(),
            });
            continue;
        }
        let section = trees.last_mut().unwrap_or(&mut header);
        match line.split_once('=') {
            Some((k, v)) => section.pairs.push((k, v)),
            None if line == "average_output" && section.tree.is_none() => average_output = true,
            None => {}
        }
    }
    if !header.get("version").is_some_and(|v| v.starts_with('v')) {
        return Err(err(
            None,
            "version",
            "not a LightGBM model text (no `version=v...` line)",
        ));
    }
    let num_class: usize = header.number("num_class")?;
    let per_iteration: usize = header.number("num_tree_per_iteration")?;
    if num_class == 0 || num_class > MAX_CLASSES || per_iteration == 0 || per_iteration > MAX_CLASSES {
        return Err(err(None, "num_class", format!("{num_class} classes is out of range")));
    }
    let max_feature: usize = header.number("max_feature_idx")?;
    let names: Vec<String> = header
        .require("feature_names")?
        .split_whitespace()
        .map(String::from)
        .collect();
    if names.len() != max_feature + 1 {
        return Err(err(
            None,
            "feature_names",
            format!("{} names for max_feature_idx={max_feature}", names.len()),
        ));
    }
    let infos: Vec<String> = header
        .get("feature_infos")
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let objective = objective(header.require("objective")?, num_class)?;
    if objective.outputs() != per_iteration {
        return Err(err(
            None,
            "num_tree_per_iteration",
            format!(
                "{per_iteration} trees per iteration for {} outputs",
                objective.outputs()
            ),
        ));
    }
    let trees = trees
        .iter()
        .map(|s| tree(s, names.len()))
        .collect::<Result<Vec<_>, _>>()?;
    if trees.is_empty() || !trees.len().is_multiple_of(per_iteration) {
        return Err(err(
            None,
            "Tree",
            format!(
                "{} trees is not a whole number of iterations of {per_iteration}",
                trees.len()
            ),
        ));
    }
    Ok(Ensemble {
        objective,
        trees_per_iteration: per_iteration,
        feature_names: names,
        feature_infos: infos,
        average_output,
        trees,
    })
}

fn objective(line: &str, num_class: usize) -> Result<Objective, ModelError> {
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("").to_string();
    let mut sigmoid = 1.0;
    for w in words {
        if let Some(v) = w.strip_prefix("sigmoid:") {
            sigmoid = v
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| err(None, "objective", format!("`{w}` is not a valid sigmoid")))?;
        } else if w == "sqrt" {
            return Err(ModelError::Unsupported(format!(
                "objective `{line}`: regression on the square root of the label is not supported"
            )));
        }
    }
    Ok(match name.as_str() {
        "binary" => Objective::Binary { sigmoid },
        "multiclass" | "softmax" => Objective::Multiclass { classes: num_class },
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => Objective::MulticlassOva {
            classes: num_class,
            sigmoid,
        },
        "cross_entropy" | "xentropy" => Objective::CrossEntropy,
        "regression" | "regression_l2" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" | "lambdarank"
        | "rank_xendcg" | "custom" | "none" => Objective::Identity { name },
        "poisson" | "gamma" | "tweedie" => Objective::Exponential { name },
        _ => {
            return Err(ModelError::Unsupported(format!(
                "objective `{}` has no known output transform",
                clip(line)
            )));
        }
    })
}

const CATEGORICAL_MASK: u8 = 1;
const DEFAULT_LEFT_MASK: u8 = 2;

fn tree(s: &Section, features: usize) -> Result<Tree, ModelError> {
    let t = s.tree;
    let leaves: usize = s.number("num_leaves")?;
    // Every leaf takes at least a few bytes of text: a count beyond that is a lie.
    if leaves == 0 || leaves > s.pairs.iter().map(|(_, v)| v.len()).sum::<usize>() + 1 {
        return Err(err(t, "num_leaves", format!("{leaves} leaves is out of range")));
    }
    if s.get("is_linear").is_some_and(|v| v.trim() == "1") {
        return Err(ModelError::Unsupported(format!(
            "tree {}: linear trees (linear_tree=true) are not supported",
            t.unwrap_or(0)
        )));
    }
    let nodes = leaves - 1;
    let leaf_values: Vec<f64> = s.array("leaf_value", leaves)?;
    let shrinkage_ok = leaf_values.iter().all(|v| v.is_finite());
    if !shrinkage_ok {
        return Err(err(t, "leaf_value", "a leaf value is not finite"));
    }
    let leaf_counts: Vec<f64> = if s.get("leaf_count").is_some() {
        s.array("leaf_count", leaves)?
    } else {
        vec![0.0; leaves]
    };
    if nodes == 0 {
        return Ok(Tree {
            splits: Vec::new(),
            leaf_values,
            leaf_counts,
            depth: 0,
        });
    }
    let feature: Vec<u32> = s.array("split_feature", nodes)?;
    let threshold: Vec<f64> = s.array("threshold", nodes)?;
    let decision: Vec<u8> = s.array("decision_type", nodes)?;
    let left: Vec<i64> = s.array("left_child", nodes)?;
    let right: Vec<i64> = s.array("right_child", nodes)?;
    let counts: Vec<f64> = if s.get("internal_count").is_some() {
        s.array("internal_count", nodes)?
    } else {
        vec![0.0; nodes]
    };
    let sets = CategorySets::of(s, nodes)?;
    let child = |v: i64, field: &str| -> Result<Child, ModelError> {
        if v >= 0 {
            let i = v as usize;
            if i == 0 || i >= nodes {
                return Err(err(t, field, format!("node {v} is out of range")));
            }
            Ok(Child::Node(i as u32))
        } else {
            let leaf = (-(v + 1)) as usize;
            if leaf >= leaves {
                return Err(err(t, field, format!("leaf {leaf} is out of range")));
            }
            Ok(Child::Leaf(leaf as u32))
        }
    };
    let mut splits = Vec::with_capacity(nodes);
    for i in 0..nodes {
        if feature[i] as usize >= features {
            return Err(err(
                t,
                "split_feature",
                format!("node {i} uses feature {} of {features}", feature[i]),
            ));
        }
        let condition = condition(t, i, decision[i], threshold[i], &sets)?;
        splits.push(Split {
            feature: feature[i],
            condition,
            left: child(left[i], "left_child")?,
            right: child(right[i], "right_child")?,
            count: counts[i],
        });
    }
    let depth = check_shape(&splits, leaves).map_err(|m| err(t, "left_child", m))?;
    Ok(Tree {
        splits,
        leaf_values,
        leaf_counts,
        depth,
    })
}

/// A tree's categorical splits: the words of every category set, and where each set starts.
struct CategorySets {
    /// Sets in the tree.
    count: usize,
    /// Set k is `bits[boundaries[k]..boundaries[k + 1]]`.
    boundaries: Vec<usize>,
    /// 32 categories per word.
    bits: Vec<u32>,
}

impl CategorySets {
    fn of(s: &Section, nodes: usize) -> Result<CategorySets, ModelError> {
        let t = s.tree;
        let count: usize = s.get("num_cat").map_or(Ok(0), |_| s.number("num_cat"))?;
        if count == 0 {
            return Ok(CategorySets {
                count,
                boundaries: Vec::new(),
                bits: Vec::new(),
            });
        }
        if count > nodes {
            return Err(err(
                t,
                "num_cat",
                format!("{count} categorical splits in {nodes} nodes"),
            ));
        }
        let boundaries: Vec<usize> = s.array("cat_boundaries", count + 1)?;
        let words = s.get("cat_threshold").unwrap_or("").split_whitespace().count();
        let bits = s.array("cat_threshold", words)?;
        if boundaries.windows(2).any(|w| w[0] > w[1]) || boundaries.last().is_some_and(|&b| b > words) {
            return Err(err(
                t,
                "cat_boundaries",
                "boundaries are not increasing within cat_threshold",
            ));
        }
        Ok(CategorySets {
            count,
            boundaries,
            bits,
        })
    }
}

/// The decision of node `i`: a category set, or a numeric threshold with its missing-value rule.
fn condition(t: Option<usize>, i: usize, d: u8, threshold: f64, sets: &CategorySets) -> Result<Condition, ModelError> {
    if d & CATEGORICAL_MASK != 0 {
        if !(threshold >= 0.0 && threshold < sets.count as f64 && threshold.fract() == 0.0) {
            return Err(err(
                t,
                "threshold",
                format!("node {i}: category set {threshold} does not exist"),
            ));
        }
        let idx = threshold as usize;
        let words = &sets.bits[sets.boundaries[idx]..sets.boundaries[idx + 1]];
        let categories = words
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| {
                (0..32)
                    .filter(move |b| word >> b & 1 == 1)
                    .map(move |b| (w * 32 + b) as u32)
            })
            .collect();
        return Ok(Condition::Categorical { categories });
    }
    if threshold.is_nan() {
        return Err(err(t, "threshold", format!("node {i}: threshold is NaN")));
    }
    let missing = match (d >> 2) & 3 {
        0 => Missing::None,
        1 => Missing::Zero,
        2 => Missing::NaN,
        other => {
            return Err(err(
                t,
                "decision_type",
                format!("node {i}: missing type {other} is unknown"),
            ));
        }
    };
    Ok(Condition::Numeric {
        threshold,
        missing,
        default_left: d & DEFAULT_LEFT_MASK != 0,
    })
}

/// Checks that the children form one tree rooted at node 0 (every node and leaf reached exactly
/// once, so no cycles and no sharing) and returns its depth.
fn check_shape(splits: &[Split], leaves: usize) -> Result<usize, String> {
    let mut seen_node = vec![false; splits.len()];
    let mut seen_leaf = vec![false; leaves];
    let mut stack = vec![(0u32, 1usize)];
    seen_node[0] = true;
    let mut depth = 0;
    while let Some((n, d)) = stack.pop() {
        if d > MAX_DEPTH {
            return Err(format!("the tree is deeper than {MAX_DEPTH} levels"));
        }
        depth = depth.max(d);
        let s = &splits[n as usize];
        for c in [s.left, s.right] {
            match c {
                Child::Node(i) => {
                    if std::mem::replace(&mut seen_node[i as usize], true) {
                        return Err(format!("node {i} is reached twice"));
                    }
                    stack.push((i, d + 1));
                }
                Child::Leaf(l) => {
                    if std::mem::replace(&mut seen_leaf[l as usize], true) {
                        return Err(format!("leaf {l} is reached twice"));
                    }
                }
            }
        }
    }
    if let Some(i) = seen_node.iter().position(|s| !s) {
        return Err(format!("node {i} is not reached from the root"));
    }
    if let Some(l) = seen_leaf.iter().position(|s| !s) {
        return Err(format!("leaf {l} is not reached from the root"));
    }
    Ok(depth)
}
