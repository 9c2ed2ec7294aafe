//! `churnguard score`: the early-warning list from a model package and the latest raw data.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use churnguard_app::{AppError, ListRequest, ListTimes, Scorer};
use churnguard_app::{ListFormat, ListSummary, ModelPackage, UNKNOWN_RISK};
use churnguard_config::{Capacity, Date, Pipeline, Tier, ValueSegment};

use crate::progress::Bars;
use crate::render::thousands;

/// Arguments of `churnguard score`.
#[derive(clap::Args)]
pub struct Args {
    /// The model package: a version folder or `models/<pipeline>/latest`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The pipeline config whose tables are scored (the one the package was trained with).
    #[arg(long, value_name = "FILE")]
    pipeline: PathBuf,
    /// Score with every row dated up to and including this day (default: the pipeline's
    /// `data.as_of`, else the last day of the data).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::parse_date)]
    as_of: Option<Date>,
    /// The risk list to write (under a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// parquet or csv (default: from the extension of --out, else parquet).
    #[arg(long, value_name = "parquet|csv")]
    format: Option<String>,
    /// ONNX Runtime threads, one session each (0: one per core, at most 8).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Lines of the list printed at the end.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// How many customers the team can reach: N customers or N% of the list (default:
    /// `scoring.capacity`); the first of known risk by priority are marked `within_capacity`.
    #[arg(long, value_name = "N|N%", value_parser = Capacity::parse)]
    capacity: Option<Capacity>,
    /// ONNX Runtime library (default: ORT_DYLIB_PATH, then .tools/lib).
    #[arg(long, value_name = "FILE")]
    ort_lib: Option<PathBuf>,
    /// Score only this partition of partitioned tables (`part=KEY/`), writing its partition list
    /// (Parquet) to --out, for `churnguard merge`; without it, partitioned tables are scored one
    /// partition after another and merged into the list.
    #[arg(long, value_name = "KEY")]
    part: Option<String>,
}

/// The list's format: `--format`, else the extension of `out`, else Parquet.
pub fn format_of(format: Option<&str>, out: &Path) -> anyhow::Result<ListFormat> {
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match format.or(ext.as_deref()) {
        Some("csv") => Ok(ListFormat::Csv),
        Some("parquet" | "pq") | None => Ok(ListFormat::Parquet),
        Some(other) if format.is_some() => {
            Err(crate::UsageError(format!("--format \"{other}\" is not a list format (parquet, csv)")).into())
        }
        Some(_) => Ok(ListFormat::Parquet),
    }
}

