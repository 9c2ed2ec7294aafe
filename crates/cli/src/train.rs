//! `churnguard train` and `churnguard run`: features, training, evaluation, exact ONNX export and
//! the versioned model package, with a progress bar per stage and a summary at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use churnguard_app::ListFormat;
use churnguard_app::Training;
use churnguard_app::{AppError, ListRequest, Scorer, TrainRequest, Trained, list_path, train_package};
use churnguard_app::{Evaluation, Interval};
use churnguard_config::Pipeline;

use crate::progress::Bars;
use crate::render::thousands;

/// The models folder: `--models`, else the pipeline's `output.models_dir`, else `models`.
pub fn models_dir(flag: Option<&PathBuf>, p: &Pipeline) -> PathBuf {
    churnguard_app::models_dir(flag.map(PathBuf::as_path), p)
}

/// Arguments of `churnguard train` and `churnguard run`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML).
    pipeline: PathBuf,
    /// Models folder (default: `output.models_dir` of the pipeline, else `models`).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// ONNX Runtime library for the parity check (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
    /// This worker's rank in the pipeline's `[distributed]` machine list (0: the one that
    /// evaluates and writes the package); default `distributed.rank`.
    #[arg(long, value_name = "N")]
    rank: Option<usize>,
}

/// Trains a pipeline's model and writes its package; with `score`, then scores the latest
/// snapshot with the new package and writes the risk list beside it.
pub fn run(args: &Args, score: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (pipeline, config_text) = churnguard_config::load_with_text(&args.pipeline)?;
    let models = models_dir(args.models.as_ref(), &pipeline);
    let runtime = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    let request = TrainRequest {
        pipeline: &pipeline,
        config_text: &config_text,
        models_dir: &models,
        runtime,
        latest: churnguard_app::Latest::Move,
    };
    if pipeline.distributed.is_some() || args.rank.is_some() {
        if score {
            return Err(crate::UsageError(
                "run does not train distributed: train with --rank on every worker, then score the partitions".into(),
            )
            .into());
        }
        return run_distributed(args, &request, started);
    }
    let mut bars = Bars::default();
    let trained = train_package(&request, &mut |p| bars.update(p));
    bars.finish();
    let trained = trained?;
    print!("{}", summary(&pipeline, &trained, started.elapsed()));
    if score {
        score_new_package(&pipeline, &models, &trained, args.ort_lib.as_deref(), &mut bars)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `run`'s list: the latest snapshot scored with the new package, written beside it as CSV, the
/// top of the list printed.
fn score_new_package(
    pipeline: &Pipeline,
    models: &Path,
    trained: &Trained,
    ort_lib: Option<&Path>,
    bars: &mut Bars,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let Scorer { package, mut model, .. } = churnguard_app::open_scorer(&trained.written.dir, ort_lib, 0)?;
    // Without a history (trained one partition at a time) the date is the pipeline's.
    let as_of = match &trained.history {
        Some(h) => churnguard_app::default_as_of(pipeline, h)?,
        None => pipeline.data.as_of.ok_or_else(|| AppError::PartitionedNoDate {
            file: pipeline.file.clone(),
        })?,
    };
    let out = list_path(models, &pipeline.name, &trained.written.version, as_of);
    let req = ListRequest {
        pipeline,
        package: &package,
        as_of: Some(as_of),
        out: &out,
        format: ListFormat::Csv,
        top: RUN_TOP,
    };
    let written = churnguard_app::risk_list(&req, trained.history.as_ref(), &mut model, &mut |p| bars.update(p));
    bars.finish();
    let written = written?;
    print!(
        "{}",
        crate::score::summary(pipeline, &package, &written.summary, &out, t.elapsed().as_secs_f64())
    );
    crate::score::print_kept(&written.kept);
    Ok(())
}

/// Rows of `run`'s list printed at the end.
const RUN_TOP: usize = 10;

/// One worker's part of a distributed training run.
fn run_distributed(args: &Args, request: &TrainRequest<'_>, started: Instant) -> anyhow::Result<ExitCode> {
    let p = request.pipeline;
    let rank = args
        .rank
        .or(p.distributed.as_ref().and_then(|d| d.rank))
        .ok_or_else(|| {
            crate::UsageError(format!(
                "{}: give this worker's --rank (0 for the one that writes the package)",
                p.file.display()
            ))
        })?;
    let size = p.distributed.as_ref().map_or(0, |d| d.machines.len());
    // A peer lost while LightGBM's network waits would block this process: end it here.
    let on_lost: churnguard_app::OnLost = std::sync::Arc::new(move |e| {
        eprintln!("error: distributed training stopped: {e}; no package is written");
        std::process::exit(1);
    });
    let req = churnguard_app::DistributedRequest {
        train: TrainRequest { ..*request },
        rank,
        on_lost,
    };
    let mut bars = Bars::default();
    let outcome = churnguard_app::train_distributed(&req, &mut |p| bars.update(p));
    bars.finish();
    match outcome? {
        churnguard_app::DistributedOutcome::Packaged(trained) => {
            println!("Rank 0 of {size}: every worker's model is this one; rank 0 evaluated and packaged it.");
            print!("{}", summary(p, &trained, started.elapsed()));
        }
        churnguard_app::DistributedOutcome::Worker {
            version,
            model_sha256,
            rounds,
            train_rows,
        } => println!(
            "Rank {rank} of {size}: trained on {} rows of its partitions, {rounds} rounds in {:.2} s; its model (SHA-256 {model_sha256}) is rank 0's, packaged as {} {version}",
            thousands(train_rows as u64),
            started.elapsed().as_secs_f64(),
            p.name
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn headline(e: &Evaluation) -> String {
    let interval = e
        .auc_interval
        .map(|i| format!(" [{:.3}, {:.3}]", i.lower, i.upper))
        .unwrap_or_default();
    let lift = e
        .lift_at(10.0)
        .map(|l| format!(", lift at 10% {:.2} (captures {})", l.lift, percent(l.capture_rate)))
        .unwrap_or_default();
    format!("AUC {:.3}{interval}, PR AUC {:.3}{lift}", e.auc, e.pr_auc)
}

/// Writes one `  key          value` line of the summary.
fn row(s: &mut String, k: &str, v: String) {
    let _ = writeln!(s, "  {k:<12} {v}");
}

/// The final report: data, model, figures, package, then importance.
fn summary(p: &Pipeline, trained: &Trained, total: Duration) -> String {
    let mut s = String::new();
    data_lines(&mut s, p, &trained.training);
    model_lines(&mut s, p, &trained.training);
    figure_lines(&mut s, p, &trained.training);
    package_lines(&mut s, trained, total);
    importance_lines(&mut s, &trained.training);
    s
}

/// The label, the snapshots and the rows of each side.
fn data_lines(s: &mut String, p: &Pipeline, t: &Training) {
    let _ = writeln!(s, "Pipeline {} ({})", p.name, p.file.display());
    if let Some(label) = &p.label {
        let _ = writeln!(s, "Label: {label}");
    }
    for r in &t.snapshots {
        row(
            s,
            "snapshot",
            format!(
                "{}: {} customers{}, churn rate {}{}",
                r.cutoff,
                thousands(r.customers),
                if p.alive_rule() == churnguard_config::AliveRule::Everyone {
                    ""
                } else {
                    " still with us"
                },
                r.churn_rate().map_or("-".into(), percent),
                if r.already_churned > 0 {
                    format!(" ({} already churned, left out)", thousands(r.already_churned))
                } else {
                    String::new()
                }
            ),
        );
    }
    let rc = &t.rows;
    row(
        s,
        "rows",
        format!(
            "train {} (churn rate {}), validation {}, test {}",
            thousands(rc.train as u64),
            percent(rc.train_churners as f64 / rc.train.max(1) as f64),
            thousands(rc.validation as u64),
            thousands(rc.test as u64)
        ),
    );
}

/// Tuning and the fitted model.
fn model_lines(s: &mut String, p: &Pipeline, t: &Training) {
    if let Some(trials) = &t.trials
        && let Some(best) = t.best_trial()
    {
        let params: Vec<String> = best.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        row(
            s,
            "tuning",
            format!(
                "{} trials, best #{} (CV AUC {:.4}): {}",
                trials.len(),
                best.number,
                best.mean_auc,
                params.join(" ")
            ),
        );
    }
    let metric = p.model.early_stopping_metric.lightgbm_name();
    let stop = t
        .fit
        .history
        .get(t.fit.best_round.saturating_sub(1))
        .map(|m| format!(", validation {metric} {m:.5}"))
        .unwrap_or_default();
    row(
        s,
        "model",
        format!(
            "{} trees (best round {} of {}{stop}), {} features",
            t.fit.best_round,
            t.fit.best_round,
            t.fit.rounds,
            t.spec.features.len()
        ),
    );
}

/// Validation, test, segment and tier figures.
fn figure_lines(s: &mut String, p: &Pipeline, t: &Training) {
    row(
        s,
        "validation",
        format!(
            "{}, {} customers",
            headline(&t.validation),
            thousands(t.validation.rows)
        ),
    );
    row(
        s,
        "test",
        format!(
            "{}: {} rows, churn rate {}",
            t.test_design,
            thousands(t.test.rows),
            percent(t.test.churn_rate)
        ),
    );
    row(s, "", headline(&t.test));
    row(
        s,
        "",
        format!(
            "log loss {:.4}, Brier {:.4}; at threshold {:.3} ({}): precision {:.3}, recall {:.3}, F1 {:.3}",
            t.test.log_loss,
            t.test.brier,
            t.test.threshold,
            threshold_rule(&p.evaluation.threshold),
            t.test.precision,
            t.test.recall,
            t.test.f1
        ),
    );
    for seg in &t.segments {
        row(
            s,
            &format!("active {}d", seg.active_within_days),
            format!(
                "{}: {} customers, churn rate {}",
                headline(&seg.evaluation),
                thousands(seg.evaluation.rows),
                percent(seg.evaluation.churn_rate)
            ),
        );
    }
    calibration_lines(s, t);
    if let Some(v) = &t.value_capture {
        let shares = |c: &[(f64, f64)], interval: &dyn Fn(f64) -> Option<Interval>| {
            c.iter()
                .map(|(k, x)| match interval(*k) {
                    Some(i) => format!("top {k}% {} [{}, {}]", percent(*x), percent(i.lower), percent(i.upper)),
                    None => format!("top {k}% {}", percent(*x)),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            s,
            "value",
            format!(
                "spend of the test's churners (past {} days) held by the list ranked by {}: {}; by probability alone: {}",
                v.spend_days,
                v.ranked_by.replace('_', " "),
                shares(&v.captured, &|k| v.interval(k).copied()),
                shares(&v.by_probability, &|_| None)
            ),
        );
    }
    let [h, m, l] = t.tiers.test_counts;
    row(
        s,
        "risk levels",
        format!(
            "high >= {:.4} ({} test rows), medium >= {:.4} ({}), low ({}); the same cut-offs in every list and the service",
            t.tiers.high,
            thousands(h),
            t.tiers.medium,
            thousands(m),
            thousands(l)
        ),
    );
}

/// Calibration before and after, on the test.
fn calibration_lines(s: &mut String, t: &Training) {
    let c = &t.calibration;
    let figures = |f: &churnguard_app::CalibrationFigures| {
        format!(
            "ECE {:.4}, Brier {:.4}, mean {:.3} (observed {:.3})",
            f.ece, f.brier, f.mean_predicted, f.observed_rate
        )
    };
    let method = match c.method {
        churnguard_app::CalibrationMethod::Platt => "Platt (inside model.onnx)",
        churnguard_app::CalibrationMethod::Isotonic => "isotonic (applied after ONNX Runtime)",
        churnguard_app::CalibrationMethod::None => "none",
    };
    row(
        s,
        "calibration",
        format!(
            "{method}, fitted on {} validation rows; test: LightGBM {}",
            thousands(c.fitted_on as u64),
            figures(&c.before)
        ),
    );
    row(
        s,
        "",
        format!("Platt (a {:.3}, b {:.3}) {}", c.platt.a, c.platt.b, figures(&c.after)),
    );
    row(s, "", format!("isotonic {}", figures(&c.isotonic)));
    let deciles: Vec<String> = c
        .applied()
        .deciles
        .iter()
        .map(|d| format!("{:.2}/{:.2}", d.predicted, d.observed))
        .collect();
    row(s, "", format!("predicted/observed by decile: {}", deciles.join(" ")));
}

/// Parity, the package folder and the stage times.
fn package_lines(s: &mut String, trained: &Trained, total: Duration) {
    let parity = &trained.parity;
    row(
        s,
        "parity",
        format!(
            "max |ONNX Runtime - LightGBM| = {:.1e} on {} rows: {} of {} test rows and {} probing every split",
            parity.max_abs_difference,
            thousands(parity.rows as u64),
            thousands(parity.test_rows as u64),
            thousands(parity.test_rows_of as u64),
            thousands((parity.rows - parity.test_rows) as u64)
        ),
    );
    row(s, "package", trained.written.dir.display().to_string());
    row(
        s,
        "report",
        format!(
            "{} (open it in a browser)",
            trained.written.dir.join(churnguard_app::REPORT).display()
        ),
    );
    let times = &trained.times;
    row(
        s,
        "time",
        format!(
            "{:.2} s: load {:.2}, features {:.2}{}, training {:.2}, evaluation {:.2}, export {:.2}, package {:.2}",
            total.as_secs_f64(),
            times.load.as_secs_f64(),
            times.features.as_secs_f64(),
            if times.tuning > Duration::ZERO {
                format!(", tuning {:.2}", times.tuning.as_secs_f64())
            } else {
                String::new()
            },
            times.training.as_secs_f64(),
            times.evaluation.as_secs_f64(),
            times.export.as_secs_f64(),
            times.package.as_secs_f64()
        ),
    );
}

/// The ten features with the most gain.
fn importance_lines(s: &mut String, t: &Training) {
    let _ = writeln!(s, "Importance (top 10 by gain)");
    let _ = writeln!(s, "  {:<28} {:>14} {:>8}", "feature", "gain", "splits");
    let total_gain: f64 = t.importance.iter().map(|i| i.gain).sum();
    for i in t.importance.iter().take(10) {
        let share = if total_gain > 0.0 {
            percent(i.gain / total_gain)
        } else {
            String::new()
        };
        let _ = writeln!(s, "  {:<28} {:>14.1} {:>8}  {share}", i.feature, i.gain, i.splits);
    }
}

/// How the decision threshold was chosen, in words.
fn threshold_rule(rule: &churnguard_config::ThresholdStrategy) -> String {
    match rule {
        churnguard_config::ThresholdStrategy::MaxF1 => "max F1 on validation".to_string(),
        churnguard_config::ThresholdStrategy::TopPercent(k) => format!("top {k}% of validation"),
        churnguard_config::ThresholdStrategy::MinCost { .. } => "least cost on validation".to_string(),
    }
}
