//! `monitor`: whether a package's inputs have drifted from its training data, and how it did on
//! the kept lists whose outcomes are now known.

use std::path::Path;

use churnguard_config::{Date, MonitoringConfig, Pipeline};
use churnguard_eval::{
    Drift, FeatureDrift, Matured, Monitoring, PopulationShape, ScoreDrift, calibration_figures, curves, value_captured,
};
use churnguard_features::{FeatureError, History, Snapshot, SnapshotReport, outcomes, snapshot, spend};
use churnguard_infer::{
    KeptList, ModelPackage, OnnxModel, OnnxRuntime, ScoreError, kept_lists, lists_dir, row_ids_source,
    snapshot_probabilities,
};
use churnguard_package::Manifest;

use crate::{AppError, Progress, Stage};

/// The top share of a list (percent) whose captured value monitoring follows.
const VALUE_PERCENT: f64 = 10.0;

/// What a monitoring run needs.
pub struct MonitorRequest<'a> {
    /// The validated pipeline the package was trained for.
    pub pipeline: &'a Pipeline,
    /// The package.
    pub package: &'a Path,
    /// The day the inputs are read at (default: [`crate::default_as_of`]).
    pub as_of: Option<Date>,
    /// ONNX Runtime.
    pub runtime: &'a OnnxRuntime,
    /// ONNX Runtime threads (0: its default).
    pub threads: usize,
}

/// Checks a package's inputs at `as_of` against its references and judges its matured lists.
pub fn monitor(
    req: &MonitorRequest<'_>,
    h: &History,
    observe: &mut dyn FnMut(Progress),
) -> Result<Monitoring, AppError> {
    let package = crate::compare::open(req.pipeline, req.package)?;
    let m = &package.package.manifest;
    let t = &req.pipeline.monitoring;
    // The package's own features, whatever the pipeline file says today (as `compare` does).
    let own = Pipeline {
        features: package.spec().features_config(),
        ..req.pipeline.clone()
    };
    let as_of = match req.as_of {
        Some(d) => d,
        None => crate::default_as_of(&own, h)?,
    };
    observe(Progress::Stage(Stage::Features));
    let snap = snapshot(&own, h, package.spec(), as_of.next_day()).map_err(|e| match e {
        source @ FeatureError::CutoffBeforeData { .. } => AppError::AsOf { as_of, source },
        other => other.into(),
    })?;
    let features = feature_drift(m, &snap, t);
    let population = population_shape(m, &snap.report, t);
    observe(Progress::Stage(Stage::Scoring));
    let mut model = OnnxModel::load(req.runtime, package.onnx(), req.threads)?;
    let (probabilities, _) = snapshot_probabilities(&own, &package, &mut model, &snap, &mut |done, total| {
        observe(Progress::Scored { done, total })
    })
    .map_err(|e| match e {
        ScoreError::Features(source @ FeatureError::CutoffBeforeData { .. }) => AppError::AsOf { as_of, source },
        other => other.into(),
    })?;
    drop(snap);
    let score = score_drift(m, &probabilities, t);
    observe(Progress::Stage(Stage::Evaluation));
    let (lists, mut skipped) = kept_lists(&lists_dir(&package), &own.name);
    let mut matured = Vec::new();
    for (k, header) in lists.iter().enumerate() {
        // Lists are sorted by scoring time within a date: a later one of the same date and
        // package is the list the team received last, the one judged.
        if let Some(newer) = lists[k + 1..]
            .iter()
            .find(|l| l.as_of == header.as_of && l.version == header.version && l.model_sha256 == header.model_sha256)
        {
            skipped.push(format!(
                "{}: a newer list of the same date is judged ({})",
                header.path.display(),
                newer.path.display()
            ));
            continue;
        }
        let judged = if header.scored_by(&package) {
            match header.read() {
                Ok(list) => judge(&own, h, &package, &list)?,
                Err(why) => Err(why),
            }
        } else {
            Err(format!("scored by another package ({})", header.version))
        };
        match judged {
            Ok(m) => matured.push(m),
            Err(why) => skipped.push(format!("{}: {why}", header.path.display())),
        }
    }
    Ok(Monitoring {
        pipeline: own.name.clone(),
        version: package.version().to_string(),
        package: req.package.display().to_string(),
        as_of: as_of.to_string(),
        reference: reference(m),
        thresholds: t.clone(),
        population,
        features,
        score,
        matured,
        skipped,
    })
}

