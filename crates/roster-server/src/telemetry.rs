//! Logging: one line per request (method, path, status, latency, request id) and an
//! `X-Request-Id` on every response. Query strings and headers are not logged, so neither
//! keys nor search terms reach the log.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Response};
use std::io::IsTerminal;
use std::time::Duration;
use tower::util::MapRequestLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_subscriber::EnvFilter;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn layer(router: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(&X_REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_request(())
        .on_response(|res: &Response<_>, latency: Duration, _: &Span| {
            tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1e3, "served");
        })
        .on_failure(());
    // Outermost first: drop a client's id that is not a plain token, set one, log with it,
    // copy it to the response.
    router
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(trace)
        .layer(SetRequestIdLayer::new(
            X_REQUEST_ID.clone(),
            MakeRequestUuid,
        ))
        .layer(MapRequestLayer::new(plain_request_id))
}

/// The longest request id a client may give.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A client's `X-Request-Id` is kept (for tracing across its systems) only if it is a plain
/// token of at most 128 characters (letters, digits, `.`, `_`, `-`, `:`): it goes into logs and
/// into the change history, which must not hold whatever a client likes. Anything else is
/// replaced by one of Roster's own.
fn plain_request_id(mut req: Request) -> Request {
    let plain = req.headers().get(&X_REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_REQUEST_ID_LEN
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"._-:".contains(c))
    });
    if !plain {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

/// Logs to stderr; `RUST_LOG` (or `ROSTER_LOG`) picks levels, `json` the format.
pub fn init(json: bool) {
    let filter = std::env::var("ROSTER_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        // sqlx's slow-statement warnings quote whole statements: a bulk import's is the
        // size of its payload. Requests are timed in the request log and in /metrics instead.
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,sqlx::query=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
