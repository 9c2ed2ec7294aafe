//! `churnguard features`: the feature table of a pipeline at one or several cutoffs, as Parquet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::FeaturesRequest;
use churnguard_app::SnapshotReport;
use churnguard_config::Date;

use crate::render::thousands;

/// Arguments of `churnguard features`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML).
    pipeline: PathBuf,
    /// A cutoff: features use only rows dated before this day. Repeat for several snapshots;
    /// without it, the pipeline's `[snapshots]` (training cutoffs, then the test cutoff).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    cutoff: Vec<Date>,
    /// Output Parquet file (written under a temporary name, then renamed); one row group per
    /// snapshot.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Builds the snapshots and writes them.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let started = Instant::now();
    let req = FeaturesRequest {
        pipeline: &pipeline,
        cutoffs: &args.cutoff,
        out: churnguard_app::FeaturesOut::File(&args.out),
        history: None,
    };
    let mut bars = crate::progress::Bars::default();
    let table = churnguard_app::feature_table(&req, &mut |p| bars.update(p));
    bars.finish();
    let table = table?;
    for r in &table.reports {
        print_report(r);
    }
    let snapshots = table.reports.len();
    let parts = table
        .partitions
        .map(|n| format!(", {n} partitions"))
        .unwrap_or_default();
    let times = table
        .times
        .map(|[load, features, write]| format!(": load {load:.2}, features {features:.2}, write {write:.2}"))
        .unwrap_or_default();
    println!(
        "{} rows ({snapshots} snapshot{}{parts}), {} features -> {} ({:.2} s{times})",
        thousands(table.rows()),
        if snapshots == 1 { "" } else { "s" },
        table.features,
        args.out.display(),
        started.elapsed().as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &SnapshotReport) {
    println!("{} customers at cutoff {}", thousands(r.customers), r.cutoff);
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
}
