//! The route table and the layers around it. Every path of the API is listed here; the
//! handlers live in `crate::api`, one module per resource.

use crate::api::{
    accounts, audit, campaign_members, campaigns, email_domains, group_memberships, groups, health,
    invitations, me, members, memberships, organizations, webhooks,
};
use crate::error::ApiError;
use crate::negotiate;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::telemetry;
use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};
use serde_json::json;
use tower::Layer;
use tower::util::MapRequestLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// The whole HTTP service: the router behind the trailing-slash rule.
pub type App = tower::util::MapRequest<Router, fn(Request) -> Request>;

pub fn app(state: AppState) -> App {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        // /api/organizations/
        .routes(routes!(organizations::list, organizations::create))
        // /api/organizations/{id}/
        .routes(routes!(
            organizations::retrieve,
            organizations::update,
            organizations::partial_update,
            organizations::destroy
        ))
        // /api/organizations/{id}/memberships/
        .routes(routes!(memberships::list))
        // /api/organizations/{id}/members/{user_id}/
        .routes(routes!(members::retrieve))
        // /api/memberships/{id}/
        .routes(routes!(
            memberships::retrieve,
            memberships::update,
            memberships::partial_update,
            memberships::destroy
        ))
        // /api/organizations/{id}/groups/
        .routes(routes!(groups::list, groups::create))
        // /api/groups/{id}/
        .routes(routes!(
            groups::retrieve,
            groups::update,
            groups::partial_update,
            groups::destroy
        ))
        // /api/groups/{id}/memberships/
        .routes(routes!(
            group_memberships::list,
            group_memberships::add,
            group_memberships::replace
        ))
        // /api/groups/{id}/memberships/{mid}/
        .routes(routes!(group_memberships::destroy))
        // /api/audit/organizations/{id}/ and /api/audit/groups/{id}/
        .routes(routes!(audit::organization))
        .routes(routes!(audit::group))
        // /api/organizations/{id}/email-domains/
        .routes(routes!(email_domains::list, email_domains::create))
        // /api/organizations/{id}/email-domains/{did}/
        .routes(routes!(email_domains::destroy))
        // /api/organizations/{id}/campaigns/
        .routes(routes!(campaigns::list, campaigns::create))
        // /api/organizations/{id}/campaigns/{cid}/
        .routes(routes!(
            campaigns::retrieve,
            campaigns::update,
            campaigns::partial_update,
            campaigns::destroy
        ))
        // /api/organizations/{id}/campaigns/{cid}/members/
        .routes(routes!(
            campaign_members::list,
            campaign_members::add,
            campaign_members::replace
        ))
        // /api/organizations/{id}/serviceaccounts/
        .routes(routes!(
            accounts::list_service_accounts,
            accounts::create_service_account
        ))
        // /api/organizations/{id}/serviceaccounts/{sid}/
        .routes(routes!(
            accounts::retrieve_service_account,
            accounts::destroy_service_account
        ))
        // /api/organizations/{id}/serviceaccounts/{sid}/rotate/ (a Roster extension)
        .routes(routes!(accounts::rotate_service_account))
        // /api/organizations/{id}/deployment-keys/
        .routes(routes!(
            accounts::list_deployment_keys,
            accounts::create_deployment_key
        ))
        // /api/organizations/{id}/deployment-keys/{kid}/
        .routes(routes!(
            accounts::retrieve_deployment_key,
            accounts::destroy_deployment_key
        ))
        // /api/organizations/{id}/webhooks/
        .routes(routes!(webhooks::list, webhooks::create))
        // /api/organizations/{id}/webhooks/{wid}/
        .routes(routes!(
            webhooks::retrieve,
            webhooks::update,
            webhooks::partial_update,
            webhooks::destroy
        ))
        // /api/organizations/{id}/webhooks/{wid}/rotate-secret/
        .routes(routes!(webhooks::rotate_secret))
        // /api/organizations/{id}/webhooks/{wid}/ping/
        .routes(routes!(webhooks::ping))
        // /api/organizations/{id}/webhooks/{wid}/deliveries/
        .routes(routes!(webhooks::deliveries))
        // /api/organizations/{id}/webhooks/{wid}/deliveries/{did}/redeliver/
        .routes(routes!(webhooks::redeliver))
        // /api/organizations/{id}/invitations/
        .routes(routes!(invitations::list, invitations::create))
        // /api/organizations/{id}/invitations/{iid}/
        .routes(routes!(invitations::destroy))
        // /api/invitations/accept/ (no credentials)
        .routes(routes!(invitations::accept))
        // /api/invitations/me/
        .routes(routes!(invitations::mine))
        // /api/invitations/{iid}/accept/
        .routes(routes!(invitations::accept_mine))
        // /api/invitations/{iid}/reject/
        .routes(routes!(invitations::reject_mine))
        // /api/me/
        .routes(routes!(me::me))
        // /api/me/key/ (a Roster extension)
        .routes(routes!(me::rotate_key))
        // /api/health/
        .routes(routes!(health::health))
        // /api/health/ready/
        .routes(routes!(health::ready))
        .split_for_parts();
    let openapi = crate::openapi::finish(openapi);

    let api = api
        .layer(middleware::from_fn(crate::dry_runs::middleware))
        .layer(middleware::from_fn(crate::preconditions::middleware))
        .layer(middleware::from_fn(negotiate::middleware))
        // Outside negotiation: a replayed answer is the one sent, headers and all.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::idempotency::middleware,
        ))
        // Bodies are read against --max-body-bytes by `input`, multipart forms included (axum
        // would cut those at its own 2 MiB).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    let router = Router::new()
        .merge(api)
        // /api/schema/ (the document) and /api/docs/ (Swagger UI), no credentials.
        // (and /api/docs, redirected there: the page's assets resolve only under /api/docs/)
        .merge(SwaggerUi::new("/api/docs").url("/api/schema/", openapi))
        // /metrics (Prometheus; --metrics-token)
        .route(
            "/metrics",
            get(crate::metrics::scrape).with_state(state.clone()),
        )
        // / and /api/: where to go from here.
        .route("/", get(index))
        .route("/api/", get(index))
        // /scim/v2/ (SCIM 2.0, its own route table and error shapes)
        .nest("/scim/v2", crate::scim::router(state.clone()))
        // /console/ (the admin console: HTML pages, its own route table)
        .merge(crate::console::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let router =
        router
            .layer(middleware::from_fn(errors_as_json))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::metrics::track,
            ));
    let router = telemetry::layer(router);
    MapRequestLayer::new(add_trailing_slash as fn(Request) -> Request).layer(router)
}

