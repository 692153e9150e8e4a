//! `GET /api/health/` (liveness: the database answers) and `GET /api/health/ready/`
//! (readiness: it answers with every migration of this build applied). No credentials.

use crate::api::json;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness and database reachability, for load balancers.
#[utoipa::path(operation_id = "health", get, path = "/api/health/", tag = "health", security(()),
    responses((status = 200, description = "The database answers", body = Health),
              (status = 503, description = "The database does not answer", body = crate::openapi::ErrorDetail)))]
pub async fn health(State(state): State<AppState>) -> ApiResult<Response> {
    match state.store.ping().await {
        Ok(()) => json(StatusCode::OK, &Health { status: "ok" }),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            Err(ApiError::Unavailable)
        }
    }
}

/// Readiness, for orchestrators: the database answers and its schema is this build's.
#[utoipa::path(operation_id = "health_ready", get, path = "/api/health/ready/", tag = "health", security(()),
    responses((status = 200, description = "Ready to serve", body = Health),
              (status = 503, description = "The database does not answer, or its migrations are not all applied", body = crate::openapi::ErrorDetail)))]
pub async fn ready(State(state): State<AppState>) -> ApiResult<Response> {
    match state.store.ready().await {
        Ok(true) => json(StatusCode::OK, &Health { status: "ready" }),
        Ok(false) => {
            tracing::error!("readiness check: migrations are not all applied");
            Err(ApiError::Unavailable)
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check: database unavailable");
            Err(ApiError::Unavailable)
        }
    }
}
