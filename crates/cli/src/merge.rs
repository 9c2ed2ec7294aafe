//! `churnguard merge`: partition lists (`score --part`) joined into the one ranked list.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `churnguard merge`.
#[derive(clap::Args)]
pub struct Args {
    /// The model package every partition was scored with.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The pipeline config (its tiers and actions apply to the merged list).
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// The merged risk list (the win-back list goes beside it).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// parquet or csv (default: from the extension of --out, else parquet).
    #[arg(long, value_name = "parquet|csv")]
    format: Option<String>,
    /// Lines of the list printed at the end.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// How many customers the team can reach: N customers or N% of the merged list (default:
    /// `scoring.capacity`).
    #[arg(long, value_name = "N|N%", value_parser = churnguard_config::Capacity::parse)]
    capacity: Option<churnguard_config::Capacity>,
    /// The partition lists written by `churnguard score --part`.
    #[arg(required = true, value_name = "LIST")]
    lists: Vec<PathBuf>,
}

/// Merges the lists and prints the summary.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let format = crate::score::format_of(args.format.as_deref(), &args.out)?;
    let mut pipeline = crate::load_pipeline(&args.pipeline)?;
    if args.capacity.is_some() {
        pipeline.scoring.capacity = args.capacity;
    }
    let package = churnguard_app::open_package(&args.model)?;
    churnguard_app::prepare_output(&args.out, &package.package.dir)?;
    let started = Instant::now();
    let merged = churnguard_app::merge_partition_lists(&pipeline, &package, &args.lists, &args.out, format, args.top)?;
    let seconds = started.elapsed().as_secs_f64();
    print!(
        "{}",
        crate::score::summary(&pipeline, &package, &merged.summary, &args.out, seconds)
    );
    crate::score::print_kept(&merged.kept);
    Ok(ExitCode::SUCCESS)
}
