//! Organizations (contract section 4): the caller's teams; creating one; reading, renaming
//! and deleting it. A retrieved organization embeds its memberships, streamed like a 1.0 list.

use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, JsonBody, parse_uuid};
use crate::pagination::{Listing, stream_rows};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::Store;
use roster_core::store::{MembershipFilter, NewOrganization, OrganizationPatch, Visibility};
use roster_core::{Membership, Organization, Role};
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

fn visibility(caller: &Caller) -> Visibility {
    match caller.0.confined_to {
        _ if caller.0.is_operator => Visibility::All,
        Some(team) => Visibility::MemberOfOnly(caller.user_id(), team),
        None => Visibility::MemberOf(caller.user_id()),
    }
}

/// The caller's organizations (every one, for an operator), ordered by name.
#[utoipa::path(operation_id = "organizations_list", get, path = "/api/organizations/", tag = "organizations",
    params(crate::openapi::PageParams),
    responses((status = 200, description = "Organizations ordered by name, then id", body = [Organization])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
) -> ApiResult<Response> {
    let who = visibility(&caller);
    let total = state.store.count_organizations(who);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_organizations(who, window).await
    };
    let gate = state.gate(caller.user_id(), None);
    (listing.serve(&state, total, read, Organization::cursor, gate)).await
}

/// Creates a team with the caller as its admin. Service accounts, deployment keys and
/// unproven keys may not.
#[utoipa::path(operation_id = "organizations_create", post, path = "/api/organizations/", tag = "organizations",
    request_body = OrganizationWrite,
    responses((status = 201, description = "Created; the caller is its admin", body = OrganizationDetail)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
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
        .create_organization(new, caller.user_id(), state.clock.now())
        .await?;
    detail(&state, org, None, StatusCode::CREATED, caller.user_id()).await
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
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    let role = caller.role_in(&state, id, Needs::Member).await?;
    let org = state.store.get_organization(id).await?;
    let members_of = if role.can_manage() {
        None
    } else {
        Some(caller.user_id())
    };
    detail(&state, org, members_of, StatusCode::OK, caller.user_id()).await
}

/// Replaces the organization's fields (`name` required).
#[utoipa::path(operation_id = "organizations_update", put, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)), request_body = OrganizationWrite,
    responses((status = 200, description = "The organization", body = OrganizationDetail)))]
pub async fn update(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    write(state, caller, id, body, false).await
}

/// Changes some of `name`, `scope` and `default_role`.
#[utoipa::path(operation_id = "organizations_partial_update", patch, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)), request_body = OrganizationChanges,
    responses((status = 200, description = "The organization", body = OrganizationDetail)))]
pub async fn partial_update(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    write(state, caller, id, body, true).await
}

async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
    partial: bool,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    caller.role_in(&state, id, Needs::Admin).await?;
    let mut fields = Fields::new(body, partial)?;
    let patch = OrganizationPatch {
        name: fields.text("name", true, MAX_NAME),
        scope: scope(&mut fields),
        default_role: fields.role("default_role", false),
    };
    fields.finish()?;
    let org = state.store.update_organization(id, patch).await?;
    detail(&state, org, None, StatusCode::OK, caller.user_id()).await
}

/// Deletes the team and everything that hangs from it.
#[utoipa::path(operation_id = "organizations_destroy", delete, path = "/api/organizations/{id}/", tag = "organizations",
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_uuid(&id)?;
    caller.role_in(&state, id, Needs::Admin).await?;
    state.store.delete_organization(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The organization object with `members` streamed in (heavy past `HEAVY_ROWS`, for `holder`);
/// `only` limits them to one user.
async fn detail(
    state: &AppState,
    org: Organization,
    only: Option<Uuid>,
    status: StatusCode,
    holder: Uuid,
) -> ApiResult<Response> {
    let gate = state.gate(holder, Some(org.id));
    let mut head = serde_json::to_vec(&org).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Reopen the serialized object to append the streamed `members` array.
    head.pop();
    head.extend_from_slice(b",\"members\":[");
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
