//! `churnguard compare`: packages scored on the same labelled customers, side by side.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::{CompareRequest, compare};
use churnguard_app::{Comparison, FailIfWorse};
use churnguard_config::Date;
use churnguard_report::{comparison_report, figure_table, gate_table, migration_table, p_value, paired_table};

use crate::progress::Bars;

/// Exit code when a package is worse than the baseline beyond a `--fail-if-worse` margin.
pub const EXIT_WORSE: u8 = 3;

/// Arguments of `churnguard compare`.
#[derive(clap::Args)]
pub struct Args {
    /// Two or more model packages (version folders or `latest` links); the first is the
    /// baseline the others are tested against.
    #[arg(value_name = "PACKAGE", num_args = 2.., required = true)]
    packages: Vec<PathBuf>,
    /// The pipeline config whose labelled data every package is scored on.
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// The snapshot's cutoff (default: the baseline's test cutoff); its outcomes must be known.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    cutoff: Option<Date>,
    /// Write every figure as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the page with the curves overlaid here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Exit with code 3 when a package is worse than the baseline by more than a margin:
    /// `auc=0.01,brier=0.005` (metrics: auc, pr_auc, log_loss, brier, ece, lift10).
    #[arg(long, value_name = "METRIC=MARGIN,...")]
    fail_if_worse: Option<FailIfWorse>,
    /// ONNX Runtime threads per session (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// ONNX Runtime library (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
}

/// Compares the packages and prints, writes and gates the result.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let runtime = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    let mut bars = Bars::default();
    let history = bars.load(&pipeline)?;
    let request = CompareRequest {
        pipeline: &pipeline,
        packages: &args.packages,
        cutoff: args.cutoff,
        runtime,
        threads: args.threads,
        gates: args.fail_if_worse.as_ref(),
    };
    let comparison = compare(&request, &history, &mut |p| bars.update(p));
    bars.finish();
    let comparison = comparison?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&comparison)?;
        crate::write_file(path, json.as_bytes())?;
    }
    if let Some(path) = &args.html {
        crate::write_file(path, comparison_report(&comparison).as_bytes())?;
    }
    print!("{}", summary(&comparison, args, started.elapsed().as_secs_f64()));
    std::mem::forget(history);
    Ok(if comparison.failed() {
        ExitCode::from(EXIT_WORSE)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(c: &Comparison, args: &Args, seconds: f64) -> String {
    use std::fmt::Write as _;
    let names = c.names();
    let mut s = String::new();
    let rate = c.churners as f64 / c.customers.max(1) as f64;
    let _ = writeln!(
        s,
        "compared {} packages of {} on {} customers at cutoff {} ({} churners, {:.1}%), each with its own features",
        c.models.len(),
        c.pipeline,
        c.customers,
        c.cutoff,
        c.churners,
        rate * 100.0
    );
    let _ = writeln!(s, "measured on {}\n", c.population);
    s.push_str(&figure_table(c, &names).text());
    let _ = writeln!(s, "\nagainst the baseline {}:", names[0]);
    s.push_str(&paired_table(c, &names).text());
    for p in &c.paired {
        let _ = writeln!(s, "\ntiers: {} (rows) to {} (columns)", names[0], names[p.model]);
        s.push_str(&migration_table(&p.migration).text());
    }
    for p in &c.paired {
        let d = &p.delong;
        let verdict = if d.p_value < 0.05 {
            format!("the difference is significant at 5% (p = {})", p_value(d.p_value))
        } else {
            format!("the difference is not significant at 5% (p = {})", p_value(d.p_value))
        };
        let _ = writeln!(
            s,
            "\n{} - {}: AUC {:+.4}: {verdict}",
            names[p.model], names[0], d.difference
        );
    }
    if !c.gates.is_empty() {
        let _ = writeln!(s, "\n--fail-if-worse:");
        s.push_str(&gate_table(c, &names).text());
        if c.failed() {
            let _ = writeln!(
                s,
                "a package is worse than the baseline beyond a margin: exit code {EXIT_WORSE}"
            );
        }
    }
    for (what, path) in [("json", &args.json), ("html", &args.html)] {
        if let Some(p) = path {
            let _ = writeln!(s, "{what}: {}", p.display());
        }
    }
    let _ = writeln!(s, "time: {seconds:.2} s");
    s
}
