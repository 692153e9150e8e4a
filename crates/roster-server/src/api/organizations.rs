//! Organizations (contract section 4): the caller's teams; creating one; reading, renaming
//! and deleting it. Listed or retrieved, an organization embeds its memberships, streamed.

use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, FlatBody, parse_uuid};
use crate::limits::HeavyGate;
use crate::pagination::{Chunk, Listing, STREAM_CHUNK, array_body, stream_rows};
use crate::preconditions::{Preconditions, Tag, tagged, with_tag};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt, stream};
use roster_core::store::{
    MembershipFilter, NewOrganization, OrganizationPatch, Visibility, Window,
};
use roster_core::{Membership, Organization, Role, Store, StoreResult};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::ready;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

pub const MAX_NAME: usize = 128;
const MAX_SCOPE: usize = 128;

/// An organization with its memberships (admins and managers see all of them, other members
/// only their own).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the streamed shape
pub struct OrganizationDetail {
    id: Uuid,
    name: String,
    scope: Option<String>,
    default_role: Role,
    members: Vec<Membership>,
}

/// Body of POST, PUT and PATCH. `name` is required by POST and PUT.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct OrganizationWrite {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$"
    )]
    name: String,
    /// `null` or `""` clears it.
    #[schema(pattern = "^(@[a-z0-9][a-z0-9._-]*)?$", max_length = 128)]
    scope: Option<String>,
    #[schema(nullable = false, required = false)]
    default_role: Option<Role>,
}

/// Body of PATCH: any of the fields.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct OrganizationChanges {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000]*\\S[^\\u0000]*$",
        nullable = false,
        required = false
    )]
    name: Option<String>,
    /// `null` or `""` clears it.
    #[schema(pattern = "^(@[a-z0-9][a-z0-9._-]*)?$", max_length = 128)]
    scope: Option<String>,
    #[schema(nullable = false, required = false)]
    default_role: Option<Role>,
}

pub fn visibility(caller: &Caller) -> Visibility {
    match caller.0.confined_to {
        _ if caller.0.is_operator => Visibility::All,
        Some(team) => Visibility::MemberOfOnly(caller.user_id(), team),
        None => Visibility::MemberOf(caller.user_id()),
    }
}

/// The caller's organizations (every one, for an operator), ordered by name, each with its
/// `members`: every member in the teams whose memberships the caller may list (admins,
/// managers, operators), else only the caller's own membership. Streamed, teams and members
/// alike, so a team of any size lists in flat memory.
#[utoipa::path(operation_id = "organizations_list", get, path = "/api/organizations/", tag = "organizations",
    params(crate::openapi::PageParams),
    responses((status = 200, description = "Organizations ordered by name, then id, each with its members", body = [OrganizationDetail])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    listing: Listing,
) -> ApiResult<Response> {
    let who = visibility(&caller);
    let page = listing.page(state.store.count_organizations(who)).await?;
    let window = match &page {
        Some(page) => page.window(),
        None => Window::After {
            cursor: None,
            limit: STREAM_CHUNK,
        },
    };
    let first = state.store.list_organizations(who, window).await?;
    let whole = WholeLists::of(&state, &caller).await?;
    let tag = match &page {
        Some(page) => Some(page_tag(&state, &first, &whole, page.total()).await?),
        None => None,
    };
    if let Some(fresh) = tag.as_ref().and_then(|t| pre.not_modified(t)) {
        return Ok(fresh);
    }
    // The answer's size is that of the member lists shown whole; a 1.0 list of more teams
    // than one read is taken as heavy without counting them all.
    let more = page.is_none() && first.len() >= STREAM_CHUNK as usize;
    let rows = if more {
        u64::MAX
    } else {
        let shown: Vec<Uuid> = first
            .iter()
            .map(|o| o.id)
            .filter(|o| whole.shows(*o))
            .collect();
        state.store.count_members_in(&shown).await?
    };
    let permit = state.gate(caller.user_id(), None).admit_rows(rows)?;
    let teams = match page {
        Some(_) => stream::iter(first.into_iter().map(Ok)).boxed(),
        None => every_team(state.store.clone(), who, first).boxed(),
    };
    let (store, me) = (state.store.clone(), caller.user_id());
    let teams = teams.enumerate().flat_map(move |(i, team)| match team {
        Ok(org) => {
            let filter = MembershipFilter {
                user_id: (!whole.shows(org.id)).then_some(me),
                ..MembershipFilter::default()
            };
            let head = if i == 0 { Vec::new() } else { vec![b','] };
            team_body(store.clone(), org, head, filter).left_stream()
        }
        Err(e) => failed(e.to_string()).right_stream(),
    });
    let body = stream::once(ready(Ok(Bytes::from_static(b"["))))
        .chain(teams)
        .chain(stream::once(ready(Ok(Bytes::from_static(b"]")))))
        .map(move |bytes| {
            // Held for as long as the list is read.
            let _permit = &permit;
            bytes
        });
    let answer = listing.respond(page.as_ref(), Body::from_stream(body));
    match tag {
        Some(tag) => with_tag(&tag, answer),
        None => answer,
    }
}

