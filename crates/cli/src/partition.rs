//! `churnguard partition`: a pipeline's tables split into customer partitions (`part=K/`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::MAX_PARTS;

use crate::render::thousands;

/// Arguments of `churnguard partition`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML) whose tables are split.
    pipeline: PathBuf,
    /// Number of partitions (each customer's rows go to partition FNV-1a(id) mod N).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PARTS)))]
    parts: u32,
    /// The new folder: one sub-folder per table (`events/`, `customers/`, `interactions/`),
    /// each with `part=0/` .. `part=N-1/`.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Splits the tables and prints what each partition holds.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let started = Instant::now();
    let mut bars = crate::progress::Bars::default();
    let report = churnguard_app::partition(&pipeline, args.parts, &args.out, &mut |p| bars.update(p));
    bars.finish();
    let report = report?;
    println!(
        "Wrote {} partitions of pipeline {} to {} in {:.2} s",
        report.parts,
        pipeline.name,
        report.dir.display(),
        started.elapsed().as_secs_f64()
    );
    for t in &report.tables {
        let rows: u64 = t.rows.iter().sum();
        println!(
            "  {:<13} {:>14} rows, largest partition {:>12} rows -> {}",
            t.role.name(),
            thousands(rows),
            thousands(t.largest()),
            t.dir.display()
        );
    }
    println!("To use them, point each table's path at its folder, for example:");
    for t in &report.tables {
        let dir = std::fs::canonicalize(&t.dir).unwrap_or_else(|_| t.dir.clone());
        println!("  [data.{}] path = \"{}\"", t.role.name(), dir.display());
    }
    println!("score then works one partition at a time (--part K scores one, merge joins partition lists).");
    Ok(ExitCode::SUCCESS)
}
