//! `churnguard serve`: the online early-warning service. One customer's risk now (or a few at
//! once), from a verified package: calibrated probability, tier, value at risk, three reasons with
//! sentences and the action, on tokio and axum. Packages are swapped in whole on reload (SIGHUP,
//! a change of `latest`, or an authenticated admin call); requests in flight finish on the model
//! they started with.

mod batch;
mod body;
mod cells;
mod history;
mod metrics;
mod model;
mod scoring;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use churnguard_config::Pipeline;
use churnguard_infer::OnnxRuntime;
use tokio::sync::Semaphore;

pub use cells::{Cell, Fields, Id, Rows};
pub use metrics::Metrics;
pub use model::{Answer, CustomerIn, CustomerOut, Features, NotScoredOut, ReasonOut, Served};

/// The environment variable holding the bearer token (unset: no token is asked for, and admin
/// calls are refused).
pub const TOKEN_VAR: &str = "CHURNGUARD_TOKEN";

/// The service could not start or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The package could not be opened or verified.
    #[error(transparent)]
    Open(#[from] churnguard_infer::OpenError),
    /// The package is for another pipeline.
    #[error(transparent)]
    Package(#[from] churnguard_package::PackageError),
    /// ONNX Runtime failed.
    #[error(transparent)]
    Session(#[from] churnguard_infer::SessionError),
    /// A field of a request is wrong.
    #[error("{field}: {problem}")]
    Field {
        /// The field's path, such as `customers[0].features.recency_days`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A part of a request is larger than its limit (answered 413).
    #[error("{0}")]
    TooLarge(String),
    /// A body that is not what its content type says (answered 400 with this message).
    #[error("{0}")]
    Body(String),
    /// The request's time ran out (answered 503).
    #[error("the request ran out of time")]
    TimedOut,
    /// The async runtime could not start or serving failed.
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
}

impl ServeError {
    /// Whether the error is in what the user asked for (exit code 2 at start).
    pub fn is_usage(&self) -> bool {
        match self {
            ServeError::Open(e) => e.is_usage(),
            ServeError::Package(e) => e.is_usage(),
            ServeError::Listen { .. } | ServeError::Field { .. } | ServeError::TooLarge(_) | ServeError::Body(_) => {
                true
            }
            _ => false,
        }
    }
}

/// What a request may hold and how long it may take.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most customers in one request.
    pub max_customers: usize,
    /// Largest body of `POST /v1/score/batch`, in bytes.
    pub max_batch_bytes: usize,
    /// Most customers in one batch request.
    pub max_batch_customers: usize,
    /// Most events (and, apart, contacts) of one customer given as a raw history.
    pub max_events: usize,
    /// Requests scored at once; more are answered 503 with `Retry-After` instead of queueing.
    pub max_in_flight: usize,
    /// Bytes of request bodies admitted at once, across all requests in flight: a request's
    /// `Content-Length` (the route's largest body without one) is reserved before its body is
    /// read, and held until its work ends. One that does not fit is answered 503 with
    /// `Retry-After` at once, one that never could 413. Memory in use is a small multiple of it.
    pub max_bytes_in_flight: usize,
    /// Longest a request may take, from its arrival (reading, parsing and scoring its body),
    /// before it is answered 503.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_customers: 1000,
            max_batch_bytes: 256 << 20,
            max_batch_customers: 1_000_000,
            max_events: 10_000,
            max_in_flight: 64,
            // Two of the largest batch bodies at once.
            max_bytes_in_flight: 2 * (256 << 20),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What `serve` needs.
pub struct ServeConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The package folder or `latest` link (opened again at every reload).
    pub model: PathBuf,
    /// The validated pipeline (tiers' actions, rules).
    pub pipeline: Pipeline,
    /// ONNX Runtime.
    pub runtime: &'static OnnxRuntime,
    /// Request limits.
    pub limits: Limits,
    /// The bearer token, when one is asked for.
    pub token: Option<String>,
    /// ONNX Runtime sessions kept (one thread each).
    pub sessions: usize,
    /// How often `model` is checked for a new target (`latest` moved); `None`: never.
    pub watch: Option<Duration>,
    /// One JSON line per request on stderr (route, status, customers, latency, model version;
    /// never the customers' data).
    pub access_log: bool,
}

/// The state every handler shares.
pub(crate) struct App {
    model: RwLock<Arc<Served>>,
    config: ServeConfig,
    metrics: Metrics,
    permits: Arc<Semaphore>,
    budget: Arc<body::Budget>,
    reloading: tokio::sync::Mutex<()>,
    logger: Logger,
}

/// Loads the package, binds `listen`, calls `ready` with the bound address, and serves until
/// SIGTERM or SIGINT, then drains the requests in flight and returns.
pub fn run(config: ServeConfig, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let served = Served::load(&config.model, &config.pipeline, config.runtime, config.sessions)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Server)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(ServeError::Server)?;
        let app = Arc::new(App {
            permits: Arc::new(Semaphore::new(config.limits.max_in_flight.max(1))),
            budget: body::Budget::new(config.limits.max_bytes_in_flight),
            model: RwLock::new(Arc::new(served)),
            config,
            metrics: Metrics::default(),
            reloading: tokio::sync::Mutex::new(()),
            logger: Logger::start(),
        });
        app.log(
            "started",
            serde_json::json!({"listen": addr.to_string(), "version": app.current().version()}),
        );
        spawn_reloaders(&app);
        ready(addr);
        let served = axum::serve(listener, router(app.clone()))
            .with_graceful_shutdown(shutdown(app.clone()))
            .await
            .map_err(ServeError::Server);
        app.log("stopped", serde_json::json!({}));
        app.logger.finish();
        served
    })
}

