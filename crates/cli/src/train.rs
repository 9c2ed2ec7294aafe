//! `churnguard train` and `churnguard run`: features, training, evaluation, exact ONNX export and
//! the versioned model package, with a progress bar per stage and a summary at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use churnguard_config::Pipeline;
use churnguard_eval::Evaluation;
use churnguard_features::load_with_progress;
use churnguard_infer::{ListFormat, ModelPackage, OnnxModel, OnnxRuntime, write_list};
use churnguard_train::package::{self, PackageFile};
use churnguard_train::{
    Event, ManifestInputs, Parity, Training, export_onnx, input_files, manifest, parity_rows, train,
};
use indicatif::ProgressBar;

use crate::progress::{TableBars, bar};
use crate::render::thousands;

/// Largest |ONNX Runtime - LightGBM| probability a package may have.
const PARITY_LIMIT: f64 = 1e-6;

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
}

/// Stage times of a run.
#[derive(Default)]
struct Times {
    load: Duration,
    features: Duration,
    tuning: Duration,
    training: Duration,
    evaluation: Duration,
    export: Duration,
    package: Duration,
}

/// Trains a pipeline's model and writes its package; with `score`, then scores the latest
/// snapshot with the new package and writes the risk list beside it.
pub fn run(args: &Args, score: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let config_text =
        std::fs::read_to_string(&args.pipeline).with_context(|| format!("cannot read {}", args.pipeline.display()))?;
    let models = args
        .models
        .clone()
        .or_else(|| pipeline.output.models_dir.clone())
        .unwrap_or_else(|| PathBuf::from("models"));
    if pipeline.label.is_none() {
        return Err(crate::UsageError(format!(
            "{} defines no churn label: add a [label] section to train a model",
            args.pipeline.display()
        ))
        .into());
    }
    // Refuse an unusable models folder before the long work, not after.
    check_writable(&models)?;
    let runtime = OnnxRuntime::load(args.ort_lib.as_deref())?;

    let mut times = Times::default();
    let loaded = std::thread::scope(|s| -> anyhow::Result<_> {
        let hashes = s.spawn(|| input_files(&pipeline));
        let mut bars = TableBars::default();
        let history = load_with_progress(&pipeline, None, &mut |p| bars.update(p));
        bars.finish();
        let history = history?;
        times.load = started.elapsed();
        let training = train_with_bars(&pipeline, &history, &mut times)?;
        let inputs = hashes
            .join()
            .map_err(|_| anyhow::anyhow!("hashing the input files failed"))??;
        Ok((history, training, inputs))
    });
    let (history, training, inputs) = loaded?;

    let t = Instant::now();
    let onnx = export_onnx(&pipeline, &training)?;
    let parity = parity(runtime, &onnx, &training)?;
    times.export = t.elapsed();
    if parity.max_abs_difference > PARITY_LIMIT {
        anyhow::bail!(
            "no package written: ONNX Runtime differs from LightGBM by {:e} on the test rows (limit {PARITY_LIMIT:e}); please report this model",
            parity.max_abs_difference
        );
    }

    let t = Instant::now();
    let files = vec![
        PackageFile {
            name: "model.txt".into(),
            bytes: training.fit.model_text.clone().into_bytes(),
        },
        PackageFile {
            name: "model.onnx".into(),
            bytes: onnx,
        },
    ];
    let written = package::write(&models, &pipeline.name, &files, &|version, hashes| {
        manifest(
            &pipeline,
            &training,
            &ManifestInputs {
                version,
                config_text: &config_text,
                inputs: &inputs,
                files: hashes,
                parity: &parity,
            },
        )
        .map_err(|e| package::PackageError::Manifest(e.to_string()))
    })?;
    times.package = t.elapsed();
    print!(
        "{}",
        summary(&pipeline, &training, &parity, &written.dir, &times, started.elapsed())
    );
    if score {
        let t = Instant::now();
        let package = ModelPackage::open(&written.dir)?;
        let mut model = OnnxModel::load(runtime, &package.onnx, 0)?;
        let list = crate::score::score_history(&pipeline, &history, &package, &mut model, None)?;
        let out = models
            .join(&pipeline.name)
            .join(format!("risk-{}-{}.csv", written.version, list.as_of()));
        write_list(&list, &package.spec, &out, ListFormat::Csv, pipeline.scoring.batch_rows)?;
        print!(
            "{}",
            crate::score::summary(&pipeline, &package, &list, &out, 10, t.elapsed().as_secs_f64())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check_writable(models: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(models)
        .with_context(|| format!("the models folder {} cannot be created", models.display()))?;
    let probe = models.join(format!(".write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("the models folder {} is not writable", models.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Runs the training with a bar per stage.
fn train_with_bars(
    pipeline: &Pipeline,
    history: &churnguard_features::History,
    times: &mut Times,
) -> anyhow::Result<Training> {
    let mut current: Option<ProgressBar> = None;
    let mut stage = Instant::now();
    let mut stage_name = "features";
    let close = |name: &'static str, times: &mut Times, stage: &mut Instant| {
        let took = stage.elapsed();
        match name {
            "features" => times.features += took,
            "tuning" => times.tuning += took,
            "training" => times.training += took,
            _ => times.evaluation += took,
        }
        *stage = Instant::now();
    };
    let result = train(pipeline, history, &mut |event| match event {
        Event::Snapshot { report, done, total } => {
            let b = current.get_or_insert_with(|| bar("snapshots", Some(total as u64), "cutoffs"));
            b.set_position(done as u64);
            b.set_message(report.cutoff.clone());
        }
        Event::Stage(name) => {
            if let Some(b) = current.take() {
                b.finish_and_clear();
            }
            close(stage_name, times, &mut stage);
            stage_name = name;
        }
        Event::Trial { trial, of } => {
            let b = current.get_or_insert_with(|| bar("tuning", Some(of as u64), "trials"));
            b.set_position(trial.number as u64);
        }
        Event::Round { round, of, .. } => {
            let b = current.get_or_insert_with(|| bar("training", Some(of as u64), "rounds"));
            b.set_position(round as u64);
        }
    });
    if let Some(b) = current.take() {
        b.finish_and_clear();
    }
    close(stage_name, times, &mut stage);
    match result {
        Err(e @ churnguard_train::TrainError::Parameter { .. }) => {
            Err(crate::UsageError(format!("{}: {e}", pipeline.file.display())).into())
        }
        other => Ok(other?),
    }
}

/// Test rows compared in the parity check (evenly spread; all of them when fewer).
const PARITY_TEST_ROWS: usize = 100_000;

/// ONNX Runtime against LightGBM on test rows and on rows probing every split.
fn parity(runtime: &OnnxRuntime, onnx: &[u8], t: &Training) -> anyhow::Result<Parity> {
    let (rows, want, test_rows) =
        parity_rows(&t.fit.model_text, &t.test_rows, &t.test_probabilities, PARITY_TEST_ROWS)?;
    let mut model = OnnxModel::load(runtime, onnx, 0)?;
    let scores = model.score(&rows, t.test_rows.cols)?;
    let worst = churnguard_model::max_abs_difference(&scores.values, &want);
    Ok(Parity {
        max_abs_difference: worst,
        rows: want.len(),
        test_rows,
        test_rows_of: t.test_rows.rows,
        input_type: "f64".into(),
        onnx_runtime: runtime.version.clone(),
    })
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

/// The final report.
fn summary(p: &Pipeline, t: &Training, parity: &Parity, dir: &Path, times: &Times, total: Duration) -> String {
    let mut s = String::new();
    let row = |s: &mut String, k: &str, v: String| {
        let _ = writeln!(s, "  {k:<12} {v}");
    };
    let _ = writeln!(s, "Pipeline {} ({})", p.name, p.file.display());
    if let Some(label) = &p.label {
        let _ = writeln!(s, "Label: {label}");
    }
    for r in &t.snapshots {
        row(
            &mut s,
            "snapshot",
            format!(
                "{}: {} customers, churn rate {}",
                r.cutoff,
                thousands(r.customers),
                r.churn_rate().map_or("-".into(), percent)
            ),
        );
    }
    let rc = &t.rows;
    row(
        &mut s,
        "rows",
        format!(
            "train {} (churn rate {}), validation {}, test {}",
            thousands(rc.train as u64),
            percent(rc.train_churners as f64 / rc.train.max(1) as f64),
            thousands(rc.validation as u64),
            thousands(rc.test as u64)
        ),
    );
    if let Some(trials) = &t.trials
        && let Some(best) = churnguard_train::best(trials)
    {
        let params: Vec<String> = best.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        row(
            &mut s,
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
        &mut s,
        "model",
        format!(
            "{} trees (best round {} of {}{stop}), {} features",
            t.fit.best_round,
            t.fit.best_round,
            t.fit.rounds,
            t.spec.features.len()
        ),
    );
    row(
        &mut s,
        "validation",
        format!(
            "{}, {} customers",
            headline(&t.validation),
            thousands(t.validation.rows)
        ),
    );
    row(
        &mut s,
        "test",
        format!(
            "{}: {} rows, churn rate {}",
            t.test_design,
            thousands(t.test.rows),
            percent(t.test.churn_rate)
        ),
    );
    row(&mut s, "", headline(&t.test));
    row(
        &mut s,
        "",
        format!(
            "log loss {:.4}, Brier {:.4}; at threshold {:.3} ({}): precision {:.3}, recall {:.3}, F1 {:.3}",
            t.test.log_loss,
            t.test.brier,
            t.test.threshold,
            match p.evaluation.threshold {
                churnguard_config::ThresholdRule::MaxF1 => "max F1 on validation".to_string(),
                churnguard_config::ThresholdRule::TopPercent(k) => format!("top {k}% of validation"),
                churnguard_config::ThresholdRule::MinCost { .. } => "least cost on validation".to_string(),
            },
            t.test.precision,
            t.test.recall,
            t.test.f1
        ),
    );
    for seg in &t.segments {
        row(
            &mut s,
            &format!("active {}d", seg.active_within_days),
            format!(
                "{}: {} customers, churn rate {}",
                headline(&seg.evaluation),
                thousands(seg.evaluation.rows),
                percent(seg.evaluation.churn_rate)
            ),
        );
    }
    let [h, m, l] = t.tiers.test_counts;
    row(
        &mut s,
        "tiers",
        format!(
            "high >= {:.4} ({} test rows), medium >= {:.4} ({}), low ({})",
            t.tiers.high,
            thousands(h),
            t.tiers.medium,
            thousands(m),
            thousands(l)
        ),
    );
    row(
        &mut s,
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
    row(&mut s, "package", dir.display().to_string());
    row(
        &mut s,
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
    let _ = writeln!(s, "Importance (top 10 by gain)");
    let _ = writeln!(s, "  {:<28} {:>14} {:>8}", "feature", "gain", "splits");
    let total_gain: f64 = t.importance.iter().map(|i| i.gain).sum();
    for i in t.importance.iter().take(10) {
        let _ = writeln!(
            s,
            "  {:<28} {:>14.1} {:>8}  {}",
            i.feature,
            i.gain,
            i.splits,
            if total_gain > 0.0 {
                percent(i.gain / total_gain)
            } else {
                String::new()
            }
        );
    }
    s
}
