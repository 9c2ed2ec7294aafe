//! TreeSHAP for many rows at once. A tree's contributions depend on a row only through the way
//! it goes at each split, so rows that decide alike in a tree share one TreeSHAP computation: on
//! churn data a batch has far fewer distinct decision patterns per tree than rows. Trees are
//! worked on in parallel (each over all rows, split by split down the columns), then each row
//! adds up its patterns' contributions tree by tree, the order the one-row form uses, so the
//! figures do not depend on the number of threads.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::ensemble::{Child, Condition, Ensemble, Missing, Tree};
use crate::predict::{PathElement, ZERO_THRESHOLD, count, extend, tree_shap, unwound_sum};

/// Rows whose sums are added up together. Each (row, tree) reads one pattern's contributions
/// from that tree's table; the larger the block, the more of those reads hit a table the block
/// has already brought into the cache (measured: 16,384 rows beat 256 and 65,536).
const ROWS_PER_BLOCK: usize = 16_384;

/// One split's test in a form that decides a whole column in a tight loop; the same rules as
/// [`crate::goes_left`].
enum Decision {
    Numeric {
        threshold: f64,
        nan_left: bool,
        zero_left: bool,
    },
    Categorical {
        words: Vec<u64>,
    },
}

impl Decision {
    fn of(c: &Condition) -> Self {
        match c {
            Condition::Numeric {
                threshold,
                missing,
                default_left,
            } => {
                let zero = 0.0 <= *threshold;
                Decision::Numeric {
                    threshold: *threshold,
                    // A NaN is a zero unless NaN is the missing marker; a zero is missing only
                    // when zero is the marker.
                    nan_left: if *missing == Missing::None { zero } else { *default_left },
                    zero_left: if *missing == Missing::Zero { *default_left } else { zero },
                }
            }
            Condition::Categorical { categories } => {
                let top = categories.last().map_or(0, |&c| c as usize + 1);
                let mut words = vec![0u64; top.div_ceil(64)];
                for &c in categories {
                    words[c as usize / 64] |= 1 << (c % 64);
                }
                Decision::Categorical { words }
            }
        }
    }

    /// Sets bit `bit` of word `word` of each row's key (`w` words a row) where the row goes left.
    fn decide(&self, column: &[f64], keys: &mut [u64], w: usize, word: usize, bit: u32) {
        match self {
            Decision::Numeric {
                threshold,
                nan_left,
                zero_left,
            } => mark(column, keys, w, word, bit, |v| {
                // Branch-free on purpose: this runs for every split of every row.
                let a = v.abs();
                ((v <= *threshold) & (a > ZERO_THRESHOLD))
                    | ((a <= ZERO_THRESHOLD) & *zero_left)
                    | (v.is_nan() & *nan_left)
            }),
            Decision::Categorical { words } => mark(column, keys, w, word, bit, |v| {
                // NaN, values truncating below zero and values past i32 go right.
                v > -1.0 && v < 2_147_483_648.0 && {
                    let c = v as u32 as usize;
                    words.get(c / 64).is_some_and(|x| x >> (c % 64) & 1 == 1)
                }
            }),
        }
    }
}

#[inline(always)]
fn mark(column: &[f64], keys: &mut [u64], w: usize, word: usize, bit: u32, left: impl Fn(f64) -> bool) {
    if w == 1 {
        // The common case (up to 64 splits) gets a loop the compiler can vectorise.
        for (key, &v) in keys.iter_mut().zip(column) {
            *key |= u64::from(left(v)) << bit;
        }
    } else {
        for (key, &v) in keys[word..].iter_mut().step_by(w).zip(column) {
            *key |= u64::from(left(v)) << bit;
        }
    }
}

/// One tree's distinct decision patterns over a batch: each row's pattern, and each pattern's
/// contributions to the features the tree uses (`used`), one block of `used.len()` a pattern.
struct Patterns {
    of_row: Vec<u32>,
    used: Vec<u32>,
    contributions: Vec<f64>,
}

/// Largest number of distinct features on a leaf's path whose contributions are kept in a
/// table indexed by which of them a row follows; longer paths use a hash map.
const TABLE_FEATURES: usize = 12;

/// A leaf as TreeSHAP sees it. Its share of a row's contributions depends only on which of the
/// distinct features on its path the row follows (goes the path's way at every split on that
/// feature), so that share is computed once per such subset and reused by every pattern.
struct Leaf {
    value: f64,
    /// The distinct features on the path, in the order of their last split (TreeSHAP's path).
    features: Vec<u32>,
    /// Per feature, the share of training rows that follow the path's splits on it.
    zero: Vec<f64>,
    /// The path's splits: split index, whether the path goes left, the feature's position.
    tests: Vec<(usize, bool, u32)>,
    /// Per subset of followed features, its offset in `shares`.
    table: Vec<u32>,
    map: FxHashMap<u64, u32>,
    shares: Vec<f64>,
}

