//! The scoring routes: `POST /v1/score` (a JSON body of a few customers) and
//! `POST /v1/score/batch` (many customers as JSON lines or an Arrow IPC stream). Both are admitted
//! the same way (token, content type, concurrency, the byte budget) and score on one model. The
//! async threads only move the body's bytes: parsing, scoring and encoding run on a blocking
//! thread, within one deadline counted from the request's arrival.

use std::io::Read as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use churnguard_config::Date;
use serde::Deserialize;

use crate::batch::{
    ARROW_STREAM, JSON_LINES, answers_arrow, answers_lines, customers_from_arrow, customers_from_lines,
};
use crate::body::{self, BodyReader, PumpError};
use crate::{Answer, App, CustomerIn, ServeError, Served, Tag, error, unauthorized};

/// The body of `POST /v1/score`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    /// The day whose rows count for raw histories, `YYYY-MM-DD` (default: today, UTC).
    #[serde(default)]
    as_of: Option<String>,
    customers: Vec<CustomerIn>,
}

/// The `as_of` of a batch's query string (`?as_of=YYYY-MM-DD`), the only key it takes.
fn batch_as_of(uri: &Uri) -> Result<Option<String>, String> {
    let mut as_of = None;
    for pair in uri.query().unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("as_of", v)) => as_of = Some(v.to_string()),
            _ => return Err(format!("query: `{pair}` is not as_of=YYYY-MM-DD")),
        }
    }
    Ok(as_of)
}

/// The request's `as_of`, or the message naming the field.
fn as_of(text: Option<&str>) -> Result<Date, String> {
    let Some(text) = text else {
        return Ok(Date::today());
    };
    let d =
        Date::parse_iso(text.trim()).ok_or_else(|| format!("as_of: \"{text}\" is not a date (expected YYYY-MM-DD)"))?;
    let years = churnguard_config::DATE_YEARS;
    if !years.contains(&d.ymd().0) {
        return Err(format!(
            "as_of: {d} is outside the years {}..={}",
            years.start(),
            years.end()
        ));
    }
    Ok(d)
}

/// The token checked and the content type one of `accepted` (returned).
fn check(
    app: &App,
    route: &'static str,
    headers: &HeaderMap,
    accepted: &[&'static str],
) -> Result<&'static str, Box<Response>> {
    if !app.authorized(headers) {
        return Err(Box::new(unauthorized(route)));
    }
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    accepted.iter().copied().find(|t| Some(*t) == given).ok_or_else(|| {
        Box::new(error(
            route,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send {}", accepted.join(" or ")),
        ))
    })
}

/// A request's blocking work: its body as it arrives, the model it started with, its deadline.
struct Job {
    app: Arc<App>,
    served: Arc<Served>,
    content_type: &'static str,
    reader: BodyReader,
    /// The body's announced length (the route's largest without one).
    expected: usize,
    deadline: Instant,
}

/// What the blocking work answers.
struct Done {
    served: Arc<Served>,
    customers: usize,
    body: Vec<u8>,
    /// Whether the response headers name the model (the body does not).
    name_model: bool,
}

/// A request refused: its status and message.
struct Refusal(StatusCode, String);

impl Refusal {
    fn answer(self, route: &'static str) -> Response {
        error(route, self.0, self.1)
    }

    /// A failure in scoring as the client sees it; `locate` turns a field path
    /// (`customers[3].events`) into the request's own terms.
    fn of(e: ServeError, locate: fn(&str) -> String, timeout: Duration) -> Refusal {
        match e {
            ServeError::Field { .. } => Refusal(StatusCode::BAD_REQUEST, locate(&e.to_string())),
            ServeError::Body(message) => Refusal(StatusCode::BAD_REQUEST, message),
            ServeError::TooLarge(_) => Refusal(StatusCode::PAYLOAD_TOO_LARGE, locate(&e.to_string())),
            ServeError::TimedOut => timed_out(timeout),
            e => Refusal(StatusCode::INTERNAL_SERVER_ERROR, churnguard_config::with_causes(&e)),
        }
    }
}

fn timed_out(timeout: Duration) -> Refusal {
    Refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("timed out after {} ms", timeout.as_millis()),
    )
}

impl Job {
    /// Scores `customers` on the model served when the request started.
    fn score(
        &self,
        customers: Vec<CustomerIn>,
        as_of: Date,
        locate: fn(&str) -> String,
    ) -> Result<Vec<Answer>, Refusal> {
        let limits = &self.app.config.limits;
        self.served
            .score_until(
                &self.app.config.pipeline,
                customers,
                as_of,
                limits.max_events,
                Some(self.deadline),
            )
            .map_err(|e| Refusal::of(e, locate, limits.timeout))
    }
}

