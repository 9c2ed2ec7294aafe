//! The LightGBM build works: a tiny model trains through `lightgbm3` (OpenMP build) and
//! separates two obvious classes.

// Test helpers panic on setup failures: that is the clearest report a test can give.
#![allow(clippy::unwrap_used)]

use lightgbm3::{Booster, Dataset};
use serde_json::json;

#[test]
fn trains_a_tiny_model_that_separates_two_classes() {
    // Label is 1 exactly when the first feature exceeds 0.5; the second is noise.
    let n = 400;
    let mut x = Vec::with_capacity(n * 2);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let a = (i as f64 * 0.618_034).fract();
        let b = (i as f64 * 0.414_213).fract();
        x.extend([a, b]);
        y.push(if a > 0.5 { 1.0 } else { 0.0 });
    }
    let data = Dataset::from_slice(&x, &y, 2, true).unwrap();
    let params = json!({
        "objective": "binary",
        "num_iterations": 20,
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "num_threads": 2,
        "deterministic": true,
        "force_row_wise": true,
        "seed": 1,
        "verbose": -1,
    });
    let booster = Booster::train(data, &params).unwrap();
    assert_eq!(booster.num_iterations(), 20);
    let p = booster.predict(&[0.9, 0.3, 0.1, 0.3], 2, true).unwrap();
    assert!(p[0] > 0.9 && p[1] < 0.1, "predictions {p:?}");
    let text = booster.save_string().unwrap();
    assert!(
        text.starts_with("tree\nversion=v4"),
        "model text starts {:?}",
        &text[..20]
    );
}
