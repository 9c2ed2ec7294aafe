//! `churnguard serve` over a real socket: the batch list's answers for every CDNOW customer,
//! every error status, reload (and a tampered package refused while the old one serves),
//! saturation answered 503, SIGTERM draining the request in flight; hostile use in `hostile`.

mod hostile;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::report::train_cdnow;
use crate::score::score_with;
use crate::{Scratch, cdnow_variant, churnguard, outcome, root};

/// A running service, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the service with SIGTERM and waits for it to exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(model: &Path, extra: &[&str], token: Option<&str>) -> Server {
    serve_with(model, "pipelines/cdnow.toml", extra, token)
}

/// A service of another pipeline's package.
fn serve_pipeline(model: &Path, pipeline: &str) -> Server {
    serve_with(model, pipeline, &[], None)
}

fn serve_with(model: &Path, pipeline: &str, extra: &[&str], token: Option<&str>) -> Server {
    serve_command(model, pipeline, extra, token, Stdio::null())
}

/// A CDNOW service whose stderr is read to its end by a thread (joined once the service exits).
pub fn serve_logged(model: &Path, extra: &[&str]) -> (Server, std::thread::JoinHandle<String>) {
    let mut server = serve_command(model, "pipelines/cdnow.toml", extra, None, Stdio::piped());
    let mut err = server.child.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    (server, log)
}

fn serve_command(model: &Path, pipeline: &str, extra: &[&str], token: Option<&str>, stderr: Stdio) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_churnguard"));
    cmd.args(["serve", "--model", &model.display().to_string(), "--pipeline", pipeline])
        .args(["--listen", "127.0.0.1:0", "--watch-seconds", "0"])
        .args(extra)
        .current_dir(root())
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(stderr);
    for key in crate::KEPT_ENV {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    if let Some(t) = token {
        cmd.env(churnguard_serve::TOKEN_VAR, t);
    }
    let mut child = cmd.spawn().expect("churnguard serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a first line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .parse()
        .expect("an address");
    Server { child, addr }
}

/// One HTTP/1.1 exchange: (status, head, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let (status, head, body) = http_bytes(addr, method, path, headers, body.as_bytes());
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// One HTTP/1.1 exchange with a body of bytes: (status, head, body).
pub fn http_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    read_response_bytes(&mut s)
}

pub fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let (status, head, body) = read_response_bytes(s);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

fn read_response_bytes(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, body)
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(addr: SocketAddr, body: &str) -> (u16, String, String) {
    http(addr, "POST", "/v1/score", &[JSON], body)
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The feature rows of the CDNOW customers at `cutoff`, as the service takes them.
fn feature_rows(
    s: &Scratch,
    package: &Path,
    cutoff: &str,
) -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    use arrow::array::{Array, Float64Array};
    let out = s.0.path().join("features.parquet");
    let (code, _, err) = outcome(&churnguard(&[
        "features",
        "pipelines/cdnow.toml",
        "--cutoff",
        cutoff,
        "--out",
        &out.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(package.join("manifest.json")).unwrap()).unwrap();
    let features = m["feature_spec"]["features"].as_array().unwrap().clone();
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("customer_id").unwrap();
        for i in 0..batch.num_rows() {
            let id = arrow::util::display::array_value_to_string(ids, i).unwrap();
            let mut values = serde_json::Map::new();
            for f in &features {
                let name = f["name"].as_str().unwrap();
                let col = batch.column_by_name(name).unwrap();
                let col = col.as_any().downcast_ref::<Float64Array>().unwrap();
                if col.is_valid(i) && col.value(i).is_finite() {
                    values.insert(name.into(), serde_json::json!(col.value(i)));
                }
            }
            rows.push((id, values));
        }
    }
    rows
}

/// The batch list's rows by customer id: the CSV's header and cells.
fn list_rows(path: &Path) -> std::collections::HashMap<String, std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    let mut out = std::collections::HashMap::new();
    let mut reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::new(arrow::datatypes::Schema::new(
        header
            .iter()
            .map(|h| arrow::datatypes::Field::new(h, arrow::datatypes::DataType::Utf8, true))
            .collect::<Vec<_>>(),
    )))
    .with_header(true)
    .build(std::fs::File::open(path).unwrap())
    .unwrap();
    for batch in reader.by_ref() {
        let batch = batch.unwrap();
        for i in 0..batch.num_rows() {
            let row: std::collections::HashMap<String, String> = header
                .iter()
                .enumerate()
                .map(|(k, h)| {
                    (
                        h.clone(),
                        arrow::util::display::array_value_to_string(batch.column(k), i).unwrap(),
                    )
                })
                .collect();
            out.insert(row["customer_id"].clone(), row);
        }
    }
    out
}

