//! The discovery endpoints (RFC 7644 section 4), served without credentials; the documents
//! themselves are `roster_scim::discovery`.

use super::query::list_response;
use super::{Failure, MAX_RESULTS, scim_body};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_scim::ScimError;
use roster_scim::discovery::{resource_types as all_resource_types, schemas as all_schemas};

fn base(headers: &HeaderMap, state: &AppState) -> String {
    format!(
        "{}/scim/v2",
        crate::pagination::public_base(headers, &state.config)
    )
}

pub async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let config =
        roster_scim::discovery::service_provider_config(&base(&headers, &state), MAX_RESULTS);
    scim_body(StatusCode::OK, &config)
}

pub async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let types = all_resource_types(&base(&headers, &state));
    scim_body(StatusCode::OK, &list_response(types.len() as u64, 1, types))
}

pub async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Failure> {
    all_resource_types(&base(&headers, &state))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&name))
        })
        .map(|t| scim_body(StatusCode::OK, &t))
        .ok_or_else(|| Failure(ScimError::new(404, "There is no such resource type.")))
}

pub async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let schemas = all_schemas(&base(&headers, &state));
    scim_body(
        StatusCode::OK,
        &list_response(schemas.len() as u64, 1, schemas),
    )
}

pub async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    all_schemas(&base(&headers, &state))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| scim_body(StatusCode::OK, &s))
        .ok_or_else(|| Failure(ScimError::new(404, "There is no such schema.")))
}
