//! A pipeline's training from loaded history to an evaluated model: snapshots, customer-level
//! splits, optional tuning, the fit with early stopping, evaluation on validation and test,
//! risk tiers, importance and reference histograms.

use churnguard_config::{Date, Pipeline, RankBy};
use churnguard_eval::{
    EvalOptions, Evaluation, Histogram, Isotonic, Platt, bootstrap_value_captured, calibration_figures, evaluate,
    evaluate_at, value_captured,
};
use churnguard_features::{
    FeatureKind, FeatureSpec, History, Snapshot, SnapshotReport, customer_values, snapshot, spec_for, spend,
};
use churnguard_package::{
    Calibration, DataSummary, FeatureImportance, Reference, RowCounts, Segment, TestDesign, TestList, TierThresholds,
    Trial, ValueCapture,
};

use crate::TrainError;
use crate::fit::{Alone, Fit, FitSetup, fit_with, predict};
use crate::lightgbm::Booster;
use crate::params::Params;
use crate::rows::{Draw, Rows, gather, held_out_for_test, position};
use crate::test_list::{data_summary, test_list};
use crate::tuning::{best, tune};

/// Fewest labelled training rows a model is trained on.
pub const MIN_TRAINING_ROWS: usize = 100;
/// Fewest rows of validation or test customers, which must hold both classes.
pub const MIN_HELD_OUT_ROWS: usize = 20;
/// Bins of each numeric feature's reference histogram.
pub const HISTOGRAM_BINS: usize = 10;

/// Progress of a training run.
#[derive(Debug)]
pub enum Event<'a> {
    /// A snapshot was built (`done` of `total`).
    Snapshot {
        /// What it holds.
        report: &'a SnapshotReport,
        /// Snapshots built so far.
        done: usize,
        /// Snapshots to build.
        total: usize,
    },
    /// A tuning trial finished.
    Trial {
        /// The trial.
        trial: &'a Trial,
        /// Trials in all.
        of: usize,
    },
    /// A boosting round of the final model finished.
    Round {
        /// Rounds done.
        round: usize,
        /// Most rounds.
        of: usize,
        /// The validation metric.
        metric: Option<f64>,
    },
    /// A later phase began.
    Phase(Phase),
    /// The threads LightGBM trains on were decided.
    Threads(&'a crate::Threads),
}

/// The phases of a training run after the snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Hyper-parameter search.
    Tuning,
    /// The final model's boosting rounds.
    Training,
    /// Validation and test figures, tiers, importance and references.
    Evaluation,
}

/// Everything a training run produced.
#[derive(Debug)]
pub struct Training {
    /// The features the model reads.
    pub spec: FeatureSpec,
    /// Training snapshots, then the test snapshot when out of time.
    pub snapshots: Vec<SnapshotReport>,
    /// How the test was drawn.
    pub test_design: TestDesign,
    /// Rows on each side.
    pub rows: RowCounts,
    /// LightGBM's parameters as used (canonical names).
    pub params: Vec<(String, String)>,
    /// The fitted model.
    pub fit: Fit,
    /// Tuning trials, when the config asked for tuning.
    pub trials: Option<Vec<Trial>>,
    /// Figures on the validation customers.
    pub validation: Evaluation,
    /// Figures on the test rows, at the threshold chosen on validation.
    pub test: Evaluation,
    /// Test figures on recently active customers.
    pub segments: Vec<Segment>,
    /// Risk tier thresholds.
    pub tiers: TierThresholds,
    /// Importance by decreasing gain.
    pub importance: Vec<FeatureImportance>,
    /// Training distributions.
    pub references: Vec<Reference>,
    /// The calibrated probability's distribution on the test rows.
    pub score_reference: Histogram,
    /// The test rows (for the ONNX parity check).
    pub test_rows: Rows,
    /// LightGBM's own probabilities of the test rows (before calibration).
    pub test_probabilities: Vec<f64>,
    /// The calibration fitted on validation and its test figures.
    pub calibration: Calibration,
    /// Spend of the test's churners at the top of the list.
    pub value_capture: Option<ValueCapture>,
    /// The test customers as the list ranks them, for the report.
    pub test_list: TestList,
    /// What was read from each table.
    pub data: DataSummary,
}

impl Training {
    /// The tuning trial the model was fitted with, when the config asked for tuning.
    pub fn best_trial(&self) -> Option<&Trial> {
        self.trials.as_deref().and_then(best)
    }
}

