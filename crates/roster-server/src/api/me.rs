//! `GET /api/me/`: who the key belongs to and their teams (the one endpoint a deployment-key
//! account may call), and `POST /api/me/key/`: a new key in place of the one calling.

use crate::api::json;
use crate::auth::{AnyCaller, Caller, PresentedKey};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::keys;
use roster_core::{GroupRef, MembershipSummary};
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
    /// The caller's primary team: the first they joined (null when they are in none).
    organization: Option<PrimaryTeam>,
    organization_memberships: Vec<MembershipSummary>,
    /// The groups the caller is in, across their teams.
    group_memberships: Vec<GroupRef>,
    /// Feature flags (none are set by Roster).
    flags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PrimaryTeam {
    id: Uuid,
    name: String,
    scope: Option<String>,
}

/// What a caller who sent no credentials is told: the feature flags, which the browser
/// extension reads before anyone signs in, and nothing else.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)] // `additionalProperties: false`: a whole `Me` is not one of these
pub struct Anonymous {
    flags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum MeAnswer {
    Me(Me),
    Anonymous(Anonymous),
}

/// The caller's own account, teams and groups; without credentials, only `flags`.
#[utoipa::path(operation_id = "me", get, path = "/api/me/", tag = "me",
    security((), ("token" = [])),
    responses((status = 200, description = "The caller (only `flags` without credentials)", body = MeAnswer),
              (status = 401, description = "An unknown or revoked key", body = crate::openapi::ErrorDetail)))]
pub async fn me(State(state): State<AppState>, caller: Option<AnyCaller>) -> ApiResult<Response> {
    let Some(AnyCaller(caller)) = caller else {
        let anonymous = Anonymous { flags: Vec::new() };
        return json(StatusCode::OK, &MeAnswer::Anonymous(anonymous));
    };
    let user = caller.user.id;
    let (teams, groups) = tokio::try_join!(
        state.store.memberships_of(user),
        state.store.groups_of(user)
    )?;
    // An unproven key shows, and acts in, its own team alone.
    let shown = |team: Uuid| caller.confined_to.is_none_or(|only| only == team);
    let organization_memberships: Vec<MembershipSummary> = teams
        .into_iter()
        .filter(|m| shown(m.organization))
        .collect();
    let organization = organization_memberships
        .iter()
        .min_by_key(|m| (m.joined, m.organization))
        .map(|m| PrimaryTeam {
            id: m.organization,
            name: m.organization_name.clone(),
            scope: m.scope.clone(),
        });
    let group_memberships = groups
        .into_iter()
        .filter(|(team, _)| shown(*team))
        .map(|(_, group)| group)
        .collect();
    let user = caller.user;
    let me = Me {
        id: user.id,
        name: user.name,
        email: user.email,
        service_account: user.service_account,
        deployment_key_account: user.deployment_key_account,
        is_operator: caller.is_operator,
        organization,
        organization_memberships,
        group_memberships,
        flags: Vec::new(),
    };
    json(StatusCode::OK, &MeAnswer::Me(me))
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