/// Each feature against its reference histogram (the test customers), most drifted first.
fn feature_drift(m: &Manifest, snap: &Snapshot, t: &MonitoringConfig) -> Vec<FeatureDrift> {
    let rows = snap.report.customers.max(1) as f64;
    let calendar = m.feature_spec.grows_with_calendar();
    let mut out: Vec<FeatureDrift> = m
        .feature_spec
        .features
        .iter()
        .enumerate()
        .filter_map(|(j, f)| {
            let reference = m.reference_histograms.iter().find(|r| r.feature == f.name)?;
            let values = snap.feature(j);
            let psi = reference.histogram.psi(&values);
            let missing = values.iter().filter(|v| v.is_nan()).count() as f64 / values.len().max(1) as f64;
            let unseen = snap
                .report
                .unseen_categories
                .iter()
                .find(|(name, _)| *name == f.name)
                .map_or(0.0, |(_, n)| *n as f64 / rows);
            let missing_at_training = reference.histogram.missing;
            let mut why = Vec::new();
            let mut drift = Drift::of_psi(psi, t);
            if drift > Drift::Stable {
                why.push(format!("PSI {psi:.3}"));
            }
            if missing - missing_at_training > t.missing_rise {
                drift = Drift::Drifted;
                why.push(format!(
                    "missing {:.1}% against {:.1}% at training",
                    missing * 100.0,
                    missing_at_training * 100.0
                ));
            }
            if unseen > t.unseen_share {
                drift = Drift::Drifted;
                why.push(format!(
                    "{:.1}% of customers have a category the model never saw",
                    unseen * 100.0
                ));
            }
            if calendar[j] {
                why.push("grows with the calendar: left out of the verdict".into());
            }
            Some(FeatureDrift {
                feature: f.name.clone(),
                psi,
                missing,
                missing_at_training,
                unseen,
                drift,
                judged: !calendar[j],
                why,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.judged
            .cmp(&a.judged)
            .then(b.drift.cmp(&a.drift))
            .then(b.psi.total_cmp(&a.psi))
    });
    out
}

/// What the inputs are compared with, in words.
fn reference(m: &Manifest) -> String {
    let test = m.test_design.cutoff();
    if m.references_of_test {
        format!("the package's test customers at {test} (features and score)")
    } else {
        format!(
            "features: the training rows; score: the test customers at {test} (a package made before both came from the test)"
        )
    }
}

/// The share of known customers still with us, now and at training's test snapshot.
fn population_shape(m: &Manifest, now: &SnapshotReport, t: &MonitoringConfig) -> PopulationShape {
    let test_cutoff = m.test_design.cutoff().to_string();
    let at_training = m
        .snapshots
        .iter()
        .find(|s| s.cutoff == test_cutoff)
        .or(m.snapshots.last());
    let share = |alive: u64, gone: u64| alive as f64 / (alive + gone).max(1) as f64;
    let (customers_at_training, already_churned_at_training) =
        at_training.map_or((0, 0), |s| (s.customers, s.already_churned));
    let alive_share = share(now.customers, now.already_churned);
    let alive_share_at_training = share(customers_at_training, already_churned_at_training);
    PopulationShape {
        customers: now.customers,
        already_churned: now.already_churned,
        alive_share,
        customers_at_training,
        already_churned_at_training,
        alive_share_at_training,
        drift: if (alive_share - alive_share_at_training).abs() > t.alive_share_change {
            Drift::Drifted
        } else {
            Drift::Stable
        },
    }
}

/// The calibrated probability now against the test customers' (packages made before
/// monitoring have no reference).
fn score_drift(m: &Manifest, probabilities: &[f64], t: &MonitoringConfig) -> Option<ScoreDrift> {
    let reference = m.score_reference.as_ref()?;
    let psi = reference.psi(probabilities);
    let mean = probabilities.iter().sum::<f64>() / probabilities.len().max(1) as f64;
    Some(ScoreDrift {
        psi,
        mean,
        mean_at_training: m.calibration.as_ref().map_or(f64::NAN, |c| c.applied().mean_predicted),
        drift: Drift::of_psi(psi, t),
    })
}

/// Ids that are row numbers name a customer only within their own file: the outcomes must come
/// from the very table the list was scored on.
fn same_row_ids(p: &Pipeline, list: &KeptList) -> Result<(), AppError> {
    let Some(now) = row_ids_source(p) else {
        return Ok(());
    };
    if list.stamp.row_ids.as_deref() == Some(now.as_str()) {
        return Ok(());
    }
    Err(AppError::RowIdsElsewhere {
        list: list.path.clone(),
        scored_on: list
            .stamp
            .row_ids
            .clone()
            .unwrap_or_else(|| "a table it did not record".into()),
        outcomes_from: now,
    })
}

/// The package's figures on one kept list, or why the list is not judged (`Ok(Err(why))`).
fn judge(
    p: &Pipeline,
    h: &History,
    package: &ModelPackage,
    list: &KeptList,
) -> Result<Result<Matured, String>, AppError> {
    let cutoff = list.as_of.next_day();
    let o = outcomes(p, h, cutoff);
    if let Some(why) = o.unlabelled_reason {
        return Ok(Err(format!("not matured yet: {why}")));
    }
    same_row_ids(p, list)?;
    // Each list row's place in today's population at that cutoff, and its known outcome.
    let mut position = vec![u32::MAX; h.customers.len()];
    for (k, &c) in o.population.iter().enumerate() {
        position[c as usize] = k as u32;
    }
    let mut rows: Vec<(u64, u32, bool, f64)> = h
        .customers
        .find(&list.ids)
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let k = *position.get(c? as usize)?;
            let label = o.labels.get(k as usize).copied().flatten()?;
            Some((list.ranks[i], c?, label, list.probabilities[i]))
        })
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    let labels: Vec<bool> = rows.iter().map(|r| r.2).collect();
    let churners = labels.iter().filter(|&&y| y).count();
    if churners == 0 || churners == labels.len() {
        return Ok(Err(format!(
            "{} of its customers have a known outcome, {churners} churned: one class only",
            labels.len()
        )));
    }
    let probabilities: Vec<f64> = rows.iter().map(|r| r.3).collect();
    let order: Vec<usize> = (0..rows.len()).collect();
    let m = &package.package.manifest;
    let curves = curves(
        &labels,
        &probabilities,
        Some(&order),
        p.evaluation.bootstrap_samples as usize,
        p.seed,
    )?;
    let calibration = calibration_figures(&labels, &probabilities)?;
    let at_training_value = m.value_capture.as_ref().and_then(|v| {
        v.captured
            .iter()
            .find(|(k, _)| *k == VALUE_PERCENT)
            .map(|&(_, share)| share)
    });
    let value_captured_10 = at_training_value.and_then(|_| {
        let customers: Vec<u32> = rows.iter().map(|r| r.1).collect();
        let past = spend(h, &customers, cutoff, churnguard_train::CAPTURE_SPEND_DAYS);
        value_captured(&labels, &order, &past, &[VALUE_PERCENT]).and_then(|v| v.first().map(|&(_, s)| s))
    });
    let auc = churnguard_eval::roc_auc(&labels, &probabilities)?;
    let ece_at_training = m.calibration.as_ref().map_or(f64::NAN, |c| c.applied().ece);
    let t = &p.monitoring;
    let mut drops = Vec::new();
    if auc < m.test.auc - t.auc_drop {
        drops.push(format!(
            "AUC {auc:.3} is {:.3} below training's {:.3}",
            m.test.auc - auc,
            m.test.auc
        ));
    }
    if calibration.ece > ece_at_training + t.ece_rise {
        drops.push(format!(
            "calibration error {:.3} against {ece_at_training:.3} at training",
            calibration.ece
        ));
    }
    Ok(Ok(Matured {
        list: list.path.display().to_string(),
        as_of: list.as_of.to_string(),
        customers: list.ranks.len() as u64,
        known: labels.len() as u64,
        churners: churners as u64,
        auc,
        auc_at_training: m.test.auc,
        calibration,
        ece_at_training,
        value_captured_10,
        value_captured_10_at_training: at_training_value,
        curves,
        drops,
    }))
}
