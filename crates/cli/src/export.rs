//! `churnguard export`: any LightGBM model text to an exact ONNX model.

use anyhow::Context;
use churnguard_app::export_checked;
use churnguard_app::{ExportOptions, InputType, Objective};
use std::path::PathBuf;
use std::process::ExitCode;

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

/// Exports the model, checks ONNX Runtime against LightGBM's decision rules, and writes the
/// file only when they agree.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let same = |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(&args.model, &args.out) {
        return Err(crate::UsageError(format!(
            "--out {} is the model text itself: writing the ONNX model there would destroy it",
            args.out.display()
        ))
        .into());
    }
    let text = std::fs::read_to_string(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
    let options = ExportOptions {
        input: args.input_type,
        metadata: vec![(
            "source".into(),
            args.model
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )],
        calibration: None,
    };
    let runtime = match args.no_check {
        true => None,
        false => Some(churnguard_app::onnx_runtime(args.ort_lib.as_deref())?),
    };
    let exported = export_checked(&text, &options, runtime).map_err(|e| match e {
        e @ churnguard_app::AppError::Model(_) => {
            anyhow::Error::new(e).context(format!("{} is not a usable LightGBM model", args.model.display()))
        }
        other => other.into(),
    })?;
    let ensemble = &exported.ensemble;
    let leaves: usize = ensemble.trees.iter().map(|t| t.leaf_values.len()).sum();
    println!(
        "{} trees ({} leaves), {}, {} features -> {} ({} bytes, {:.3} s)",
        thousands(ensemble.trees.len() as u64),
        thousands(leaves as u64),
        describe(&ensemble.objective),
        ensemble.num_features(),
        args.out.display(),
        thousands(exported.bytes.len() as u64),
        exported.export_time.as_secs_f64()
    );
    if let Some(c) = &exported.check {
        println!(
            "  parity: max |ONNX Runtime - LightGBM rules| = {:.1e} on {} rows at every threshold, its neighbours, zeros and NaNs (ONNX Runtime {} loaded it in {:.3} s)",
            c.max_abs_difference,
            thousands(c.rows as u64),
            c.onnx_runtime,
            c.load_time.as_secs_f64()
        );
    }
    churnguard_app::write_whole(&args.out, &exported.bytes)?;
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
