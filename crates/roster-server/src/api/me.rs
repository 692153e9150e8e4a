//! `GET /api/me/`: who the key belongs to and their teams. The one endpoint a deployment-key
//! account may call.

use crate::api::json;
use crate::auth::AnyCaller;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::MembershipSummary;
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
    let organization_memberships = state.store.memberships_of(caller.user.id).await?;
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