/// A team's data version, as this node remembers it: the tag of what its detail and member
/// lists show.
pub(crate) async fn team_version(state: &AppState, org: Uuid) -> ApiResult<i64> {
    Ok((state.recall)
        .team_version(org, state.store.team_version(org))
        .await?)
}

/// The tag of a page of teams: the teams it holds as read, each at its data version (read
/// after them: their members, streamed later still), whether it shows their member lists
/// whole, and the list's length.
async fn page_tag(
    state: &AppState,
    teams: &[Organization],
    whole: &WholeLists,
    total: u64,
) -> ApiResult<Tag> {
    let ids: Vec<Uuid> = teams.iter().map(|t| t.id).collect();
    let versions: HashMap<Uuid, i64> = state.store.team_versions(&ids).await?.into_iter().collect();
    let mut parts = Vec::with_capacity(teams.len() + 1);
    for team in teams {
        let version = versions.get(&team.id).copied().unwrap_or_default();
        let shown = (team.id, &team.name, &team.scope, team.default_role.as_i64());
        parts.push(json!([shown, version, whole.shows(team.id)]).to_string());
    }
    parts.push(format!("{total}"));
    Ok(Tag::of_parts(parts.iter().map(String::as_bytes)))
}

/// The teams whose member lists the caller sees whole in the team list.
enum WholeLists {
    Every,
    Of(HashSet<Uuid>),
}

impl WholeLists {
    async fn of(state: &AppState, caller: &Caller) -> ApiResult<Self> {
        if caller.0.is_operator {
            return Ok(WholeLists::Every);
        }
        let mine = state.store.memberships_of(caller.user_id()).await?;
        let managed = mine.into_iter().filter(|m| m.role.can_manage());
        Ok(WholeLists::Of(managed.map(|m| m.organization).collect()))
    }

    fn shows(&self, org: Uuid) -> bool {
        match self {
            WholeLists::Every => true,
            WholeLists::Of(teams) => teams.contains(&org),
        }
    }
}

/// Every team `who` sees, `first` (the first keyset read) and then the rest, read a chunk at
/// a time.
fn every_team(
    store: Arc<dyn Store>,
    who: Visibility,
    first: Vec<Organization>,
) -> impl Stream<Item = StoreResult<Organization>> + Send + 'static {
    let first = Chunk::of(first, Organization::cursor);
    stream::unfold(Some(Ok(first)), move |read| {
        let store = store.clone();
        async move {
            let chunk = match read? {
                Ok(chunk) => chunk,
                Err(e) => return Some((Err(e), None)),
            };
            let next = match chunk.next {
                Some(cursor) => {
                    let window = Window::After {
                        cursor: Some(cursor),
                        limit: STREAM_CHUNK,
                    };
                    let read = store.list_organizations(who, window).await;
                    Some(read.map(|teams| Chunk::of(teams, Organization::cursor)))
                }
                None => None,
            };
            Some((Ok(chunk.items), next))
        }
    })
    .flat_map(|read| match read {
        Ok(teams) => stream::iter(teams.into_iter().map(Ok)).left_stream(),
        Err(e) => stream::once(ready(Err(e))).right_stream(),
    })
}

/// `head`, then the team as JSON with the members `filter` picks streamed into `members`.
fn team_body(
    store: Arc<dyn Store>,
    org: Organization,
    mut head: Vec<u8>,
    filter: MembershipFilter,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    if let Err(e) = open_members(&mut head, &org) {
        return failed(e.to_string()).left_stream();
    }
    let fetch = move |after| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let window = Window::After {
                cursor: after,
                limit: STREAM_CHUNK,
            };
            let items = store.list_memberships(org.id, &filter, window).await?;
            Ok(Chunk::of(items, Membership::cursor))
        }
    };
    array_body(head, b"]}", fetch).right_stream()
}

/// Appends the team as JSON, left open at the start of its `members` array.
fn open_members(buf: &mut Vec<u8>, org: &Organization) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *buf, org)?;
    // Reopen the serialized object to append the streamed `members` array.
    buf.pop();
    buf.extend_from_slice(b",\"members\":[");
    Ok(())
}

/// A body that fails: a stream that has begun can no longer change its status, so the
/// failure is logged and the body cut short.
fn failed(error: String) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    tracing::error!(%error, "streamed team list cut short");
    stream::once(ready(Err(std::io::Error::other(error))))
}

/// Creates a team with the caller as its admin. Service accounts, deployment keys and
/// unproven keys may not.
#[utoipa::path(operation_id = "organizations_create", post, path = "/api/organizations/", tag = "organizations",
    request_body = OrganizationWrite,
    responses((status = 201, description = "Created; the caller is its admin", body = OrganizationDetail)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    // Accounts are not people; an unproven key acts in its own team alone.
    if caller.0.user.service_account || caller.0.confined_to.is_some() {
        return Err(ApiError::Forbidden);
    }
    let mut fields = Fields::new(body, false)?;
    let name = fields.text("name", true, MAX_NAME);
    let scope = scope(&mut fields).flatten();
    let default_role = fields.role("default_role", false);
    fields.finish()?;
    let new = NewOrganization {
        name: name.unwrap_or_default(),
        scope,
        default_role,
    };
    let org = state
        .store
        .create_organization(new, caller.user_id(), state.clock.now(), caller.origin())
        .await?;
    let gate = state.gate(caller.user_id(), Some(org.id)).after_change();
    detail(&state, org, None, StatusCode::CREATED, gate).await
}

