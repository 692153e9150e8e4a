//! The change history (contract section 15): a team's events, or one group's, newest first,
//! for the team's admins and operators, with filters. Events are written by the use cases
//! themselves, in the transaction of each change.

use crate::auth::{Caller, Needs};
use crate::error::{ApiError, ApiResult};
use crate::input::{QueryParams, parse_uuid};
use crate::pagination::Listing;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use roster_core::audit::{AuditEvent, AuditFilter, AuditScope, CONTENT_TYPES};
use roster_core::{Face, Store, Timestamp};
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;
use uuid::Uuid;

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents what `filter_from` parses
pub struct AuditParams {
    /// Events by this user (their id).
    actor: Option<Uuid>,
    /// Events of this type, e.g. `group.created`, `group_membership.replaced`.
    action_type: Option<String>,
    /// Events whose target or action object is of this type (`organization`, `membership`,
    /// `group`, `campaign`, `service_account`, `deployment_key`, `invitation`,
    /// `email_domain`).
    content_type: Option<String>,
    /// Events whose target or action object has this id.
    object: Option<String>,
    /// Events of changes made through this face: `api`, `scim`, `cli` or `console` (a Roster
    /// extension).
    face: Option<String>,
    /// Events at or after this time (RFC 3339).
    since: Option<String>,
    /// Events before this time (RFC 3339).
    until: Option<String>,
}

/// The longest a filter's text may be: no id, type or name of Roster's is longer.
const MAX_FILTER_LEN: usize = 200;

pub fn filter_from(query: &QueryParams) -> ApiResult<AuditFilter> {
    let text = |name: &str| -> ApiResult<Option<String>> {
        match query.get(name)? {
            Some(v) if v.chars().count() > MAX_FILTER_LEN => Err(ApiError::field(
                name,
                format!("Ensure this value has at most {MAX_FILTER_LEN} characters."),
            )),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let time = |name: &str| -> ApiResult<Option<Timestamp>> {
        query
            .get(name)?
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339)
                    .map(Timestamp::from_offset_date_time)
                    .map_err(|_| {
                        ApiError::field(
                            name,
                            "Enter a valid date/time in RFC 3339 form, e.g. \
                             2026-12-01T00:00:00Z.",
                        )
                    })
            })
            .transpose()
    };
    let actor = query
        .get("actor")?
        .map(|v| Uuid::try_parse(v).map_err(|_| ApiError::field("actor", "Enter a valid user id.")))
        .transpose()?;
    let content_type = text("content_type")?;
    if let Some(kind) = &content_type
        && !CONTENT_TYPES.contains(&kind.as_str())
    {
        return Err(ApiError::field(
            "content_type",
            format!(
                "Select a valid choice: {} is not one of {}.",
                kind,
                CONTENT_TYPES.join(", ")
            ),
        ));
    }
    let face = match text("face")? {
        None => None,
        Some(f) => Some(Face::parse(&f).ok_or_else(|| {
            ApiError::field(
                "face",
                format!("Select a valid choice: {f} is not one of api, scim, cli, console."),
            )
        })?),
    };
    Ok(AuditFilter {
        actor,
        face,
        action_type: text("action_type")?,
        content_type,
        object: text("object")?.map(|o| o.to_lowercase()),
        since: time("since")?,
        until: time("until")?,
    })
}

async fn serve(
    state: &AppState,
    caller: &Caller,
    listing: Listing,
    query: &QueryParams,
    scope: AuditScope,
    org: Uuid,
) -> ApiResult<Response> {
    let filter = filter_from(query)?;
    let (store, counted) = (state.store.clone(), filter.clone());
    let total = async move { store.count_audit_events(scope, &counted).await };
    let read = move |store: Arc<dyn Store>, window| {
        let filter = filter.clone();
        async move { store.list_audit_events(scope, &filter, window).await }
    };
    let gate = state.gate(caller.user_id(), Some(org));
    listing
        .serve(state, total, read, AuditEvent::cursor, gate)
        .await
}

/// The team's change history, newest first (admins, operators).
#[utoipa::path(operation_id = "audit_organization_list", get, path = "/api/audit/organizations/{id}/", tag = "audit",
    params(("id" = Uuid, Path), AuditParams, crate::openapi::PageParams),
    responses((status = 200, description = "Newest first", body = [AuditEvent])))]
pub async fn organization(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    query: QueryParams,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let org = parse_uuid(&id)?;
    caller.role_in(&state, org, Needs::Admin).await?;
    let scope = AuditScope::Organization(org);
    serve(&state, &caller, listing, &query, scope, org).await
}

/// A group's change history: the group itself and its members, newest first (admins of its
/// team, operators).
#[utoipa::path(operation_id = "audit_group_list", get, path = "/api/audit/groups/{id}/", tag = "audit",
    params(("id" = Uuid, Path), AuditParams, crate::openapi::PageParams),
    responses((status = 200, description = "Newest first", body = [AuditEvent])))]
pub async fn group(
    State(state): State<AppState>,
    caller: Caller,
    listing: Listing,
    query: QueryParams,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let group = state.store.get_group(parse_uuid(&id)?).await?;
    caller
        .role_in(&state, group.organization, Needs::Admin)
        .await?;
    let scope = AuditScope::Group(group.id);
    serve(&state, &caller, listing, &query, scope, group.organization).await
}
