//! Group memberships (contract section 7): list, add (POST), replace the whole list (PUT), and
//! remove one. Adding and replacing obey the email rule and are set-based in the store.

use crate::api::groups::load;
use crate::api::json;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::input::{QueryParams, RawJson, parse_uuid};
use crate::limits::{HEAVY_BODY_BYTES, HEAVY_ITEMS, HEAVY_ROWS, HeavyGate};
use crate::members::Members;
use crate::pagination::{Listing, stream_list};
use crate::preconditions::Preconditions;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use roster_core::GroupMembership;
use roster_core::store::{EmailCursor, MembersChange, Window};
use roster_core::{Store, StoreResult};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An item of a POST or PUT payload. The payload is an array of these, one such object, or
/// bare strings (a UUID or an email).
#[derive(ToSchema)]
#[allow(dead_code)] // documents what `Members::parse` reads
pub struct MemberItem {
    /// A member of the team.
    user_id: Option<Uuid>,
    /// A member's email, or an email of a domain verified for the team (held until its owner
    /// joins).
    #[schema(nullable = false, required = false, format = Email)]
    email: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents what `replace` parses
pub struct ReplaceQuery {
    /// `true`: emails that belong to no campaign member of the team are skipped, not errors.
    require_campaign: Option<bool>,
    /// `true`: validate and answer what the change would do (200), changing nothing.
    dry_run: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents what `add` parses
pub struct DryRunQuery {
    /// `true`: validate and answer what the change would do (200), changing nothing.
    dry_run: Option<bool>,
}

/// What a change of the member list would do (`?dry_run=true`): the memberships it would add
/// and remove, and how many of the people it names are in the group already.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)] // documents `MembersPreview<GroupMembership>`
pub struct GroupMembersPreview {
    added: Vec<GroupMembership>,
    removed: Vec<GroupMembership>,
    /// Always empty for groups (a membership has no data to change).
    updated: Vec<GroupMembership>,
    unchanged: u64,
}

/// The answer of a replace: the list after the change, or with `dry_run` its preview.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the two answers of `replace`
pub enum GroupReplaceAnswer {
    Members(Vec<GroupMembership>),
    Preview(GroupMembersPreview),
}

/// The group's memberships ordered by email.
#[utoipa::path(operation_id = "group_memberships_list", get, path = "/api/groups/{id}/memberships/", tag = "groups",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by email", body = [GroupMembership])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?;
    let (group, gate) = (
        group.id,
        state.gate(caller.user_id(), Some(group.organization)),
    );
    let total = state.store.count_group_memberships(group);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_group_memberships(group, window).await
    };
    (listing.serve(&state, total, read, GroupMembership::cursor, gate)).await
}

/// Reads one window of the group's members.
fn fetcher(
    state: &AppState,
    group: Uuid,
) -> impl Fn(Window<EmailCursor>) -> BoxFuture<'static, StoreResult<Vec<GroupMembership>>>
+ Send
+ Sync
+ 'static {
    let store = state.store.clone();
    move |window| {
        let store = store.clone();
        Box::pin(async move { store.list_group_memberships(group, window).await })
    }
}

/// The whole member list, streamed.
async fn stream_all(state: &AppState, group: Uuid, gate: HeavyGate) -> ApiResult<Response> {
    let total = state.store.count_group_memberships(group);
    stream_list(fetcher(state, group), GroupMembership::cursor, total, gate).await
}

/// Admits a payload of `bytes` to a change of team `org`'s group members: a heavy one takes a
/// slot, and unless it is a dry run, first lets go of the team's kept pages
/// (`memberships::forget_pages`).
fn admit_body(
    state: &AppState,
    gate: &mut HeavyGate,
    org: Uuid,
    bytes: usize,
    dry_run: bool,
) -> ApiResult<()> {
    let heavy = bytes > HEAVY_BODY_BYTES;
    gate.admit(heavy)?;
    if heavy && !dry_run {
        crate::api::memberships::forget_pages(state, org);
    }
    Ok(())
}

