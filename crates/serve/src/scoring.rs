//! The scoring routes: `POST /v1/score` (a JSON body of a few customers) and
//! `POST /v1/score/batch` (many customers as JSON lines or an Arrow IPC stream). Both are admitted
//! the same way (token, content type, concurrency, body size) and score on one model.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use churnguard_config::Date;
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::batch::{
    ARROW_STREAM, JSON_LINES, answers_arrow, answers_lines, customers_from_arrow, customers_from_lines,
};
use crate::{Answer, App, CustomerIn, ServeError, Served, error, unauthorized};

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

/// A request let in: the token checked, its content type one of `accepted` (returned), a
/// concurrency permit held (503 at once when saturated), its body read up to `max_bytes`.
struct Admitted {
    content_type: &'static str,
    body: Bytes,
    _permit: OwnedSemaphorePermit,
}

async fn admit(
    app: &Arc<App>,
    route: &'static str,
    started: Instant,
    headers: &HeaderMap,
    body: Body,
    accepted: &[&'static str],
    max_bytes: usize,
) -> Result<Admitted, Response> {
    if !app.authorized(headers) {
        return Err(unauthorized(app, route, started));
    }
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    let Some(content_type) = accepted.iter().copied().find(|t| Some(*t) == given) else {
        return Err(error(
            app,
            route,
            started,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send {}", accepted.join(" or ")),
        ));
    };
    // Saturated: answer now rather than queue without bound.
    let Ok(permit) = app.permits.clone().try_acquire_owned() else {
        app.metrics.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(error(
            app,
            route,
            started,
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated: retry in a moment",
        ));
    };
    let Ok(body) = axum::body::to_bytes(body, max_bytes).await else {
        return Err(error(
            app,
            route,
            started,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {max_bytes} bytes"),
        ));
    };
    Ok(Admitted {
        content_type,
        body,
        _permit: permit,
    })
}

/// Scores `customers` on the model served when the request started, within the timeout;
/// `locate` turns a field path (`customers[3].events`) into the request's own terms.
async fn run(
    app: &Arc<App>,
    customers: Vec<CustomerIn>,
    as_of: Date,
    locate: fn(&str) -> String,
) -> Result<(Arc<Served>, Vec<Answer>), Refusal> {
    let n = customers.len();
    let limits = app.config.limits.clone();
    // The model this request started with, whatever a reload swaps in meanwhile.
    let served = app.current();
    let work = {
        let app = app.clone();
        let served = served.clone();
        tokio::task::spawn_blocking(move || served.score(&app.config.pipeline, customers, as_of, limits.max_events))
    };
    let failed = |status, message: String| Err(Refusal(status, message));
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(Ok(Ok(answers))) => {
            app.metrics
                .customers
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            Ok((served, answers))
        }
        Ok(Ok(Err(e @ ServeError::Field { .. }))) => failed(StatusCode::BAD_REQUEST, locate(&e.to_string())),
        Ok(Ok(Err(e @ ServeError::TooLarge(_)))) => failed(StatusCode::PAYLOAD_TOO_LARGE, locate(&e.to_string())),
        Ok(Ok(Err(e))) => failed(StatusCode::INTERNAL_SERVER_ERROR, churnguard_config::with_causes(&e)),
        Ok(Err(e)) => failed(StatusCode::INTERNAL_SERVER_ERROR, format!("scoring failed: {e}")),
        Err(_) => failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("timed out after {} ms", limits.timeout.as_millis()),
        ),
    }
}

/// A request refused after admission: its status and message.
struct Refusal(StatusCode, String);

impl Refusal {
    fn answer(self, app: &App, route: &'static str, started: Instant) -> Response {
        error(app, route, started, self.0, self.1)
    }
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
    let started = Instant::now();
    let route = "/v1/score";
    let limits = app.config.limits.clone();
    let admitted = match admit(
        &app,
        route,
        started,
        &headers,
        body,
        &["application/json"],
        limits.max_body_bytes,
    )
    .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    let request: ScoreRequest =
        match serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&admitted.body)) {
            Ok(r) => r,
            Err(e) => {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_string() } else { path };
                return error(
                    &app,
                    route,
                    started,
                    StatusCode::BAD_REQUEST,
                    format!("{field}: {}", e.inner()),
                );
            }
        };
    if let Err(r) = counted(request.customers.len(), limits.max_customers) {
        return r.answer(&app, route, started);
    }
    let as_of = match as_of(request.as_of.as_deref()) {
        Ok(d) => d,
        Err(message) => return error(&app, route, started, StatusCode::BAD_REQUEST, message),
    };
    match run(&app, request.customers, as_of, str::to_string).await {
        Ok((served, customers)) => {
            let body = serde_json::json!({
                "model": model_json(&served),
                "customers": customers,
            });
            crate::answer(&app, route, started, StatusCode::OK, body)
        }
        Err(r) => r.answer(&app, route, started),
    }
}

/// The model an answer came from.
fn model_json(served: &Served) -> serde_json::Value {
    serde_json::json!({
        "pipeline": served.package.pipeline(),
        "version": served.version(),
        "package_sha256": served.hash,
        "tiers_from": served.tiers.describe(),
    })
}

/// `POST /v1/score/batch`: JSON lines in, JSON lines out; or an Arrow IPC stream of feature
/// vectors in, an Arrow IPC stream of answers out. The model is named in response headers.
pub(crate) async fn score_batch(State(app): State<Arc<App>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let route = "/v1/score/batch";
    let limits = app.config.limits.clone();
    let admitted = match admit(
        &app,
        route,
        started,
        &headers,
        body,
        &[JSON_LINES, ARROW_STREAM],
        limits.max_batch_bytes,
    )
    .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    let as_of = match batch_as_of(&uri).and_then(|q| as_of(q.as_deref())) {
        Ok(d) => d,
        Err(message) => return error(&app, route, started, StatusCode::BAD_REQUEST, message),
    };
    let arrow = admitted.content_type == ARROW_STREAM;
    let customers = if arrow {
        customers_from_arrow(&admitted.body)
    } else {
        customers_from_lines(&admitted.body)
    };
    let customers = match customers {
        Ok(c) => c,
        Err(message) => return error(&app, route, started, StatusCode::BAD_REQUEST, message),
    };
    if let Err(r) = counted(customers.len(), limits.max_batch_customers) {
        return r.answer(&app, route, started);
    }
    let locate = if arrow { at_row } else { at_line };
    let (served, answers) = match run(&app, customers, as_of, locate).await {
        Ok(x) => x,
        Err(r) => return r.answer(&app, route, started),
    };
    let encoded = if arrow {
        answers_arrow(&answers)
    } else {
        Ok(answers_lines(&answers))
    };
    let bytes = match encoded {
        Ok(b) => b,
        Err(message) => return error(&app, route, started, StatusCode::INTERNAL_SERVER_ERROR, message),
    };
    app.metrics.request(route, 200, started.elapsed().as_secs_f64());
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(admitted.content_type));
    for (name, value) in [
        ("x-churnguard-version", served.version().to_string()),
        ("x-churnguard-package-sha256", served.hash.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    r
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
