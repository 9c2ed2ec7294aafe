//! `churnguard export`: any LightGBM model text to an exact ONNX model.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use churnguard_infer::{OnnxModel, OnnxRuntime};
use churnguard_model::{Ensemble, ExportOptions, InputType, Objective, export, max_abs_difference};

use crate::render::thousands;

/// Arguments of `churnguard export`.
#[derive(clap::Args)]
pub struct Args {
    /// LightGBM's model text (`model.txt`, as saved by any LightGBM).
    model: PathBuf,
    /// Output ONNX file (written under a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Input element type of the ONNX model: f32 (usual) or f64 (LightGBM's own).
    #[arg(long, value_name = "f32|f64", default_value = "f32")]
    input_type: InputType,
    /// Skip the parity check through ONNX Runtime.
    #[arg(long)]
    no_check: bool,
    /// ONNX Runtime library for the parity check (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
}

/// Rows probed by the parity check.
const PROBE_ROWS: usize = 5_000;

/// Exports the model, checks ONNX Runtime against LightGBM's decision rules, and writes the
/// file only when they agree.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
    let ensemble =
        Ensemble::parse(&text).with_context(|| format!("{} is not a usable LightGBM model", args.model.display()))?;
    let options = ExportOptions {
        input: args.input_type,
        metadata: vec![(
            "source".into(),
            args.model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )],
    };
    let bytes = export(&ensemble, &text, &options)?;
    let export_time = started.elapsed();
    let leaves: usize = ensemble.trees.iter().map(|t| t.leaf_values.len()).sum();
    println!(
        "{} trees ({} leaves), {}, {} features -> {} ({} bytes, {:.3} s)",
        thousands(ensemble.trees.len() as u64),
        thousands(leaves as u64),
        describe(&ensemble.objective),
        ensemble.num_features(),
        args.out.display(),
        thousands(bytes.len() as u64),
        export_time.as_secs_f64()
    );
    if args.no_check {
        write_atomically(&args.out, &bytes)?;
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = OnnxRuntime::load(args.ort_lib.as_deref())?;
    let t = Instant::now();
    let mut model = OnnxModel::load(runtime, &bytes, 0)?;
    let load_time = t.elapsed();
    let mut rows = ensemble.probe_rows(PROBE_ROWS);
    if args.input_type == InputType::F32 {
        rows.iter_mut().for_each(|v| *v = f64::from(*v as f32));
    }
    let f = ensemble.num_features();
    let scores = model.score(&rows, f)?;
    let want: Vec<f64> = rows.chunks(f).flat_map(|r| ensemble.predict(r)).collect();
    let worst = max_abs_difference(&want, &scores.values);
    println!(
        "  parity: max |ONNX Runtime - LightGBM rules| = {worst:.1e} on {} rows at every threshold, its neighbours, zeros and NaNs (ONNX Runtime {} loaded it in {:.3} s)",
        thousands((rows.len() / f) as u64),
        runtime.version,
        load_time.as_secs_f64()
    );
    if worst > 1e-6 {
        anyhow::bail!(
            "not written: the exported model differs from LightGBM by {worst:e} (limit 1e-6); please report this model"
        );
    }
    write_atomically(&args.out, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

fn describe(o: &Objective) -> String {
    match o {
        Objective::Binary { sigmoid } if *sigmoid == 1.0 => "binary".into(),
        Objective::Binary { sigmoid } => format!("binary (sigmoid {sigmoid})"),
        Objective::Multiclass { classes } => format!("multiclass ({classes} classes)"),
        Objective::MulticlassOva { classes, .. } => format!("multiclass one-vs-all ({classes} classes)"),
        Objective::CrossEntropy => "cross-entropy".into(),
        Objective::Identity { name } | Objective::Exponential { name } => name.clone(),
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let context = || format!("cannot write {}", path.display());
    let (staged, mut file) = churnguard_ingest::StagedFile::create(path).with_context(context)?;
    file.write_all(bytes).with_context(context)?;
    staged.commit().with_context(context)?;
    Ok(())
}
