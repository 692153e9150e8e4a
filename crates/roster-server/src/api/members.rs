//! `GET /api/organizations/{id}/members/{user_id}/`: one person of a team by their user id, in
//! the shape PixieBrix's admin pages read (the person, their group memberships in this team with
//! when they joined each, and their membership). Admins and managers of that team, operators.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::parse_uuid;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::store::{MembershipFilter, Window};
use roster_core::{MemberGroup, Role, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct MemberDetail {
    /// The person's user id.
    id: Uuid,
    name: String,
    email: String,
    /// Their memberships of this team's groups, by group name.
    groups: Vec<MemberGroup>,
    /// When they were last issued a key.
    last_login: Option<Timestamp>,
    date_joined: Option<Timestamp>,
    membership: MembershipRef,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipRef {
    id: i64,
    role: Role,
}

/// One member of the team, by user id.
#[utoipa::path(operation_id = "members_retrieve", get, path = "/api/organizations/{id}/members/{user_id}/", tag = "memberships",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, description = "The member", body = MemberDetail)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    let user = parse_uuid(&user)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let filter = MembershipFilter {
        user_id: Some(user),
        ..MembershipFilter::default()
    };
    let window = Window::Page {
        offset: 0,
        limit: 1,
    };
    let (found, groups) = tokio::try_join!(
        state.store.list_memberships(org, &filter, window),
        state.store.member_groups(org, user),
    )?;
    let membership = found.into_iter().next().ok_or(ApiError::NotFound)?;
    let detail = MemberDetail {
        id: membership.user.id,
        name: membership.user.name,
        email: membership.user.email,
        groups,
        last_login: membership.last_login_at,
        date_joined: membership.user.date_joined,
        membership: MembershipRef {
            id: membership.id,
            role: membership.role,
        },
    };
    json(StatusCode::OK, &detail)
}