/// Reads, validates and returns the `scope` field: `Some(None)` clears it.
fn scope(fields: &mut Fields) -> Option<Option<String>> {
    let scope = fields.nullable_text("scope", MAX_SCOPE)?;
    if let Some(s) = &scope
        && !is_valid_scope(s)
    {
        fields.invalid(
            "scope",
            "Enter a scope like @acme: '@', then lower-case letters, digits, '.', '_' or '-'.",
        );
        return None;
    }
    Some(scope)
}

fn is_valid_scope(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next() == Some('@')
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// One organization, with its memberships embedded.
#[utoipa::path(operation_id = "organizations_retrieve", get, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The organization", body = OrganizationDetail)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    let role = caller.role_in(&state, id, Needs::Member).await?;
    // Read before the team is, so that the tag is never newer than what it names.
    let version = team_version(&state, id).await?;
    if let Some(fresh) = pre.not_modified(&Tag::version(version)) {
        return Ok(fresh);
    }
    let org = state.store.get_organization(id).await?;
    let members_of = if role.can_manage() {
        None
    } else {
        Some(caller.user_id())
    };
    let gate = state.gate(caller.user_id(), Some(org.id));
    let answer = detail(&state, org, members_of, StatusCode::OK, gate).await;
    tagged(version, answer)
}

/// Replaces the organization's fields (`name` required).
#[utoipa::path(operation_id = "organizations_update", put, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)), request_body = OrganizationWrite,
    responses((status = 200, description = "The organization", body = OrganizationDetail)))]
pub async fn update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    write(state, caller, pre, id, body, false).await
}

/// Changes some of `name`, `scope` and `default_role`.
#[utoipa::path(operation_id = "organizations_partial_update", patch, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)), request_body = OrganizationChanges,
    responses((status = 200, description = "The organization", body = OrganizationDetail)))]
pub async fn partial_update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    write(state, caller, pre, id, body, true).await
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
    partial: bool,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    caller.role_in(&state, id, Needs::Admin).await?;
    let expect = expected(&state, &pre, id).await?;
    let mut fields = Fields::new(body, partial)?;
    let patch = OrganizationPatch {
        name: fields.text("name", true, MAX_NAME),
        scope: scope(&mut fields),
        default_role: fields.role("default_role", false),
    };
    fields.finish()?;
    let org = state
        .store
        .update_organization(id, patch, caller.origin(), expect)
        .await?;
    // Committed: the answer is never refused for the caller's heavy slots now (a 429 would
    // say that nothing changed, and a retry would change the team again).
    let gate = state.gate(caller.user_id(), Some(id)).after_change();
    detail(&state, org, None, StatusCode::OK, gate).await
}

/// The data version that a change of team `org` expects (`If-Match`), read from the
/// database: a 412 at once when the tag named is not the team's.
async fn expected(state: &AppState, pre: &Preconditions, org: Uuid) -> ApiResult<Option<i64>> {
    if !pre.has_if_match() {
        return Ok(None);
    }
    pre.expect(state.store.team_version(org).await?)
}

/// Deletes the team and everything that hangs from it.
#[utoipa::path(operation_id = "organizations_destroy", delete, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    caller.role_in(&state, id, Needs::Admin).await?;
    let expect = expected(&state, &pre, id).await?;
    state
        .store
        .delete_organization(id, caller.origin(), expect)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The organization object with `members` streamed in (heavy past `HEAVY_ROWS`, through
/// `gate`); `only` limits them to one user.
async fn detail(
    state: &AppState,
    org: Organization,
    only: Option<Uuid>,
    status: StatusCode,
    gate: HeavyGate,
) -> ApiResult<Response> {
    let mut head = Vec::new();
    open_members(&mut head, &org).map_err(|e| ApiError::Internal(e.to_string()))?;
    let filter = MembershipFilter {
        user_id: only,
        ..MembershipFilter::default()
    };
    let (store, counted) = (state.store.clone(), filter.clone());
    let total = async move { store.count_memberships(org.id, &counted).await };
    let store = state.store.clone();
    let fetch = move |window| {
        let (store, filter) = (store.clone(), filter.clone());
        async move { store.list_memberships(org.id, &filter, window).await }
    };
    let mut response = stream_rows(head, b"]}", fetch, Membership::cursor, total, gate).await?;
    *response.status_mut() = status;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::is_valid_scope;

    #[test]
    fn scopes_follow_the_contract_pattern() {
        for ok in ["@acme", "@a", "@0x.y_z-w"] {
            assert!(is_valid_scope(ok), "{ok}");
        }
        for bad in ["acme", "@", "@Acme", "@-acme", "@acme corp", "@ac/me"] {
            assert!(!is_valid_scope(bad), "{bad}");
        }
    }
}
