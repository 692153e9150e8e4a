//! The team-management API, one module per resource. Each module holds its handlers, their
//! OpenAPI annotations and their request/response types; `crate::app` holds the route table.

pub mod accounts;
pub mod audit;
pub mod campaign_members;
pub mod campaigns;
pub mod email_domains;
pub mod group_memberships;
pub mod groups;
pub mod health;
pub mod invitations;
pub mod me;
pub mod members;
pub mod memberships;
pub mod organizations;
pub mod webhooks;

use crate::error::ApiError;
use crate::pagination::json_bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, ApiError> {
    serde_json::to_vec(value)
        .map(|body| json_bytes(status, body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}
