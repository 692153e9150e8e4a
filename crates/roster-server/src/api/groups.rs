//! Groups (contract section 6): a team's permission groups, for admins and managers.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::ApiResult;
use crate::input::{Fields, FlatBody, parse_uuid};
use crate::pagination::Listing;
use crate::preconditions::{Preconditions, tagged};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::Group;
use roster_core::Store;
use std::sync::Arc;
use utoipa::ToSchema;

/// A group's name, in characters (SCIM's displayName obeys the same rule).
pub const MAX_NAME: usize = 256;

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct GroupWrite {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
}

/// Body of PATCH: the name, if it changes.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct GroupPatch {
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$",
        nullable = false,
        required = false
    )]
    name: Option<String>,
}

/// Loads a group and checks that the caller may manage its team (another team's is a 404).
pub async fn load(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Group> {
    let group = state.store.get_group(parse_uuid(id)?).await?;
    caller
        .role_in(state, group.organization, Needs::Manager)
        .await?;
    Ok(group)
}

fn name(body: serde_json::Value, partial: bool) -> ApiResult<Option<String>> {
    let mut fields = Fields::new(body, partial)?;
    let name = fields.text("name", true, MAX_NAME);
    fields.finish()?;
    Ok(name)
}

/// The team's groups ordered by name.
#[utoipa::path(operation_id = "groups_list", get, path = "/api/organizations/{id}/groups/", tag = "groups",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Groups ordered by name", body = [Group])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let total = state.store.count_groups(org);
    let read =
        move |store: Arc<dyn Store>, window| async move { store.list_groups(org, window).await };
    let gate = state.gate(caller.user_id(), Some(org));
    (listing.serve(&state, total, read, Group::cursor, gate)).await
}

/// Creates a group; names are unique within a team.
#[utoipa::path(operation_id = "groups_create", post, path = "/api/organizations/{id}/groups/", tag = "groups",
    params(("id" = Uuid, Path)), request_body = GroupWrite,
    responses((status = 201, description = "Created", body = Group)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let name = name(body, false)?.unwrap_or_default();
    let group = state
        .store
        .create_group(org, &name, state.clock.now(), caller.origin())
        .await?;
    json(StatusCode::CREATED, &group)
}

/// One group.
#[utoipa::path(operation_id = "groups_retrieve", get, path = "/api/groups/{id}/", tag = "groups",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The group", body = Group)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?;
    pre.read(group.version, json(StatusCode::OK, &group))
}

/// Renames the group.
#[utoipa::path(operation_id = "groups_update", put, path = "/api/groups/{id}/", tag = "groups",
    params(("id" = Uuid, Path)), request_body = GroupWrite,
    responses((status = 200, description = "The group", body = Group)))]
pub async fn update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    rename(state, caller, pre, id, body, false).await
}

/// Renames the group if a name is given.
#[utoipa::path(operation_id = "groups_partial_update", patch, path = "/api/groups/{id}/", tag = "groups",
    params(("id" = Uuid, Path)), request_body = GroupPatch,
    responses((status = 200, description = "The group", body = Group)))]
pub async fn partial_update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    rename(state, caller, pre, id, body, true).await
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
    partial: bool,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?;
    let expect = pre.expect(group.version)?;
    let group = match name(body, partial)? {
        Some(name) => {
            state
                .store
                .rename_group(group.id, &name, caller.origin(), expect)
                .await?
        }
        None => group,
    };
    tagged(group.version, json(StatusCode::OK, &group))
}

/// Deletes the group and its memberships.
#[utoipa::path(operation_id = "groups_destroy", delete, path = "/api/groups/{id}/", tag = "groups",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?;
    let expect = pre.expect(group.version)?;
    state
        .store
        .delete_group(group.id, caller.origin(), expect)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
