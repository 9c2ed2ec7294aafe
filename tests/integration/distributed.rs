//! Distributed training: workers as separate processes on loopback, each with its own share of
//! the partitions, LightGBM's own network between them.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{KEPT_ENV, Scratch, cdnow_variant, churnguard, outcome};

/// `n` distinct free loopback ports, all held until returned (so none is handed out twice).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// CDNOW split into `parts` partitions, with a `[distributed]` section for `workers` on
/// loopback; extra `[model]` keys in `model`. Returns the pipeline's path.
fn cdnow_distributed(
    d: &Path,
    name: &str,
    parts: &str,
    workers: usize,
    model: &[(&str, &str)],
    timeout: u32,
) -> String {
    // The first setting of a key wins: the caller's, then the default rounds.
    let mut keys = model.to_vec();
    keys.push(("num_iterations", "300"));
    let whole = cdnow_variant(d, &format!("{name}-whole.toml"), &keys, "");
    let text = std::fs::read_to_string(&whole)
        .unwrap()
        .replace("[model]", "[model]\nnum_threads = 1");
    std::fs::write(&whole, &text).unwrap();
    let out = d.join(format!("{name}-parts"));
    if !out.exists() {
        let (code, _, err) = outcome(&churnguard(&[
            "partition",
            &whole,
            "--parts",
            parts,
            "--out",
            &out.display().to_string(),
        ]));
        assert_eq!(code, 0, "{err}");
    }
    let ports = free_ports(workers + 1);
    let machines: Vec<String> = ports[..workers].iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let text: Vec<String> = text
        .lines()
        .map(|l| match l.split('=').next().map(str::trim) {
            Some("path") => format!("path = \"{}\"", out.join("events").display()),
            _ => l.to_string(),
        })
        .collect();
    let text = format!(
        "{}\n[distributed]\nmachines = [{}]\ncoordinator = \"127.0.0.1:{}\"\ntimeout_seconds = {timeout}\n",
        text.join("\n"),
        machines.join(", "),
        ports[workers]
    );
    let path = d.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Starts one worker of a distributed run.
fn worker(pipeline: &str, models: &Path, rank: usize) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churnguard"));
    cmd.args([
        "train",
        pipeline,
        "--models",
        &models.display().to_string(),
        "--rank",
        &rank.to_string(),
    ])
    .env_clear()
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for key in KEPT_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    cmd.spawn().expect("the churnguard binary starts")
}