/// Every error of the API leaves as JSON. axum's own rejections (a path segment that is not UTF-8 once
/// decoded, ...) are plain text; they are rewritten into the API's shape, SCIM's under
/// `/scim/`, keeping their status.
async fn errors_as_json(req: Request, next: Next) -> Response {
    let scim = req.uri().path().starts_with("/scim/");
    if req.uri().path().starts_with("/console") {
        // The console's errors are pages.
        return next.run(req).await;
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let (content_type, body) = if scim {
        let error = roster_scim::ScimError::new(status.as_u16(), detail);
        (crate::scim::MEDIA_TYPE, error.body())
    } else {
        ("application/json", json!({ "detail": detail }))
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// A small map of the server for someone who opens its address.
async fn index() -> Response {
    let body = json!({
        "name": "Roster",
        "version": env!("CARGO_PKG_VERSION"),
        "docs": "/api/docs/",
        "schema": "/api/schema/",
        "scim": "/scim/v2/",
        "health": "/api/health/",
    });
    axum::Json(body).into_response()
}

async fn not_found(uri: Uri) -> Response {
    // `/scim/v2/` itself, and anything under `/scim/` that is not SCIM's route table, still
    // answers in SCIM's shape.
    if uri.path().starts_with("/scim/") {
        let error = roster_scim::ScimError::new(404, "There is no such SCIM endpoint.");
        return crate::scim::Failure(error).into_response();
    }
    ApiError::NotFound.into_response()
}

async fn method_not_allowed(method: Method) -> Response {
    ApiError::MethodNotAllowed(method).into_response()
}

/// Serves `/api/x` as `/api/x/` (the contract: no redirect), and `/scim/v2/X/` as
/// `/scim/v2/X` (SCIM's paths have no trailing slash). The Swagger UI's own asset paths are
/// left alone.
fn add_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    let fixed = if path.starts_with("/scim/") && path.len() > "/scim/v2/".len() {
        match path.strip_suffix('/') {
            Some(trimmed) => trimmed.to_owned(),
            None => return req,
        }
    } else if path.ends_with('/')
        || path == "/api/docs"
        || path.starts_with("/api/docs/")
        || !(path.starts_with("/api/") || path == "/api")
    {
        return req;
    } else {
        format!("{path}/")
    };
    let with_slash = match req.uri().query() {
        Some(q) => format!("{fixed}?{q}"),
        None => fixed,
    };
    if let Ok(uri) = with_slash.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}
