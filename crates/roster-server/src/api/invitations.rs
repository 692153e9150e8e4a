//! Invitations (contract section 11): admins and managers invite by email with a role; the
//! invitee accepts with the one-time token, without credentials, and receives their key once.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, JsonBody, parse_uuid};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::keys::{self, KeyHash};
use roster_core::store::{NewInvitation, StoreError};
use roster_core::{Invitation, Role, Timestamp, User, email};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long an invitation can be accepted.
const VALID_FOR_MICROS: i64 = 14 * 24 * 3600 * 1_000_000;

#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    invitation: Invitation,
    /// The one-time token to accept with; shown in this response only.
    accept_token: String,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct InvitationWrite {
    #[schema(format = Email)]
    email: String,
    /// Default: the team's default role. Only admins may invite admins.
    #[schema(nullable = false, required = false)]
    role: Option<Role>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct AcceptWrite {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    accept_token: String,
    /// The invitee's name, used if the person has none yet.
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedInvitation {
    /// The person's new API key, shown once.
    token: String,
    user: User,
    organization: Uuid,
    role: Role,
}

/// The team's pending invitations, oldest first.
#[utoipa::path(operation_id = "invitations_list", get, path = "/api/organizations/{id}/invitations/", tag = "invitations",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "Pending invitations", body = [Invitation])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    json(StatusCode::OK, &state.store.list_invitations(org).await?)
}

/// Invites someone; a pending invitation of the same email is replaced.
#[utoipa::path(operation_id = "invitations_create", post, path = "/api/organizations/{id}/invitations/", tag = "invitations",
    params(("id" = Uuid, Path)), request_body = InvitationWrite,
    responses((status = 201, description = "Invited; `accept_token` shown once", body = CreatedInvitation)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    let caller_role = caller.role_in(&state, org, Needs::Manager).await?;
    let mut fields = Fields::new(body, false)?;
    let address = fields.text("email", true, email::MAX_EMAIL_LEN);
    // The same check as member payloads' (a broken punycode domain is refused here too).
    if let Some(a) = &address
        && let Err(message) = crate::members::check_email(a)
    {
        fields.invalid("email", message);
    }
    let role = fields.role("role", false);
    fields.finish()?;
    let role = match role {
        Some(r) => r,
        None => state.store.get_organization(org).await?.default_role,
    };
    if role == Role::Admin && caller_role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let token = keys::issue();
    let now = state.clock.now();
    let new = NewInvitation {
        email: address.unwrap_or_default(),
        role,
        inviter: caller.user_id(),
        token: token.hash,
        expires_at: Timestamp::from_micros(now.as_micros() + VALID_FOR_MICROS),
    };
    let invitation = state
        .store
        .create_invitation(org, new, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => ApiError::field(
                "email",
                "This person is already a member of the organization.",
            ),
            e => e.into(),
        })?;
    json(
        StatusCode::CREATED,
        &CreatedInvitation {
            invitation,
            accept_token: token.secret,
        },
    )
}

/// Revokes a pending invitation: its token no longer works.
#[utoipa::path(operation_id = "invitations_destroy", delete, path = "/api/organizations/{id}/invitations/{iid}/", tag = "invitations",
    params(("id" = Uuid, Path), ("iid" = Uuid, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    state.store.revoke_invitation(org, parse_uuid(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Accepts an invitation (no credentials): joins the team and returns the person's new key,
/// once. A malformed token is a 400; an unknown, used, revoked or expired one a 404, alike.
#[utoipa::path(operation_id = "invitations_accept", post, path = "/api/invitations/accept/", tag = "invitations",
    security(()), request_body = AcceptWrite,
    responses((status = 201, description = "Joined; `token` is the person's API key, shown once", body = AcceptedInvitation),
        (status = 404, description = "Unknown, used, revoked or expired token", body = crate::openapi::ErrorDetail)))]
pub async fn accept(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let mut fields = Fields::new(body, false)?;
    let token = fields.text("accept_token", true, 256);
    let name = fields.nullable_text("name", 150).flatten();
    fields.finish()?;
    let token = token.unwrap_or_default();
    if !keys::looks_like_key(&token) {
        return Err(ApiError::field(
            "accept_token",
            "An invitation token is 64 hexadecimal characters.",
        ));
    }
    let key = keys::issue();
    let accepted = state
        .store
        .accept_invitation(
            &KeyHash::of(&token),
            name.as_deref(),
            &key.hash,
            state.clock.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound,
            e => e.into(),
        })?;
    json(
        StatusCode::CREATED,
        &AcceptedInvitation {
            token: key.secret,
            user: accepted.user,
            organization: accepted.organization,
            role: accepted.role,
        },
    )
}