/// Scores every customer and writes the list.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let format = format_of(args.format.as_deref(), &args.out)?;
    let opened = Instant::now();
    let mut pipeline = crate::load_pipeline(&args.pipeline)?;
    if args.capacity.is_some() {
        pipeline.scoring.capacity = args.capacity;
    }
    let Scorer {
        package,
        mut model,
        sessions,
    } = churnguard_app::open_scorer(&args.model, args.ort_lib.as_deref(), args.threads)?;
    // Refused before the tables are read.
    package.package.check_pipeline(&pipeline).map_err(AppError::from)?;
    churnguard_app::prepare_output(&args.out, &package.package.dir)?;
    if args.threads > sessions {
        eprintln!(
            "note: --threads {} is more than this machine's {sessions} cores: scoring with {sessions}",
            args.threads
        );
    }
    let open = opened.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut bars = Bars::default();
    if let Some(key) = &args.part {
        let customers =
            churnguard_app::score_partition(&pipeline, key, &package, &mut model, args.as_of, &args.out, &mut |p| {
                bars.update(p)
            });
        bars.finish();
        println!(
            "Scored partition part={key}: {} customers in {:.2} s -> {} (a partition list: join the partitions' lists with churnguard merge)",
            thousands(customers?),
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let req = ListRequest {
        pipeline: &pipeline,
        package: &package,
        as_of: args.as_of,
        out: &args.out,
        format,
        top: args.top,
    };
    let written = churnguard_app::risk_list(&req, None, &mut model, &mut |p| bars.update(p));
    bars.finish();
    let written = written?;
    let seconds = started.elapsed().as_secs_f64();
    print!("{}", summary(&pipeline, &package, &written.summary, &args.out, seconds));
    print_kept(&written.kept);
    let peak = peak_memory_mb()
        .map(|mb| format!(", peak memory {mb} MB"))
        .unwrap_or_default();
    match written.times {
        Some(ListTimes {
            load,
            stages: st,
            write,
        }) => println!(
            "  time: package {open:.2}, load {load:.2}, features {:.2}, onnx {:.2}, reasons {:.2}, rank {:.2}, write {write:.2} s{peak}",
            st.features, st.onnx, st.reasons, st.rank
        ),
        None => println!("  time: package {open:.2} s{peak}"),
    }
    // The process ends next.
    written.forget();
    Ok(ExitCode::SUCCESS)
}

/// Where the list was kept for monitoring, or a warning that it could not be.
pub fn print_kept(kept: &churnguard_app::Kept) {
    match kept {
        churnguard_app::Kept::At(path) => println!("  kept for monitoring: {}", path.display()),
        churnguard_app::Kept::Off => {}
        churnguard_app::Kept::Failed(why) => {
            eprintln!("warning: the list was written, but its copy for monitoring was not: {why}")
        }
    }
}

/// The process's peak resident memory in MB, where the system tells it (Linux).
pub fn peak_memory_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn money(v: f64) -> String {
    let whole = v.round().max(0.0) as u64;
    thousands(whole)
}

/// The risk levels' cut-offs in words: fixed at training, the same for every list.
fn tier_rules(package: &ModelPackage) -> String {
    let t = package.tiers();
    format!(
        "risk level by the package's cut-offs (fixed at training): high from probability {:.3}, medium from {:.3}",
        t.high, t.medium
    )
}

/// The terminal summary: customers and value at risk per risk level, per cell of the action
/// matrix, per action and within capacity, then the top of the list.
pub fn summary(p: &Pipeline, package: &ModelPackage, list: &ListSummary, out: &Path, seconds: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Scored {} customers of pipeline {} with {} {} at {} (data up to {}) in {seconds:.2} s -> {}",
        thousands(list.customers),
        p.name,
        package.pipeline(),
        package.version(),
        list.cutoff,
        list.as_of(),
        out.display()
    );
    let _ = writeln!(
        s,
        "  priority: ranked by {}; {}",
        match list.ranked_by {
            churnguard_config::RankBy::Probability => "churn probability",
            churnguard_config::RankBy::ValueAtRisk => "value at risk (calibrated probability x value over the horizon)",
        },
        tier_rules(package)
    );
    risk_levels(&mut s, p, list);
    if list.value_known {
        action_matrix(&mut s, p, list);
    }
    actions(&mut s, list);
    capacity(&mut s, list);
    notes(&mut s, p, list, out);
    top_rows(&mut s, list);
    s
}

/// A sum of money, or "-" when the list has no values.
fn value_of(list: &ListSummary, v: f64) -> String {
    if list.value_known { money(v) } else { "-".into() }
}

/// Customers, expected churners and value at risk per risk level.
fn risk_levels(s: &mut String, p: &Pipeline, list: &ListSummary) {
    let totals = &list.totals;
    let _ = writeln!(
        s,
        "  {:<8} {:>10} {:>18} {:>20}",
        "risk", "customers", "expected churners", "expected value lost"
    );
    let unknown = (totals.unknown.customers > 0).then_some((UNKNOWN_RISK, &totals.unknown));
    for (name, total) in Tier::ALL.iter().map(|t| t.name()).zip(&totals.tiers).chain(unknown) {
        let _ = writeln!(
            s,
            "  {:<8} {:>10} {:>18} {:>20}",
            name,
            thousands(total.customers),
            thousands(total.expected_churners.round() as u64),
            value_of(list, total.value_at_risk)
        );
    }
    if totals.unknown.customers > 0 {
        let _ = writeln!(
            s,
            "  ({} customers miss more than {:.0}% of the model's inputs: risk unknown, no action; `missing_inputs` names them)",
            thousands(totals.unknown.customers),
            p.scoring.max_missing_share * 100.0
        );
    }
}

