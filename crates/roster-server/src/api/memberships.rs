//! Team memberships (contract section 5): the filtered list, and one membership's detail,
//! role change and removal.

use crate::api::json;
use crate::api::organizations::team_version;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, FlatBody, QueryParams, parse_int_id, parse_uuid};
use crate::limits::HeavyGate;
use crate::negotiate::ApiVersion;
use crate::page_cache::PageEnds;
use crate::pagination::{DEFAULT_PAGE_SIZE, Page, PageRequest, RequestUrl, stream_list};
use crate::preconditions::{Preconditions, Tag, json_tagged, with_tag};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::store::{MembershipCursor, MembershipFilter, Window};
use roster_core::{Membership, Role, StoreError};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The filters of the memberships list; all combine with AND.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)] // documents what `filter_from` parses; names are the wire names
pub struct MembershipQuery {
    /// `true` leaves service accounts out; `false` or absent includes them.
    user__service_account: Option<bool>,
    /// `true` leaves deployment-key accounts out; `false` or absent includes them.
    user__deployment_key_account: Option<bool>,
    /// Only this role (1..5).
    role: Option<i64>,
    /// Any of these roles, comma-separated, e.g. `1,4`.
    role__in: Option<String>,
    /// Only this user.
    user__id: Option<Uuid>,
    /// Members of any of these groups (comma-separated ids).
    groups: Option<String>,
    /// Case-insensitive substring of the name or the email.
    q: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct RoleWrite {
    role: Role,
}

/// Body of PATCH: the role, if it changes.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct RolePatch {
    #[schema(nullable = false, required = false)]
    role: Option<Role>,
}

pub fn filter_from(query: &QueryParams) -> ApiResult<MembershipFilter> {
    let mut errors = Map::new();
    let mut fail = |field: &str, message: String| {
        errors.insert(field.to_owned(), json!([message]));
    };
    let mut filter = MembershipFilter::default();
    let choice =
        |v: &str| format!("Select a valid choice. {v} is not one of the available choices.");
    for (field, slot) in [
        (
            "user__service_account",
            &mut filter.exclude_service_accounts,
        ),
        (
            "user__deployment_key_account",
            &mut filter.exclude_deployment_keys,
        ),
    ] {
        match query.get(field)? {
            None | Some("false" | "False" | "0") => {}
            Some("true" | "True" | "1") => *slot = true,
            Some(other) => fail(field, choice(other)),
        }
    }
    let role = |v: &str| v.trim().parse::<i64>().ok().and_then(Role::from_i64);
    let mut roles: Option<Vec<Role>> = None;
    if let Some(v) = query.get("role")? {
        match role(v) {
            Some(r) => roles = Some(vec![r]),
            None => fail("role", choice(v)),
        }
    }
    if let Some(list) = query.get("role__in")? {
        match list.split(',').map(role).collect::<Option<Vec<Role>>>() {
            // With `role` too, a member must match both.
            Some(within) => {
                roles = Some(match roles {
                    Some(r) => r.into_iter().filter(|r| within.contains(r)).collect(),
                    None => within,
                })
            }
            None => fail("role__in", choice(list)),
        }
    }
    filter.roles = roles;
    if let Some(v) = query.get("user__id")? {
        match Uuid::try_parse(v.trim()) {
            Ok(id) => filter.user_id = Some(id),
            Err(_) => fail("user__id", "Enter a valid UUID.".to_owned()),
        }
    }
    if let Some(list) = query.get("groups")? {
        let parsed: Result<Vec<Uuid>, _> =
            list.split(',').map(|g| Uuid::try_parse(g.trim())).collect();
        match parsed {
            Ok(groups) => filter.groups = Some(groups),
            Err(_) => fail("groups", "Enter a valid UUID.".to_owned()),
        }
    }
    filter.q = query.get("q")?.map(str::to_lowercase);
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(ApiError::BadRequest(Value::Object(errors)))
    }
}

/// The most groups one `groups=` filter may name.
const MAX_FILTER_GROUPS: usize = 100;

