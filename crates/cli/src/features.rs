//! `churnguard features`: the feature table of a pipeline at one or several cutoffs, as Parquet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use churnguard_config::Date;
use churnguard_features::{FeatureError, SnapshotReport, load_with_progress, snapshot, spec_for};
use churnguard_ingest::ParquetOut;
use parquet::basic::Compression;

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
    let cutoffs: Vec<Date> = if args.cutoff.is_empty() {
        let s = &pipeline.snapshots;
        s.train_cutoffs.iter().chain(&s.test_cutoff).copied().collect()
    } else {
        args.cutoff.clone()
    };
    if cutoffs.is_empty() {
        return Err(crate::UsageError(format!(
            "no cutoff: give --cutoff YYYY-MM-DD, or set [snapshots] train_cutoffs or test_cutoff in {}",
            args.pipeline.display()
        ))
        .into());
    }
    let started = Instant::now();
    if let Some(keys) = churnguard_app::partition_keys(&pipeline)? {
        return run_partitioned(args, &pipeline, &keys, &cutoffs, started);
    }
    let mut bars = crate::progress::TableBars::default();
    let history = load_with_progress(&pipeline, None, &mut |p| bars.update(p));
    bars.finish();
    let history = history?;
    let load_time = started.elapsed();
    let spec = spec_for(&pipeline, &history);
    let (mut compute_time, mut write_time) = (Duration::ZERO, Duration::ZERO);
    let mut out: Option<ParquetOut> = None;
    let mut rows = 0;
    for &cutoff in &cutoffs {
        let t = Instant::now();
        let snap = match snapshot(&pipeline, &history, &spec, cutoff) {
            Err(e @ FeatureError::CutoffBeforeData { .. }) => return Err(crate::UsageError(e.to_string()).into()),
            other => other?,
        };
        compute_time += t.elapsed();
        let t = Instant::now();
        let file = match &mut out {
            Some(file) => file,
            None => out.insert(ParquetOut::create(
                &args.out,
                snap.batch.schema(),
                Compression::UNCOMPRESSED,
            )?),
        };
        file.write(&snap.batch)?;
        write_time += t.elapsed();
        rows += snap.report.customers;
        print_report(&snap.report);
    }
    let t = Instant::now();
    if let Some(file) = out {
        file.finish()?;
    }
    write_time += t.elapsed();
    println!(
        "{} rows ({} snapshot{}), {} features -> {} ({:.2} s: load {:.2}, features {:.2}, write {:.2})",
        thousands(rows),
        cutoffs.len(),
        if cutoffs.len() == 1 { "" } else { "s" },
        spec.features.len(),
        args.out.display(),
        started.elapsed().as_secs_f64(),
        load_time.as_secs_f64(),
        compute_time.as_secs_f64(),
        write_time.as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}

/// The feature table of partitioned tables, one partition at a time: row groups partition by
/// partition (cutoff after cutoff within each), every partition with the same spec.
fn run_partitioned(
    args: &Args,
    pipeline: &churnguard_config::Pipeline,
    keys: &[String],
    cutoffs: &[Date],
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let mut bars = crate::progress::Bars::default();
    let (spec, first) = churnguard_app::partitioned_spec(pipeline, keys, &mut |p| bars.update(p))?;
    let mut out: Option<ParquetOut> = None;
    let mut reports: Vec<SnapshotReport> = Vec::new();
    let done = churnguard_app::each_partition(pipeline, keys, first, &mut |p| bars.update(p), &mut |_, h, _| {
        for (i, &cutoff) in cutoffs.iter().enumerate() {
            let snap = match snapshot(pipeline, h, &spec, cutoff) {
                Err(e @ FeatureError::CutoffBeforeData { .. }) => {
                    return Err(churnguard_app::AppError::Features(e));
                }
                other => other?,
            };
            let file = match &mut out {
                Some(file) => file,
                None => out.insert(
                    ParquetOut::create(&args.out, snap.batch.schema(), Compression::UNCOMPRESSED)
                        .map_err(churnguard_infer::OutputError::from)?,
                ),
            };
            file.write(&snap.batch).map_err(churnguard_infer::OutputError::from)?;
            match reports.get_mut(i) {
                Some(r) => r.add(&snap.report),
                None => reports.push(snap.report),
            }
        }
        Ok(())
    });
    bars.finish();
    done?;
    if let Some(file) = out {
        file.finish()?;
    }
    for r in &reports {
        print_report(r);
    }
    let rows: u64 = reports.iter().map(|r| r.customers).sum();
    println!(
        "{} rows ({} snapshot{}, {} partitions), {} features -> {} ({:.2} s)",
        thousands(rows),
        cutoffs.len(),
        if cutoffs.len() == 1 { "" } else { "s" },
        keys.len(),
        spec.features.len(),
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
