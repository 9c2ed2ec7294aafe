//! `churnguard report`: a package's `report.html` drawn again from its manifest.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `churnguard report`.
#[derive(clap::Args)]
pub struct Args {
    /// The model package: a version folder or `models/<pipeline>/latest`.
    #[arg(value_name = "PACKAGE")]
    package: PathBuf,
}

/// Verifies the package, draws its report and replaces `report.html`.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let path = churnguard_app::redraw_report(&args.package)?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({} KB) in {:.3} s",
        path.display(),
        bytes.div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