/// A CDNOW package in `s` and its batch list at 1998-07-01 (`list.csv`, kept for the service's
/// tiers), by customer id.
fn cdnow_package_and_list(
    s: &Scratch,
) -> (
    std::path::PathBuf,
    std::collections::HashMap<String, std::collections::HashMap<String, String>>,
) {
    let package = train_cdnow(&s.0.path().join("models"));
    let list = s.0.path().join("list.csv");
    let (code, _, err) = score_with(
        &package.display().to_string(),
        "pipelines/cdnow.toml",
        &list.display().to_string(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    (package, list_rows(&list))
}

/// Asserts that a service answer is the batch list's row `want` for customer `id`: probability
/// to 1e-12, value at risk, tier, action, and for the tiers the list explains the same three
/// reasons and sentences (none where the list gives none). Returns whether reasons were compared.
fn assert_list_row(id: &str, c: &serde_json::Value, want: &std::collections::HashMap<String, String>) -> bool {
    let p: f64 = want["churn_probability"].parse().unwrap();
    let got = c["churn_probability"].as_f64().unwrap();
    assert!((got - p).abs() <= 1e-12, "customer {id}: service {got}, list {p}");
    let var: f64 = want["value_at_risk"].parse().unwrap();
    assert!(
        (c["value_at_risk"].as_f64().unwrap() - var).abs() <= 1e-9 * var.max(1.0),
        "{id}"
    );
    // The risk level is the customer's own (the package's cut-offs): the list's, and its action.
    assert_eq!(c["tier"].as_str().unwrap(), want["tier"], "{id}");
    assert_eq!(c["action"].as_str().unwrap(), want["action"], "{id}");
    let reasons = c["reasons"].as_array().unwrap();
    if want["reason_1_feature"].is_empty() {
        assert!(reasons.is_empty(), "{id}: the list gives no reasons here");
        return false;
    }
    for (k, r) in reasons.iter().enumerate() {
        assert_eq!(
            r["feature"].as_str().unwrap(),
            want[&format!("reason_{}_feature", k + 1)],
            "{id}"
        );
        assert_eq!(
            r["sentence"].as_str().unwrap(),
            want[&format!("reason_{}", k + 1)],
            "{id}"
        );
    }
    true
}

#[test]
fn every_cdnow_customer_gets_the_batch_lists_probability_reasons_and_value_at_risk() {
    let s = Scratch::new();
    let (package, batch) = cdnow_package_and_list(&s);
    // `score` at as_of 1998-07-01 builds its snapshot at the next day's cutoff.
    let rows = feature_rows(&s, &package, "1998-07-02");
    assert_eq!(rows.len(), batch.len(), "the same customers");
    let server = serve(&package, &[], None);
    let mut compared_reasons = 0;
    for chunk in rows.chunks(500) {
        let customers: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(id, features)| {
                let value: f64 = batch[id]["value"].parse().unwrap();
                serde_json::json!({"id": id, "features": features, "value": value})
            })
            .collect();
        let (status, _, body) = post(server.addr, &serde_json::json!({ "customers": customers }).to_string());
        assert_eq!(status, 200, "{body}");
        let answer = json(&body);
        assert_eq!(answer["model"]["version"], "v1");
        for c in answer["customers"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            if assert_list_row(id, c, &batch[id]) {
                compared_reasons += 1;
            }
        }
    }
    assert!(
        compared_reasons > 500,
        "only {compared_reasons} customers with reasons compared"
    );
    // One customer per request (explained one by one, not in a batch): the same answers.
    let explained = rows.iter().filter(|(id, _)| !batch[id]["reason_1_feature"].is_empty());
    for (id, features) in explained.take(40) {
        let body = serde_json::json!({"customers": [{"id": id, "features": features}]}).to_string();
        let (status, _, answer) = post(server.addr, &body);
        assert_eq!(status, 200, "{answer}");
        let c = &json(&answer)["customers"][0];
        let p: f64 = batch[id]["churn_probability"].parse().unwrap();
        assert!((c["churn_probability"].as_f64().unwrap() - p).abs() <= 1e-12, "{id}");
        for (k, r) in c["reasons"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                r["sentence"].as_str().unwrap(),
                batch[id][&format!("reason_{}", k + 1)],
                "{id}"
            );
        }
    }
}

