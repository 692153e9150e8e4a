//! Invitations (contract section 11): admins and managers invite by email with a role. Someone
//! who holds no proven key accepts with the one-time token, without credentials, and receives
//! their key once; a person who has one lists their invitations and accepts or declines them
//! signed in. docs/SECURITY.md says which keys are proven and why.

use crate::api::json;
use crate::auth::RequestId;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{AnonymousJson, Fields, FlatBody, parse_uuid};
use crate::pagination::Listing;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_core::Store;
use roster_core::keys::{self, KeyHash};
use roster_core::store::{Accepted, NOT_INVITABLE, NewInvitation, StoreError};
use roster_core::{Invitation, OrganizationRef, Role, Timestamp, User, email, rules};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// How long an invitation can be accepted.
const VALID_FOR_MICROS: i64 = 14 * 24 * 3600 * 1_000_000;

#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    invitation: Invitation,
    /// The one-time token to accept with; shown in this response only, and not at all when
    /// Roster mails it to the invitee itself (`--smtp-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_token: Option<String>,
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
    /// The new person's name.
    name: Option<String>,
}

/// What accepting an invitation did.
#[derive(Serialize, ToSchema)]
pub struct Joined {
    user: User,
    organization: OrganizationRef,
    /// The role the person has in the team (a member already there keeps theirs).
    role: Role,
}

impl From<Accepted> for Joined {
    fn from(a: Accepted) -> Self {
        Joined {
            user: a.user,
            organization: a.organization,
            role: a.role,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AcceptedInvitation {
    /// The person's new API key, shown once.
    token: String,
    /// `false`: the key acts in this team alone (the team does not own the email's domain).
    proven: bool,
    #[serde(flatten)]
    joined: Joined,
}

/// The team's pending invitations, oldest first.
#[utoipa::path(operation_id = "invitations_list", get, path = "/api/organizations/{id}/invitations/", tag = "invitations",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Pending invitations", body = [Invitation])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let total = state.store.count_invitations(org);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_invitations(org, window).await
    };
    let gate = state.gate(caller.user_id(), Some(org));
    (listing.serve(&state, total, read, Invitation::cursor, gate)).await
}

/// Invites someone; a pending invitation of the same email is replaced. Accounts, operators
/// and Roster's own addresses cannot be invited.
#[utoipa::path(operation_id = "invitations_create", post, path = "/api/organizations/{id}/invitations/", tag = "invitations",
    params(("id" = Uuid, Path)), request_body = InvitationWrite,
    responses((status = 201, description = "Invited; `accept_token` shown once", body = CreatedInvitation),
        (status = 403, description = "A manager inviting, or replacing an invitation, with the admin role", body = crate::openapi::ErrorDetail)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    headers: HeaderMap,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    let caller_role = caller.role_in(&state, org, Needs::Manager).await?;
    let mut fields = Fields::new(body, false)?;
    let address = fields.text("email", true, email::MAX_EMAIL_LEN);
    // The same check as member payloads' (a broken punycode domain is refused here too).
    if let Some(a) = &address {
        if let Err(message) = crate::members::check_email(a) {
            fields.invalid("email", message);
        } else if rules::is_reserved_address(a) {
            fields.invalid("email", NOT_INVITABLE);
        }
    }
    let role = fields.role("role", false);
    fields.finish()?;
    let role = match role {
        Some(r) => r,
        None => state.store.get_organization(org).await?.default_role,
    };
    let token = keys::issue();
    let now = state.clock.now();
    let new = NewInvitation {
        email: address.unwrap_or_default(),
        role,
        inviter: caller.user_id(),
        by: caller_role,
        token: token.hash,
        mailed: state.mailer.is_some(),
        expires_at: Timestamp::from_micros(now.as_micros() + VALID_FOR_MICROS),
    };
    let refused = |e: StoreError| match e {
        StoreError::Conflict { .. } => ApiError::field(
            "email",
            "This person is already a member of the organization.",
        ),
        e => e.into(),
    };
    let Some(mailer) = &state.mailer else {
        let invitation = state
            .store
            .create_invitation(org, new, now, caller.origin())
            .await
            .map_err(refused)?;
        let accept_token = Some(token.secret);
        return json(
            StatusCode::CREATED,
            &CreatedInvitation {
                invitation,
                accept_token,
            },
        );
    };
    // Checked, mailed, then made: a mail that cannot be sent leaves no trace, and the pending
    // invitation the new one would replace (whose mail may be the one the person holds) stays.
    state
        .store
        .check_invitation(org, &new)
        .await
        .map_err(refused)?;
    let team = state.store.get_organization(org).await?;
    let accept_url = format!(
        "{}/api/invitations/accept/",
        crate::pagination::public_base(&headers, &state.config)
    );
    let email = crate::mail::Invitation {
        to: new.email.trim(),
        team: &team.name,
        inviter: Some(caller.0.user.email.as_str()),
        token: &token.secret,
        accept_url: &accept_url,
    };
    if let Err(why) = mailer.send_invitation(&email).await {
        tracing::warn!(error = %why, "an invitation email was not sent");
        return Err(ApiError::MailFailed);
    }
    // Refused only if the team changed since the check (the person joined, say): the token
    // just mailed then opens nothing, as an unknown one.
    let invitation = state
        .store
        .create_invitation(org, new, now, caller.origin())
        .await
        .map_err(refused)?;
    let accept_token = None;
    json(
        StatusCode::CREATED,
        &CreatedInvitation {
            invitation,
            accept_token,
        },
    )
}

/// Revokes a pending invitation: its token no longer works. Only admins revoke an invitation
/// with the admin role.
#[utoipa::path(operation_id = "invitations_destroy", delete, path = "/api/organizations/{id}/invitations/{iid}/", tag = "invitations",
    params(("id" = Uuid, Path), ("iid" = Uuid, Path)),
    responses((status = 204, description = "Revoked"),
        (status = 403, description = "A manager revoking an invitation with the admin role", body = crate::openapi::ErrorDetail)))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = parse_uuid(&org)?;
    let role = caller.role_in(&state, org, Needs::Manager).await?;
    let id = parse_uuid(&id)?;
    state
        .store
        .revoke_invitation(org, id, role, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Accepts an invitation (no credentials) for someone who holds no proven key yet: joins the
/// team and returns the person's new key, once. A person who has a key signs in and accepts
/// by id instead: for them, as for an unknown, used, revoked or expired token, this is a 404.
/// A malformed token is a 400.
#[utoipa::path(operation_id = "invitations_accept", post, path = "/api/invitations/accept/", tag = "invitations",
    security(()), request_body = AcceptWrite,
    responses((status = 201, description = "Joined; `token` is the person's API key, shown once", body = AcceptedInvitation),
        (status = 404, description = "Unknown, used, revoked or expired token, or an invitee who has a key", body = crate::openapi::ErrorDetail)))]