impl Leaf {
    fn new(t: &Tree, leaf: usize, path: &[(usize, bool)]) -> Leaf {
        let (mut features, mut zero): (Vec<u32>, Vec<f64>) = (Vec::new(), Vec::new());
        for &(n, left) in path {
            let s = &t.splits[n];
            let child = if left { s.left } else { s.right };
            // Multiplied in TreeSHAP's order: this split's share times the earlier ones.
            let mut z = count(t, child) / s.count;
            if let Some(k) = features.iter().position(|&f| f == s.feature) {
                z *= zero.remove(k);
                features.remove(k);
            }
            features.push(s.feature);
            zero.push(z);
        }
        let tests = path
            .iter()
            .map(|&(n, left)| {
                let k = features.iter().position(|&f| f == t.splits[n].feature).unwrap_or(0);
                (n, left, k as u32)
            })
            .collect();
        Leaf {
            value: t.leaf_values[leaf],
            features,
            zero,
            tests,
            table: Vec::new(),
            map: FxHashMap::default(),
            shares: Vec::new(),
        }
    }

    /// Where in `shares` the leaf's contributions (one per path feature) start for a row whose
    /// decisions are `key`.
    fn shares_at(&mut self, key: &[u64], path: &mut [PathElement]) -> usize {
        let d = self.features.len();
        let mut followed = (1u64 << d) - 1;
        for &(b, left, k) in &self.tests {
            if (key[b / 64] >> (b % 64) & 1 == 1) != left {
                followed &= !(1 << k);
            }
        }
        let known = if d <= TABLE_FEATURES {
            if self.table.is_empty() {
                self.table = vec![u32::MAX; 1 << d];
            }
            Some(self.table[followed as usize]).filter(|&at| at != u32::MAX)
        } else {
            self.map.get(&followed).copied()
        };
        match known {
            Some(at) => at as usize,
            None => {
                let at = self.shares.len();
                self.compute(followed, path);
                if d <= TABLE_FEATURES {
                    self.table[followed as usize] = at as u32;
                } else {
                    self.map.insert(followed, at as u32);
                }
                at
            }
        }
    }

    /// TreeSHAP's sums at this leaf: the path extended feature by feature, then each feature's
    /// unwound weight.
    fn compute(&mut self, followed: u64, path: &mut [PathElement]) {
        let d = self.features.len();
        extend(path, 0, 1.0, 1.0, -1);
        for (k, (&f, &z)) in self.features.iter().zip(&self.zero).enumerate() {
            extend(path, k + 1, z, (followed >> k & 1) as f64, i64::from(f));
        }
        for i in 1..=d {
            let el = path[i];
            let w = unwound_sum(path, d, i);
            self.shares.push(w * (el.one_fraction - el.zero_fraction) * self.value);
        }
    }
}

fn leaves(t: &Tree, node: Child, path: &mut Vec<(usize, bool)>, out: &mut Vec<Leaf>) {
    match node {
        Child::Leaf(l) => out.push(Leaf::new(t, l as usize, path)),
        Child::Node(n) => {
            let s = &t.splits[n as usize];
            for (child, left) in [(s.left, true), (s.right, false)] {
                path.push((n as usize, left));
                leaves(t, child, path, out);
                path.pop();
            }
        }
    }
}

fn patterns(t: &Tree, columns: &[&[f64]], n: usize) -> Patterns {
    let w = t.splits.len().div_ceil(64);
    let mut keys = vec![0u64; n * w];
    for (b, s) in t.splits.iter().enumerate() {
        Decision::of(&s.condition).decide(columns[s.feature as usize], &mut keys, w, b / 64, (b % 64) as u32);
    }
    let mut used: Vec<u32> = t.splits.iter().map(|s| s.feature).collect();
    used.sort_unstable();
    used.dedup();
    let mut found = Vec::with_capacity(t.leaf_values.len());
    leaves(t, Child::Node(0), &mut Vec::new(), &mut found);
    // A path with 64 or more distinct features does not fit the subset key: such a tree is
    // explained pattern by pattern with the recursive TreeSHAP.
    let by_leaf = found.iter().all(|l| l.features.len() < 64);
    let f = columns.len();
    let (mut row, mut phi) = (vec![0.0; f], vec![0.0; f + 1]);
    let d = t.depth + 1;
    let mut path = vec![PathElement::default(); d * (d + 1) / 2 + d];
    let mut contributions = Vec::new();
    let mut explain = |r: usize, key: &[u64]| {
        phi.fill(0.0);
        if by_leaf {
            for leaf in &mut found {
                let at = leaf.shares_at(key, &mut path);
                for (&j, &v) in leaf.features.iter().zip(&leaf.shares[at..]) {
                    phi[j as usize] += v;
                }
            }
        } else {
            row.iter_mut().zip(columns).for_each(|(x, c)| *x = c[r]);
            path.fill(PathElement::default());
            tree_shap(t, &row, &mut phi, Child::Node(0), 0, &mut path, 0, 1.0, 1.0, -1);
        }
        contributions.extend(used.iter().map(|&j| phi[j as usize]));
        (contributions.len() / used.len() - 1) as u32
    };
    let of_row = if w == 1 {
        let mut seen: FxHashMap<u64, u32> = FxHashMap::default();
        keys.iter()
            .enumerate()
            .map(|(r, key)| {
                *seen
                    .entry(*key)
                    .or_insert_with(|| explain(r, std::slice::from_ref(key)))
            })
            .collect()
    } else {
        let mut seen: FxHashMap<&[u64], u32> = FxHashMap::default();
        keys.chunks_exact(w)
            .enumerate()
            .map(|(r, key)| *seen.entry(key).or_insert_with(|| explain(r, key)))
            .collect()
    };
    Patterns {
        of_row,
        used,
        contributions,
    }
}

