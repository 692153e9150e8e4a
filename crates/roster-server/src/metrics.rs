//! `GET /metrics`: what the server has done since it started, in the OpenMetrics text format
//! that Prometheus scrapes. Requests by route template (never the path itself: ids would
//! make a series per object), method and status, with a latency histogram; refusals by the
//! rate limits; answers of 503 (the database away, or no connection free in time); the
//! connection pools; member-list page-cache hits and misses; SCIM operations by kind. With
//! `--metrics-token` the scraper must send `Authorization: Bearer <token>`.

use crate::page_cache::PageCache;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use roster_core::keys::KeyHash;
use std::time::Instant;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// Every label has a bounded set of values: routes are templates (or `unmatched`), methods
// the standard ones (or `other`: hyper takes any token as a method, and a series per token
// would let anyone grow the registry without end), statuses three digits.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScimLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
    state: &'static str,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    rate_limited: Counter,
    unavailable: Counter,
    scim: Family<ScimLabels, Counter>,
    pools: Family<PoolLabels, Gauge>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhook_latency: Histogram,
    webhook_backlog: Gauge,
    /// The digest of `--metrics-token`, if set: compared in constant time, and digests of
    /// equal length tell nothing of the token's length.
    token: Option<KeyHash>,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// The server's metrics, the page cache's lookups among them.
    pub fn new(pages: &PageCache) -> Self {
        let mut registry = Registry::with_prefix("roster");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency: Latency = Family::new_with_constructor(latency_buckets);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's headers",
            latency.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 by the per-key rate or heavy-request limits",
            rate_limited.clone(),
        );
        let unavailable = Counter::default();
        registry.register(
            "unavailable",
            "Requests answered 503: the database did not answer, or no connection was free \
             within the acquire timeout",
            unavailable.clone(),
        );
        let scim = Family::<ScimLabels, Counter>::default();
        registry.register("scim_operations", "SCIM requests by kind", scim.clone());
        let pools = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections by pool: open, idle, and the most the pool opens",
            pools.clone(),
        );
        registry.register(
            "page_cache_hits",
            "Member-list page-cache lookups that found the page",
            pages.hits.clone(),
        );
        registry.register(
            "page_cache_misses",
            "Member-list page-cache lookups that did not find the page",
            pages.misses.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook messages sent by this node, by outcome: delivered (a 2xx answer) or failed",
            webhook_deliveries.clone(),
        );
        let webhook_latency = latency_buckets();
        registry.register(
            "webhook_delivery_duration_seconds",
            "Time from a webhook message's send to the receiver's answer (or the failure)",
            webhook_latency.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Events of the change history that active webhook endpoints have not yet taken",
            webhook_backlog.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            unavailable,
            scim,
            pools,
            webhook_deliveries,
            webhook_latency,
            webhook_backlog,
            token: None,
        }
    }

    /// Scrapes must send `Authorization: Bearer <token>` (`--metrics-token`).
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(KeyHash::of(&token));
        self
    }

    fn record(&self, route: &str, method: &Method, status: StatusCode, seconds: f64) {
        let labels = RouteLabels {
            route: route.to_owned(),
            method: method_label(method),
        };
        self.latency.get_or_create(&labels).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                route: labels.route,
                method: labels.method,
                status: status.as_u16(),
            })
            .inc();
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                self.rate_limited.inc();
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                self.unavailable.inc();
            }
            _ => {}
        }
        if let Some(kind) = scim_kind(route, method) {
            self.scim.get_or_create(&ScimLabels { kind }).inc();
        }
    }

    /// Counts one try of a webhook message.
    pub fn webhook_delivered(&self, attempt: &crate::webhooks::Attempt) {
        let outcome = if attempt.delivered {
            "delivered"
        } else {
            "failed"
        };
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        #[allow(clippy::cast_precision_loss)] // milliseconds well below 2^52
        self.webhook_latency
            .observe(attempt.latency_ms as f64 / 1000.0);
    }

    fn permits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim());
        token.ct_eq(&KeyHash::of(given).0)
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A SCIM request's kind, as `Users.create`: the resource type and what is done to it.
fn scim_kind(route: &str, method: &Method) -> Option<String> {
    let rest = route.strip_prefix("/scim/v2/")?;
    let (resource, one) = match rest.split_once('/') {
        Some((resource, _)) => (resource, true),
        None => (rest, false),
    };
    if rest.ends_with(".search") {
        return Some(format!(
            "{}search",
            rest.trim_end_matches(".search").replace('/', ".")
        ));
    }
    let action = match (method.as_str(), one) {
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", false) => "create",
        ("PUT", true) => "replace",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        _ => "other",
    };
    Some(format!("{resource}.{action}"))
}

/// Counts every request that reached a route (and, as `unmatched`, those that did not).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    state
        .metrics
        .record(&route, &method, response.status(), seconds);
    response
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let metrics = &state.metrics;
    if !metrics.permits(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"detail": "Invalid token."})),
        )
            .into_response();
    }
    for pool in state.store.pools() {
        let busy = pool.open.saturating_sub(pool.idle);
        for (state, value) in [
            ("open", pool.open),
            ("idle", pool.idle),
            ("busy", busy),
            ("max", pool.max),
        ] {
            let labels = PoolLabels {
                pool: pool.name.to_owned(),
                state,
            };
            metrics.pools.get_or_create(&labels).set(i64::from(value));
        }
    }
    match state.store.webhook_backlog().await {
        Ok(n) => {
            metrics
                .webhook_backlog
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count the webhook backlog"),
    }
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &metrics.registry) {
        tracing::error!(error = %e, "metrics: cannot encode");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}
