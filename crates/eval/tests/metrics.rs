//! Metrics against scikit-learn's figures on fixed data, and behaviour on hand-made cases.

#![allow(clippy::unwrap_used)]

use churnguard_eval::*;
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/sklearn_metrics.json");
    serde_json::from_str(text).unwrap()
}

fn close(name: &str, what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs.as_f64().unwrap();
    assert!(
        (ours - theirs).abs() <= 1e-9,
        "{name} {what}: ours {ours}, scikit-learn {theirs}"
    );
}

#[test]
fn metrics_match_scikit_learn_to_1e_9() {
    let f = fixture();
    let cases = f["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let labels: Vec<bool> = c["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let scores: Vec<f64> = c["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        close(name, "roc_auc", roc_auc(&labels, &scores).unwrap(), &c["roc_auc"]);
        close(
            name,
            "average_precision",
            average_precision(&labels, &scores).unwrap(),
            &c["average_precision"],
        );
        close(name, "log_loss", log_loss(&labels, &scores).unwrap(), &c["log_loss"]);
        close(name, "brier", brier(&labels, &scores).unwrap(), &c["brier"]);
        let h = &c["at_half"];
        let m = confusion(&labels, &scores, 0.5).unwrap();
        assert_eq!(m.true_positives, h["true_positives"].as_u64().unwrap(), "{name}");
        assert_eq!(m.false_positives, h["false_positives"].as_u64().unwrap(), "{name}");
        assert_eq!(m.true_negatives, h["true_negatives"].as_u64().unwrap(), "{name}");
        assert_eq!(m.false_negatives, h["false_negatives"].as_u64().unwrap(), "{name}");
        close(name, "precision", m.precision(), &h["precision"]);
        close(name, "recall", m.recall(), &h["recall"]);
        close(name, "f1", m.f1(), &h["f1"]);
        close(name, "accuracy", m.accuracy(), &h["accuracy"]);
    }
}

#[test]
fn auc_of_perfect_reversed_and_constant_scores() {
    let labels = [false, false, true, true];
    assert_eq!(roc_auc(&labels, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
    assert_eq!(roc_auc(&labels, &[0.9, 0.8, 0.2, 0.1]).unwrap(), 0.0);
    assert_eq!(roc_auc(&labels, &[0.5; 4]).unwrap(), 0.5);
    assert_eq!(average_precision(&labels, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
}

#[test]
fn lift_and_capture_by_hand() {
    // 10 customers, 4 churners; the top 20% (2 customers) hold 2 churners.
    let labels = [true, true, false, true, false, false, true, false, false, false];
    let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0];
    let l = lift_at(&labels, &scores, 20.0).unwrap();
    assert_eq!((l.customers, l.churners), (2, 2));
    assert!(
        (l.lift - 2.5).abs() < 1e-12 && (l.capture_rate - 0.5).abs() < 1e-12,
        "{l:?}"
    );
    // Ties are broken by row order, so the result is deterministic.
    let tied = lift_at(&labels, &[0.5; 10], 10.0).unwrap();
    assert_eq!((tied.customers, tied.churners), (1, 1));
}

#[test]
fn calibration_bins_by_hand() {
    let labels = [false, true, true, false, true];
    let probs = [0.05, 0.15, 0.95, 0.91, 1.0];
    let bins = calibration(&labels, &probs, 10).unwrap();
    assert_eq!(bins.len(), 3, "{bins:?}");
    assert_eq!((bins[0].customers, bins[1].customers, bins[2].customers), (1, 1, 3));
    assert!((bins[2].mean_predicted - (0.95 + 0.91 + 1.0) / 3.0).abs() < 1e-12);
    assert!((bins[2].observed_rate - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!((bins[2].lower, bins[2].upper), (0.9, 1.0));
}

#[test]
fn threshold_strategies_by_hand() {
    let labels = [true, true, false, true, false, false, false, false];
    let probs = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1];
    // F1 is best flagging the top 4 (3 churners of 3, 1 stayer): 6/7.
    assert_eq!(
        choose_threshold(&labels, &probs, &ThresholdStrategy::MaxF1).unwrap(),
        0.6
    );
    assert_eq!(
        choose_threshold(&labels, &probs, &ThresholdStrategy::TopPercent(25.0)).unwrap(),
        0.8
    );
    // Missing a churner costs far more than an offer: flag everyone with any chance.
    let flag_all = ThresholdStrategy::MinCost {
        missed_churner: 100.0,
        needless_offer: 0.01,
    };
    assert_eq!(choose_threshold(&labels, &probs, &flag_all).unwrap(), 0.6);
    // Offers cost far more than a missed churner and the riskiest customer stays: flag nobody.
    let flag_none = ThresholdStrategy::MinCost {
        missed_churner: 1.0,
        needless_offer: 100.0,
    };
    let (labels, probs) = ([false, true, false, true], [0.9, 0.8, 0.7, 0.6]);
    let t = choose_threshold(&labels, &probs, &flag_none).unwrap();
    assert!(t > 0.9, "{t}");
    let c = confusion(&labels, &probs, t).unwrap();
    assert_eq!(c.true_positives + c.false_positives, 0);
}

fn synthetic(n: usize, seed: u64) -> (Vec<bool>, Vec<f64>) {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let labels: Vec<bool> = (0..n).map(|_| next() < 0.3).collect();
    let scores = labels
        .iter()
        .map(|&l| (next() + if l { 0.4 } else { 0.0 }) / 1.4)
        .collect();
    (labels, scores)
}

#[test]
fn bootstrap_interval_holds_the_auc_narrows_with_rows_and_follows_the_seed() {
    let (labels, scores) = synthetic(4000, 3);
    let auc = roc_auc(&labels, &scores).unwrap();
    let a = bootstrap_auc(&labels, &scores, 300, 1).unwrap();
    assert!(a.lower < auc && auc < a.upper, "{a:?} vs {auc}");
    assert_eq!(a, bootstrap_auc(&labels, &scores, 300, 1).unwrap());
    assert_ne!(a, bootstrap_auc(&labels, &scores, 300, 2).unwrap());
    let small = bootstrap_auc(&labels[..400], &scores[..400], 300, 1).unwrap();
    assert!(
        small.upper - small.lower > 2.0 * (a.upper - a.lower),
        "{small:?} vs {a:?}"
    );
}

#[test]
fn value_captured_interval_holds_the_share_narrows_with_rows_and_refuses_mismatched_rows() {
    let (labels, scores) = synthetic(4000, 5);
    let value: Vec<f64> = (0..4000).map(|i| 1.0 + (i % 97) as f64).collect();
    let ranked: Vec<f64> = scores.iter().zip(&value).map(|(p, v)| p * v).collect();
    let order_of = |n: usize| {
        let mut o: Vec<usize> = (0..n).collect();
        o.sort_by(|&a, &b| ranked[b].total_cmp(&ranked[a]).then(a.cmp(&b)));
        o
    };
    let order = order_of(4000);
    let share = value_captured(&labels, &order, &value, &[10.0]).unwrap()[0].1;
    let both = bootstrap_value_captured(&labels, &order, &value, &[10.0, 30.0], 300, 1).unwrap();
    let a = both[0].1;
    assert_eq!(both[0].0, 10.0);
    assert!(a.lower < share && share < a.upper, "{a:?} vs {share}");
    assert!(a.lower > 0.0 && a.upper < 1.0, "{a:?}");
    assert_eq!(
        both[..1],
        bootstrap_value_captured(&labels, &order, &value, &[10.0], 300, 1).unwrap()[..]
    );
    let share_30 = value_captured(&labels, &order, &value, &[30.0]).unwrap()[0].1;
    assert!(
        both[1].1.lower < share_30 && share_30 < both[1].1.upper,
        "{both:?} vs {share_30}"
    );
    let small_order = order_of(400);
    let small = bootstrap_value_captured(&labels[..400], &small_order, &value[..400], &[10.0], 300, 1).unwrap()[0].1;
    assert!(
        small.upper - small.lower > 2.0 * (a.upper - a.lower),
        "{small:?} vs {a:?}"
    );
    assert!(bootstrap_value_captured(&labels, &order[1..], &value, &[10.0], 300, 1).is_err());
    // Churners without value: no share to give.
    let nothing = vec![0.0; 4000];
    assert!(
        bootstrap_value_captured(&labels, &order, &nothing, &[10.0], 300, 1)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn psi_is_zero_on_the_same_data_and_large_on_shifted_data() {
    let (_, scores) = synthetic(5000, 4);
    let h = Histogram::reference(&scores, 10);
    assert_eq!(h.fractions.len(), 10);
    assert!((h.fractions.iter().sum::<f64>() + h.missing - 1.0).abs() < 1e-12);
    assert!(h.psi(&scores) < 1e-12);
    let shifted: Vec<f64> = scores.iter().map(|s| s + 0.3).collect();
    assert!(h.psi(&shifted) > 0.25, "{}", h.psi(&shifted));
    let c = Histogram::categorical(&[0.0, 1.0, 1.0, 2.0, f64::NAN], 3);
    assert_eq!(c.fractions, vec![0.2, 0.4, 0.2]);
    assert_eq!(c.missing, 0.2);
}

#[test]
fn evaluate_reports_every_figure() {
    let (labels, scores) = synthetic(2000, 5);
    let e = evaluate(&labels, &scores, &EvalOptions::default()).unwrap();
    assert_eq!(e.rows, 2000);
    assert_eq!(e.lift.len(), 4);
    assert!(e.lift_at(10.0).unwrap().lift > 1.5);
    assert!(e.auc_interval.is_some());
    assert_eq!(e.confusion, confusion(&labels, &scores, e.threshold).unwrap());
    assert_eq!(e.calibration.iter().map(|b| b.customers).sum::<u64>(), 2000);
    // At a threshold fixed elsewhere, only the threshold figures change.
    let at = evaluate_at(&labels, &scores, &EvalOptions::default(), 0.9).unwrap();
    assert_eq!(at.threshold, 0.9);
    assert_eq!(at.confusion, confusion(&labels, &scores, 0.9).unwrap());
    assert_eq!(
        (at.auc, at.auc_interval, at.log_loss),
        (e.auc, e.auc_interval, e.log_loss)
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let ok = [true, false];
    assert!(matches!(roc_auc(&[], &[]), Err(EvalError::Empty)));
    assert!(matches!(
        roc_auc(&ok, &[0.1]),
        Err(EvalError::LengthMismatch { labels: 2, scores: 1 })
    ));
    let e = roc_auc(&[true, true], &[0.1, 0.2]).unwrap_err();
    assert!(e.to_string().contains("all 2 rows are churners"), "{e}");
    assert!(matches!(
        roc_auc(&ok, &[f64::NAN, 0.2]),
        Err(EvalError::NotFinite { index: 0, .. })
    ));
    assert!(matches!(
        log_loss(&ok, &[1.5, 0.2]),
        Err(EvalError::OutOfRange { index: 0, .. })
    ));
    assert!(matches!(lift_at(&ok, &[0.1, 0.2], 0.0), Err(EvalError::Invalid(_))));
    assert!(matches!(
        choose_threshold(&ok, &[0.1, 0.2], &ThresholdStrategy::TopPercent(150.0)),
        Err(EvalError::Invalid(_))
    ));
}

#[test]
#[ignore = "timing; run with --release -- --ignored"]
fn bootstrap_speed() {
    let (labels, scores) = synthetic(25_000, 6);
    let t = std::time::Instant::now();
    bootstrap_auc(&labels, &scores, 1000, 1).unwrap();
    eprintln!("bootstrap 1000 x 25,000 rows: {:.3} s", t.elapsed().as_secs_f64());
}
