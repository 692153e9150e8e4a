//! Verified email domains (contract section 12): admins list them; operators add and remove
//! them. A verified domain lets its addresses into the team's groups before their owners join.

use crate::api::json;
use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{Fields, FlatBody, parse_uuid};
use crate::pagination::Listing;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use roster_core::Store;
use roster_core::{EmailDomain, domain};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(ToSchema)]
#[allow(dead_code)] // documents the body that `Fields` validates
pub struct DomainWrite {
    /// A domain name; stored lower-case in its IDNA (ASCII) form.
    #[schema(
        example = "acme.com",
        pattern = "^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$"
    )]
    domain: String,
}

/// Normalises a domain and refuses public mail providers and Roster's own domains: the error
/// message for `domain`.
pub fn checked(input: &str) -> Result<String, String> {
    let normalized = domain::normalize(input).map_err(str::to_owned)?;
    if domain::is_public_provider(&normalized) {
        return Err(format!(
            "{normalized} is a public mail provider: its addresses do not belong to one team."
        ));
    }
    if roster_core::rules::is_reserved_domain(&normalized) {
        return Err(format!(
            "{normalized} is Roster's own (its accounts' addresses): no team may verify it."
        ));
    }
    Ok(normalized)
}

/// Operators only; someone outside the team still gets 404, so existence does not leak.
async fn require_operator(state: &AppState, caller: &Caller, org: Uuid) -> ApiResult<()> {
    caller.role_in(state, org, Needs::Member).await?;
    if caller.0.is_operator {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The team's verified domains.
#[utoipa::path(operation_id = "email_domains_list", get, path = "/api/organizations/{id}/email-domains/", tag = "email domains",
    params(("id" = Uuid, Path), crate::openapi::PageParams),
    responses((status = 200, description = "Ordered by domain", body = [EmailDomain])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Admin).await?;
    let total = state.store.count_email_domains(org);
    let read = move |store: Arc<dyn Store>, window| async move {
        store.list_email_domains(org, window).await
    };
    let gate = state.gate(caller.user_id(), Some(org));
    (listing.serve(&state, total, read, EmailDomain::cursor, gate)).await
}

/// Adds a verified domain (operators). A domain belongs to one team; public mail providers
/// are refused.
#[utoipa::path(operation_id = "email_domains_create", post, path = "/api/organizations/{id}/email-domains/", tag = "email domains",
    params(("id" = Uuid, Path)), request_body = DomainWrite,
    responses((status = 201, description = "Added, verified", body = EmailDomain)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    FlatBody(body): FlatBody,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    require_operator(&state, &caller, org).await?;
    let mut fields = Fields::new(body, false)?;
    let given = fields.text("domain", true, 4 * domain::MAX_DOMAIN_LEN);
    let normalized = given.and_then(|d| match checked(&d) {
        Ok(n) => Some(n),
        Err(message) => {
            fields.invalid("domain", message);
            None
        }
    });
    fields.finish()?;
    let added = state
        .store
        .add_email_domain(
            org,
            &normalized.unwrap_or_default(),
            state.clock.now(),
            caller.origin(),
        )
        .await
        .map_err(|e| match e {
            roster_core::StoreError::Conflict { .. } => ApiError::field(
                "domain",
                "This domain is already verified for an organization.",
            ),
            e => e.into(),
        })?;
    json(StatusCode::CREATED, &added)
}

/// Removes a verified domain (operators). Memberships already held stay.
#[utoipa::path(operation_id = "email_domains_destroy", delete, path = "/api/organizations/{id}/email-domains/{did}/", tag = "email domains",
    params(("id" = Uuid, Path), ("did" = Uuid, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, did)): Path<(String, String)>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    require_operator(&state, &caller, org).await?;
    state
        .store
        .delete_email_domain(org, parse_uuid(&did)?, caller.origin())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
