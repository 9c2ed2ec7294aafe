//! `churnguard serve` under hostile use, over a real socket: the access log (and `--quiet`), the
//! byte budget answering 503 before a body is read, the deadline counted from the first byte, and
//! two of the largest batch bodies at once while `/healthz` keeps answering, with the service's
//! peak memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{JSON, http, http_bytes, json, read_response, serve, serve_logged};
use crate::Scratch;
use crate::report::train_cdnow;

const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");

#[test]
fn every_request_leaves_one_access_line_without_the_customers_data_and_quiet_leaves_none() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let (server, log) = serve_logged(&package, &[]);
    let a = server.addr;
    assert_eq!(http(a, "GET", "/healthz", &[], "").0, 200);
    let one = r#"{"customers":[{"id":"secret-customer-7","features":{"recency_days":12.625,"frequency":4}}]}"#;
    assert_eq!(http(a, "POST", "/v1/score", &[JSON], one).0, 200);
    let lines = [
        r#"{"id":"secret-line-1","events":[{"date":"1998-06-20","dollar_value":31.375,"number_of_cds":2}]}"#,
        r#"{"id":"secret-line-2","features":{"recency_days":40}}"#,
    ]
    .join("\n");
    let (status, _, body) = http(a, "POST", "/v1/score/batch?as_of=1998-07-01", &[NDJSON], &lines);
    assert_eq!(status, 200, "{body}");
    assert_eq!(http(a, "GET", "/nowhere", &[], "").0, 404);
    let bad = r#"{"customers":[{"id":"secret-bad","features":{"recency_days":"secret-text"}}]}"#;
    assert_eq!(http(a, "POST", "/v1/score", &[JSON], bad).0, 400);
    server.stop();
    let text = log.join().unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(json).collect();
    let requests: Vec<(String, u64, u64)> = events
        .iter()
        .filter(|e| e["event"] == "request")
        .map(|e| {
            assert_eq!(e["version"], "v1", "{e}");
            assert!(
                e["latency_ms"].as_f64().unwrap() >= 0.0 && e["ts_ms"].as_u64().unwrap() > 0,
                "{e}"
            );
            (
                e["route"].as_str().unwrap().to_string(),
                e["status"].as_u64().unwrap(),
                e["customers"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64)> = [
        ("/healthz", 200, 0),
        ("/v1/score", 200, 1),
        ("/v1/score/batch", 200, 2),
        ("other", 404, 0),
        ("/v1/score", 400, 0),
    ]
    .into_iter()
    .map(|(r, s, c)| (r.to_string(), s, c))
    .collect();
    assert_eq!(requests, want, "{text}");
    // Ids, values, dates, the query: none of the customers' data reaches the log.
    for secret in ["secret", "12.625", "31.375", "1998-06-20", "as_of"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    assert!(events.first().is_some_and(|e| e["event"] == "started"), "{text}");
    assert!(events.last().is_some_and(|e| e["event"] == "stopped"), "{text}");

    let (server, log) = serve_logged(&package, &["--quiet"]);
    assert_eq!(http(server.addr, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(server.addr, "POST", "/v1/score", &[JSON], one).0, 200);
    server.stop();
    let text = log.join().unwrap();
    let events: Vec<String> = text
        .lines()
        .map(|l| json(l)["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["started", "draining", "stopped"], "{text}");
}

/// Opens a batch request announcing `length` bytes and sends `sent` of them.
fn announce(addr: SocketAddr, length: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/score/batch HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/x-ndjson\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&vec![b' '; sent]).unwrap();
    s.flush().unwrap();
    s
}

fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, _, text) = http(addr, "GET", "/metrics", &[], "");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

#[test]
fn a_request_beyond_the_byte_budget_is_answered_503_before_its_body_is_sent() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(
        &package,
        &["--max-batch-bytes", "5000000", "--max-bytes-in-flight", "4000000"],
        None,
    );
    let a = server.addr;
    // One request holds 3,000,000 bytes of the budget while its body trickles in.
    let holder = announce(a, 3_000_000, 1000);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(metric(a, "churnguard_body_bytes_in_flight"), 3_000_000.0);
    // Another announcing 2,000,000 does not fit: 503 at once, without a byte of its body sent.
    let started = Instant::now();
    let mut refused = announce(a, 2_000_000, 0);
    let (status, head, body) = read_response(&mut refused);
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(body.contains("bytes admitted at once are in use"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "refused at once");
    // A body larger than the whole budget can never fit: 413, also before it is sent.
    let (status, _, body) = read_response(&mut announce(a, 4_500_000, 0));
    assert!(
        status == 413 && body.contains("larger than the 4000000 bytes the service admits at once"),
        "{status} {body}"
    );
    // The holder goes away: its bytes come back and the next request is scored.
    drop(holder);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(metric(a, "churnguard_body_bytes_in_flight"), 0.0);
    let line = r#"{"id":1,"features":{"recency_days":40}}"#;
    let (status, _, body) = http(a, "POST", "/v1/score/batch", &[NDJSON], line);
    assert_eq!(status, 200, "{body}");
    assert_eq!(metric(a, "churnguard_requests_shed_total"), 1.0);
}

#[test]
fn the_deadline_counts_from_the_first_byte_so_a_body_sent_slowly_is_answered_503_on_time() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(&package, &["--timeout-ms", "1500"], None);
    let a = server.addr;
    let one = r#"{"customers":[{"features":{"recency_days":30,"frequency":2}}]}"#;
    let started = Instant::now();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        one.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // A byte every 200 ms: each arrives in time, the whole never does.
    let sender = {
        let mut s = s.try_clone().unwrap();
        let body = one.as_bytes().to_vec();
        std::thread::spawn(move || {
            for b in body {
                if s.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 503") && text.contains("timed out after 1500 ms"),
        "{text}"
    );
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4),
        "answered after {elapsed:?}"
    );
    drop(s);
    let _ = sender.join();
    // Its share of the service came back once its work stopped.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(metric(a, "churnguard_body_bytes_in_flight"), 0.0);
    assert_eq!(http(a, "POST", "/v1/score", &[JSON], one).0, 200);
}

/// JSON lines of raw histories, CDNOW's columns, 180 small events per customer, up to `bytes`.
fn histories(bytes: usize) -> (Vec<u8>, usize) {
    let mut body = Vec::with_capacity(bytes);
    let mut line = String::new();
    let mut customers = 0;
    loop {
        line.clear();
        line.push_str(&format!("{{\"id\":\"c{customers}\",\"events\":["));
        for e in 0..180 {
            let day = (customers * 7 + e * 3) % 540;
            let date = churnguard_config::Date::from_days(9862 + day as i32);
            if e > 0 {
                line.push(',');
            }
            line.push_str(&format!(
                "{{\"date\":\"{date}\",\"dollar_value\":{}.{:02},\"number_of_cds\":{}}}",
                5 + (customers + e) % 90,
                (customers * 13 + e) % 100,
                1 + e % 4
            ));
        }
        line.push_str("]}\n");
        if body.len() + line.len() > bytes {
            return (body, customers);
        }
        body.extend_from_slice(line.as_bytes());
        customers += 1;
    }
}

/// A figure of `/proc/<pid>/status` in bytes (`VmHWM`: the peak resident memory).
fn memory(pid: u32, key: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap()
        * 1024
}

#[test]
fn two_of_the_largest_batch_bodies_at_once_keep_healthz_answering_and_memory_a_small_multiple() {
    // CI's size; `bench/serve_memory.sh` measures the default 256 MiB limit by hand.
    const LARGEST: usize = 64 << 20;
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let largest = LARGEST.to_string();
    let server = serve(
        &package,
        &[
            "--max-batch-bytes",
            &largest,
            "--timeout-ms",
            "300000",
            "--sessions",
            "1",
        ],
        None,
    );
    let a = server.addr;
    let (body, customers) = histories(LARGEST);
    // The service's memory once it has answered a request of each kind (its steady state).
    let line = r#"{"events":[{"date":"1998-06-20","dollar_value":3,"number_of_cds":1}]}"#;
    assert_eq!(
        http(a, "POST", "/v1/score/batch?as_of=1998-07-01", &[NDJSON], line).0,
        200
    );
    let before = memory(server.pid(), "VmRSS:");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut polls = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let (status, _, _) = http(a, "GET", "/healthz", &[], "");
                assert_eq!(status, 200);
                slowest = slowest.max(started.elapsed());
                polls += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            (slowest, polls)
        })
    };
    let started = Instant::now();
    let body = std::sync::Arc::new(body);
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || http_bytes(a, "POST", "/v1/score/batch?as_of=1998-07-01", &[NDJSON], &body))
        })
        .collect();
    for sender in senders {
        let (status, _, answer) = sender.join().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 200, "{}", &answer[..answer.len().min(500)]);
        assert_eq!(answer.lines().count(), customers);
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (slowest, polls) = poller.join().unwrap();
    let peak = memory(server.pid(), "VmHWM:");
    let mb = |b: usize| b as f64 / 1e6;
    eprintln!(
        "two bodies of {:.1} MB ({customers} customers, 180 events each) at once: {took:.1?}; \
         memory {:.0} MB before, peak {:.0} MB (+{:.1}x the two bodies); /healthz slowest of {polls} polls {slowest:.0?}",
        mb(body.len()),
        mb(before),
        mb(peak),
        (peak.saturating_sub(before)) as f64 / (2 * body.len()) as f64,
    );
    assert!(polls >= 3, "only {polls} polls");
    assert!(slowest < Duration::from_secs(1), "/healthz took {slowest:?}");
    // The issue's target for two 250 MB bodies was 2.5 GB (5x the bodies, with the service's
    // own memory); measured by hand 1.8x over the steady state, about 2x here.
    assert!(
        peak.saturating_sub(before) < 4 * 2 * body.len(),
        "peak {:.0} MB from {:.0} MB for two bodies of {:.1} MB",
        mb(peak),
        mb(before),
        mb(body.len())
    );
}
