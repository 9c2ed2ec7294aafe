//! How many threads LightGBM trains on.
//!
//! LightGBM splits each round's work evenly between its threads and waits for the last one. On a
//! core that another process keeps busy that thread runs at about half speed, and the whole round
//! with it: two threads beside one busy neighbour were 9% slower than one thread (`make bench`,
//! busy section). So `model.num_threads = 0` takes the cores that are idle when training starts.
//! The model does not depend on the count (LightGBM sums each histogram in double precision, exact
//! for its single-precision gradients, so the split of rows between threads changes no bit; a test
//! trains on 1 and 2 threads and compares the model texts), so the choice changes speed only.

use std::time::Duration;

use crate::TrainError;
use crate::lightgbm;

/// How long the machine is watched before training to see which cores other processes use.
const SAMPLE: Duration = Duration::from_millis(150);

/// A core counts as busy when other processes used at least this share of it over the sample.
const BUSY_SHARE: f64 = 0.5;

/// The threads a training run uses, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threads {
    /// Threads LightGBM trains on.
    pub used: u32,
    /// `model.num_threads` as configured (0: the idle cores).
    pub asked: u32,
    /// Cores this process may run on (CPU quota and affinity included).
    pub cores: u32,
    /// Cores' worth of CPU that other processes used while the machine was watched (None when it
    /// was not watched: a count was configured, or the system does not say).
    pub busy: Option<f64>,
}

impl Threads {
    /// A note for the user when the run uses fewer threads than asked or than cores.
    pub fn note(&self) -> Option<String> {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        if self.asked > self.cores {
            return Some(format!(
                "model.num_threads = {} is more than this machine's {} cores: training on {}",
                self.asked, self.cores, self.used
            ));
        }
        match self.busy {
            Some(busy) if self.used < self.cores => Some(format!(
                "other processes keep {busy:.1} of {} cores busy: training on {} thread{} (the model is the same on any count)",
                self.cores,
                self.used,
                plural(self.used)
            )),
            _ => None,
        }
    }
}

/// Decides the threads for `asked` (`model.num_threads`) and caps LightGBM at that many for the
/// rest of the process's training work.
pub fn settle(asked: u32) -> Result<Threads, TrainError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX));
    let threads = if asked > 0 {
        Threads {
            used: asked.min(cores),
            asked,
            cores,
            busy: None,
        }
    } else {
        let busy = others_busy(SAMPLE);
        Threads {
            used: busy.map_or(cores, |b| idle_cores(cores, b)),
            asked,
            cores,
            busy,
        }
    };
    lightgbm::set_max_threads(threads.used)?;
    Ok(threads)
}

/// Cores left for training when other processes use `busy` cores' worth: at least one.
fn idle_cores(cores: u32, busy: f64) -> u32 {
    let taken = (busy + (1.0 - BUSY_SHARE)).floor().max(0.0);
    let left = f64::from(cores) - taken;
    if left < 1.0 { 1 } else { left as u32 }
}

/// Cores' worth of CPU other processes used over `sample`: the machine's busy time less this
/// process's own, from `/proc/stat` and `/proc/self/stat` (Linux; None elsewhere).
fn others_busy(sample: Duration) -> Option<f64> {
    let before = (machine_ticks()?, own_ticks()?);
    std::thread::sleep(sample);
    let after = (machine_ticks()?, own_ticks()?);
    let total = after.0.total.checked_sub(before.0.total)?;
    if total == 0 {
        return None;
    }
    let busy = after.0.busy.saturating_sub(before.0.busy);
    let own = after.1.saturating_sub(before.1);
    let cpus = f64::from(after.0.cpus);
    Some((busy.saturating_sub(own) as f64 / total as f64 * cpus).clamp(0.0, cpus))
}

/// The machine's CPU time so far, in clock ticks summed over its CPUs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct MachineTicks {
    busy: u64,
    total: u64,
    cpus: u32,
}

fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// `/proc/stat`'s first line (`cpu user nice system idle iowait irq softirq steal ...`) and its
/// count of `cpuN` lines. Idle and waiting for I/O are free time; steal is time the host took.
fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let mut lines = stat.lines();
    let first = lines.next()?;
    let fields: Vec<u64> = first
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 8 {
        return None;
    }
    let free = fields[3] + fields[4];
    let total: u64 = fields.iter().sum();
    let cpus = lines
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(MachineTicks {
        busy: total - free,
        total,
        cpus: u32::try_from(cpus).ok().filter(|&c| c > 0)?,
    })
}

fn own_ticks() -> Option<u64> {
    parse_own_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User and system time of this process (fields 14 and 15 of `/proc/self/stat`, counted after
/// the command name, which may hold spaces and parentheses).
fn parse_own_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state), so fields 14 and 15 are at 11 and 12.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_neighbour_takes_a_core_and_a_light_one_does_not() {
        assert_eq!(idle_cores(2, 0.0), 2);
        assert_eq!(idle_cores(2, 0.3), 2);
        assert_eq!(idle_cores(2, 0.6), 1);
        assert_eq!(idle_cores(2, 1.0), 1);
        assert_eq!(idle_cores(2, 2.0), 1);
        assert_eq!(idle_cores(8, 2.9), 5);
    }

    #[test]
    fn proc_stat_is_read_as_the_kernel_writes_it() {
        let stat =
            "cpu  100 5 50 800 20 1 2 22 0 0\ncpu0 50 2 25 400 10 0 1 11 0 0\ncpu1 50 3 25 400 10 1 1 11 0 0\nintr 1\n";
        let t = parse_machine_ticks(stat).expect("parsed");
        assert_eq!(
            t,
            MachineTicks {
                busy: 180,
                total: 1000,
                cpus: 2
            }
        );
        assert_eq!(parse_machine_ticks("intr 1\n"), None);
        let own = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(parse_own_ticks(own), Some(42));
        assert_eq!(parse_own_ticks("garbage"), None);
    }

    #[test]
    fn notes_say_why_fewer_threads_are_used() {
        let threads = |used, asked, busy| Threads {
            used,
            asked,
            cores: 2,
            busy,
        };
        let capped = threads(2, 64, None).note();
        assert!(capped.is_some_and(|n| n.contains("64") && n.contains("training on 2")));
        let busy = threads(1, 0, Some(1.0)).note();
        assert!(busy.is_some_and(|n| n.contains("1.0 of 2 cores") && n.contains("1 thread ")));
        assert_eq!(threads(2, 0, Some(0.1)).note(), None);
    }
}