/// Admits a request (a concurrency permit and its bytes of the budget, or 503 at once), then
/// streams its body to `work` on a blocking thread, which holds both until it really ends: a
/// request answered 503 on its deadline keeps its share until its work has stopped.
async fn run(
    app: &Arc<App>,
    route: &'static str,
    content_type: &'static str,
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
    work: impl FnOnce(Job) -> Result<Done, Refusal> + Send + 'static,
) -> Response {
    let limits = &app.config.limits;
    // Microseconds after the request's head arrived: the one deadline for all of its work.
    let deadline = Instant::now() + limits.timeout;
    let shed = |message: String| {
        app.metrics.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        error(route, StatusCode::SERVICE_UNAVAILABLE, message)
    };
    // Saturated: answer now rather than queue without bound.
    let Ok(permit) = app.permits.clone().try_acquire_owned() else {
        return shed("saturated: retry in a moment".into());
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let too_large = |n: usize| {
        error(
            route,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {n} bytes"),
        )
    };
    if let Some(n) = length
        && n > max_bytes
    {
        return too_large(max_bytes);
    }
    let total = app.budget.total();
    let wanted = match length {
        Some(n) if n > total => {
            return error(
                route,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body ({n} bytes) is larger than the {total} bytes the service admits at once"),
            );
        }
        Some(n) => n,
        // No length given: the most it may send, within what can ever be admitted.
        None => max_bytes.min(total),
    };
    let Some(reservation) = app.budget.try_reserve(wanted) else {
        return shed(format!(
            "{} of the {total} bytes admitted at once are in use: retry in a moment",
            app.budget.used()
        ));
    };
    let (tx, reader) = body::channel();
    let job = Job {
        app: app.clone(),
        served: app.current(),
        content_type,
        reader,
        expected: wanted,
        deadline,
    };
    let working = tokio::task::spawn_blocking(move || {
        let _held = (permit, reservation);
        work(job)
    });
    let timeout = limits.timeout;
    let mut pump = Box::pin(body::pump(body, tx, wanted));
    let pumped = tokio::select! {
        pumped = &mut pump => Some(pumped),
        () = tokio::time::sleep_until(deadline.into()) => None,
    };
    match pumped {
        Some(Ok(())) => {}
        Some(Err(PumpError::TooLarge(n))) => return too_large(n),
        Some(Err(PumpError::Broken(e))) => {
            return error(
                route,
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            );
        }
        // Out of time while the body arrives. The work may have ended the request already (a
        // bad line while the rest arrived): its answer stands. Looked at while the pump still
        // lives, as dropping it stops the work with an error of its own.
        None if working.is_finished() => {}
        None => return timed_out(timeout).answer(route),
    }
    drop(pump);
    let done = match tokio::time::timeout_at(deadline.into(), working).await {
        Ok(Ok(Ok(done))) => done,
        Ok(Ok(Err(refusal))) => return refusal.answer(route),
        Ok(Err(e)) => return error(route, StatusCode::INTERNAL_SERVER_ERROR, format!("scoring failed: {e}")),
        Err(_) => return timed_out(timeout).answer(route),
    };
    app.metrics
        .customers
        .fetch_add(done.customers as u64, std::sync::atomic::Ordering::Relaxed);
    let mut r = (StatusCode::OK, done.body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if done.name_model {
        for (name, value) in [
            ("x-churnguard-version", done.served.version()),
            ("x-churnguard-package-sha256", done.served.hash.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
    }
    r.extensions_mut().insert(Tag {
        route,
        customers: done.customers,
        version: Some(done.served.version().to_string()),
    });
    r
}

/// Checks the number of customers against `most`.
fn counted(n: usize, most: usize) -> Result<(), Refusal> {
    if n == 0 {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "customers: give at least one customer".into(),
        ));
    }
    if n > most {
        return Err(Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("customers: {n} customers, at most {most} per request"),
        ));
    }
    Ok(())
}

/// `POST /v1/score`.
pub(crate) async fn score(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let route = "/v1/score";
    let content_type = match check(&app, route, &headers, &["application/json"]) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let max_bytes = app.config.limits.max_body_bytes;
    run(&app, route, content_type, &headers, body, max_bytes, score_json).await
}

/// `POST /v1/score`'s work: the body whole (at most `--max-body-bytes`), then its customers.
fn score_json(mut job: Job) -> Result<Done, Refusal> {
    let limits = &job.app.config.limits;
    let mut bytes = Vec::with_capacity(job.expected.min(limits.max_body_bytes));
    job.reader
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("the body could not be read: {e}")))?;
    let request: ScoreRequest = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&bytes))
        .map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_string() } else { path };
            Refusal(StatusCode::BAD_REQUEST, format!("{field}: {}", e.inner()))
        })?;
    drop(bytes);
    counted(request.customers.len(), limits.max_customers)?;
    let as_of = as_of(request.as_of.as_deref()).map_err(|message| Refusal(StatusCode::BAD_REQUEST, message))?;
    let customers = request.customers.len();
    let answers = job.score(request.customers, as_of, str::to_string)?;
    let body = serde_json::json!({
        "model": model_json(&job.served),
        "customers": answers,
    });
    Ok(Done {
        body: serde_json::to_vec(&body).map_err(|e| {
            Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the answer could not be written: {e}"),
            )
        })?,
        served: job.served,
        customers,
        name_model: false,
    })
}

