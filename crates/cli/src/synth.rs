//! `churnguard synth`: a synthetic data set for scale tests and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::SynthConfig;
use churnguard_config::Date;

use crate::render::thousands;

/// Arguments of `churnguard synth`.
#[derive(clap::Args)]
pub struct Args {
    /// Number of customers.
    #[arg(long, default_value_t = 100_000)]
    customers: u64,
    /// Seed: the same seed writes the same files, byte for byte.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output folder (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// First day of the observed period.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    start: Option<Date>,
    /// Last day of the observed period.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    end: Option<Date>,
    /// Multiply every customer's purchase rate (a shifted population, to check drift monitoring).
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    purchase_rate_scale: f64,
}

/// Generates the data set and prints what was written.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut cfg = SynthConfig::new(args.customers, args.seed);
    cfg.start = args.start.unwrap_or(cfg.start);
    cfg.end = args.end.unwrap_or(cfg.end);
    cfg.purchase_rate_scale = args.purchase_rate_scale;
    let started = Instant::now();
    let bar = crate::progress::bar("synth", Some(args.customers), "customers");
    let summary = churnguard_app::synth(&cfg, &args.out, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "{} customers, {} events ({} purchases, {:.1} per customer), {} interactions; {} churn inside {} to {} ({:.1} s)",
        thousands(summary.customers),
        thousands(summary.events),
        thousands(summary.purchases),
        summary.purchases as f64 / summary.customers as f64,
        thousands(summary.interactions),
        thousands(summary.churned),
        cfg.start,
        cfg.end,
        started.elapsed().as_secs_f64()
    );
    for f in &summary.files {
        println!("  {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
