//! A short, seeded run of every fuzz target in `make test`: the same inputs every time, and no
//! panic among them; and every saved finding of `make fuzz` (`fuzz/regressions/<target>/`)
//! replayed on the stable toolchain.

#[test]
fn every_target_survives_a_short_seeded_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_churnguard-fuzz"))
        .args(["all", "--iterations", "400", "--seed", "7"])
        .env("OMP_WAIT_POLICY", "passive")
        .output()
        .expect("churnguard-fuzz runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for target in ["model", "config", "csv", "parquet", "request"] {
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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_churnguard-fuzz"))
        .args(["replay", "all"])
        .env("OMP_WAIT_POLICY", "passive")
        .output()
        .expect("churnguard-fuzz runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for target in ["model", "config", "csv", "parquet", "request"] {
        let replayed = std::fs::read_dir(churnguard_fuzz::regressions(&churnguard_fuzz::repository(), target))
            .map_or(0, |d| d.flatten().filter(|e| e.path().is_file()).count());
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(target) && l.contains(&format!(" {replayed} findings replayed, 0 panicked"))),
            "{target}: not every finding was replayed:\n{stdout}"
        );
    }
}
