//! `/Users`: the handlers. A User is a person and their membership in the team; its shape is
//! `user_resource`.

use super::query::{ListQuery, Projection, list_response, narrow, pairs, scan};
use super::user_resource::{parse, render, user_key};
use super::{
    Failure, ScimJson, ScimResult, ScimTeam, if_match, not_modified, resource_id, resource_response,
};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::provisioning::{ProvisionedUser, UserKey, UserWrite};
use roster_scim::{PatchRequest, ScimError};
use serde_json::Value;
use uuid::Uuid;

/// Users are read in batches of this many while a filter is evaluated.
const BATCH: u64 = 1000;

async fn run_list(state: &AppState, team: &ScimTeam, q: ListQuery) -> ScimResult<Response> {
    // Heavy: any filter but one `eq` that an index answers (the others read the whole team).
    let heavy = q
        .filter
        .as_ref()
        .is_some_and(|f| !f.is_single_eq() || narrow(f, &user_key).is_none());
    let _gate = team.admit(state, heavy)?;
    let store = &state.store;
    let (total, users) = match &q.filter {
        None => {
            let total = store.count_provisioned_users(team.org, None).await?;
            let users = if q.count == 0 {
                Vec::new()
            } else {
                store
                    .provisioned_users(team.org, None, None, q.start - 1, q.count)
                    .await?
            };
            (total, users.iter().map(|u| render(u, &team.base)).collect())
        }
        Some(filter) => {
            let key = narrow(filter, &user_key);
            let (org, base) = (team.org, team.base.as_str());
            let (total, users) = scan(
                filter,
                q.start,
                q.count,
                BATCH,
                |u: &ProvisionedUser| u.seq,
                |after| {
                    let key = key.clone();
                    async move {
                        let users = store
                            .provisioned_users(org, key.as_ref(), after, 0, BATCH)
                            .await?;
                        Ok(users
                            .into_iter()
                            .map(|u| {
                                let r = render(&u, base);
                                (u, r)
                            })
                            .collect())
                    }
                },
            )
            .await?;
            (total, users.iter().map(|u| render(u, base)).collect())
        }
    };
    let resources = total_projected(users, &q.projection);
    Ok(super::scim_body(
        StatusCode::OK,
        &list_response(total, q.start, resources),
    ))
}

fn total_projected(mut resources: Vec<Value>, projection: &Projection) -> Vec<Value> {
    for r in &mut resources {
        projection.apply(r);
    }
    resources
}

pub async fn list(
    State(state): State<AppState>,
    team: ScimTeam,
    RawQuery(query): RawQuery,
) -> ScimResult<Response> {
    run_list(&state, &team, ListQuery::from_query(query.as_deref())?).await
}

pub async fn search(
    State(state): State<AppState>,
    team: ScimTeam,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    run_list(&state, &team, ListQuery::from_search(&body)?).await
}

async fn one(state: &AppState, team: &ScimTeam, id: Uuid) -> ScimResult<ProvisionedUser> {
    state
        .store
        .provisioned_users(team.org, Some(&UserKey::Id(id)), None, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| Failure(ScimError::new(404, "Resource not found.")))
}

fn respond(
    status: StatusCode,
    user: &ProvisionedUser,
    team: &ScimTeam,
    query: Option<&str>,
) -> ScimResult<Response> {
    let projection = Projection::from_query(&pairs(query)?)?;
    let mut resource = render(user, &team.base);
    projection.apply(&mut resource);
    Ok(resource_response(status, &resource, user.version))
}

pub async fn retrieve(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let user = one(&state, &team, resource_id(&id)?).await?;
    if let Some(fresh) = not_modified(&headers, user.version) {
        return Ok(fresh);
    }
    respond(StatusCode::OK, &user, &team, query.as_deref())
}

pub async fn create(
    State(state): State<AppState>,
    team: ScimTeam,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let write = parse(&body, None)?;
    let user = state
        .creates
        .create(team.org, write, state.clock.now(), team.origin().clone())
        .await?;
    respond(StatusCode::CREATED, &user, &team, query.as_deref())
}

pub async fn replace(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let id = resource_id(&id)?;
    let user = rewrite(&state, &team, id, if_match(&headers), |present| {
        parse(&body, Some(present))
    })
    .await?;
    respond(StatusCode::OK, &user, &team, query.as_deref())
}

/// Writes what `write` makes of the user as read, under that version: a change made meanwhile
/// by someone else (another team renaming the person, say) shows as a version conflict, and
/// the write is made again of the new state, unless the client named the version it meant
/// (`wanted`, its `If-Match`), which then must be the present one.
async fn rewrite(
    state: &AppState,
    team: &ScimTeam,
    id: Uuid,
    wanted: Option<i64>,
    write: impl Fn(&ProvisionedUser) -> ScimResult<UserWrite>,
) -> ScimResult<ProvisionedUser> {
    // Writes of the person through the team API or on other nodes can still come between, so
    // a conflict is made again, a few times, of what they left.
    let _turn = state.scim_turns.take(team.org, id).await;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let present = one(state, team, id).await?;
        if wanted.is_some_and(|v| v != present.version) {
            return Err(roster_core::StoreError::Conflict { field: "version" }.into());
        }
        let mut change = write(&present)?;
        keep_what_the_team_had(&mut change, &present, team);
        match state
            .store
            .update_provisioned_user(
                team.org,
                id,
                Some(present.version),
                &change,
                state.clock.now(),
                team.origin(),
            )
            .await
        {
            Ok(user) => return Ok(user),
            Err(roster_core::StoreError::Conflict { field: "version" })
                if wanted.is_none() && attempts < 10 => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The person's email and name are every team's, and another team (one that owns their
/// domain) may have changed them since this team's identity provider last wrote its copy. A
/// PUT or PATCH that sends this team's copy as it is keeps the person's own values: it is
/// no change, and neither reverts the other team's nor is refused as a change to them. A copy
/// that is no valid user (someone the team API added with an address SCIM would refuse) has
/// nothing to compare: the write is compared with the person's own values.
fn keep_what_the_team_had(write: &mut UserWrite, present: &ProvisionedUser, team: &ScimTeam) {
    let Ok(before) = parse(&render(present, &team.base), Some(present)) else {
        return;
    };
    if write.name == before.name {
        write.name = None;
    }
    if roster_core::email::normalize(&write.email) == roster_core::email::normalize(&before.email) {
        write.email.clone_from(&present.email);
    }
}

pub async fn patch(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let id = resource_id(&id)?;
    let request = PatchRequest::parse(&body)?;
    // The operations apply to the resource as read (again, if it changed meanwhile).
    let user = rewrite(&state, &team, id, if_match(&headers), |present| {
        let mut resource = render(present, &team.base);
        request.apply(&mut resource)?;
        parse(&resource, Some(present))
    })
    .await?;
    respond(StatusCode::OK, &user, &team, query.as_deref())
}

pub async fn delete(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    state
        .store
        .deprovision_user(
            team.org,
            resource_id(&id)?,
            if_match(&headers),
            team.origin(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
