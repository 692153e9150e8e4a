//! Campaigns (contract section 8): a team's rosters, for admins and managers. PUT may carry
//! `users` to replace the members in the same transaction, as older clients do.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, FlatBody, WriteBody, parse_json, parse_uuid};
use crate::limits::HEAVY_ITEMS;
use crate::members::{CampaignMembers, campaign_users};
use crate::pagination::Listing;
use crate::preconditions::{Preconditions, tagged};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::Campaign;
use roster_core::Store;
use std::sync::Arc;
use utoipa::ToSchema;

const MAX_NAME: usize = 256;

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct CampaignCreate {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct CampaignWrite {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
    /// PUT only: replaces the members, like PUT `.../members/`.
    #[schema(nullable = false, required = false)]
    users: Option<Vec<crate::api::campaign_members::CampaignMemberItem>>,
}

/// Body of PATCH: the name, if it changes.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct CampaignPatch {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$",
        nullable = false,
        required = false
    )]
    name: Option<String>,
}

/// Checks the caller's standing in the organization of the path, then loads the campaign,
/// which must belong to it.
pub async fn load(state: &AppState, caller: &Caller, org: &str, id: &str) -> ApiResult<Campaign> {
    let org = parse_uuid(org)?;
    let id = parse_uuid(id)?;
    caller.role_in(state, org, Needs::Manager).await?;
    let campaign = state.store.get_campaign(id).await?;
    if campaign.organization != org {
        return Err(ApiError::NotFound);
    }
    Ok(campaign)
}

/// The team's campaigns ordered by name.
#[utoipa::path(operation_id = "campaigns_list", get, path = "/api/organizations/{id}/campaigns/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by name, then id", body = [Campaign])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let total = state.store.count_campaigns(org);
    let read =
        move |store: Arc<dyn Store>, window| async move { store.list_campaigns(org, window).await };
    let gate = state.gate(caller.user_id(), Some(org));
    (listing.serve(&state, total, read, Campaign::cursor, gate)).await
}

/// Creates a campaign.
#[utoipa::path(operation_id = "campaigns_create", post, path = "/api/organizations/{id}/campaigns/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path)), request_body = CampaignCreate,
    responses((status = 201, description = "Created", body = Campaign)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let mut fields = Fields::new(body, false)?;
    let name = fields.text("name", true, MAX_NAME);
    fields.finish()?;
    let campaign = state
        .store
        .create_campaign(
            org,
            &name.unwrap_or_default(),
            state.clock.now(),
            caller.origin(),
        )
        .await?;
    json(StatusCode::CREATED, &campaign)
}

/// One campaign.
#[utoipa::path(operation_id = "campaigns_retrieve", get, path = "/api/organizations/{id}/campaigns/{cid}/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path), ("cid" = uuid::Uuid, Path)),
    responses((status = 200, description = "The campaign", body = Campaign)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let campaign = load(&state, &caller, &org, &id).await?;
    pre.read(campaign.version, json(StatusCode::OK, &campaign))
}

/// Renames the campaign (`name` required) and, given `users`, replaces its members.
#[utoipa::path(operation_id = "campaigns_update", put, path = "/api/organizations/{id}/campaigns/{cid}/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path), ("cid" = uuid::Uuid, Path)), request_body = CampaignWrite,
    responses((status = 200, description = "The campaign", body = Campaign)))]
pub async fn update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    ids: Path<(String, String)>,
    body: WriteBody,
) -> ApiResult<Response> {
    write(state, caller, pre, ids, body, false).await
}

/// Renames the campaign if a name is given.
#[utoipa::path(operation_id = "campaigns_partial_update", patch, path = "/api/organizations/{id}/campaigns/{cid}/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path), ("cid" = uuid::Uuid, Path)), request_body = CampaignPatch,
    responses((status = 200, description = "The campaign", body = Campaign)))]
pub async fn partial_update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    ids: Path<(String, String)>,
    body: WriteBody,
) -> ApiResult<Response> {
    write(state, caller, pre, ids, body, true).await
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path((org, id)): Path<(String, String)>,
    body: WriteBody,
    partial: bool,
) -> ApiResult<Response> {
    let campaign = load(&state, &caller, &org, &id).await?;
    let expect = pre.expect(campaign.version)?;
    // A form renames; only JSON can carry the `users` list.
    let (object, json_body) = match body {
        WriteBody::Json(bytes) => (parse_json(&bytes)?, Some(bytes)),
        WriteBody::Form(fields) => (fields, None),
    };
    let mut fields = Fields::new(object, partial)?;
    let name = fields.text("name", true, MAX_NAME);
    fields.finish()?;
    // The body is an object by now; its `users`, if any, replace the members (PUT only).
    let users = match &json_body {
        Some(bytes) if !partial => campaign_users(bytes)?,
        _ => None,
    };
    let members = match users {
        Some(users) => Some(CampaignMembers::parse(users, state.config.max_items)?),
        None => None,
    };
    let mut gate = state.gate(caller.user_id(), Some(campaign.organization));
    gate.admit(
        members
            .as_ref()
            .is_some_and(|m| m.members.len() > HEAVY_ITEMS),
    )?;
    let updated = state
        .store
        .update_campaign(
            campaign.id,
            name.as_deref(),
            members.as_ref().map(|m| m.members.as_slice()),
            state.clock.now(),
            caller.origin(),
            expect,
        )
        .await
        .map_err(|e| match &members {
            Some(m) => m.rejected(e),
            None => e.into(),
        })?;
    tagged(updated.version, json(StatusCode::OK, &updated))
}

/// Deletes the campaign and its members.
#[utoipa::path(operation_id = "campaigns_destroy", delete, path = "/api/organizations/{id}/campaigns/{cid}/", tag = "campaigns",
    params(("id" = uuid::Uuid, Path), ("cid" = uuid::Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let campaign = load(&state, &caller, &org, &id).await?;
    let expect = pre.expect(campaign.version)?;
    state
        .store
        .delete_campaign(campaign.id, caller.origin(), expect)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
