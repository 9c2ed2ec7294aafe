//! `churnguard-fuzz`: mutation fuzzing of what churnguard reads from users, on the stable
//! toolchain, and the replay of saved findings. Each target takes seed inputs from `fuzz/corpus` (and the bundled pipelines and
//! data), damages them (bit flips, bytes set to delimiters and extremes, insertions, deletions,
//! duplicated and spliced ranges, truncation, digits replaced by huge or odd numbers) and feeds
//! them to the same code a user's file or request reaches. A panic is a finding: the input is
//! saved under `fuzz/crashes/` and the run exits 1.
//!
//! Not coverage-guided: `make fuzz` runs the libFuzzer targets of `fuzz/` for that. This one
//! needs no nightly toolchain, so `make test` runs it on a few seeded inputs, and `replay`
//! feeds every file of `fuzz/regressions/<target>/` (libFuzzer's findings, once fixed) through
//! its target.
//!
//! Usage: churnguard-fuzz TARGET|all [--seconds N | --iterations N] [--seed S]
//!        churnguard-fuzz replay TARGET|all
//! Targets: model, config, csv, parquet, request.

use std::path::Path;
use std::time::{Duration, Instant};

use churnguard_eval::SplitMix64;
use churnguard_fuzz::{Target, mutate, targets};

/// How long each target runs, or that it replays saved findings instead of mutating.
enum Budget {
    Seconds(f64),
    Iterations(u64),
    Replay,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (names, budget, seed) = match parse_args(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "error: {e}\nusage: churnguard-fuzz TARGET|all [--seconds N | --iterations N] [--seed S]\n       churnguard-fuzz replay TARGET|all\ntargets: {}",
                targets::NAMES.join(", ")
            );
            std::process::exit(2);
        }
    };
    let root = churnguard_fuzz::repository();
    quiet_panics();
    let mut found = 0;
    for name in names {
        let mut target = match targets::open(&name, &root) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target {name}: {e}");
                std::process::exit(1);
            }
        };
        found += match budget {
            Budget::Replay => replay(&mut *target, &name, &root),
            _ => run(&mut *target, &name, &budget, seed, &root),
        };
    }
    std::process::exit(i32::from(found > 0));
}

fn parse_args(args: &[String]) -> Result<(Vec<String>, Budget, u64), String> {
    let mut names = Vec::new();
    let mut budget = Budget::Seconds(60.0);
    let mut seed = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value")).cloned();
        match a.as_str() {
            "--seconds" => budget = Budget::Seconds(value(a)?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "--iterations" => budget = Budget::Iterations(value(a)?.parse().map_err(|e| format!("--iterations: {e}"))?),
            "--seed" => seed = value(a)?.parse().map_err(|e| format!("--seed: {e}"))?,
            "replay" if names.is_empty() => budget = Budget::Replay,
            "all" => names.extend(targets::NAMES.iter().map(|n| n.to_string())),
            n if targets::NAMES.contains(&n) => names.push(n.to_string()),
            other => return Err(format!("unknown target or flag `{other}`")),
        }
    }
    if names.is_empty() {
        return Err("name a target".into());
    }
    Ok((names, budget, seed))
}

/// Panics are findings, reported once per input by `run`, not printed as they happen.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = churnguard_ingest::panic_message(info.payload());
        LAST_PANIC.with(|p| *p.borrow_mut() = format!("{message}{place}"));
    }));
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Feeds every saved finding of target `name` through it; returns the number that panicked.
fn replay(target: &mut dyn Target, name: &str, root: &Path) -> u64 {
    let dir = churnguard_fuzz::regressions(root, name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    let mut crashes = 0;
    for file in &files {
        let Ok(input) = std::fs::read(file) else {
            continue;
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(&input))).is_err() {
            crashes += 1;
            let why = LAST_PANIC.with(|p| p.borrow().clone());
            eprintln!("{name}: {} panicked ({why})", file.display());
        }
    }
    println!("{name:<8} {:>8} findings replayed, {crashes} panicked", files.len());
    crashes
}

/// Runs one target for its budget; returns the number of inputs that panicked.
fn run(target: &mut dyn Target, name: &str, budget: &Budget, seed: u64, root: &Path) -> u64 {
    let seeds = target.seeds();
    let mut rng = SplitMix64::stream(seed, name.len() as u64 * 7919 + u64::from(name.as_bytes()[0]));
    let started = Instant::now();
    let (mut n, mut crashes) = (0u64, 0u64);
    loop {
        match budget {
            Budget::Seconds(s) if started.elapsed() >= Duration::from_secs_f64(*s) => break,
            Budget::Iterations(i) if n >= *i => break,
            Budget::Replay => break,
            _ => {}
        }
        let input = mutate::mutate(&seeds, &mut rng);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(&input)));
        if outcome.is_err() {
            crashes += 1;
            let dir = root.join("fuzz/crashes");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{seed}-{n}.bin"));
            let _ = std::fs::write(&file, &input);
            let why = LAST_PANIC.with(|p| p.borrow().clone());
            eprintln!("{name}: input {n} panicked ({why}); saved as {}", file.display());
        }
        n += 1;
    }
    println!(
        "{name:<8} {n:>8} inputs in {:>6.1} s, {crashes} panicked",
        started.elapsed().as_secs_f64()
    );
    crashes
}
