//! A short, seeded run of every fuzz target in `make test`: the same inputs every time, and no
//! panic among them; and every saved finding of `make fuzz` (`fuzz/regressions/<target>/`)
//! replayed on the stable toolchain.

use churnguard_fuzz::{NAMES, regressions, repository};

/// The stdout of `churnguard-fuzz ARGS`, which must exit 0.
fn fuzz(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_churnguard-fuzz"))
        .args(args)
        .env("OMP_WAIT_POLICY", "passive")
        .output()
        .expect("churnguard-fuzz runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "churnguard-fuzz {args:?}\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn every_target_survives_a_short_seeded_run() {
    let stdout = fuzz(&["all", "--iterations", "400", "--seed", "7"]);
    for target in NAMES {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(target) && l.contains("400 inputs") && l.ends_with("0 panicked")),
            "{target} did not run 400 inputs cleanly:\n{stdout}"
        );
    }
}

#[test]
fn every_saved_finding_is_replayed_without_a_panic() {
    let stdout = fuzz(&["replay", "all"]);
    for target in NAMES {
        let saved = std::fs::read_dir(regressions(&repository(), target))
            .map_or(0, |d| d.flatten().filter(|e| e.path().is_file()).count());
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(target) && l.contains(&format!(" {saved} findings replayed, 0 panicked"))),
            "{target}: not every finding was replayed:\n{stdout}"
        );
    }
}