/// The OpenAPI document of the service (also served at `/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route, as (method, path): the router's and the OpenAPI document's, checked equal.
pub const ROUTES: [(&str, &str); 8] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
    ("get", "/v1/model"),
    ("get", "/metrics"),
    ("post", "/v1/score"),
    ("post", "/v1/score/batch"),
    ("post", "/v1/admin/reload"),
];

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn router(app: Arc<App>) -> Router {
    let accounted = axum::middleware::from_fn_with_state(app.clone(), account);
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/model", get(model_info))
        .route("/metrics", get(metrics))
        .route("/v1/score", post(scoring::score))
        .route("/v1/score/batch", post(scoring::score_batch))
        .route("/v1/admin/reload", post(admin_reload))
        .fallback(not_found)
        .layer(accounted)
        .with_state(app)
}

/// What a handler tells [`account`] about its answer.
#[derive(Clone, Debug)]
pub(crate) struct Tag {
    route: &'static str,
    customers: usize,
    version: Option<String>,
}

impl Tag {
    fn of(route: &'static str) -> Tag {
        Tag {
            route,
            customers: 0,
            version: None,
        }
    }
}

/// Every request, once answered: counted under its route and status, timed from its arrival,
/// and (unless quiet) one access line on stderr, without any of the customers' data.
async fn account(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let tag = response.extensions_mut().remove::<Tag>().unwrap_or(Tag::of("other"));
    let status = response.status().as_u16();
    app.metrics.request(tag.route, status, seconds);
    if app.config.access_log {
        let version = tag.version.unwrap_or_else(|| app.current().version().to_string());
        app.log(
            "request",
            serde_json::json!({
                "route": tag.route,
                "status": status,
                "customers": tag.customers,
                "latency_ms": (seconds * 1e6).round() / 1e3,
                "version": version,
            }),
        );
    }
    response
}

/// `Err(TimedOut)` once `deadline` has passed.
pub(crate) fn in_time(deadline: Option<Instant>) -> Result<(), ServeError> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(ServeError::TimedOut),
        _ => Ok(()),
    }
}

impl App {
    pub(crate) fn current(&self) -> Arc<Served> {
        self.model
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Opens the package again and swaps it in when it verifies; the old one keeps serving
    /// otherwise. Returns the version served afterwards.
    async fn reload(self: &Arc<Self>, why: &str) -> Result<String, String> {
        let _one_at_a_time = self.reloading.lock().await;
        let app = self.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let c = &app.config;
            Served::load(&c.model, &c.pipeline, c.runtime, c.sessions)
        })
        .await;
        let old = self.current().version().to_string();
        match loaded {
            Ok(Ok(served)) => {
                let version = served.version().to_string();
                *self.model.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(served);
                self.metrics.reloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.log("reloaded", serde_json::json!({"why": why, "from": old, "to": version}));
                Ok(version)
            }
            Ok(Err(e)) => {
                self.metrics
                    .failed_reloads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let message = churnguard_config::with_causes(&e);
                self.log(
                    "reload refused",
                    serde_json::json!({"why": why, "serving": old, "error": message}),
                );
                Err(message)
            }
            Err(e) => {
                self.metrics
                    .failed_reloads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(format!("the reload task failed: {e}"))
            }
        }
    }

    /// Whether the request carries the token (always, when none is asked for).
    pub(crate) fn authorized(&self, headers: &HeaderMap) -> bool {
        match &self.config.token {
            None => true,
            Some(token) => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| given == token),
        }
    }
}

/// SIGHUP and, when asked, a watch of the package path reload the model.
fn spawn_reloaders(app: &Arc<App>) {
    #[cfg(unix)]
    {
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                return;
            };
            while hangups.recv().await.is_some() {
                let _ = app.reload("SIGHUP").await;
            }
        });
    }
    if let Some(every) = app.config.watch {
        let app = app.clone();
        tokio::spawn(async move {
            // A target that failed is not tried again until the link moves once more.
            let mut refused: Option<PathBuf> = None;
            loop {
                tokio::time::sleep(every).await;
                let Ok(target) = std::fs::canonicalize(&app.config.model) else {
                    continue;
                };
                if target == app.current().package.package.dir || refused.as_ref() == Some(&target) {
                    continue;
                }
                refused = app
                    .reload("the package path points at a new version")
                    .await
                    .err()
                    .map(|_| target);
            }
        });
    }
}