/// A `groups=` filter names groups of this team only: another team's group (or none at all)
/// is a 400, so that a list never reads across teams.
pub async fn check_groups(state: &AppState, org: Uuid, filter: &MembershipFilter) -> ApiResult<()> {
    let Some(groups) = &filter.groups else {
        return Ok(());
    };
    if groups.len() > MAX_FILTER_GROUPS {
        return Err(ApiError::field(
            "groups",
            format!("Name at most {MAX_FILTER_GROUPS} groups."),
        ));
    }
    for id in groups {
        let read = async {
            match state.store.get_group(*id).await {
                Ok(group) => Ok(Some(group.organization)),
                Err(roster_core::StoreError::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        };
        if state.recall.group_team(*id, read).await? != Some(org) {
            return Err(ApiError::field(
                "groups",
                format!("No group of this organization has the id {id}."),
            ));
        }
    }
    Ok(())
}

/// The team's memberships ordered by email, then id.
#[utoipa::path(operation_id = "memberships_list", get, path = "/api/organizations/{id}/memberships/", tag = "memberships",
    params(("id" = Uuid, Path), crate::openapi::PageParams, MembershipQuery),
    responses((status = 200, description = "Ordered by user email, then id", body = [Membership])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    url: RequestUrl,
    (query, pre): (QueryParams, Preconditions),
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Manager).await?;
    let filter = filter_from(&query)?;
    check_groups(&state, org, &filter).await?;
    let gate = state.gate(caller.user_id(), Some(org));
    if version.paginated() {
        return page(&state, org, &filter, &query, (&url, &pre), gate).await;
    }
    // Version 1.0 streams the whole list; page parameters are still checked, as for every list.
    PageRequest::from_query(&query)?;
    let (store, counted) = (state.store.clone(), filter.clone());
    let total = async move { store.count_memberships(org, &counted).await };
    let store = state.store.clone();
    let fetch = move |window| {
        let (store, filter) = (store.clone(), filter.clone());
        async move { store.list_memberships(org, &filter, window).await }
    };
    stream_list(fetch, Membership::cursor, total, gate).await
}

/// A list of at most this many pages is short: it is read from the database in blocks of
/// `BLOCK` pages. Its first requests come all at once and find it whole after a few reads,
/// instead of each paying a read whose fixed costs (gathering a group's people, say) are most
/// of it. A longer list is read page by page, so that a request waits only for its own page.
const SHORT_LIST: u64 = 64;
const BLOCK: u64 = 8;

/// One page (version 2.0). Pages are kept by the team's data version, read before the page
/// is. A page not kept yet is read with the others of its block, in one keyset read after
/// the previous block's end, from the list's page ends (computed once per version in one
/// pass); `page=last` and a page past the end are read alone.
async fn page(
    state: &AppState,
    org: Uuid,
    filter: &MembershipFilter,
    query: &QueryParams,
    (url, pre): (&RequestUrl, &Preconditions),
    gate: HeavyGate,
) -> ApiResult<Response> {
    let request = PageRequest::from_query(query)?;
    let team = team_version(state, org).await?;
    let tag = Tag::version(team);
    if let Some(fresh) = pre.not_modified(&tag) {
        return Ok(fresh);
    }
    with_tag(
        &tag,
        page_at(state, org, filter, request, url, team, gate).await,
    )
}

/// What the page cache's keys of team `org`'s lists start with.
fn pages_of(org: Uuid) -> String {
    format!("memberships {org} ")
}

/// Before a large change to team `org`'s members, its kept pages go: the change's commit
/// moves the team's version, after which no request asks for them again, and held through
/// the change they are memory it needs (a million-member list's pages are about 60 MiB,
/// beside the 140 MiB a replace of a million emails holds at its peak).
pub fn forget_pages(state: &AppState, org: Uuid) {
    state.pages.forget(&pages_of(org));
}

/// The page asked for, at the team's data version `team`.
async fn page_at(
    state: &AppState,
    org: Uuid,
    filter: &MembershipFilter,
    request: PageRequest,
    url: &RequestUrl,
    team: i64,
    gate: HeavyGate,
) -> ApiResult<Response> {
    let prefix = format!("{}{team}", pages_of(org));
    let key = format!("{prefix} {}", url.page_key(request.number()));
    if let Some(kept) = state.pages.get(&key) {
        return Ok(kept);
    }
    let list = format!("{prefix} {} {}", url.list_key(), request.size());
    let ends = ends(state, org, team, filter, request.size(), gate).await?;
    let first = request.with_number(1).resolve(ends.0)?;
    if let Some(number) = request.number().filter(|&n| n <= first.last()) {
        let size = if first.last() <= SHORT_LIST { BLOCK } else { 1 };
        let start = (number - 1) / size * size + 1;
        let pages: Vec<Page> = (start..=(start + size - 1).min(first.last()))
            .map(|n| first.sibling(n))
            .collect();
        let read = read_block(state, org, filter, &ends, &pages, (&prefix, url));
        state
            .pages
            .fill(format!("{list} from {start}"), read)
            .await?;
        if let Some(kept) = state.pages.get(&key) {
            return Ok(kept);
        }
    }
    let read = read_page(state, org, filter, &ends, request, url);
    state.pages.page(key, read).await
}

/// The page ends of team `org`'s list of `filter` in pages of `size`, computed once per
/// team version `team` for every caller, face and URL that asks for that list. Computing them
/// is a pass over the team's members, so the request that computes them takes one of its
/// caller's heavy slots (429 when all are taken): without it, a caller could start a pass per
/// request by changing the filter or the page size. The team's unfiltered list in pages of
/// the default size is one pass per version, shared by all, and one person's row is no pass.
pub async fn ends(
    state: &AppState,
    org: Uuid,
    team: i64,
    filter: &MembershipFilter,
    size: u32,
    mut gate: HeavyGate,
) -> ApiResult<Arc<PageEnds>> {
    let list = format!("{}{team} {filter:?} {size}", pages_of(org));
    let unfiltered = filter.q.is_none()
        && filter.groups.is_none()
        && filter.roles.is_none()
        && !filter.exclude_service_accounts
        && !filter.exclude_deployment_keys;
    let passes = filter.user_id.is_none() && !(unfiltered && size == DEFAULT_PAGE_SIZE);
    // Only the request that computes takes the slot; the others wait for its ends.
    let compute = async move {
        gate.admit(passes)?;
        let ends = state.store.membership_page_ends(org, filter, size).await?;
        drop(gate);
        Ok::<_, ApiError>(ends)
    };
    state.pages.ends(list, compute).await
}

/// The window of rows from the start of `page`, `limit` of them.
fn from_page(ends: &PageEnds, page: &Page, limit: u32) -> Window<MembershipCursor> {
    let previous = usize::try_from(page.number())
        .ok()
        .and_then(|n| n.checked_sub(2));
    match previous.and_then(|i| ends.1.get(i)) {
        Some(cursor) => Window::After {
            cursor: Some(cursor.clone()),
            limit,
        },
        None => page.window_of(limit),
    }
}

/// Consecutive `pages` of the list in one read, each with its key.
async fn read_block(
    state: &AppState,
    org: Uuid,
    filter: &MembershipFilter,
    ends: &PageEnds,
    pages: &[Page],
    (prefix, url): (&str, &RequestUrl),
) -> ApiResult<Vec<(String, Response)>> {
    let Some(first) = pages.first() else {
        return Ok(Vec::new());
    };
    let rows = pages.iter().map(Page::rows).sum();
    let items = state
        .store
        .list_memberships(org, filter, from_page(ends, first, rows))
        .await?;
    let size = usize::try_from(first.size()).unwrap_or(usize::MAX).max(1);
    pages
        .iter()
        .zip(items.chunks(size).chain(std::iter::repeat(&[][..])))
        .map(|(page, items)| {
            let key = format!("{prefix} {}", url.page_key(Some(page.number())));
            Ok((key, page.respond(url, items)?))
        })
        .collect()
}

/// A page read alone: `page=last`, or a page past the list's end (its error).
async fn read_page(
    state: &AppState,
    org: Uuid,
    filter: &MembershipFilter,
    ends: &PageEnds,
    request: PageRequest,
    url: &RequestUrl,
) -> ApiResult<Response> {
    let page = request.resolve(ends.0)?;
    let window = from_page(ends, &page, page.rows());
    let items = state.store.list_memberships(org, filter, window).await?;
    page.respond(url, &items)
}

/// Loads a membership and checks the caller's standing in its organization.
async fn load(state: &AppState, caller: &Caller, id: &str, needs: Needs) -> ApiResult<Membership> {
    let membership = state.store.get_membership(parse_int_id(id)?).await?;
    caller
        .role_in(state, membership.organization, needs)
        .await?;
    Ok(membership)
}

/// One membership.
#[utoipa::path(operation_id = "memberships_retrieve", get, path = "/api/memberships/{id}/", tag = "memberships",
    params(("id" = i64, Path)),
    responses((status = 200, description = "The membership", body = Membership)))]
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let membership = load(&state, &caller, &id, Needs::Manager).await?;
    json(StatusCode::OK, &membership)
}