#[test]
fn health_model_and_metrics_answer_and_bad_requests_get_their_status_and_a_message_naming_the_field() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(&package, &["--max-body-bytes", "400", "--max-customers", "2"], None);
    let a = server.addr;
    let (status, _, body) = http(a, "GET", "/healthz", &[], "");
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("alive")));
    let (status, _, body) = http(a, "GET", "/readyz", &[], "");
    assert_eq!((status, json(&body)["version"].as_str()), (200, Some("v1")));
    let (status, _, body) = http(a, "GET", "/v1/model", &[], "");
    assert_eq!(status, 200, "{body}");
    let m = json(&body);
    assert!(m["feature_spec"]["features"].as_array().unwrap().len() > 10 && m["test"]["auc"].as_f64().unwrap() > 0.7);

    let one = r#"{"customers":[{"id":1,"features":{"recency_days":12,"frequency":4}}]}"#;
    let (status, _, body) = post(a, one);
    assert_eq!(status, 200, "{body}");
    let c = &json(&body)["customers"][0];
    assert!(c["churn_probability"].as_f64().unwrap() > 0.0 && !c["action"].as_str().unwrap().is_empty());
    for (body, status, says) in [
        (
            r#"{"customers":[{"features":{"recency":1}}]}"#,
            400,
            "customers[0].features.recency: not a feature",
        ),
        (
            r#"{"customers":[{"features":{"recency_days":"soon"}}]}"#,
            400,
            "customers[0].features.recency_days: must be a number",
        ),
        (
            r#"{"customers":[{"features":{},"value":"x"}]}"#,
            400,
            "customers[0].value",
        ),
        (r#"{"customers":[]}"#, 400, "at least one customer"),
        (r#"{"people":[]}"#, 400, "unknown field `people`"),
        ("not json", 400, "body"),
        (
            r#"{"customers":[{"features":{}},{"features":{}},{"features":{}}]}"#,
            413,
            "at most 2 per request",
        ),
    ] {
        let (got, _, answer) = post(a, body);
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(
            json(&answer)["error"].as_str().unwrap().contains(says),
            "{body} -> {answer}"
        );
    }
    let big = format!(r#"{{"customers":[{{"id":"{}","features":{{}}}}]}}"#, "x".repeat(500));
    let (status, _, body) = post(a, &big);
    assert_eq!(status, 413, "{body}");
    let (status, _, body) = http(a, "POST", "/v1/score", &[("Content-Type", "text/plain")], one);
    assert_eq!(status, 415, "{body}");
    let (status, _, _) = http(a, "GET", "/v2/nothing", &[], "");
    assert_eq!(status, 404);
    let (status, _, body) = http(a, "POST", "/v1/admin/reload", &[], "");
    assert_eq!(status, 403, "admin calls need a token: {body}");
    let (status, _, text) = http(a, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    for line in [
        "churnguard_requests_total{route=\"/v1/score\",status=\"400\"} 6",
        "churnguard_requests_total{route=\"/v1/score\",status=\"413\"} 2",
        "churnguard_requests_total{route=\"/v1/score\",status=\"415\"} 1",
        "churnguard_customers_scored_total 1",
        "churnguard_model_info{version=\"v1\"} 1",
        "churnguard_request_seconds_count",
    ] {
        assert!(text.contains(line), "{line} not in\n{text}");
    }
}

#[test]
fn a_token_guards_everything_but_the_health_checks() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(&package, &[], Some("s3cret-token"));
    let a = server.addr;
    assert_eq!(http(a, "GET", "/healthz", &[], "").0, 200);
    assert_eq!(http(a, "GET", "/readyz", &[], "").0, 200);
    let one = r#"{"customers":[{"features":{"recency_days":12}}]}"#;
    assert_eq!(post(a, one).0, 401);
    assert_eq!(http(a, "GET", "/v1/model", &[], "").0, 401);
    assert_eq!(
        http(a, "GET", "/metrics", &[("Authorization", "Bearer wrong")], "").0,
        401
    );
    let auth = ("Authorization", "Bearer s3cret-token");
    assert_eq!(http(a, "POST", "/v1/score", &[JSON, auth], one).0, 200);
    assert_eq!(http(a, "GET", "/metrics", &[auth], "").0, 200);
}

#[test]
fn reload_swaps_in_a_new_version_and_refuses_a_tampered_one_while_the_old_keeps_serving() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    train_cdnow(&models);
    let latest = models.join("cdnow/latest");
    let server = serve(&latest, &[], Some("t0ken-t0ken"));
    let a = server.addr;
    let auth = ("Authorization", "Bearer t0ken-t0ken");
    let one = r#"{"customers":[{"features":{"recency_days":30,"frequency":2}}]}"#;
    let version = |a: SocketAddr| json(&http(a, "POST", "/v1/score", &[JSON, auth], one).2)["model"]["version"].clone();
    assert_eq!(version(a), "v1");
    // A new version: `latest` moves, the admin call swaps it in.
    train_cdnow(&models);
    let (status, _, body) = http(a, "POST", "/v1/admin/reload", &[auth], "");
    assert_eq!((status, json(&body)["version"].as_str()), (200, Some("v2")), "{body}");
    assert_eq!(version(a), "v2");
    // A third version whose model.onnx no longer matches its manifest: refused, v2 serves on.
    train_cdnow(&models);
    let onnx = models.join("cdnow/v3/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    bytes.push(0);
    std::fs::write(&onnx, bytes).unwrap();
    let (status, _, body) = http(a, "POST", "/v1/admin/reload", &[auth], "");
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("model.onnx") && body.contains("v2 keeps serving"),
        "{body}"
    );
    assert_eq!(version(a), "v2");
    // SIGHUP reloads too (the same refusal), and both are counted.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(1500));
    let (_, _, text) = http(a, "GET", "/metrics", &[auth], "");
    assert!(text.contains("churnguard_reloads_total 1"), "{text}");
    assert!(text.contains("churnguard_failed_reloads_total 2"), "{text}");
    assert_eq!(version(a), "v2");
}

/// Sends a request's head and half its body, and leaves it open.
fn half_request(addr: SocketAddr, body: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    s.flush().unwrap();
    s
}

#[test]
fn saturation_is_answered_503_at_once_and_sigterm_drains_the_request_in_flight() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let mut server = serve(&package, &["--max-in-flight", "1"], None);
    let a = server.addr;
    let one = r#"{"customers":[{"features":{"recency_days":30,"frequency":2}}]}"#;
    // A slow client holds the one slot while its body arrives.
    let mut slow = half_request(a, one);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let (status, head, body) = post(a, one);
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shed at once, not after a wait"
    );
    // SIGTERM while the slow request is in flight: it still gets its answer, then the
    // process exits 0.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    slow.write_all(&one.as_bytes()[one.len() / 2..]).unwrap();
    let (status, _, body) = read_response(&mut slow);
    assert_eq!(status, 200, "the request in flight is answered: {body}");
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// Every CDNOW customer's purchases as the service takes a raw history: rows of the events
/// table under the pipeline's column names, by customer id.
fn cdnow_histories() -> Vec<(String, Vec<serde_json::Value>)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int16Type, Int32Type, TimestampMillisecondType};
    let file = std::fs::File::open(root().join("data/cdnow/cdnow_master.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut by_id: std::collections::BTreeMap<i32, Vec<serde_json::Value>> = Default::default();
    for batch in reader {
        let b = batch.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (ids, dates, cds, dollars) = (
            col("customer_id"),
            col("date"),
            col("number_of_cds"),
            col("dollar_value"),
        );
        let (ids, dates) = (
            ids.as_primitive::<Int32Type>(),
            dates.as_primitive::<TimestampMillisecondType>(),
        );
        let (cds, dollars) = (cds.as_primitive::<Int16Type>(), dollars.as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            let date = churnguard_config::Date::of_ms(dates.value(i)).to_string();
            by_id.entry(ids.value(i)).or_default().push(serde_json::json!({
                "date": date,
                "number_of_cds": cds.value(i),
                "dollar_value": if dollars.is_valid(i) { serde_json::json!(dollars.value(i)) } else { serde_json::Value::Null },
            }));
        }
    }
    by_id.into_iter().map(|(id, events)| (id.to_string(), events)).collect()
}

#[test]
fn raw_histories_of_every_cdnow_customer_get_the_batch_lists_row_and_the_already_churned_are_told_so() {
    let s = Scratch::new();
    let (package, batch) = cdnow_package_and_list(&s);
    let win_back = std::fs::read_to_string(s.0.path().join("list.win-back.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let server = serve(&package, &[], None);
    // One customer, one risk level: `/v1/model` gives the cut-offs the list and every answer use.
    let (_, _, body) = http(server.addr, "GET", "/v1/model", &[], "");
    let info = json(&body);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(std::path::Path::new(&package).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(info["tiers"]["high"], manifest["tiers"]["high"], "{body}");
    assert!(
        info["tiers_from"]
            .as_str()
            .unwrap()
            .contains(&format!("high from probability {}", manifest["tiers"]["high"])),
        "{body}"
    );
    let histories = cdnow_histories();
    let (mut scored, mut gone, mut reasons) = (0, 0, 0);
    for chunk in histories.chunks(400) {
        let customers: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(id, events)| serde_json::json!({"id": id, "events": events}))
            .collect();
        let request = serde_json::json!({"as_of": "1998-07-01", "customers": customers}).to_string();
        let (status, _, body) = post(server.addr, &request);
        assert_eq!(status, 200, "{body}");
        for c in json(&body)["customers"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            if c["status"] == "already_churned" {
                assert!(!batch.contains_key(id), "{id} is on the list yet told already churned");
                gone += 1;
                continue;
            }
            if assert_list_row(id, c, &batch[id]) {
                reasons += 1;
            }
            scored += 1;
        }
    }
    assert_eq!((scored, gone), (batch.len(), win_back), "every customer answered once");
    assert!(reasons > 500, "only {reasons} customers with reasons compared");
}

#[test]
fn a_raw_history_with_a_wrong_field_is_refused_naming_it() {
    let s = Scratch::new();
    let package = train_cdnow(&s.0.path().join("models"));
    let server = serve(&package, &["--max-events", "3"], None);
    let event = |date: &str| serde_json::json!({"date": date, "dollar_value": 10.5, "number_of_cds": 1});
    let ask = |customers: serde_json::Value, as_of: &str| {
        post(
            server.addr,
            &serde_json::json!({"as_of": as_of, "customers": customers}).to_string(),
        )
    };
    // A customer with one recent purchase is scored; one known only after as_of is not known yet.
    let (status, _, body) = ask(
        serde_json::json!([{"id": "a", "events": [event("1998-06-01")]}, {"id": "b", "events": [event("1998-08-01")]}]),
        "1998-07-01",
    );
    assert_eq!(status, 200, "{body}");
    let answers = json(&body);
    assert_eq!(answers["customers"][0]["status"], "scored", "{body}");
    assert_eq!(answers["customers"][1]["status"], "not_known", "{body}");
    for (customers, as_of, status, says) in [
        (
            serde_json::json!([{"events": [{"date": "1998-06-01", "price": 3}]}]),
            "1998-07-01",
            400,
            "customers[0].events[0].price: not a column of the events table",
        ),
        (
            serde_json::json!([{"events": [event("1998-06-01"), {"date": "someday", "dollar_value": 1}]}]),
            "1998-07-01",
            400,
            "customers[0].events[1].date",
        ),
        (
            serde_json::json!([{"events": [{"date": "1998-06-01", "dollar_value": {"usd": 3}}]}]),
            "1998-07-01",
            400,
            "customers[0].events[0].dollar_value: must be a number, text",
        ),
        (
            serde_json::json!([{"features": {}, "events": [event("1998-06-01")]}]),
            "1998-07-01",
            400,
            "customers[0]: give either features or a history",
        ),
        (
            serde_json::json!([{"id": 1}]),
            "1998-07-01",
            400,
            "customers[0]: give features, or a history",
        ),
        (
            serde_json::json!([{"attributes": {"plan": "gold"}}]),
            "1998-07-01",
            400,
            "customers[0].attributes: the pipeline has no customers table",
        ),
        (
            serde_json::json!([{"events": [event("1998-06-01")]}]),
            "1998-13-01",
            400,
            "as_of: \"1998-13-01\" is not a date",
        ),
        (
            serde_json::json!([{"events": [event("1998-01-01"), event("1998-02-01"), event("1998-03-01"), event("1998-04-01")]}]),
            "1998-07-01",
            413,
            "customers[0].events: 4 rows, at most 3",
        ),
    ] {
        let (got, _, answer) = ask(customers.clone(), as_of);
        assert_eq!(got, status, "{customers} -> {answer}");
        assert!(
            json(&answer)["error"].as_str().unwrap().contains(says),
            "{customers} -> {answer}"
        );
    }
}

/// Every Telco customer's row as raw attributes (the label left out), by id.
fn telco_attributes() -> Vec<(String, serde_json::Map<String, serde_json::Value>)> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type, Int64Type};
    let file = std::fs::File::open(root().join("data/telco/telco_churn.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.unwrap();
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut row = serde_json::Map::new();
            let mut id = String::new();
            for (f, col) in schema.fields().iter().zip(b.columns()) {
                let v = if !col.is_valid(i) {
                    serde_json::Value::Null
                } else {
                    match f.data_type() {
                        DataType::Int64 => serde_json::json!(col.as_primitive::<Int64Type>().value(i)),
                        DataType::Float64 => serde_json::json!(col.as_primitive::<Float64Type>().value(i)),
                        _ => serde_json::json!(col.as_string::<i32>().value(i)),
                    }
                };
                match f.name().as_str() {
                    "customerID" => id = v.as_str().unwrap().to_string(),
                    "Churn" => {}
                    name => {
                        row.insert(name.to_string(), v);
                    }
                }
            }
            out.push((id, row));
        }
    }
    out
}

#[test]
fn raw_attributes_of_every_telco_customer_get_the_batch_lists_probability() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        "pipelines/telco.toml",
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let package = models.join("telco/v1");
    let list = s.0.path().join("telco.csv");
    let (code, _, err) = score_with(
        &package.display().to_string(),
        "pipelines/telco.toml",
        &list.display().to_string(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let batch = list_rows(&list);
    let server = serve_pipeline(&package, "pipelines/telco.toml");
    let rows = telco_attributes();
    assert_eq!(rows.len(), batch.len());
    for chunk in rows.chunks(500) {
        let customers: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(id, attributes)| serde_json::json!({"id": id, "attributes": attributes}))
            .collect();
        let request = serde_json::json!({"as_of": "2024-01-31", "customers": customers}).to_string();
        let (status, _, body) = post(server.addr, &request);
        assert_eq!(status, 200, "{body}");
        for c in json(&body)["customers"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            let p: f64 = batch[id]["churn_probability"].parse().unwrap();
            assert!(
                (c["churn_probability"].as_f64().unwrap() - p).abs() <= 1e-12,
                "{id}: {c}"
            );
            assert_eq!(c["tier"].as_str().unwrap(), batch[id]["tier"], "{id}");
        }
    }
    // A customer with almost every attribute missing: the probability would be the model's
    // guess about a blank, so the risk is unknown, with no action and the missing inputs named.
    let request = serde_json::json!({"as_of": "2024-01-31", "customers": [
        {"id": "blank", "attributes": {"Contract": "Month-to-month"}}]})
    .to_string();
    let (status, _, body) = post(server.addr, &request);
    assert_eq!(status, 200, "{body}");
    let c = &json(&body)["customers"][0];
    assert_eq!(c["tier"], "unknown", "{c}");
    assert_eq!(c["action"], "no action", "{c}");
    assert!(c["reasons"].as_array().unwrap().is_empty(), "{c}");
    let missing = c["missing_inputs"].as_array().unwrap();
    assert!(
        missing.len() >= 15 && !missing.contains(&serde_json::json!("attr_Contract")),
        "{c}"
    );
    // The same customer in a list: the same words.
    let text = std::fs::read_to_string(crate::root().join("data/telco/Customer_Churn.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let blank: Vec<String> = header
        .iter()
        .map(|h| match *h {
            "customerID" => "blank".to_string(),
            "Contract" => "Month-to-month".to_string(),
            "Churn" => "No".to_string(),
            _ => String::new(),
        })
        .collect();
    lines[1] = blank.join(",");
    let csv = s.0.path().join("blanked.csv");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();
    let pipeline = std::fs::read_to_string(crate::root().join("pipelines/telco.toml"))
        .unwrap()
        .replace("../data/telco/telco_churn.parquet", &csv.display().to_string());
    let pipeline_path = s.0.path().join("blanked.toml");
    std::fs::write(&pipeline_path, pipeline).unwrap();
    let blanked_list = s.0.path().join("blanked-list.csv");
    let (code, out, err) = score_with(
        &package.display().to_string(),
        &pipeline_path.display().to_string(),
        &blanked_list.display().to_string(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("unknown") && out.contains("1 customers miss more than 50%"),
        "{out}"
    );
    let rows = list_rows(&blanked_list);
    assert_eq!(rows["blank"]["tier"], "unknown");
    assert_eq!(rows["blank"]["action_rule"], "risk unknown: too many inputs missing");
    assert!(
        rows["blank"]["missing_inputs"].contains("attr_tenure"),
        "{:?}",
        rows["blank"]
    );
    // An attribute the model does not read is named, with the ones it does.
    let (status, _, body) = post(
        server.addr,
        r#"{"as_of":"2024-01-31","customers":[{"attributes":{"shoe_size":44}}]}"#,
    );
    assert!(
        status == 400 && body.contains("customers[0].attributes.shoe_size: not an attribute the model reads"),
        "{body}"
    );
    let (status, _, body) = post(
        server.addr,
        r#"{"as_of":"2024-01-31","customers":[{"attributes":{"tenure":"long"}}]}"#,
    );
    assert!(
        status == 400 && body.contains("customers[0].attributes.tenure: must be a number"),
        "{body}"
    );
}

#[test]
fn the_batch_endpoint_answers_json_lines_and_arrow_streams_as_the_list_does() {
    use arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
    let s = Scratch::new();
    let (package, batch) = cdnow_package_and_list(&s);
    let rows = feature_rows(&s, &package, "1998-07-02");
    let server = serve(&package, &["--max-batch-customers", "4000"], None);
    let value = |id: &str| -> f64 { batch[id]["value"].parse().unwrap() };

    // JSON lines: feature vectors and a raw history, answered line by line in order.
    let mut lines: Vec<String> = rows
        .iter()
        .map(|(id, f)| serde_json::json!({"id": id, "features": f, "value": value(id)}).to_string())
        .collect();
    let history =
        serde_json::json!({"id": "raw", "events": [{"date": "1998-06-20", "dollar_value": 30.0, "number_of_cds": 2}]});
    lines.push(history.to_string());
    let ndjson = ("Content-Type", "application/x-ndjson");
    let (status, head, body) = http(
        server.addr,
        "POST",
        "/v1/score/batch?as_of=1998-07-01",
        &[ndjson],
        &lines.join("\n"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(head.to_lowercase().contains("x-churnguard-version: v1"), "{head}");
    let answers: Vec<serde_json::Value> = body.lines().map(json).collect();
    assert_eq!(answers.len(), rows.len() + 1);
    for ((id, _), a) in rows.iter().zip(&answers) {
        let p: f64 = batch[id]["churn_probability"].parse().unwrap();
        assert_eq!(a["id"].as_str(), Some(id.as_str()));
        assert!((a["churn_probability"].as_f64().unwrap() - p).abs() <= 1e-12, "{id}");
        assert_eq!(a["tier"].as_str().unwrap(), batch[id]["tier"], "{id}");
    }
    assert_eq!(answers[rows.len()]["status"], "scored");

    // An Arrow IPC stream of feature vectors: answers as columns, in order.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(package.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<String> = m["feature_spec"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let mut fields = vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("value", arrow::datatypes::DataType::Float64, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        std::sync::Arc::new(StringArray::from_iter_values(rows.iter().map(|(id, _)| id.as_str()))),
        std::sync::Arc::new(Float64Array::from_iter_values(rows.iter().map(|(id, _)| value(id)))),
    ];
    for n in &names {
        fields.push(arrow::datatypes::Field::new(
            n,
            arrow::datatypes::DataType::Float64,
            true,
        ));
        columns.push(std::sync::Arc::new(Float64Array::from_iter(
            rows.iter().map(|(_, f)| f.get(n).and_then(|v| v.as_f64())),
        )));
    }
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
    let record = arrow::record_batch::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut ipc = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &schema).unwrap();
    w.write(&record).unwrap();
    w.finish().unwrap();
    drop(w);
    let arrow_type = ("Content-Type", "application/vnd.apache.arrow.stream");
    let (status, _, body) = http_bytes(server.addr, "POST", "/v1/score/batch", &[arrow_type], &ipc);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
    let mut n = 0;
    for b in reader {
        let b = b.unwrap();
        let ids = b.column_by_name("id").unwrap().as_string::<i32>().clone();
        let p = b
            .column_by_name("churn_probability")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>()
            .clone();
        let tiers = b.column_by_name("tier").unwrap().as_string::<i32>().clone();
        for i in 0..b.num_rows() {
            let id = ids.value(i);
            let want: f64 = batch[id]["churn_probability"].parse().unwrap();
            assert!(p.is_valid(i) && (p.value(i) - want).abs() <= 1e-12, "{id}");
            assert_eq!(tiers.value(i), batch[id]["tier"], "{id}");
            n += 1;
        }
    }
    assert_eq!(n, rows.len());

    // Bad input, named by line or row.
    let bad = format!("{}\n{}\n{{\"features\":{{\"recency\":1}}}}", lines[0], lines[1]);
    let (status, _, body) = http(server.addr, "POST", "/v1/score/batch", &[ndjson], &bad);
    assert!(
        status == 400 && body.contains("line 3: features.recency: not a feature"),
        "{body}"
    );
    let (status, _, body) = http(
        server.addr,
        "POST",
        "/v1/score/batch",
        &[ndjson],
        "{\"features\":{}}\nnot json",
    );
    assert!(status == 400 && body.contains("line 2"), "{body}");
    let (status, _, body) = http_bytes(server.addr, "POST", "/v1/score/batch", &[arrow_type], b"not arrow");
    let body = String::from_utf8_lossy(&body);
    assert!(status == 400 && body.contains("not an Arrow IPC stream"), "{body}");
    let (status, _, body) = http(server.addr, "POST", "/v1/score/batch?when=now", &[ndjson], &lines[0]);
    assert!(status == 400 && body.contains("query: `when=now`"), "{body}");
    let (status, _, body) = http(server.addr, "POST", "/v1/score/batch", &[JSON], &lines[0]);
    assert!(status == 415 && body.contains("application/x-ndjson"), "{body}");
    let many = vec!["{\"features\":{}}"; 4001].join("\n");
    let (status, _, body) = http(server.addr, "POST", "/v1/score/batch", &[ndjson], &many);
    assert!(status == 413 && body.contains("at most 4000"), "{body}");
}

#[test]
fn a_reload_under_load_fails_no_request_and_every_answer_comes_from_one_whole_model() {
    let s = Scratch::new();
    let models = s.0.path().join("models");
    train_cdnow(&models);
    let latest = models.join("cdnow/latest");
    let server = serve(&latest, &[], Some("t0ken-t0ken"));
    let a = server.addr;
    let auth = ("Authorization", "Bearer t0ken-t0ken");
    // v2 differs from v1 (smaller trees), so each answer says which model made it.
    let small = cdnow_variant(s.0.path(), "small.toml", &[("num_leaves", "4")], "");
    let (code, _, err) = outcome(&churnguard(&[
        "train",
        &small,
        "--models",
        &models.display().to_string(),
    ]));
    assert_eq!(code, 0, "{err}");
    let one = r#"{"customers":[{"id":"x","features":{"recency_days":30,"frequency":2,"tenure_days":400}}]}"#;
    let probability_of = |version: &str| {
        let server = serve(&models.join("cdnow").join(version), &[], None);
        json(&post(server.addr, one).2)["customers"][0]["churn_probability"]
            .as_f64()
            .unwrap()
    };
    let expected = [("v1", probability_of("v1")), ("v2", probability_of("v2"))];
    assert_ne!(expected[0].1, expected[1].1, "the two versions must answer differently");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, _, body) = http(a, "POST", "/v1/score", &[JSON, auth], one);
                    seen.push((status, body));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, _, body) = http(a, "POST", "/v1/admin/reload", &[auth], "");
    assert_eq!((status, json(&body)["version"].as_str()), (200, Some("v2")), "{body}");
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut counts = std::collections::BTreeMap::new();
    for client in clients {
        let seen = client.join().unwrap();
        let mut switched = false;
        for (status, body) in &seen {
            assert_eq!(*status, 200, "a request failed during the reload: {body}");
            let answer = json(body);
            let version = answer["model"]["version"].as_str().unwrap().to_string();
            let p = answer["customers"][0]["churn_probability"].as_f64().unwrap();
            let want = expected.iter().find(|(v, _)| *v == version).unwrap().1;
            assert_eq!(p, want, "{version} answered with another model's probability");
            // Each client sees v1, then v2, never back.
            switched |= version == "v2";
            assert!(!(switched && version == "v1"), "v1 answered after v2");
            *counts.entry(version).or_insert(0) += 1;
        }
    }
    assert!(
        counts.get("v1").copied().unwrap_or(0) > 10 && counts.get("v2").copied().unwrap_or(0) > 10,
        "{counts:?}"
    );
}