pub async fn accept(
    State(state): State<AppState>,
    request: RequestId,
    AnonymousJson(body): AnonymousJson,
) -> ApiResult<Response> {
    // The person who accepts is the actor: the store records them once known.
    accept_as(&state, &request.origin(None), body).await
}

/// Accepting an invitation by its token, for the API or another face (the console's accept
/// page), whose origin the change is recorded with.
pub async fn accept_as(
    state: &AppState,
    origin: &roster_core::Origin,
    body: serde_json::Value,
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
            origin,
        )
        .await?;
    json(
        StatusCode::CREATED,
        &AcceptedInvitation {
            token: key.secret,
            proven: accepted.proven,
            joined: accepted.into(),
        },
    )
}

/// The person a signed-in request acts for, when invitations by email are theirs to see: a
/// person (not an account) with a proven key, whose address is the one proven (a team that
/// rewrote its only member's email did not make the new address theirs). An unproven key
/// cannot vouch for the mailbox.
fn invitee(caller: &Caller) -> Option<&User> {
    let (principal, user) = (&caller.0, &caller.0.user);
    let person = !user.service_account && !user.deployment_key_account;
    (person && principal.confined_to.is_none() && principal.email_proven).then_some(user)
}

/// The caller's pending invitations, in every team (PixieBrix's PendingInvitation shape).
#[utoipa::path(operation_id = "invitations_me", get, path = "/api/invitations/me/", tag = "invitations",
    responses((status = 200, description = "Pending invitations addressed to the caller", body = [Invitation]),
        (status = 403, description = "An account, or an unproven key", body = crate::openapi::ErrorDetail)))]
pub async fn mine(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let user = invitee(&caller).ok_or(ApiError::Forbidden)?;
    let pending = state
        .store
        .pending_invitations(&user.email, state.clock.now())
        .await?;
    json(StatusCode::OK, &pending)
}

/// Accepts one of the caller's invitations: joins its team. 404 for anyone but the invitee.
#[utoipa::path(operation_id = "invitations_accept_mine", post, path = "/api/invitations/{iid}/accept/", tag = "invitations",
    params(("iid" = Uuid, Path)),
    responses((status = 200, description = "Joined", body = Joined)))]
pub async fn accept_mine(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    let user = invitee(&caller).ok_or(ApiError::NotFound)?;
    let accepted = state
        .store
        .accept_invitation_as(id, user.id, state.clock.now(), caller.origin())
        .await?;
    json(StatusCode::OK, &Joined::from(accepted))
}

/// Declines one of the caller's invitations: it is deleted. 404 for anyone but the invitee.
#[utoipa::path(operation_id = "invitations_reject_mine", post, path = "/api/invitations/{iid}/reject/", tag = "invitations",
    params(("iid" = Uuid, Path)),
    responses((status = 204, description = "Declined")))]
pub async fn reject_mine(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    let user = invitee(&caller).ok_or(ApiError::NotFound)?;
    state
        .store
        .reject_invitation(id, user.id, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