/// Changes the role (the only writable field). The last admin cannot be demoted.
#[utoipa::path(operation_id = "memberships_update", put, path = "/api/memberships/{id}/", tag = "memberships",
    params(("id" = i64, Path)), request_body = RoleWrite,
    responses((status = 200, description = "The membership", body = Membership)))]
pub async fn update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    set_role(state, caller, pre, id, body, false).await
}

/// Changes the role, if given. The last admin cannot be demoted.
#[utoipa::path(operation_id = "memberships_partial_update", patch, path = "/api/memberships/{id}/", tag = "memberships",
    params(("id" = i64, Path)), request_body = RolePatch,
    responses((status = 200, description = "The membership", body = Membership)))]
pub async fn partial_update(
    state: State<AppState>,
    caller: Caller,
    pre: Preconditions,
    id: Path<String>,
    body: FlatBody,
) -> ApiResult<Response> {
    set_role(state, caller, pre, id, body, true).await
}

async fn set_role(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
    partial: bool,
) -> ApiResult<Response> {
    let membership = load(&state, &caller, &id, Needs::Admin).await?;
    let mut fields = Fields::new(body, partial)?;
    let role = fields.role("role", true);
    fields.finish()?;
    let (membership, expect) = expected(&state, &pre, membership).await?;
    let membership = match role {
        Some(role) => {
            state
                .store
                .set_role(membership.id, role, caller.origin(), expect)
                .await?
        }
        None => membership,
    };
    // Tagged as its GET would be (the change's answer is what a GET now shows).
    json_tagged(&membership)
}

/// For a change of `membership` under `If-Match`: the membership read again after the team's
/// data version, that version (which the store must still find), or a 412 at once when the
/// tag named is not that of the membership as it now reads.
async fn expected(
    state: &AppState,
    pre: &Preconditions,
    membership: Membership,
) -> ApiResult<(Membership, Option<i64>)> {
    if !pre.has_if_match() {
        return Ok((membership, None));
    }
    let version = state.store.team_version(membership.organization).await?;
    let now = match state.store.get_membership(membership.id).await {
        Err(StoreError::NotFound) => return Err(ApiError::PreconditionFailed),
        read => read?,
    };
    let matched = pre.matches(&Tag::of_json(&now)?)?;
    Ok((now, matched.then_some(version)))
}

/// Removes the person from the team and from its groups. The last admin cannot be removed.
#[utoipa::path(operation_id = "memberships_destroy", delete, path = "/api/memberships/{id}/", tag = "memberships",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    pre: Preconditions,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let membership = load(&state, &caller, &id, Needs::Admin).await?;
    let (membership, expect) = expected(&state, &pre, membership).await?;
    state
        .store
        .remove_membership(membership.id, caller.origin(), expect)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