/// Waits for a worker with a deadline; its exit code, stdout and stderr.
fn finish(mut child: Child, within: Duration) -> (i32, String, String) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "a worker still ran after {within:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn test_auc(package: &Path) -> f64 {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(package.join("manifest.json")).unwrap()).unwrap();
    m["test"]["auc"].as_f64().unwrap()
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn two_and_three_workers_train_one_model_as_good_as_one_machine() {
    let s = Scratch::new();
    let d = s.0.path();
    // The single-machine model on the same data.
    let single = cdnow_variant(d, "single.toml", &[("num_iterations", "300")], "");
    let text = std::fs::read_to_string(&single)
        .unwrap()
        .replace("[model]", "[model]\nnum_threads = 1");
    std::fs::write(&single, text).unwrap();
    let models = d.join("single-models");
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        &single,
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let alone = test_auc(&models.join("cdnow/v1"));

    for workers in [2, 3] {
        let pipeline = cdnow_distributed(d, "cdnow", "6", workers, &[], 60);
        let models = d.join(format!("models-{workers}"));
        let children: Vec<Child> = (0..workers).map(|r| worker(&pipeline, &models, r)).collect();
        let results: Vec<_> = children
            .into_iter()
            .map(|c| finish(c, Duration::from_secs(240)))
            .collect();
        for (rank, (code, out, err)) in results.iter().enumerate() {
            assert_eq!(*code, 0, "rank {rank}:\n{out}\n{err}");
        }
        let package = models.join("cdnow/v1");
        assert!(
            results[0].1.contains(&format!("Rank 0 of {workers}")),
            "{}",
            results[0].1
        );
        let shipped = sha256(&package.join("model.txt"));
        for (rank, (_, out, _)) in results.iter().enumerate().skip(1) {
            assert!(
                out.contains(&format!("Rank {rank} of {workers}")) && out.contains(&format!("(SHA-256 {shipped})")),
                "rank {rank} did not end with the packaged model {shipped}:\n{out}"
            );
        }
        // Only rank 0 writes a package, and only one.
        let versions: Vec<_> = std::fs::read_dir(models.join("cdnow"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
            .collect();
        assert_eq!(versions.len(), 1, "{versions:?}");
        let auc = test_auc(&package);
        assert!(
            (auc - alone).abs() <= 0.005,
            "{workers} workers: test AUC {auc}, one machine {alone}"
        );
    }
}

#[test]
fn a_killed_worker_stops_every_other_worker_and_no_package_is_written() {
    let s = Scratch::new();
    let d = s.0.path();
    // Many rounds without early stopping: the kill lands while LightGBM's network is busy.
    let slow = [("num_iterations", "100000"), ("early_stopping_rounds", "0")];
    let pipeline = cdnow_distributed(d, "cdnow", "6", 3, &slow, 15);
    let models = d.join("models");
    let mut children: Vec<Child> = (0..3).map(|r| worker(&pipeline, &models, r)).collect();
    // Killed once it is in LightGBM's network (its "Listening..." line), and a second later:
    // boosting by then, however loaded the machine.
    let mut killed = children.remove(2);
    let stdout = killed.stdout.take().unwrap();
    let (joined, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Listening") {
                let _ = joined.send(());
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(120))
        .expect("rank 2 joins LightGBM's network");
    std::thread::sleep(Duration::from_secs(1));
    killed.kill().unwrap();
    let _ = killed.wait();
    let started = Instant::now();
    for (rank, child) in children.into_iter().enumerate() {
        let (code, out, err) = finish(child, Duration::from_secs(60));
        assert_ne!(code, 0, "rank {rank} went on without rank 2:\n{out}\n{err}");
        // Rank 0 hears of rank 2 itself; rank 1 hears it from rank 0, or that rank 0 left.
        assert!(
            err.contains("rank ") && (err.contains("left the job") || err.contains("failed:")),
            "rank {rank}: the error does not say which worker was lost:\n{err}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(40), "{:?}", started.elapsed());
    let written: Vec<_> = std::fs::read_dir(models.join("cdnow"))
        .map(|r| {
            r.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
                .collect()
        })
        .unwrap_or_default();
    assert!(written.is_empty(), "a package was written: {written:?}");
}

#[test]
fn a_worker_that_never_joins_ends_the_run_with_its_rank_named() {
    let s = Scratch::new();
    let d = s.0.path();
    let pipeline = cdnow_distributed(d, "cdnow", "6", 3, &[], 3);
    let models = d.join("models");
    let started = Instant::now();
    let children: Vec<Child> = (0..2).map(|r| worker(&pipeline, &models, r)).collect();
    let results: Vec<_> = children
        .into_iter()
        .map(|c| finish(c, Duration::from_secs(30)))
        .collect();
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let (code, _, err) = &results[0];
    assert_eq!(*code, 1, "{err}");
    assert!(err.contains("rank 2 of 3 never joined within 3 s"), "{err}");
    let (code, _, err) = &results[1];
    assert_eq!(*code, 1, "{err}");
    assert!(err.contains("rank 0"), "{err}");
    assert!(!models.join("cdnow/v1").exists());

    // A rank outside the list, and a pipeline without [distributed] given a rank.
    let (code, _, err) = outcome(&churnguard(&["train", &pipeline, "--rank", "3"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rank 3 is not in a job of 3 workers"), "{err}");
    let plain = cdnow_variant(d, "plain.toml", &[], "");
    let (code, _, err) = outcome(&churnguard(&["train", &plain, "--rank", "1"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no [distributed] section"), "{err}");
}
