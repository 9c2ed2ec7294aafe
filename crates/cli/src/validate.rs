//! `churnguard validate`: load every configured table and report what was found.

use std::path::PathBuf;
use std::process::ExitCode;

use churnguard_config::Date;

use crate::render;

/// Arguments of `churnguard validate`.
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline config file (TOML).
    pipeline: PathBuf,
    /// Flag rows dated after this day (overrides `data.as_of`).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    as_of: Option<Date>,
    /// Treat every rejected row as an error (overrides `data.strict`).
    #[arg(long)]
    strict: bool,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the validation and prints the report; exit 1 when the data is not usable.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut pipeline = crate::load_pipeline(&args.pipeline)?;
    pipeline.data.strict |= args.strict;
    let mut bars = crate::progress::Bars::default();
    let report = churnguard_app::validate(&pipeline, args.as_of, &mut |p| bars.update(p));
    bars.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::validation(&report, pipeline.label.as_ref()));
    }
    Ok(if report.usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}
