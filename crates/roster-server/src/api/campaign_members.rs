//! Campaign members (contract section 9): people by email with free-form reporting `data`,
//! kept exactly as sent. POST adds or updates; PUT replaces the whole list.

use crate::api::campaigns::load;
use crate::api::json;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::input::{QueryParams, RawJson};
use crate::limits::{HEAVY_BODY_BYTES, HEAVY_ITEMS, HEAVY_ROWS, HeavyGate};
use crate::members::CampaignMembers;
use crate::pagination::{Listing, stream_list};
use crate::preconditions::Preconditions;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::future::BoxFuture;
use roster_core::CampaignMember;
use roster_core::store::{EmailCursor, MembersChange, Window};
use roster_core::{Store, StoreResult};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// An item of a POST or PUT payload: an array of these, `{"users": [...]}` holding one, or one
/// of these alone.
#[derive(ToSchema)]
#[allow(dead_code)] // documents what `CampaignMembers::parse` reads
pub struct CampaignMemberItem {
    /// A team member's email, or one of a domain verified for the team; once per payload.
    #[schema(format = Email)]
    email: String,
    /// Free-form reporting data (a JSON object, at most 64 KiB), stored and returned as sent.
    #[schema(value_type = Option<Object>, nullable = false, required = false)]
    data: Option<serde_json::Value>,
}

/// A POST or PUT body: a list of members, `{"users": [...]}` holding one, or one member.
pub struct CampaignMembersPayload;

impl utoipa::PartialSchema for CampaignMembersPayload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let item = || utoipa::openapi::Ref::from_schema_name("CampaignMemberItem");
        let users = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("users", ArrayBuilder::new().items(item()))
            .required("users");
        OneOfBuilder::new()
            .item(ArrayBuilder::new().items(item()))
            .item(users)
            .item(item())
            .into()
    }
}

impl utoipa::ToSchema for CampaignMembersPayload {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "CampaignMemberItem".into(),
            <CampaignMemberItem as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The campaign's members ordered by email.
#[utoipa::path(operation_id = "campaign_members_list", get, path = "/api/organizations/{id}/campaigns/{cid}/members/", tag = "campaigns",
    params(("id" = Uuid, Path), ("cid" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by email", body = [CampaignMember])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let campaign = load(&state, &caller, &org, &id).await?;
    let (campaign, gate) = (
        campaign.id,
        state.gate(caller.user_id(), Some(campaign.organization)),
    );
    let total = state.store.count_campaign_members(campaign);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_campaign_members(campaign, window).await
    };
    (listing.serve(&state, total, read, CampaignMember::cursor, gate)).await
}

/// Reads one window of the campaign's members.
fn fetcher(
    state: &AppState,
    campaign: Uuid,
) -> impl Fn(Window<EmailCursor>) -> BoxFuture<'static, StoreResult<Vec<CampaignMember>>>
+ Send
+ Sync
+ 'static {
    let store = state.store.clone();
    move |window| {
        let store = store.clone();
        Box::pin(async move { store.list_campaign_members(campaign, window).await })
    }
}

/// The whole member list, streamed.
async fn stream_all(state: &AppState, campaign: Uuid, gate: HeavyGate) -> ApiResult<Response> {
    let total = state.store.count_campaign_members(campaign);
    stream_list(
        fetcher(state, campaign),
        CampaignMember::cursor,
        total,
        gate,
    )
    .await
}

fn payload(body: &[u8], max_items: usize) -> ApiResult<CampaignMembers<'_>> {
    CampaignMembers::payload(body, max_items)
}

/// What a change of the member list would do (`?dry_run=true`): the members it would add,
/// remove, and whose `data` it would change, and how many it names that it leaves as they are.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)] // documents `MembersPreview<CampaignMember>`
pub struct CampaignMembersPreview {
    added: Vec<CampaignMember>,
    removed: Vec<CampaignMember>,
    updated: Vec<CampaignMember>,
    unchanged: u64,
}

