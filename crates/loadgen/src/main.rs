//! `churnguard-loadgen`: POSTs one body at a fixed rate over keep-alive connections to a
//! loopback address and prints the latency quantiles as JSON.
//!
//! Latency runs from the time a request was due, not from when it was sent: when the server
//! falls behind, requests wait, and that wait is part of what a caller sees (closed-loop tools
//! such as wrk leave it out and report flattering tails).
//!
//! Usage: churnguard-loadgen ADDR PATH BODY_FILE CONTENT_TYPE RATE SECONDS CONNECTIONS

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One connection's outcome: latencies in microseconds, and failed requests.
struct Outcome {
    latencies: Vec<u64>,
    failed: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 7 {
        eprintln!("usage: churnguard-loadgen ADDR PATH BODY_FILE CONTENT_TYPE RATE SECONDS CONNECTIONS");
        std::process::exit(2);
    }
    let parsed = (|| -> Result<_, String> {
        let addr: SocketAddr = args[0].parse().map_err(|e| format!("ADDR {}: {e}", args[0]))?;
        let body = std::fs::read(&args[2]).map_err(|e| format!("BODY_FILE {}: {e}", args[2]))?;
        let rate: f64 = args[4].parse().map_err(|e| format!("RATE {}: {e}", args[4]))?;
        let seconds: f64 = args[5].parse().map_err(|e| format!("SECONDS {}: {e}", args[5]))?;
        let connections: usize = args[6].parse().map_err(|e| format!("CONNECTIONS {}: {e}", args[6]))?;
        if !(rate > 0.0 && seconds > 0.0 && connections > 0) {
            return Err("RATE, SECONDS and CONNECTIONS must be above 0".into());
        }
        Ok((addr, body, rate, seconds, connections))
    })();
    let (addr, body, rate, seconds, connections) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
        args[1],
        args[3],
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let total = (rate * seconds) as u64;
    let start = Instant::now() + Duration::from_millis(50);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|c| {
                let request = &request;
                s.spawn(move || run(addr, request, start, rate, total, c as u64, connections as u64))
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut all: Vec<u64> = outcomes.iter().flat_map(|o| o.latencies.iter().copied()).collect();
    all.sort_unstable();
    let failed: u64 = outcomes.iter().map(|o| o.failed).sum();
    let q = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1] as f64 / 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "rate": rate,
            "ok": all.len(),
            "failed": failed,
            "achieved_rps": all.len() as f64 / elapsed,
            "p50_ms": q(0.50),
            "p90_ms": q(0.90),
            "p99_ms": q(0.99),
            "max_ms": q(1.0),
        })
    );
}

/// Sends requests `c, c + n, c + 2n, ...` of `total`, each when due, on one connection.
fn run(addr: SocketAddr, request: &[u8], start: Instant, rate: f64, total: u64, c: u64, n: u64) -> Outcome {
    let mut out = Outcome {
        latencies: Vec::with_capacity((total / n) as usize + 1),
        failed: 0,
    };
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut k = c;
    while k < total {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let stream = match conn.take() {
            Some(s) => Some(s),
            None => TcpStream::connect(addr).ok().map(|s| {
                let _ = s.set_nodelay(true);
                BufReader::new(s)
            }),
        };
        match stream.and_then(|mut s| exchange(&mut s, request).map(|ok| (s, ok))) {
            Some((s, true)) => {
                out.latencies.push(due.elapsed().as_micros() as u64);
                conn = Some(s);
            }
            Some((s, false)) => {
                out.failed += 1;
                conn = Some(s);
            }
            None => out.failed += 1,
        }
        k += n;
    }
    out
}

/// Writes the request and reads one response; `Some(true)` for a 200, `None` when the
/// connection broke.
fn exchange(s: &mut BufReader<TcpStream>, request: &[u8]) -> Option<bool> {
    s.get_mut().write_all(request).ok()?;
    let mut line = String::new();
    s.read_line(&mut line).ok()?;
    let ok = line.split_whitespace().nth(1) == Some("200");
    let mut length = 0usize;
    loop {
        line.clear();
        if s.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    s.read_exact(&mut body).ok()?;
    Some(ok)
}
