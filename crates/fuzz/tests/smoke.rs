//! A short, seeded run of every fuzz target in `make test`: the same inputs every time, and no
//! panic among them (a finding of a longer `make fuzz` run becomes a seed here).

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