/// Reasons given per customer.
pub const REASONS: usize = 3;

/// The features of one row's main reasons: up to [`REASONS`] positive contributions (towards
/// churn), largest first, ties by feature order, leaving out the features a team cannot act on
/// (`not_actionable[j]`: they still count in the probability). `contributions` is one row of
/// [`Ensemble::contributions`] (one per feature, then the bias).
pub fn main_reasons(contributions: &[f64], not_actionable: &[bool]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..not_actionable.len())
        .filter(|&j| contributions[j] > 0.0 && !not_actionable[j])
        .collect();
    order.sort_by(|&a, &b| contributions[b].total_cmp(&contributions[a]).then(a.cmp(&b)));
    order.truncate(REASONS);
    order
}

impl Ensemble {
    /// TreeSHAP contributions of many rows given as one column per feature (all of one length),
    /// each row in [`Ensemble::contributions`]'s layout, one block after another; equal to the
    /// one-row form. Holds 4 bytes per row and tree while it works.
    ///
    /// # Panics
    /// If the number of columns is not the model's number of features, or their lengths differ.
    pub fn contributions_batch(&self, columns: &[&[f64]]) -> Vec<f64> {
        let f = self.num_features();
        assert_eq!(columns.len(), f, "one column per feature");
        let n = columns.first().map_or(0, |c| c.len());
        assert!(columns.iter().all(|c| c.len() == n), "columns of one length");
        let k = self.trees_per_iteration;
        let width = k * (f + 1);
        let found: Vec<Option<Patterns>> = self
            .trees
            .par_iter()
            .map(|t| (!t.splits.is_empty()).then(|| patterns(t, columns, n)))
            .collect();
        let expected: Vec<f64> = self.trees.iter().map(Tree::expected_value).collect();
        let mut out = vec![0.0; n * width];
        out.par_chunks_mut(width * ROWS_PER_BLOCK)
            .enumerate()
            .for_each(|(c, chunk)| {
                let first = c * ROWS_PER_BLOCK;
                for (i, (p, e)) in found.iter().zip(&expected).enumerate() {
                    let offset = (i % k) * (f + 1);
                    for (r, block) in chunk.chunks_exact_mut(width).enumerate() {
                        let block = &mut block[offset..offset + f + 1];
                        block[f] += e;
                        if let Some(p) = p {
                            let u = p.used.len();
                            let at = p.of_row[first + r] as usize * u;
                            for (&j, &v) in p.used.iter().zip(&p.contributions[at..at + u]) {
                                block[j as usize] += v;
                            }
                        }
                    }
                }
            });
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::ensemble::{Child, Condition, Ensemble, Missing, Objective, Split, Tree};

    #[test]
    fn a_feature_a_team_cannot_act_on_is_never_a_reason() {
        use super::main_reasons;
        // Feature 0 cannot be acted on and pushes hardest; 1..=3 can; the bias is last.
        let not_actionable = [true, false, false, false, false];
        let row = [0.9, 0.1, 0.3, 0.2, -0.4, 1.0];
        assert_eq!(main_reasons(&row, &not_actionable), vec![2, 3, 1]);
        // With one positive actionable feature, one reason.
        let row = [0.9, 0.1, -0.3, 0.0, -0.4, 1.0];
        assert_eq!(main_reasons(&row, &not_actionable), vec![1]);
        // Without such features it is the plain order, ties by feature order.
        let row = [0.2, 0.2, 0.5, -0.1, 0.0, 0.0];
        assert_eq!(main_reasons(&row, &[false; 5]), vec![2, 0, 1]);
    }

    /// A comb: split `k` tests feature `k % features` and sends its left side to leaf `k`, so
    /// the deepest path has `splits` splits over `features` distinct features (repeats when
    /// fewer), with every kind of test.
    fn comb(splits: usize, features: usize) -> Tree {
        let leaf_counts: Vec<f64> = (0..=splits).map(|k| 5.0 + (k * 7 % 13) as f64).collect();
        let mut below = leaf_counts[splits];
        let mut counts = vec![0.0; splits];
        for k in (0..splits).rev() {
            below += leaf_counts[k];
            counts[k] = below;
        }
        let splits_v = (0..splits)
            .map(|k| Split {
                feature: (k % features) as u32,
                condition: if k % 5 == 4 {
                    Condition::Categorical {
                        categories: vec![1, 3, 70],
                    }
                } else {
                    Condition::Numeric {
                        threshold: 0.5 - (k % 3) as f64 * 0.4,
                        missing: [Missing::None, Missing::Zero, Missing::NaN][k % 3],
                        default_left: k % 2 == 0,
                    }
                },
                left: Child::Leaf(k as u32),
                right: if k + 1 < splits {
                    Child::Node(k as u32 + 1)
                } else {
                    Child::Leaf(splits as u32)
                },
                count: counts[k],
            })
            .collect();
        Tree {
            splits: splits_v,
            leaf_values: (0..=splits).map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0).collect(),
            leaf_counts,
            depth: splits,
        }
    }

