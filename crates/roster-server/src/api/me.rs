//! `GET /api/me/`: who the key belongs to and their teams (the one endpoint a deployment-key
//! account may call), and `POST /api/me/key/`: a new key in place of the one calling.

use crate::api::json;
use crate::auth::{AnyCaller, Caller, PresentedKey};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::MembershipSummary;
use roster_core::keys;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: Uuid,
    name: String,
    email: String,
    service_account: bool,
    deployment_key_account: bool,
    is_operator: bool,
    organization_memberships: Vec<MembershipSummary>,
}

/// The caller's own account and team memberships.
#[utoipa::path(operation_id = "me", get, path = "/api/me/", tag = "me",
    responses((status = 200, description = "The caller", body = Me)))]
pub async fn me(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
) -> ApiResult<Response> {
    let mut organization_memberships = state.store.memberships_of(caller.user.id).await?;
    if let Some(team) = caller.confined_to {
        // An unproven key shows, and acts in, its own team alone.
        organization_memberships.retain(|m| m.organization == team);
    }
    let user = caller.user;
    json(
        StatusCode::OK,
        &Me {
            id: user.id,
            name: user.name,
            email: user.email,
            service_account: user.service_account,
            deployment_key_account: user.deployment_key_account,
            is_operator: caller.is_operator,
            organization_memberships,
        },
    )
}

/// A new key for the caller.
#[derive(Serialize, ToSchema)]
pub struct NewKey {
    /// Shown in this response only.
    key: String,
}

/// Replaces the key making this request with a new one, shown in this response only: the old
/// key stops working at once, the caller's other keys go on. (A Roster extension of the
/// contract, for scheduled key rotation; deployment keys are rotated by making a new one.)
#[utoipa::path(operation_id = "me_key_rotate", post, path = "/api/me/key/", tag = "me",
    responses((status = 201, description = "The new key", body = NewKey)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller,
    PresentedKey(old): PresentedKey,
) -> ApiResult<Response> {
    let key = keys::issue();
    (state.store)
        .replace_key(caller.user_id(), Some(&old), &key.hash, state.clock.now())
        .await?;
    json(StatusCode::CREATED, &NewKey { key: key.secret })
}