/// The action matrix: each risk level by value segment, its default action, customers and
/// value at risk (rules may give some of them another action: see the actions' table).
fn action_matrix(s: &mut String, p: &Pipeline, list: &ListSummary) {
    let sc = &p.scoring;
    let width = (sc.default_actions.iter().chain(&sc.high_value_actions))
        .map(String::len)
        .fold(14, usize::max);
    let _ = writeln!(
        s,
        "  {:<24} {:<width$} {:>10} {:>20}",
        format!("risk x value (top {}%)", sc.high_value_percent),
        "default action",
        "customers",
        "value at risk"
    );
    for t in Tier::ALL {
        for v in ValueSegment::ALL {
            let cell = &list.totals.matrix[t.index()][v.index()];
            let action = sc.action_for(Some(t), v, None);
            let default = match v {
                ValueSegment::High => &sc.high_value_actions[t.index()],
                ValueSegment::Low => &sc.default_actions[t.index()],
            };
            let name = if action < sc.actions.len() {
                &sc.actions[action].action
            } else {
                default
            };
            let _ = writeln!(
                s,
                "  {:<24} {:<width$} {:>10} {:>20}",
                format!("{:<6} x {} value", t.name(), v.name()),
                name,
                thousands(cell.customers),
                money(cell.value_at_risk)
            );
        }
    }
}

/// Customers and value at risk per action, with the rule that gives it.
fn actions(s: &mut String, list: &ListSummary) {
    let totals = &list.totals;
    let width = (list.choices.iter().zip(&totals.actions))
        .filter(|(_, total)| total.customers > 0)
        .map(|(choice, _)| choice.0.len() + choice.1.len() + 3)
        .fold(44, usize::max);
    let _ = writeln!(
        s,
        "  {:<width$} {:>10} {:>20}",
        "action (rule)", "customers", "value at risk"
    );
    for (choice, total) in list.choices.iter().zip(&totals.actions) {
        if total.customers > 0 {
            let _ = writeln!(
                s,
                "  {:<width$} {:>10} {:>20}",
                format!("{} ({})", choice.0, choice.1),
                thousands(total.customers),
                value_of(list, total.value_at_risk)
            );
        }
    }
}

/// What the team's capacity reaches: the first customers of known risk by priority.
fn capacity(s: &mut String, list: &ListSummary) {
    let Some((capacity, within)) = &list.totals.capacity else {
        return;
    };
    let all = list.totals.value_at_risk();
    let share = if all > 0.0 {
        format!(" ({:.1}% of the list's)", 100.0 * within.value_at_risk / all)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  capacity: {capacity}: the first {} customers of known risk by priority (`within_capacity`) hold {} of value at risk{share} and {} expected churners",
        thousands(within.customers),
        value_of(list, within.value_at_risk),
        thousands(within.expected_churners.round() as u64),
    );
}

/// The win-back list, missing values and unseen categories.
fn notes(s: &mut String, p: &Pipeline, list: &ListSummary, out: &Path) {
    if list.win_back > 0 {
        let _ = writeln!(
            s,
            "  already churned: {} customers with no purchase in the label's window, who brought {} in the last {} days -> win-back list {}",
            thousands(list.win_back),
            value_of(list, list.win_back_value),
            p.scoring.lookback_days,
            churnguard_app::win_back_path(out).display()
        );
    }
    if !list.value_known {
        let _ = writeln!(
            s,
            "  (no spend data: value at risk is 0; set scoring.value_attribute for a customers-only pipeline)"
        );
    }
    for (f, n) in &list.unseen_categories {
        let _ = writeln!(
            s,
            "  {f}: {} values unseen at training, scored as unknown",
            thousands(*n)
        );
    }
}

/// The first rows of the list.
fn top_rows(s: &mut String, list: &ListSummary) {
    if list.top.is_empty() {
        return;
    }
    let _ = writeln!(s, "Top {} of the list", list.top.len());
    for r in &list.top {
        let _ = writeln!(
            s,
            "  {:>4}. {:<12} {:.3} {:<6} value at risk {:>10}  {} ({})  because {}",
            r.rank,
            r.id,
            r.probability,
            Tier::name_of(r.level),
            value_of(list, r.value_at_risk),
            list.choices[r.action].0,
            list.choices[r.action].1,
            if r.reasons.is_empty() {
                "-".to_string()
            } else {
                r.reasons.join("; ")
            }
        );
    }
}
