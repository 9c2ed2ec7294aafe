//! The service's counters, written in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Everything `/metrics` reports.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<([u64; BUCKETS.len()], u64, f64)>,
    /// Customers answered.
    pub customers: AtomicU64,
    /// Packages swapped in.
    pub reloads: AtomicU64,
    /// Packages refused at reload.
    pub failed_reloads: AtomicU64,
    /// Requests answered 503 because the service was saturated.
    pub shed: AtomicU64,
}

impl Metrics {
    /// Counts one finished request.
    pub fn request(&self, route: &'static str, status: u16, seconds: f64) {
        let mut r = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *r.entry((route, status)).or_default() += 1;
        drop(r);
        let mut l = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (k, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                l.0[k] += 1;
            }
        }
        l.1 += 1;
        l.2 += seconds;
    }

    /// The text of `/metrics`, with the body bytes admitted now (`in_flight`) out of `budget`.
    pub fn render(&self, version: &str, in_flight: usize, budget: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# HELP churnguard_requests_total Requests by route and status.");
        let _ = writeln!(s, "# TYPE churnguard_requests_total counter");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                s,
                "churnguard_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(s, "# HELP churnguard_request_seconds Request latency.");
        let _ = writeln!(s, "# TYPE churnguard_request_seconds histogram");
        let l = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (k, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(s, "churnguard_request_seconds_bucket{{le=\"{bound}\"}} {}", l.0[k]);
        }
        let _ = writeln!(s, "churnguard_request_seconds_bucket{{le=\"+Inf\"}} {}", l.1);
        let _ = writeln!(s, "churnguard_request_seconds_sum {}", l.2);
        let _ = writeln!(s, "churnguard_request_seconds_count {}", l.1);
        drop(l);
        for (name, help, value) in [
            (
                "churnguard_customers_scored_total",
                "Customers answered.",
                &self.customers,
            ),
            ("churnguard_reloads_total", "Packages swapped in.", &self.reloads),
            (
                "churnguard_failed_reloads_total",
                "Packages refused at reload.",
                &self.failed_reloads,
            ),
            (
                "churnguard_requests_shed_total",
                "Requests answered 503 when saturated.",
                &self.shed,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} counter");
            let _ = writeln!(s, "{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help, value) in [
            (
                "churnguard_body_bytes_in_flight",
                "Bytes of request bodies admitted and not yet done with.",
                in_flight,
            ),
            (
                "churnguard_body_bytes_budget",
                "Bytes of request bodies admitted at once, at most.",
                budget,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            let _ = writeln!(s, "{name} {value}");
        }
        let _ = writeln!(s, "# HELP churnguard_model_info The package being served.");
        let _ = writeln!(s, "# TYPE churnguard_model_info gauge");
        let _ = writeln!(s, "churnguard_model_info{{version=\"{version}\"}} 1");
        s
    }
}
