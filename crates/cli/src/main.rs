//! The `churnguard` command line.
//!
//! Exit codes: 0 on success, 1 when the work itself fails (unreadable data, unusable tables),
//! 2 on a usage or config error, 3 when `compare --fail-if-worse` finds a package worse than
//! its baseline, 4 when `monitor` finds an input drifted and 5 when it finds performance dropped.

mod compare;
mod doctor;
mod export;
mod features;
mod merge;
mod monitor;
mod partition;
mod progress;
mod render;
mod report;
mod retrain;
mod score;
mod serve;
mod synth;
mod train;
mod validate;

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: the service allocates many small values per
/// request on several threads, where glibc's malloc spent a third of the time and its
/// consolidations stretched the latency tail.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for a usage or config error.
const EXIT_USAGE: u8 = 2;
/// Exit code for a runtime failure.
const EXIT_FAILURE: u8 = 1;

/// Warns a company, early, which customers are about to leave.
#[derive(Parser)]
#[command(name = "churnguard", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load every table of a pipeline and print the validation report.
    ///
    /// Exits 0 when the data is usable, 1 when it is not, 2 when the config is invalid.
    Validate(validate::Args),
    /// Compute the point-in-time feature table of a pipeline at one or several cutoffs and write it as Parquet.
    Features(features::Args),
    /// Write a realistic synthetic data set (events, customers, interactions) for scale tests.
    Synth(synth::Args),
    /// Train a pipeline's model: features, LightGBM with early stopping, evaluation, exact ONNX export, and a new versioned model package.
    Train(train::Args),
    /// The main job: train, evaluate, export and package, then score the latest snapshot into a risk list beside the package.
    Run(train::Args),
    /// Score every customer with a model package: the ranked early-warning list with tiers, reasons, value at risk and actions.
    Score(score::Args),
    /// Split a pipeline's tables into customer partitions (part=K/ folders), so that every later stage can work one partition at a time.
    Partition(partition::Args),
    /// Merge partition lists (score --part) into the one ranked list: the list scoring every customer at once would give.
    Merge(merge::Args),
    /// Export any LightGBM model text to an exact ONNX model, and check it through ONNX Runtime.
    Export(export::Args),
    /// Serve the early-warning answers online over HTTP: one customer's risk, reasons and action now, with hot model reload.
    Serve(serve::Args),
    /// Draw a package's report.html again from its manifest (charts of its figures, self-contained).
    Report(report::Args),
    /// Score the same labelled customers with several packages and say whether their differences are real.
    ///
    /// Exits 3 when --fail-if-worse finds a package worse than the baseline beyond a margin.
    Compare(compare::Args),
    /// Check a package's inputs for drift against its training data, and its performance on kept lists whose outcomes are now known.
    ///
    /// Exits 0 when fine, 4 when an input drifted beyond an alert threshold, 5 when performance dropped.
    Monitor(monitor::Args),
    /// Train a challenger on the latest data, compare it with `latest`, and promote it only when it is not worse.
    ///
    /// Every decision is appended to models/<pipeline>/history.jsonl.
    Retrain(retrain::Args),
    /// Check the runtime environment: the ONNX Runtime library and its version.
    Doctor(doctor::Args),
}

/// An error in what the user asked for (config or arguments), as opposed to a failure while
/// doing it; it selects exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The OpenMP variable that stops LightGBM's waiting threads from spinning.
const OMP_WAIT_POLICY: &str = "OMP_WAIT_POLICY";

/// Runs this program again with `OMP_WAIT_POLICY=passive` unless the user set the variable.
/// OpenMP spins its idle threads by default, which on a shared machine made training several
/// times slower; libgomp reads the variable when it loads, before `main`, so setting it here
/// takes a fresh start of the process. Returns only when the variable was set already or the
/// new start failed (then the run goes on as it is).
fn keep_openmp_passive() {
    if std::env::var_os(OMP_WAIT_POLICY).is_some() {
        return;
    }
    #[cfg(unix)]
    if let Ok(me) = std::env::current_exe() {
        use std::os::unix::process::CommandExt;
        let _ = std::process::Command::new(me)
            .args(std::env::args_os().skip(1))
            .env(OMP_WAIT_POLICY, "passive")
            .exec();
    }
}

/// A closed pipe (`churnguard score ... | head`) ends a command that only prints quietly, as it
/// ends other command-line tools, instead of panicking at the next line printed. Commands with
/// sockets (`serve`, distributed `train`) keep Rust's default, so a peer that closes its
/// connection is an error they report, not a silent death.
fn quiet_on_closed_pipe(command: &Command) {
    if matches!(
        command,
        Command::Serve(_) | Command::Train(_) | Command::Run(_) | Command::Retrain(_)
    ) {
        return;
    }
    // SAFETY: restores the default action of one signal, before this program starts a thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The parquet crate panics on some damaged files; ingest catches those panics and reports the
/// file as damaged, so a panic there gets one line instead of a panic report and backtrace.
fn brief_parquet_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(why) = churnguard_app::reader_panic(info.payload()) {
            eprintln!("note: the Parquet reader stopped on damaged data ({why})");
        } else {
            default(info);
        }
    }));
}

fn main() -> ExitCode {
    keep_openmp_passive();
    brief_parquet_panics();
    let cli = Cli::parse();
    quiet_on_closed_pipe(&cli.command);
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Features(args) => features::run(&args),
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => train::run(&args, false),
        Command::Run(args) => train::run(&args, true),
        Command::Score(args) => score::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Partition(args) => partition::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Retrain(args) => retrain::run(&args),
        Command::Doctor(args) => doctor::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if is_usage(&e) { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

/// The one rule for exit code 2: an error anywhere in the chain that is in what the user asked
/// for (config, arguments, a package of another pipeline).
fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.is::<churnguard_config::ConfigError>()
            || cause.is::<UsageError>()
            || cause
                .downcast_ref::<churnguard_app::AppError>()
                .is_some_and(churnguard_app::AppError::is_usage)
            || cause
                .downcast_ref::<churnguard_serve::ServeError>()
                .is_some_and(churnguard_serve::ServeError::is_usage)
    })
}

/// Parses a `YYYY-MM-DD` argument.
fn parse_date(s: &str) -> Result<churnguard_config::Date, String> {
    let d = churnguard_config::Date::parse_iso(s.trim())
        .ok_or_else(|| format!("\"{s}\" is not a date (expected YYYY-MM-DD)"))?;
    let years = churnguard_config::DATE_YEARS;
    if !years.contains(&d.ymd().0) {
        return Err(format!("{d} is outside the years {}..={}", years.start(), years.end()));
    }
    Ok(d)
}

/// Reads a pipeline config, as a usage error when it is wrong.
fn load_pipeline(path: &Path) -> anyhow::Result<churnguard_config::Pipeline> {
    Ok(churnguard_config::load(path)?)
}

/// Writes under a temporary name, then renames: a reader never sees half a file.
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    let done = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("cannot write {}", path.display())));
    }
    Ok(())
}