/// The answer of a replace: the list after the change, or with `dry_run` its preview.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documents the two answers of `replace`
pub enum CampaignReplaceAnswer {
    Members(Vec<CampaignMember>),
    Preview(CampaignMembersPreview),
}

/// Adds members; a member already there gets the new `data`.
#[utoipa::path(operation_id = "campaign_members_add", post, path = "/api/organizations/{id}/campaigns/{cid}/members/", tag = "campaigns",
    params(("id" = Uuid, Path), ("cid" = Uuid, Path), crate::api::group_memberships::DryRunQuery), request_body = CampaignMembersPayload,
    responses((status = 201, description = "The members of the payload", body = [CampaignMember]),
              (status = 200, description = "With `dry_run=true`: what the change would do", body = CampaignMembersPreview)))]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    query: QueryParams,
    Path((org, id)): Path<(String, String)>,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let dry_run = query.flag("dry_run")?;
    let campaign = load(&state, &caller, &org, &id).await?;
    let expect = pre.expect(campaign.version)?;
    let (campaign, gate) = (
        campaign.id,
        state.gate(caller.user_id(), Some(campaign.organization)),
    );
    let mut gate = gate;
    gate.admit(body.len() > HEAVY_BODY_BYTES)?;
    let payload = payload(&body, state.config.max_items)?;
    gate.admit(payload.members.len() > HEAVY_ITEMS)?;
    let (change, now) = (MembersChange::Add, state.clock.now());
    if dry_run {
        let preview = state
            .store
            .preview_campaign_members(campaign, &payload.members, change, now)
            .await
            .map_err(|e| payload.rejected(e))?;
        return json(StatusCode::OK, &preview);
    }
    let added = state
        .store
        .change_campaign_members(
            campaign,
            &payload.members,
            change,
            now,
            caller.origin(),
            expect,
        )
        .await
        .map_err(|e| payload.rejected(e))?;
    json(StatusCode::CREATED, &added)
}

/// Replaces the whole member list: those who stay keep their id (their data is replaced).
#[utoipa::path(operation_id = "campaign_members_replace", put, path = "/api/organizations/{id}/campaigns/{cid}/members/", tag = "campaigns",
    params(("id" = Uuid, Path), ("cid" = Uuid, Path), crate::api::group_memberships::DryRunQuery), request_body = CampaignMembersPayload,
    responses((status = 200, description = "The campaign's members after the change; with `dry_run=true`, what the change would do", body = CampaignReplaceAnswer)))]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    query: QueryParams,
    Path((org, id)): Path<(String, String)>,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let dry_run = query.flag("dry_run")?;
    let campaign = load(&state, &caller, &org, &id).await?;
    let expect = pre.expect(campaign.version)?;
    let (campaign, gate) = (
        campaign.id,
        state.gate(caller.user_id(), Some(campaign.organization)),
    );
    let mut gate = gate;
    gate.admit(body.len() > HEAVY_BODY_BYTES)?;
    let payload = payload(&body, state.config.max_items)?;
    gate.admit(payload.members.len() > HEAVY_ITEMS)?;
    let (change, now) = (MembersChange::Replace, state.clock.now());
    if dry_run {
        // Its answer names whoever would go: as large as the campaign.
        gate.admit(state.store.count_campaign_members(campaign).await? > HEAVY_ROWS)?;
        let preview = state
            .store
            .preview_campaign_members(campaign, &payload.members, change, now)
            .await
            .map_err(|e| payload.rejected(e))?;
        return json(StatusCode::OK, &preview);
    }
    state
        .store
        .change_campaign_members(
            campaign,
            &payload.members,
            change,
            now,
            caller.origin(),
            expect,
        )
        .await
        .map_err(|e| payload.rejected(e))?;
    stream_all(&state, campaign, gate.after_change()).await
}