/// Top shares of the list (percent) whose captured spend the summary reports.
pub const CAPTURE_PERCENTS: [f64; 3] = [10.0, 20.0, 30.0];
/// Days of spend counted in the value captured (the year before the test cutoff).
pub const CAPTURE_SPEND_DAYS: u32 = 365;

/// The cutoffs a pipeline trains on, and the test cutoff if out of time.
fn cutoffs(p: &Pipeline, h: &History) -> Result<(Vec<Date>, Option<Date>), TrainError> {
    let s = &p.snapshots;
    if !s.train_cutoffs.is_empty() {
        return Ok((s.train_cutoffs.clone(), s.test_cutoff));
    }
    if h.events.is_some() {
        return Err(TrainError::NoSnapshots);
    }
    // A customers-only table is one snapshot of the table as it is, dated the day after
    // `data.as_of`: never by the machine's clock, which would date the package by accident.
    let Some(as_of) = p.data.as_of else {
        return Err(TrainError::NoAsOf);
    };
    let cutoff = as_of.next_day();
    Ok((vec![cutoff], s.test_cutoff))
}

/// A snapshot without labels is refused as soon as it is built.
fn check_labelled(report: &SnapshotReport) -> Result<(), TrainError> {
    match &report.unlabelled_reason {
        Some(why) => Err(TrainError::Unlabelled {
            cutoff: report.cutoff.clone(),
            reason: why.clone(),
        }),
        None => Ok(()),
    }
}

/// A snapshot whose labelled customers are all of one class is refused, on the whole run's
/// counts (one partition of a run may well hold only stayers).
fn check_classes(report: &SnapshotReport) -> Result<(), TrainError> {
    if report.labelled > 0 && (report.churned == 0 || report.churned == report.labelled) {
        return Err(TrainError::SingleClass {
            cutoff: report.cutoff.clone(),
            customers: report.labelled,
            churned: report.churned > 0,
        });
    }
    Ok(())
}

fn held_out_ok(rows: &Rows, what: &str) -> Result<(), TrainError> {
    let churners = rows.churners();
    if rows.rows < MIN_HELD_OUT_ROWS {
        return Err(TrainError::TooFewRows {
            what: what.to_string(),
            rows: rows.rows,
            min: MIN_HELD_OUT_ROWS,
        });
    }
    if churners == 0 || churners == rows.rows {
        return Err(TrainError::OneClassHeldOut {
            what: what.to_string(),
            rows: rows.rows,
            churned: churners > 0,
        });
    }
    Ok(())
}

/// The sides of a training run, gathered from the snapshots.
struct Sides {
    train: Rows,
    validation: Rows,
    test: Rows,
    /// Every training customer (validation included) when tuning needs folds.
    pool: Option<Rows>,
    test_design: TestDesign,
    /// The test cutoff (for held-out customers, the last training cutoff) and its customers
    /// (history indices, in row order).
    test_population: (Date, Vec<u32>),
    snapshots: Vec<SnapshotReport>,
}

/// A training run after its snapshots and before its fit: the rows of each side and what the
/// evaluation needs from the history. On one machine it comes from [`prepare`]; in distributed
/// training each worker prepares its own customers and rank 0 joins the held-out sides.
#[derive(Debug)]
pub struct Prepared {
    /// The features.
    pub spec: FeatureSpec,
    /// Training rows (in distributed training: this worker's).
    pub train: Rows,
    /// Rows and churners of the training side in all (every worker's).
    pub train_counts: (usize, usize),
    /// Validation rows, for early stopping and calibration.
    pub validation: Rows,
    /// Test rows.
    pub test: Rows,
    /// Every training customer (validation included) when tuning needs folds.
    pub pool: Option<Rows>,
    /// How the test was drawn.
    pub test_design: TestDesign,
    /// Training snapshots, then the test snapshot when out of time.
    pub snapshots: Vec<SnapshotReport>,
    /// The test customers' values over the horizon, by test row, when the test is a later
    /// snapshot of everyone and spend is known.
    pub test_values: Option<Vec<f64>>,
    /// The test customers' spend over [`CAPTURE_SPEND_DAYS`] before the test cutoff, by test row.
    pub test_spend: Option<Vec<f64>>,
    /// What was read from each table.
    pub data: DataSummary,
}

