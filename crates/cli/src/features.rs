//! `churnguard features`: the feature table of a pipeline at one cutoff, as Parquet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use churnguard_config::Date;
use churnguard_features::{FeatureError, load, snapshot, spec_for};

use crate::render::thousands;

/// Arguments of `churnguard features`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML).
    pipeline: PathBuf,
    /// The cutoff: features use only rows dated before this day.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    cutoff: Date,
    /// Output Parquet file (written under a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Builds the snapshot and writes it.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let started = Instant::now();
    let spinner = crate::progress::bar("features", None, "");
    spinner.set_message("loading tables");
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let history = load(&pipeline, None)?;
    let spec = spec_for(&pipeline, &history);
    let snap = match snapshot(&pipeline, &history, &spec, args.cutoff) {
        Err(e @ FeatureError::CutoffBeforeData { .. }) => return Err(crate::UsageError(e.to_string()).into()),
        other => other?,
    };
    spinner.finish_and_clear();
    write_parquet(&snap.batch, &args.out)?;
    let r = &snap.report;
    println!(
        "{} customers at cutoff {}, {} features -> {} ({:.2} s)",
        thousands(r.customers),
        r.cutoff,
        spec.features.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    match (r.churn_rate(), &r.unlabelled_reason) {
        (Some(rate), _) => println!(
            "  labelled {}, churned {} (rate {rate:.3})",
            thousands(r.labelled),
            thousands(r.churned)
        ),
        (None, Some(why)) => println!("  unlabelled: {why}"),
        (None, None) => {}
    }
    if r.events_without_customer_row > 0 {
        println!(
            "  {} customers have events but no row in the customers table",
            thousands(r.events_without_customer_row)
        );
    }
    if r.contacts_of_unknown_customers > 0 {
        println!(
            "  {} contacts of unknown customers were dropped",
            thousands(r.contacts_of_unknown_customers)
        );
    }
    for (f, n) in &r.unseen_categories {
        println!(
            "  {}: {} values not in the dictionary (mapped to missing)",
            f,
            thousands(*n)
        );
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_parquet(batch: &arrow::record_batch::RecordBatch, out: &std::path::Path) -> anyhow::Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.tmp"));
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)?;
    w.write(batch)?;
    w.close()?;
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