/// Adds people; those already in the group are not an error and are not duplicated.
#[utoipa::path(operation_id = "group_memberships_add", post, path = "/api/groups/{id}/memberships/", tag = "groups",
    params(("id" = Uuid, Path), DryRunQuery), request_body = Vec<MemberItem>,
    responses((status = 201, description = "The memberships of the people in the payload", body = [GroupMembership]),
              (status = 200, description = "With `dry_run=true`: what the change would do", body = GroupMembersPreview)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    query: QueryParams,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let dry_run = query.flag("dry_run")?;
    let group = load(&state, &caller, &id).await?;
    let expect = pre.expect(group.version)?;
    let (group, org) = (group.id, group.organization);
    let mut gate = state.gate(caller.user_id(), Some(org));
    admit_body(&state, &mut gate, org, body.len(), dry_run)?;
    let mut members = Members::parse(&body, state.config.max_items)?;
    // The items own what the change needs: the body's megabytes can go before it runs.
    drop(body);
    gate.admit(members.items.len() > HEAVY_ITEMS)?;
    let (change, now) = (MembersChange::Add, state.clock.now());
    if dry_run {
        let preview = state
            .store
            .preview_group_members(group, &members.items, change, false, now)
            .await
            .map_err(|e| members.rejected(e))?;
        return json(StatusCode::OK, &preview);
    }
    let added = state
        .store
        .change_group_members(
            group,
            std::mem::take(&mut members.items),
            change,
            false,
            now,
            caller.origin(),
            expect,
        )
        .await
        .map_err(|e| members.rejected(e))?;
    json(StatusCode::CREATED, &added)
}

/// Replaces the members: those who stay keep their membership, the rest are removed, the new
/// ones added, in one transaction. `[]` empties the group.
#[utoipa::path(operation_id = "group_memberships_replace", put, path = "/api/groups/{id}/memberships/", tag = "groups",
    params(("id" = Uuid, Path), ReplaceQuery), request_body = Vec<MemberItem>,
    responses((status = 200, description = "The group's memberships after the change; with `dry_run=true`, what the change would do", body = GroupReplaceAnswer)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    query: QueryParams,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?;
    let expect = pre.expect(group.version)?;
    let (group, org) = (group.id, group.organization);
    let mut gate = state.gate(caller.user_id(), Some(org));
    let require_campaign = query.flag("require_campaign")?;
    let dry_run = query.flag("dry_run")?;
    admit_body(&state, &mut gate, org, body.len(), dry_run)?;
    let mut members = Members::parse(&body, state.config.max_items)?;
    // The items own what the change needs: the body's megabytes can go before it runs.
    drop(body);
    gate.admit(members.items.len() > HEAVY_ITEMS)?;
    let (change, now) = (MembersChange::Replace, state.clock.now());
    if dry_run {
        // Its answer names whoever would go: as large as the group.
        gate.admit(state.store.count_group_memberships(group).await? > HEAVY_ROWS)?;
        let preview = state
            .store
            .preview_group_members(group, &members.items, change, require_campaign, now)
            .await
            .map_err(|e| members.rejected(e))?;
        return json(StatusCode::OK, &preview);
    }
    state
        .store
        .change_group_members(
            group,
            std::mem::take(&mut members.items),
            change,
            require_campaign,
            now,
            caller.origin(),
            expect,
        )
        .await
        .map_err(|e| members.rejected(e))?;
    stream_all(&state, group, gate.after_change()).await
}

/// Removes one membership from the group.
#[utoipa::path(operation_id = "group_memberships_destroy", delete, path = "/api/groups/{id}/memberships/{mid}/", tag = "groups",
    params(("id" = Uuid, Path), ("mid" = Uuid, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, mid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let group = load(&state, &caller, &id).await?.id;
    state
        .store
        .remove_group_membership(group, parse_uuid(&mid)?, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
