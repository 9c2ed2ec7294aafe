//! `churnguard monitor`: input drift and performance on matured lists, with an exit code a
//! scheduler can act on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::{Drift, Monitoring};
use churnguard_app::{MonitorRequest, monitor};
use churnguard_config::Date;
use churnguard_report::{feature_table, matured_table, monitoring_report, population_table};

use crate::progress::Bars;

/// Exit code when an input drifted beyond an alert threshold (and performance held).
pub const EXIT_DRIFT: u8 = 4;
/// Exit code when the package performs worse on matured outcomes than at training.
pub const EXIT_PERFORMANCE: u8 = 5;

/// Arguments of `churnguard monitor`.
#[derive(clap::Args)]
pub struct Args {
    /// The model package (a version folder or a `latest` link).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The pipeline config whose data is checked.
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// The day the inputs are read at (default: `data.as_of`, else the last day of the data).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    as_of: Option<Date>,
    /// Write every figure as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the page with the charts here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Features listed in the terminal table (the most drifted first; all in JSON and HTML).
    #[arg(long, default_value_t = 15)]
    top: usize,
    /// ONNX Runtime threads (0: its default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// ONNX Runtime library (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
}

/// Monitors the package and prints, writes and reports the verdict in the exit code.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let pipeline = crate::load_pipeline(&args.pipeline)?;
    let runtime = churnguard_app::onnx_runtime(args.ort_lib.as_deref())?;
    let mut bars = Bars::default();
    let history = bars.load(&pipeline)?;
    let request = MonitorRequest {
        pipeline: &pipeline,
        package: &args.model,
        as_of: args.as_of,
        runtime,
        threads: args.threads,
    };
    let m = monitor(&request, &history, &mut |p| bars.update(p));
    bars.finish();
    let m = m?;
    if let Some(path) = &args.json {
        crate::write_file(path, serde_json::to_string_pretty(&m)?.as_bytes())?;
    }
    if let Some(path) = &args.html {
        crate::write_file(path, monitoring_report(&m).as_bytes())?;
    }
    print!("{}", summary(&m, args, started.elapsed().as_secs_f64()));
    std::mem::forget(history);
    Ok(ExitCode::from(exit_code(&m)))
}

/// 0 fine, [`EXIT_PERFORMANCE`] when performance dropped (whatever the drift), else
/// [`EXIT_DRIFT`] when an input drifted.
fn exit_code(m: &Monitoring) -> u8 {
    if m.performance_dropped() {
        EXIT_PERFORMANCE
    } else if m.drift() == Drift::Drifted {
        EXIT_DRIFT
    } else {
        0
    }
}

fn summary(m: &Monitoring, args: &Args, seconds: f64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "monitored {} {} at {}: {} customers still with us\nreference: {}\n",
        m.pipeline, m.version, m.as_of, m.population.customers, m.reference
    );
    s.push_str(&population_table(m).text());
    let judged = |drift: Drift| m.features.iter().filter(|f| f.judged && f.drift == drift).count();
    let not_judged = m.features.iter().filter(|f| !f.judged).count();
    let _ = writeln!(
        s,
        "\nfeatures: {} drifted, {} shifted, {} stable, {not_judged} not judged (grow with the calendar) (PSI warn {}, alert {})",
        judged(Drift::Drifted),
        judged(Drift::Shifted),
        judged(Drift::Stable),
        m.thresholds.psi_warn,
        m.thresholds.psi_alert
    );
    let shown = Monitoring {
        features: m.features.iter().take(args.top).cloned().collect(),
        ..m.clone()
    };
    s.push_str(&feature_table(&shown).text());
    if m.features.len() > args.top {
        let _ = writeln!(s, "({} more in --json / --html)", m.features.len() - args.top);
    }
    for f in m.features.iter().filter(|f| !f.judged) {
        let _ = writeln!(
            s,
            "not judged: {} (PSI {:.3}): it grows with the calendar, so its drift says only that time has passed",
            f.feature, f.psi
        );
    }
    if m.matured.is_empty() {
        let _ = writeln!(
            s,
            "\nno kept list has matured yet (`score` keeps every list it writes; its outcomes are known once the horizon has passed)"
        );
    } else {
        let _ = writeln!(s, "\nperformance on matured lists:");
        s.push_str(&matured_table(m).text());
    }
    for skipped in &m.skipped {
        let _ = writeln!(s, "  skipped {skipped}");
    }
    let verdict = match exit_code(m) {
        EXIT_PERFORMANCE => format!("performance dropped: exit code {EXIT_PERFORMANCE}"),
        EXIT_DRIFT => format!("inputs drifted: exit code {EXIT_DRIFT}"),
        _ => "no alert".to_string(),
    };
    let _ = writeln!(s, "\nverdict: {verdict}");
    for (what, path) in [("json", &args.json), ("html", &args.html)] {
        if let Some(p) = path {
            let _ = writeln!(s, "{what}: {}", p.display());
        }
    }
    let _ = writeln!(s, "time: {seconds:.2} s");
    s
}