    fn ensemble(trees: Vec<Tree>, features: usize) -> Ensemble {
        Ensemble {
            objective: Objective::Binary { sigmoid: 1.0 },
            trees_per_iteration: 1,
            feature_names: (0..features).map(|j| format!("f{j}")).collect(),
            feature_infos: vec![String::new(); features],
            average_output: false,
            trees,
        }
    }

    /// Rows of zeros, NaNs, categories and values on both sides of every threshold, with
    /// repeats so that patterns are shared.
    fn rows(n: usize, features: usize) -> Vec<Vec<f64>> {
        let values = [
            0.0,
            f64::NAN,
            1.0,
            3.0,
            3.7,
            -0.3,
            -0.99,
            0.1,
            0.5,
            0.9,
            1e-40,
            -1e-40,
            -2.0,
            70.0,
            3e9,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut state = 12345u64;
        (0..n)
            .map(|_| {
                (0..features)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        values[(state >> 33) as usize % values.len()]
                    })
                    .collect()
            })
            .collect()
    }

    /// The batch equals the one-row form, and each row's contributions sum to its raw score
    /// within `sum_tolerance` (not checked when `None`).
    fn check(e: &Ensemble, features: usize, sum_tolerance: Option<f64>) {
        let rows = rows(500, features);
        let columns: Vec<Vec<f64>> = (0..features).map(|j| rows.iter().map(|r| r[j]).collect()).collect();
        let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let batch = e.contributions_batch(&columns);
        for (i, row) in rows.iter().enumerate() {
            let one = e.contributions(row);
            let got = &batch[i * (features + 1)..(i + 1) * (features + 1)];
            for (a, b) in one.iter().zip(got) {
                assert!((a - b).abs() <= 1e-12, "row {i}: {one:?} vs {got:?}");
            }
            let raw: f64 = e.raw_scores(row)[0];
            let sum: f64 = got.iter().sum();
            assert!(
                sum_tolerance.is_none_or(|t| (sum - raw).abs() <= t),
                "row {i}: contributions sum to {sum}, raw score {raw}"
            );
        }
    }

    #[test]
    fn a_path_of_many_distinct_features_is_explained_like_one_row() {
        // 16 distinct features on a path: past the table, into the map.
        check(&ensemble(vec![comb(16, 16), comb(5, 3)], 16), 16, Some(1e-9));
    }

    #[test]
    fn repeated_features_on_a_path_are_explained_like_one_row() {
        check(&ensemble(vec![comb(20, 7), comb(9, 2)], 7), 7, Some(1e-9));
    }

    #[test]
    fn a_tree_past_64_splits_and_64_path_features_is_explained_like_one_row() {
        // 70 splits: a key of two words; 70 distinct features: the recursive fallback.
        // At 70 levels the recursive TreeSHAP itself (LightGBM's as much) loses digits: its sums
        // miss the raw score by up to 1e-3 here, so only the agreement of the two forms is checked.
        check(&ensemble(vec![comb(70, 70), comb(66, 10)], 70), 70, None);
    }

    #[test]
    fn single_leaf_trees_and_empty_batches() {
        let stump = Tree {
            splits: Vec::new(),
            leaf_values: vec![0.25],
            leaf_counts: vec![10.0],
            depth: 0,
        };
        let e = ensemble(vec![stump, comb(3, 2)], 2);
        check(&e, 2, Some(1e-9));
        assert!(e.contributions_batch(&[&[], &[]]).is_empty());
    }
}