async fn shutdown(app: Arc<App>) {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    app.log("draining", serde_json::json!({}));
}

/// Log lines for stderr, written by a thread of their own: a stalled stderr (a pipe nobody
/// reads) never stalls the threads that answer requests; lines past the queue are dropped and
/// counted.
struct Logger {
    lines: Option<SyncSender<Option<String>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    dropped: AtomicU64,
}

/// Lines waiting for stderr, at most.
const QUEUED_LINES: usize = 16_384;

impl Logger {
    fn start() -> Logger {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUED_LINES);
        let writer = std::thread::Builder::new()
            .name("churnguard-log".into())
            .spawn(move || write_lines(&rx))
            .ok();
        Logger {
            lines: writer.is_some().then_some(tx),
            writer: Mutex::new(writer),
            dropped: AtomicU64::new(0),
        }
    }

    fn send(&self, line: String) {
        let Some(tx) = &self.lines else {
            let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
            return;
        };
        if let Err(TrySendError::Full(_)) = tx.try_send(Some(line)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is queued and stops the writer.
    fn finish(&self) {
        if let Some(tx) = &self.lines {
            let _ = tx.send(None);
        }
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }
}

/// The writer thread: lines as they come, gathered into one write when several wait.
fn write_lines(rx: &Receiver<Option<String>>) {
    let mut err = std::io::stderr();
    while let Ok(Some(first)) = rx.recv() {
        let mut text = first;
        text.push('\n');
        let mut stop = false;
        while let Ok(next) = rx.try_recv() {
            match next {
                Some(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                None => {
                    stop = true;
                    break;
                }
            }
        }
        let _ = err.write_all(text.as_bytes());
        if stop {
            break;
        }
    }
}

impl App {
    /// One structured log line on stderr.
    fn log(&self, event: &str, fields: serde_json::Value) {
        let mut line = serde_json::json!({
            "ts_ms": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            "event": event,
        });
        let dropped = self.logger.dropped.swap(0, Ordering::Relaxed);
        if let Some(l) = line.as_object_mut() {
            if let serde_json::Value::Object(f) = fields {
                l.extend(f);
            }
            if dropped > 0 {
                l.insert("lines_dropped_before".into(), dropped.into());
            }
        }
        self.logger.send(line.to_string());
    }
}

/// A JSON answer, tagged with its route for the count and the access log.
pub(crate) fn answer(route: &'static str, status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r.extensions_mut().insert(Tag::of(route));
    r
}

pub(crate) fn error(route: &'static str, status: StatusCode, message: impl Into<String>) -> Response {
    answer(route, status, serde_json::json!({"error": message.into()}))
}

pub(crate) fn unauthorized(route: &'static str) -> Response {
    let mut r = error(route, StatusCode::UNAUTHORIZED, "a bearer token is required");
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn healthz() -> Response {
    answer("/healthz", StatusCode::OK, serde_json::json!({"status": "alive"}))
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let served = app.current();
    answer(
        "/readyz",
        StatusCode::OK,
        serde_json::json!({"status": "ready", "version": served.version()}),
    )
}

async fn model_info(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        return unauthorized("/v1/model");
    }
    let served = app.current();
    let m = &served.package.package.manifest;
    let body = serde_json::json!({
        "pipeline": m.pipeline,
        "version": m.version,
        "package_sha256": served.hash,
        "tiers_from": model::risk_levels(&served.package),
        "created_at": m.created_at,
        "test": {"auc": m.test.auc, "auc_interval": m.test.auc_interval, "pr_auc": m.test.pr_auc,
                 "brier": m.test.brier, "log_loss": m.test.log_loss, "rows": m.test.rows},
        "tiers": {"high": m.tiers.high, "medium": m.tiers.medium, "high_value": m.tiers.high_value},
        "priority": "a list's rank by value at risk: it belongs to a list, a customer answered alone has none",
        "feature_spec": m.feature_spec,
    });
    answer("/v1/model", StatusCode::OK, body)
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        return unauthorized("/metrics");
    }
    let text = app
        .metrics
        .render(app.current().version(), app.budget.used(), app.budget.total());
    let mut r = ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response();
    r.extensions_mut().insert(Tag::of("/metrics"));
    r
}

async fn not_found() -> Response {
    error("other", StatusCode::NOT_FOUND, "no such route")
}

async fn admin_reload(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let route = "/v1/admin/reload";
    if app.config.token.is_none() {
        return error(
            route,
            StatusCode::FORBIDDEN,
            format!("admin calls need a token: set {TOKEN_VAR} when starting the service"),
        );
    }
    if !app.authorized(&headers) {
        return unauthorized(route);
    }
    match app.reload("admin call").await {
        Ok(version) => answer(route, StatusCode::OK, serde_json::json!({"version": version})),
        Err(message) => error(
            route,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the package was refused, {} keeps serving: {message}",
                app.current().version()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_served() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
            .collect();
        let mut served: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
