//! DeLong's test, rank agreement, the bootstrap interval and the ROC curve and band against
//! independent references (`fixtures/make_paired_fixture.py`: DeLong from its O(n^2)
//! definition with scipy's normal, scipy's Spearman, scikit-learn's AUC and ROC on the same
//! resamples).

use churnguard_eval::{agreement, bootstrap_auc, curves, delong};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/paired_reference.json");
    serde_json::from_str(text).expect("fixture is JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(case: &str, what: &str, ours: f64, theirs: f64, tolerance: f64) {
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{case}: {what} is {ours}, the reference says {theirs}"
    );
}

#[test]
fn delong_agreement_and_bootstrap_match_the_reference() {
    for case in fixture()["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let labels: Vec<bool> = case["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|l| l.as_bool().expect("bool"))
            .collect();
        let (a, b) = (floats(&case["scores_a"]), floats(&case["scores_b"]));
        let d = delong(&labels, &a, &b).expect("delong");
        let want = &case["delong"];
        for (what, ours) in [
            ("auc_a", d.auc_a),
            ("auc_b", d.auc_b),
            ("difference", d.difference),
            ("standard_error", d.standard_error),
            ("z", d.z),
            ("p_value", d.p_value),
        ] {
            close(name, what, ours, want[what].as_f64().expect(what), 1e-9);
        }
        let agree = agreement(&a, &b, 10.0).expect("agreement");
        close(
            name,
            "spearman",
            agree.rank_correlation,
            case["spearman"].as_f64().expect("spearman"),
            1e-9,
        );
        close(
            name,
            "top 10% overlap",
            agree.top_overlap,
            case["top10_overlap"].as_f64().expect("overlap"),
            0.0,
        );

        let boot = &case["bootstrap"];
        let samples = boot["samples"].as_u64().expect("samples") as usize;
        let seed = boot["seed"].as_u64().expect("seed");
        let interval = bootstrap_auc(&labels, &a, samples, seed).expect("bootstrap");
        close(
            name,
            "bootstrap lower",
            interval.lower,
            boot["lower"].as_f64().expect("lower"),
            1e-12,
        );
        close(
            name,
            "bootstrap upper",
            interval.upper,
            boot["upper"].as_f64().expect("upper"),
            1e-12,
        );

        let c = curves(&labels, &a, None, samples, seed).expect("curves");
        let roc: Vec<(f64, f64)> = case["roc"]
            .as_array()
            .expect("roc")
            .iter()
            .map(|p| (p[0].as_f64().expect("x"), p[1].as_f64().expect("y")))
            .collect();
        if roc.len() <= churnguard_eval::CURVE_POINTS {
            assert_eq!(c.roc.len(), roc.len(), "{name}: ROC points");
            for (k, (ours, theirs)) in c.roc.iter().zip(&roc).enumerate() {
                close(name, &format!("ROC point {k} fpr"), ours.0, theirs.0, 1e-12);
                close(name, &format!("ROC point {k} tpr"), ours.1, theirs.1, 1e-12);
            }
        }
        assert_eq!(
            c.auc_interval,
            Some(interval),
            "{name}: the curves' resamples are the interval's"
        );
        let band = c.roc_band.expect("band");
        let (lower, upper) = (floats(&case["roc_band"]["lower"]), floats(&case["roc_band"]["upper"]));
        for k in 0..lower.len() {
            close(name, &format!("ROC band lower at {k}"), band.lower[k], lower[k], 1e-12);
            close(name, &format!("ROC band upper at {k}"), band.upper[k], upper[k], 1e-12);
        }
    }
}

#[test]
fn a_model_against_itself_has_p_one_and_full_agreement() {
    let labels: Vec<bool> = (0..500).map(|i| i % 3 == 0).collect();
    let s: Vec<f64> = (0..500).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
    let d = delong(&labels, &s, &s).expect("delong");
    assert_eq!((d.difference, d.p_value), (0.0, 1.0));
    let agree = agreement(&s, &s, 10.0).expect("agreement");
    assert_eq!((agree.rank_correlation, agree.top_overlap), (1.0, 1.0));
}

#[test]
fn paired_bad_inputs_are_errors() {
    assert!(delong(&[true, false], &[0.1, 0.2], &[0.3]).is_err());
    assert!(delong(&[true, true], &[0.1, 0.2], &[0.3, 0.4]).is_err());
    assert!(delong(&[true, false], &[f64::NAN, 0.2], &[0.3, 0.4]).is_err());
    assert!(agreement(&[], &[], 10.0).is_err());
    assert!(curves(&[true, false], &[0.5, 0.4], Some(&[0]), 0, 1).is_err());
}
