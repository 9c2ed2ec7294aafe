//! `churnguard doctor`: is the runtime environment able to score models?

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `churnguard doctor`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX Runtime shared library (default: ORT_DYLIB_PATH, then the project's .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
}

/// Loads ONNX Runtime and prints what was found.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let rt = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    println!("ONNX Runtime {} loaded from {}", rt.version, rt.path.display());
    println!("  {}", rt.build_info);
    // The binary restarts itself with the passive policy unless the user chose one.
    let policy = std::env::var(crate::OMP_WAIT_POLICY).unwrap_or_else(|_| "unset".into());
    println!("OpenMP threads of LightGBM: {}={policy}", crate::OMP_WAIT_POLICY);
    Ok(ExitCode::SUCCESS)
}
