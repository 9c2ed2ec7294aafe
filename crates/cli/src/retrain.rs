//! `churnguard retrain`: a challenger trained on the latest data, promoted only when it is not
//! worse than the model serving.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::{RetrainRequest, retrain};
use churnguard_report::{figure_table, gate_table, p_value};

use crate::progress::Bars;

/// Arguments of `churnguard retrain`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML).
    pipeline: PathBuf,
    /// Models folder (default: `output.models_dir` of the pipeline, else `models`).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// ONNX Runtime threads of the comparison (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// ONNX Runtime library (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
}

/// Retrains, compares, decides and prints the decision (exit 0 whether promoted or not: keeping
/// the champion is a decision, not a failure).
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    use std::fmt::Write as _;
    let started = Instant::now();
    let (pipeline, config_text) = churnguard_config::load_with_text(&args.pipeline)?;
    let models = crate::train::models_dir(args.models.as_ref(), &pipeline);
    let runtime = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    let mut bars = Bars::default();
    let done = retrain(
        &RetrainRequest {
            pipeline: &pipeline,
            config_text: &config_text,
            models_dir: &models,
            runtime,
            threads: args.threads,
        },
        &mut |p| bars.update(p),
    );
    bars.finish();
    let done = done?;
    let mut s = String::new();
    let d = &done.decision;
    let _ = writeln!(
        s,
        "challenger {} trained: {}",
        d.challenger,
        done.trained.written.dir.display()
    );
    if pipeline.snapshots.test_cutoff != done.pipeline.snapshots.test_cutoff
        && let Some(cutoff) = done.pipeline.snapshots.test_cutoff
    {
        let _ = writeln!(
            s,
            "  snapshots moved forward with the data: test cutoff {cutoff} (configured {})",
            pipeline
                .snapshots
                .test_cutoff
                .map(|c| c.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(c) = &done.comparison {
        let names = c.names();
        let _ = writeln!(
            s,
            "\nchampion {} against challenger {} on {} customers at cutoff {}:\n",
            names[0], names[1], c.customers, c.cutoff
        );
        s.push_str(&figure_table(c, &names).text());
        s.push('\n');
        s.push_str(&gate_table(c, &names).text());
        if let Some(p) = d.auc_p_value {
            let _ = writeln!(s, "AUC difference: DeLong p = {}", p_value(p));
        }
    }
    let _ = writeln!(
        s,
        "\n{}: {}",
        if d.promoted {
            format!("promoted {}: `latest` now points at it", d.challenger)
        } else {
            format!(
                "kept {}: `latest` stays",
                d.champion.clone().unwrap_or_else(|| "the champion".into())
            )
        },
        d.reason
    );
    let _ = writeln!(s, "decision appended to {}", done.history_file.display());
    let _ = writeln!(s, "time: {:.2} s", started.elapsed().as_secs_f64());
    print!("{s}");
    std::mem::forget(done);
    Ok(ExitCode::SUCCESS)
}