/// The model an answer came from.
fn model_json(served: &Served) -> serde_json::Value {
    serde_json::json!({
        "pipeline": served.package.pipeline(),
        "version": served.version(),
        "package_sha256": served.hash,
        "tiers_from": crate::model::risk_levels(&served.package),
    })
}

/// `POST /v1/score/batch`: JSON lines in, JSON lines out; or an Arrow IPC stream of feature
/// vectors in, an Arrow IPC stream of answers out. The model is named in response headers.
pub(crate) async fn score_batch(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let route = "/v1/score/batch";
    let content_type = match check(&app, route, &headers, &[JSON_LINES, ARROW_STREAM]) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let as_of = match batch_as_of(&uri).and_then(|q| as_of(q.as_deref())) {
        Ok(d) => d,
        Err(message) => return error(route, StatusCode::BAD_REQUEST, message),
    };
    let max_bytes = app.config.limits.max_batch_bytes;
    let work = move |job: Job| score_lines_or_arrow(job, as_of);
    run(&app, route, content_type, &headers, body, max_bytes, work).await
}

/// `POST /v1/score/batch`'s work: customers parsed as their lines or batches arrive, scored,
/// and the answers encoded, all on the blocking thread.
fn score_lines_or_arrow(mut job: Job, as_of: Date) -> Result<Done, Refusal> {
    let limits = &job.app.config.limits;
    let (most, timeout) = (limits.max_batch_customers, limits.timeout);
    let arrow = job.content_type == ARROW_STREAM;
    let locate = if arrow { at_row } else { at_line };
    let deadline = Some(job.deadline);
    let read = if arrow {
        customers_from_arrow(&mut job.reader, &job.served, most, deadline)
    } else {
        customers_from_lines(&mut job.reader, most, deadline)
    }
    .map_err(|e| Refusal::of(e, locate, timeout))?;
    counted(read.given, most)?;
    let customers = read.customers.len();
    let answers = job.score(read.customers, as_of, locate)?;
    let body = if arrow {
        answers_arrow(&answers).map_err(|message| Refusal(StatusCode::INTERNAL_SERVER_ERROR, message))?
    } else {
        answers_lines(&answers)
    };
    Ok(Done {
        served: job.served,
        customers,
        body,
        name_model: true,
    })
}

/// `customers[3].features.x: ...` as `line 4: features.x: ...`.
fn at_line(message: &str) -> String {
    renumber(message, "line")
}

/// `customers[3].features.x: ...` as `row 4: features.x: ...`.
fn at_row(message: &str) -> String {
    renumber(message, "row")
}

fn renumber(message: &str, unit: &str) -> String {
    let Some(rest) = message.strip_prefix("customers[") else {
        return message.to_string();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return message.to_string();
    };
    match index.parse::<usize>() {
        Ok(i) => format!(
            "{unit} {}{}",
            i + 1,
            tail.strip_prefix('.').map_or(tail.to_string(), |t| format!(": {t}"))
        ),
        Err(_) => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_of_the_third_customer_is_on_line_three() {
        assert_eq!(
            at_line("customers[2].features.x: must be a number"),
            "line 3: features.x: must be a number"
        );
        assert_eq!(at_row("customers[0]: give features"), "row 1: give features");
        assert_eq!(at_line("customers: give at least one"), "customers: give at least one");
    }
}
