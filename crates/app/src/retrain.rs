//! `retrain`: a challenger trained on the latest data, compared with the model serving on the
//! newest labelled snapshot, and promoted only when it is not worse beyond the configured
//! margins. Every decision goes to the pipeline's `history.jsonl`.

use std::path::{Path, PathBuf};

use churnguard_config::{Date, Label, MS_PER_DAY, Pipeline};
use churnguard_eval::{Comparison, FailIfWorse, Metric};
use churnguard_features::{History, load_with_progress};
use churnguard_infer::OnnxRuntime;
use churnguard_package::{Decision, DecisionGate, LATEST, Latest, append_decision, latest_version, now_utc, promote};

use crate::{AppError, CompareRequest, Progress, Stage, TrainRequest, Trained, compare};

/// What a retraining job needs.
pub struct RetrainRequest<'a> {
    /// The validated pipeline.
    pub pipeline: &'a Pipeline,
    /// The config file's text as read.
    pub config_text: &'a str,
    /// Where packages go.
    pub models_dir: &'a Path,
    /// ONNX Runtime.
    pub runtime: &'a OnnxRuntime,
    /// ONNX Runtime threads of the comparison (0: its default).
    pub threads: usize,
}

/// A retraining job's outcome.
pub struct Retrained {
    /// The challenger, trained and packaged.
    pub trained: Trained,
    /// The pipeline the challenger was trained with (its snapshots moved forward when rolled).
    pub pipeline: Pipeline,
    /// The comparison with the champion (none for a pipeline's first model).
    pub comparison: Option<Comparison>,
    /// The decision, as appended to the history.
    pub decision: Decision,
    /// The history file.
    pub history_file: PathBuf,
}

/// Trains a challenger, compares it with `latest` and promotes it when it is not worse.
pub fn retrain(req: &RetrainRequest<'_>, observe: &mut dyn FnMut(Progress)) -> Result<Retrained, AppError> {
    let p = req.pipeline;
    let Some(configured) = p.snapshots.test_cutoff else {
        return Err(AppError::NoOutOfTimeTest { file: p.file.clone() });
    };
    let dir = req.models_dir.join(&p.name);
    let champion = latest_version(&dir).map(|n| dir.join(churnguard_package::version_name(n)));
    // Refuse a champion that does not open (tampered, another pipeline) before the long work.
    if champion.is_some() {
        crate::compare::open(p, &dir.join(LATEST))?;
    }
    observe(Progress::Stage(Stage::Load));
    let history = load_with_progress(p, None, &mut |r| observe(Progress::Read(r)))?;
    let rolled = rolled(p, &history, configured);
    let request = TrainRequest {
        pipeline: &rolled,
        config_text: req.config_text,
        models_dir: req.models_dir,
        runtime: req.runtime,
        latest: Latest::Keep,
    };
    let trained = crate::train::train_with(&request, Some(history), None, observe)?;
    let Some(history) = trained.history.as_ref() else {
        return Err(churnguard_train::TrainError::Internal("the challenger's tables were not kept".into()).into());
    };
    let cutoff = rolled.snapshots.test_cutoff.unwrap_or(configured);
    let challenger = trained.written.dir.clone();
    let n = version_number(&trained.written.version);
    let (comparison, mut decision) = match &champion {
        None => (None, first_model(&trained.written.version)),
        Some(champion) => {
            let gates = gates(&rolled);
            let packages = [champion.clone(), challenger];
            let c = compare(
                &CompareRequest {
                    pipeline: &rolled,
                    packages: &packages,
                    cutoff: Some(cutoff),
                    runtime: req.runtime,
                    threads: req.threads,
                    gates: Some(&gates),
                },
                history,
                observe,
            )?;
            let d = judged(&c);
            (Some(c), d)
        }
    };
    if decision.promoted && !promote(&dir, n)? {
        decision.promoted = false;
        decision.reason = format!(
            "{}; but another run promoted a newer version meanwhile, so `latest` stays",
            decision.reason
        );
    }
    let history_file = append_decision(&dir, &decision)?;
    Ok(Retrained {
        trained,
        pipeline: rolled,
        comparison,
        decision,
        history_file,
    })
}

/// The pipeline with its snapshots moved forward, in whole steps of the schedule, towards the
/// newest test cutoff whose outcomes the data already holds (when `retraining.roll_cutoffs`).
fn rolled(p: &Pipeline, h: &History, configured: Date) -> Pipeline {
    let horizon = match &p.label {
        Some(Label::Inactivity { horizon_days } | Label::Event { horizon_days, .. }) => *horizon_days,
        _ => return p.clone(),
    };
    if !p.retraining.roll_cutoffs || h.data_end_ms == i64::MAX {
        return p.clone();
    }
    let newest = (h.data_end_ms.div_euclid(MS_PER_DAY) - i64::from(horizon)) as i32;
    // Whole steps of the schedule (the spacing of the training cutoffs, else the horizon), so a
    // monthly schedule stays on its days and a few new days of data move nothing.
    let step = match p.snapshots.train_cutoffs.as_slice() {
        [.., a, b] => (b.days() - a.days()).max(1),
        _ => horizon as i32,
    };
    let by = (newest - configured.days()).div_euclid(step) * step;
    if by <= 0 {
        return p.clone();
    }
    Pipeline {
        snapshots: p.snapshots.shifted(by),
        ..p.clone()
    }
}

/// The margins of `[retraining]` as comparison gates.
fn gates(p: &Pipeline) -> FailIfWorse {
    let r = &p.retraining;
    FailIfWorse(vec![
        (Metric::Auc, r.auc_margin),
        (Metric::Ece, r.ece_margin),
        (Metric::Brier, r.brier_margin),
    ])
}

fn version_number(version: &str) -> u32 {
    churnguard_package::version_number(version).unwrap_or(0)
}

fn first_model(challenger: &str) -> Decision {
    Decision {
        decided_at: now_utc(),
        champion: None,
        challenger: challenger.to_string(),
        promoted: true,
        reason: "the pipeline's first model: nothing to compare with".into(),
        cutoff: None,
        customers: 0,
        gates: Vec::new(),
        auc_p_value: None,
    }
}

/// The decision a comparison of champion (first) and challenger gives.
fn judged(c: &Comparison) -> Decision {
    let gates: Vec<DecisionGate> = c
        .gates
        .iter()
        .map(|g| DecisionGate {
            metric: g.metric.name().to_string(),
            champion: g.baseline,
            challenger: g.value,
            margin: g.margin,
            failed: g.failed,
        })
        .collect();
    let failed: Vec<String> = gates
        .iter()
        .filter(|g| g.failed)
        .map(|g| {
            format!(
                "{} {:.4} against {:.4} (margin {})",
                g.metric, g.challenger, g.champion, g.margin
            )
        })
        .collect();
    let promoted = failed.is_empty();
    let reason = if promoted {
        "not worse than the champion beyond any margin".to_string()
    } else {
        format!("worse than the champion: {}", failed.join("; "))
    };
    Decision {
        decided_at: now_utc(),
        champion: c.models.first().map(|m| m.version.clone()),
        challenger: c.models.get(1).map(|m| m.version.clone()).unwrap_or_default(),
        promoted,
        reason,
        cutoff: Some(c.cutoff.clone()),
        customers: c.customers,
        gates,
        auc_p_value: c.paired.first().map(|p| p.delong.p_value),
    }
}