/// How the final model is fitted: on this machine ([`LocalFit`]), or with other workers.
pub trait Fitter {
    /// Fits `setup` on `train`, stopping early on `valid` when given and enabled.
    fn fit(
        &mut self,
        setup: &FitSetup<'_>,
        train: &Rows,
        valid: Option<&Rows>,
        observer: &mut dyn crate::fit::RoundObserver,
    ) -> Result<Fit, TrainError>;
}

/// The fit on this machine alone.
pub struct LocalFit;

impl Fitter for LocalFit {
    fn fit(
        &mut self,
        setup: &FitSetup<'_>,
        train: &Rows,
        valid: Option<&Rows>,
        observer: &mut dyn crate::fit::RoundObserver,
    ) -> Result<Fit, TrainError> {
        fit_with(setup, train, valid, observer, &mut Alone)
    }
}

/// Every snapshot (training cutoffs, then the test cutoff), each checked for both classes.
fn build_snapshots(
    p: &Pipeline,
    h: &History,
    spec: &FeatureSpec,
    cutoffs: &[Date],
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Snapshot>, TrainError> {
    let mut built: Vec<Snapshot> = Vec::with_capacity(cutoffs.len());
    for &cutoff in cutoffs {
        let snap = snapshot(p, h, spec, cutoff)?;
        check_labelled(&snap.report)?;
        built.push(snap);
        observe(Event::Snapshot {
            report: &built[built.len() - 1].report,
            done: built.len(),
            total: cutoffs.len(),
        });
    }
    Ok(built)
}

/// Customer-level sides: validation customers (in every training snapshot) for early stopping,
/// and the test, out of time or a held-out share of customers. Each side is gathered straight
/// from the snapshots into its own contiguous matrix.
fn sides(
    p: &Pipeline,
    built: Vec<Snapshot>,
    train_cutoffs: &[Date],
    test_cutoff: Option<Date>,
    f: usize,
) -> Result<Sides, TrainError> {
    let seed = p.seed;
    let trains = train_cutoffs.len();
    let train_batches: Vec<_> = built[..trains].iter().map(|s| &s.batch).collect();
    let (test_share, vf) = (p.split.test_fraction, p.split.validation_fraction);
    let out_of_time = test_cutoff.is_some();
    let in_test = move |c: u64| !out_of_time && held_out_for_test(c, seed, test_share);
    let in_validation = move |c: u64| position(c, seed, Draw::Validation) < vf;
    let (test, test_design) = match test_cutoff {
        Some(cutoff) => (
            gather(&[&built[trains].batch], f, &|_| true)?,
            TestDesign::OutOfTime { cutoff },
        ),
        None => (
            gather(&[train_batches[trains - 1]], f, &in_test)?,
            TestDesign::HeldOutCustomers {
                fraction: test_share,
                cutoff: train_cutoffs[trains - 1],
            },
        ),
    };
    let train = gather(&train_batches, f, &|c| !in_test(c) && !in_validation(c))?;
    let validation = gather(&train_batches, f, &|c| !in_test(c) && in_validation(c))?;
    let pool = match p.tuning {
        Some(_) => Some(gather(&train_batches, f, &|c| !in_test(c))?),
        None => None,
    };
    drop(train_batches);
    // The test customers' history indices, row for row, so that their values can be looked up.
    let (test_snapshot, cutoff) = match test_cutoff {
        Some(cutoff) => (&built[trains], cutoff),
        None => (&built[trains - 1], train_cutoffs[trains - 1]),
    };
    let population = &test_snapshot.population;
    let rows = crate::rows::kept_rows(&test_snapshot.batch, &|c| out_of_time || in_test(c))?;
    let test_population = (cutoff, rows.into_iter().map(|i| population[i]).collect());
    Ok(Sides {
        train,
        validation,
        test,
        pool,
        test_design,
        test_population,
        snapshots: built.into_iter().map(|s| s.report).collect(),
    })
}

/// Tuning when configured (its best trial's parameters kept), then the final fit with early
/// stopping on the validation customers.
fn tune_and_fit(
    p: &Pipeline,
    sides: &Prepared,
    names: &[&str],
    categorical: &[usize],
    fitter: &mut dyn Fitter,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<(Params, Option<Vec<Trial>>, Fit), TrainError> {
    let mut params = final_params(p, names.len())?;
    observe(Event::Threads(&crate::settle_threads(p.model.num_threads)?));
    let trials = match (&p.tuning, &sides.pool) {
        (Some(t), Some(pool)) => {
            observe(Event::Phase(Phase::Tuning));
            let trials = tune(p, t, &params, pool, names, categorical, &mut |trial, of| {
                observe(Event::Trial { trial, of })
            })?;
            if let Some(b) = best(&trials) {
                for (name, value) in &b.params {
                    params.set(name, value, &format!("tuning.space.{name}"), true)?;
                }
            }
            Some(trials)
        }
        _ => None,
    };
    observe(Event::Phase(Phase::Training));
    let setup = FitSetup {
        params: &params,
        extra: &[],
        model: &p.model,
        names,
        categorical,
    };
    let fitted = fitter.fit(
        &setup,
        &sides.train,
        Some(&sides.validation),
        &mut |round, of, metric| observe(Event::Round { round, of, metric }),
    )?;
    Ok((params, trials, fitted))
}

/// The pipeline's LightGBM parameters, checked by LightGBM on a tiny data set of `features`.
pub fn final_params(p: &Pipeline, features: usize) -> Result<Params, TrainError> {
    let params = Params::of(p)?;
    params.check(features)?;
    Ok(params)
}

/// Trains and evaluates a pipeline's model on loaded history.
pub fn train(p: &Pipeline, h: &History, observe: &mut dyn FnMut(Event<'_>)) -> Result<Training, TrainError> {
    let prepared = prepare(p, h, spec_for(p, h), observe)?;
    finish(p, prepared, &mut LocalFit, observe)
}

/// The snapshots of a pipeline with the features of `spec`, split into sides, with the test
/// customers' values and spend: everything the fit and the evaluation need from the history.
pub fn prepare(
    p: &Pipeline,
    h: &History,
    spec: FeatureSpec,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Prepared, TrainError> {
    if p.label.is_none() {
        return Err(TrainError::NoLabel);
    }
    let (train_cutoffs, test_cutoff) = cutoffs(p, h)?;
    let all: Vec<Date> = train_cutoffs.iter().chain(&test_cutoff).copied().collect();
    let built = build_snapshots(p, h, &spec, &all, observe)?;
    let f = spec.features.len();
    let sides = sides(p, built, &train_cutoffs, test_cutoff, f)?;
    // Test customers have a value when spend is known (events with amounts, or a spend attribute).
    let (cutoff, population) = &sides.test_population;
    let (test_values, test_spend) = match customer_values(p, h, population, *cutoff)? {
        (values, true) if values.len() == sides.test.rows => {
            (Some(values), Some(spend(h, population, *cutoff, CAPTURE_SPEND_DAYS)))
        }
        _ => (None, None),
    };
    Ok(Prepared {
        spec,
        train_counts: (sides.train.rows, sides.train.churners()),
        train: sides.train,
        validation: sides.validation,
        test: sides.test,
        pool: sides.pool,
        test_design: sides.test_design,
        snapshots: sides.snapshots,
        test_values,
        test_spend,
        data: data_summary(h),
    })
}

/// The fit (with tuning when configured) and the evaluation of a prepared run.
pub fn finish(
    p: &Pipeline,
    mut sides: Prepared,
    fitter: &mut dyn Fitter,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Training, TrainError> {
    let spec = sides.spec.clone();
    let names = spec.names();
    let categorical: Vec<usize> = spec
        .features
        .iter()
        .enumerate()
        .filter(|(_, x)| matches!(x.kind, FeatureKind::Categorical { .. }))
        .map(|(i, _)| i)
        .collect();
    for report in &sides.snapshots {
        check_classes(report)?;
    }
    if sides.train_counts.0 < MIN_TRAINING_ROWS {
        return Err(TrainError::TooFewRows {
            what: "training rows".into(),
            rows: sides.train_counts.0,
            min: MIN_TRAINING_ROWS,
        });
    }
    held_out_ok(&sides.validation, "validation rows")?;
    held_out_ok(&sides.test, "test rows")?;
    let (params, trials, fitted) = tune_and_fit(p, &sides, &names, &categorical, fitter, observe)?;
    sides.pool = None;

    observe(Event::Phase(Phase::Evaluation));
    let options = EvalOptions {
        strategy: p.evaluation.threshold.clone(),
        bootstrap_samples: p.evaluation.bootstrap_samples as usize,
        seed: p.seed,
        calibration_bins: p.evaluation.calibration_bins as usize,
    };
    let model = Booster::from_text(&fitted.model_text)?;
    let valid_raw = predict(&model, &sides.validation)?;
    let valid_labels = sides.validation.churned();
    let test_probabilities = predict(&model, &sides.test)?;
    drop(model);
    let test_labels = sides.test.churned();
    // Probabilities are calibrated on the validation customers; every figure after this point,
    // the threshold, the tiers and `model.onnx` use the calibrated ones.
    let calibration = calibrate(p, &valid_labels, &valid_raw, &test_labels, &test_probabilities)?;
    let valid_probs: Vec<f64> = valid_raw.iter().map(|&x| calibration.apply(x)).collect();
    let test_calibrated: Vec<f64> = test_probabilities.iter().map(|&x| calibration.apply(x)).collect();
    // Validation needs no interval; the test's comes from the test list's resamples (the same
    // seed and draws the bootstrap here would take): one pass over the test rows, not two.
    let without_bootstrap = EvalOptions {
        bootstrap_samples: 0,
        ..options.clone()
    };
    // The threshold is chosen on the validation customers and applied to the test.
    let validation = evaluate(&valid_labels, &valid_probs, &without_bootstrap)?;
    let threshold = validation.threshold;
    let mut test = evaluate_at(&test_labels, &test_calibrated, &without_bootstrap, threshold)?;
    let segments = segments(p, &names, &sides.test, &test_calibrated, &options, threshold)?;
    let tiers = tiers(p, &test_calibrated, sides.test_values.as_deref());
    let (test_list, order) = test_list(
        p,
        &fitted.model_text,
        &spec,
        &sides.test,
        &test_calibrated,
        sides.test_values.as_deref(),
        &tiers,
    )?;
    // With customers' values, the test list's order is the one whose captured spend counts.
    let value_capture = match (&sides.test_values, &sides.test_spend) {
        (Some(_), Some(past)) => value_capture(
            past,
            &test_list.ranked_by,
            &order,
            &test_labels,
            &test_calibrated,
            &options,
        )?,
        _ => None,
    };
    test.auc_interval = test_list.curves.auc_interval;
    Ok(Training {
        importance: importance(&names, &fitted),
        references: references(&spec, &sides.test),
        score_reference: Histogram::reference(&test_calibrated, HISTOGRAM_BINS),
        rows: RowCounts {
            train: sides.train_counts.0,
            validation: sides.validation.rows,
            test: sides.test.rows,
            train_churners: sides.train_counts.1,
        },
        tiers,
        spec,
        snapshots: sides.snapshots,
        test_design: sides.test_design,
        params: params.pairs(),
        fit: fitted,
        trials,
        validation,
        test,
        segments,
        test_rows: sides.test,
        test_probabilities,
        calibration,
        value_capture,
        test_list,
        data: sides.data,
    })
}

/// Importance by decreasing gain.
fn importance(names: &[&str], fitted: &Fit) -> Vec<FeatureImportance> {
    let mut importance: Vec<FeatureImportance> = names
        .iter()
        .enumerate()
        .map(|(j, n)| FeatureImportance {
            feature: n.to_string(),
            gain: fitted.gain[j],
            splits: fitted.splits[j] as u64,
        })
        .collect();
    importance.sort_by(|a, b| b.gain.total_cmp(&a.gain).then(b.splits.cmp(&a.splits)));
    importance
}

/// Each feature's distribution on the test customers, the reference of drift checks: the same
/// population as the score's reference, so the model's own test data shows no drift.
fn references(spec: &FeatureSpec, rows: &Rows) -> Vec<Reference> {
    spec.features
        .iter()
        .enumerate()
        .map(|(j, feat)| Reference {
            feature: feat.name.clone(),
            histogram: match &feat.kind {
                FeatureKind::Categorical { values } => Histogram::categorical(rows.column(j), values.len()),
                FeatureKind::Numeric => Histogram::reference(rows.column(j), HISTOGRAM_BINS),
            },
        })
        .collect()
}

/// The risk levels' probability cut-offs, fixed here for every list and the service: the
/// `[tiers]` rules resolved on the test customers' calibrated probabilities; and the value
/// cut-off of the high-value segment, from their values when known.
fn tiers(p: &Pipeline, probabilities: &[f64], values: Option<&[f64]>) -> TierThresholds {
    let (high, medium) = p.tiers.cut_offs(probabilities);
    let high_value = values.and_then(|v| {
        let mut ranked: Vec<f64> = v.iter().copied().filter(|x| *x > 0.0).collect();
        ranked.sort_by(|a, b| b.total_cmp(a));
        let k = (v.len() as f64 * p.scoring.high_value_percent / 100.0).ceil() as usize;
        ranked.get(k.min(ranked.len()).checked_sub(1)?).copied()
    });
    let mut counts = [0u64; 3];
    for &x in probabilities {
        counts[churnguard_config::Tier::of(x, high, medium).index()] += 1;
    }
    TierThresholds {
        high,
        medium,
        // Serializing a validated config cannot fail: its types are plain data.
        rules: serde_json::to_value(&p.tiers).unwrap_or_default(),
        test_counts: counts,
        high_value,
    }
}

/// Platt's and the isotonic map fitted on the validation customers, the test figures before and
/// after each, and the method the pipeline applies.
fn calibrate(
    p: &Pipeline,
    valid_labels: &[bool],
    valid_raw: &[f64],
    test_labels: &[bool],
    test_raw: &[f64],
) -> Result<Calibration, TrainError> {
    let platt = Platt::fit(valid_labels, valid_raw)?;
    let isotonic = Isotonic::fit(valid_labels, valid_raw)?;
    let mapped = |f: &dyn Fn(f64) -> f64| test_raw.iter().map(|&x| f(x)).collect::<Vec<f64>>();
    Ok(Calibration {
        method: p.evaluation.calibration,
        platt,
        fitted_on: valid_labels.len(),
        before: calibration_figures(test_labels, test_raw)?,
        after: calibration_figures(test_labels, &mapped(&|x| platt.apply(x)))?,
        isotonic: calibration_figures(test_labels, &mapped(&|x| isotonic.apply(x)))?,
        isotonic_map: Some(isotonic),
    })
}

/// Test figures on recently active customers (`evaluation.active_within_days`).
fn segments(
    p: &Pipeline,
    names: &[&str],
    test_rows: &Rows,
    probabilities: &[f64],
    options: &EvalOptions,
    threshold: f64,
) -> Result<Vec<Segment>, TrainError> {
    let mut segments = Vec::new();
    if p.evaluation.active_within_days.is_empty() {
        return Ok(segments);
    }
    let recency = names
        .iter()
        .position(|n| *n == "recency_days")
        .ok_or(TrainError::NoRecency)?;
    for &days in &p.evaluation.active_within_days {
        let keep: Vec<bool> = test_rows
            .column(recency)
            .iter()
            .map(|&r| r <= f64::from(days))
            .collect();
        let sub = test_rows.select(&keep);
        held_out_ok(&sub, &format!("test rows of customers active in the last {days} days"))?;
        let probs: Vec<f64> = probabilities
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .collect();
        segments.push(Segment {
            active_within_days: days,
            evaluation: evaluate_at(&sub.churned(), &probs, options, threshold)?,
        });
    }
    Ok(segments)
}

/// The share of the past-year spend of the test customers who then churned that the top of the
/// list holds, ranked as `score` ranks, and by probability alone; with its bootstrap interval
/// (the AUC's resamples and seed) so that two lists' shares can be told apart from noise.
fn value_capture(
    past: &[f64],
    ranked_by: &str,
    order: &[usize],
    labels: &[bool],
    probabilities: &[f64],
    options: &EvalOptions,
) -> Result<Option<ValueCapture>, TrainError> {
    let Some(list) = value_captured(labels, order, past, &CAPTURE_PERCENTS) else {
        return Ok(None);
    };
    let by_probability = RankBy::Probability.order(probabilities, None);
    let Some(by_probability) = value_captured(labels, &by_probability, past, &CAPTURE_PERCENTS) else {
        return Ok(None);
    };
    let intervals = match options.bootstrap_samples {
        0 => Vec::new(),
        n => bootstrap_value_captured(labels, order, past, &CAPTURE_PERCENTS, n, options.seed)?,
    };
    Ok(Some(ValueCapture {
        ranked_by: ranked_by.into(),
        spend_days: CAPTURE_SPEND_DAYS,
        captured: list,
        intervals,
        by_probability,
    }))
}
