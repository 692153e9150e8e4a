//! `/Groups`: the team's groups and their members by user id. Members are loaded only when the
//! response or the filter needs them, and member PATCHes reach the store as changes by id.

use super::query::{ListQuery, Projection, list_response, mentions, narrow, pairs, scan};
use super::{
    Failure, ScimJson, ScimResult, ScimTeam, if_match, not_modified, resource_id, resource_response,
};
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_core::StoreError;
use roster_core::provisioning::{GroupKey, GroupWrite, MemberChange, ProvisionedGroup};
use roster_scim::filter::field;
use roster_scim::{AttrPath, MemberStep, PatchRequest, ScimError, ScimType, urn};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

fn invalid(detail: impl Into<String>) -> Failure {
    Failure(ScimError::bad_request(ScimType::InvalidValue, detail))
}

/// The Group resource; `members` is `None` when they were not loaded.
fn render(group: &ProvisionedGroup, members: Option<&[Uuid]>, base: &str) -> Value {
    let mut out = json!({
        "schemas": [urn::GROUP],
        "id": group.id,
        "displayName": group.name,
        "meta": {
            "resourceType": "Group",
            "created": group.created,
            "lastModified": group.modified,
            "location": format!("{base}/Groups/{}", group.id),
            "version": super::etag(group.version),
        },
    });
    if let Some(x) = &group.external_id {
        out["externalId"] = json!(x);
    }
    if let Some(members) = members {
        out["members"] = members
            .iter()
            .map(|id| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}))
            .collect();
    }
    out
}

/// The members of each group, by group.
async fn members_of(
    state: &AppState,
    groups: &[ProvisionedGroup],
) -> ScimResult<HashMap<Uuid, Vec<Uuid>>> {
    let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (group, user) in state.store.provisioned_group_members(&ids).await? {
        out.entry(group).or_default().push(user);
    }
    Ok(out)
}

/// Ids that name nobody (not even a UUID) are skipped like ids of people not in the team:
/// identity providers may send a group before its members (RFC 7644 does not ask for
/// referential integrity), and the response shows the members that are.
fn member_ids(ids: &[String]) -> Vec<Uuid> {
    ids.iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}

fn changes(steps: Vec<MemberStep>) -> Vec<MemberChange> {
    steps
        .into_iter()
        .map(|step| match step {
            MemberStep::Add(ids) => MemberChange::Add(member_ids(&ids)),
            MemberStep::Remove(ids) => MemberChange::Remove(member_ids(&ids)),
            MemberStep::RemoveAll => MemberChange::RemoveAll,
            MemberStep::ReplaceAll(ids) => MemberChange::ReplaceAll(member_ids(&ids)),
        })
        .collect()
}

/// Member changes naming more people than a heavy request does.
fn is_heavy(changes: &[MemberChange]) -> bool {
    let named: usize = changes
        .iter()
        .map(|c| match c {
            MemberChange::Add(ids) | MemberChange::Remove(ids) | MemberChange::ReplaceAll(ids) => {
                ids.len()
            }
            MemberChange::RemoveAll => 0,
        })
        .sum();
    named > crate::limits::HEAVY_ITEMS
}

fn display_name(value: Option<&Value>) -> ScimResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        // The team API's rule for a group's name, so that every group it names SCIM can write.
        Some(Value::String(s)) => match crate::input::check_text(s, crate::api::groups::MAX_NAME) {
            Ok(()) => Ok(Some(s.trim().to_owned())),
            Err(why) => Err(invalid(format!("displayName: {why}"))),
        },
        Some(_) => Err(invalid("displayName is a string.")),
    }
}

fn external_id(value: Option<&Value>) -> ScimResult<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 1024 && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(invalid("externalId is a string of up to 1024 bytes.")),
    }
}

/// A whole Group body (POST, PUT): its members replace the present ones.
fn parse(body: &Value) -> ScimResult<GroupWrite> {
    let name = display_name(field(body, "displayName"))?
        .ok_or_else(|| invalid("displayName is required."))?;
    let members = match field(body, "members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let ids = items
                .iter()
                .map(|item| match field(item, "value") {
                    Some(Value::String(id)) => Ok(id.trim().to_owned()),
                    _ => Err(invalid("Each member is {\"value\": \"<user id>\"}.")),
                })
                .collect::<ScimResult<Vec<_>>>()?;
            member_ids(&ids)
        }
        Some(_) => return Err(invalid("members is a list.")),
    };
    Ok(GroupWrite {
        name: Some(name),
        external_id: Some(external_id(field(body, "externalId"))?),
        members: vec![MemberChange::ReplaceAll(members)],
    })
}

fn group_key(path: &AttrPath, value: &str) -> Option<GroupKey> {
    // Narrowed in SQL only for ASCII names: lower() folds ASCII alone on SQLite, and on
    // PostgreSQL under the C collation of groups.name, and a name such as "ÉQUIPE" must still
    // match "équipe" (the filter's own comparison does; a team's groups are read in batches).
    if path.is("displayName") {
        value
            .is_ascii()
            .then(|| GroupKey::DisplayName(value.to_owned()))
    } else if path.is("externalId") {
        Some(GroupKey::ExternalId(value.to_owned()))
    } else if path.is("id") {
        Some(GroupKey::Id(Uuid::parse_str(value).unwrap_or(Uuid::nil())))
    } else if path.is("members") || path.is_sub("members", "value") {
        Some(GroupKey::Member(
            Uuid::parse_str(value.trim()).unwrap_or(Uuid::nil()),
        ))
    } else {
        None
    }
}

const BATCH: u64 = 500;

async fn run_list(state: &AppState, team: &ScimTeam, q: ListQuery) -> ScimResult<Response> {
    // Heavy: any filter but one `eq` that an index answers (the others read the whole team).
    let heavy = q
        .filter
        .as_ref()
        .is_some_and(|f| !f.is_single_eq() || narrow(f, &group_key).is_none());
    let _gate = team.admit(state, heavy)?;
    let store = &state.store;
    let with_members = q.projection.includes("members");
    let mut page: Vec<ProvisionedGroup> = Vec::new();
    let total = match &q.filter {
        None => {
            if q.count > 0 {
                page = store
                    .provisioned_groups(team.org, None, None, q.start - 1, q.count)
                    .await?;
            }
            store.count_provisioned_groups(team.org, None).await?
        }
        Some(filter) => {
            let key = narrow(filter, &group_key);
            let needs_members = mentions(filter, "members");
            let (org, base) = (team.org, team.base.as_str());
            let (total, found) = scan(
                filter,
                q.start,
                q.count,
                BATCH,
                |g: &ProvisionedGroup| g.id,
                |after| {
                    let key = key.clone();
                    async move {
                        let groups = store
                            .provisioned_groups(org, key.as_ref(), after, 0, BATCH)
                            .await?;
                        let members = if needs_members {
                            members_of(state, &groups).await?
                        } else {
                            HashMap::new()
                        };
                        Ok(groups
                            .into_iter()
                            .map(|g| {
                                let listed =
                                    members.get(&g.id).map(Vec::as_slice).unwrap_or_default();
                                let resource = render(&g, needs_members.then_some(listed), base);
                                (g, resource)
                            })
                            .collect())
                    }
                },
            )
            .await?;
            page = found;
            total
        }
    };
    let members = if with_members {
        members_of(state, &page).await?
    } else {
        HashMap::new()
    };
    let resources = page
        .iter()
        .map(|g| {
            let listed = members.get(&g.id).map(Vec::as_slice).unwrap_or_default();
            let mut r = render(g, with_members.then_some(listed), &team.base);
            q.projection.apply(&mut r);
            r
        })
        .collect();
    Ok(super::scim_body(
        StatusCode::OK,
        &list_response(total, q.start, resources),
    ))
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

async fn one(state: &AppState, team: &ScimTeam, id: Uuid) -> ScimResult<ProvisionedGroup> {
    state
        .store
        .provisioned_groups(team.org, Some(&GroupKey::Id(id)), None, 0, 1)
        .await?
        .pop()
        .ok_or_else(|| Failure(ScimError::new(404, "Resource not found.")))
}

/// The group as the response: members loaded only when the projection keeps them.
async fn respond(
    state: &AppState,
    status: StatusCode,
    group: &ProvisionedGroup,
    team: &ScimTeam,
    query: Option<&str>,
) -> ScimResult<Response> {
    let projection = Projection::from_query(&pairs(query)?)?;
    let members = if projection.includes("members") {
        Some(
            members_of(state, std::slice::from_ref(group))
                .await?
                .remove(&group.id)
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let mut resource = render(group, members.as_deref(), &team.base);
    projection.apply(&mut resource);
    Ok(resource_response(status, &resource, group.version))
}

pub async fn retrieve(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let group = one(&state, &team, resource_id(&id)?).await?;
    if let Some(fresh) = not_modified(&headers, group.version) {
        return Ok(fresh);
    }
    respond(&state, StatusCode::OK, &group, &team, query.as_deref()).await
}

pub async fn create(
    State(state): State<AppState>,
    team: ScimTeam,
    RawQuery(query): RawQuery,
    ScimJson(body): ScimJson,
) -> ScimResult<Response> {
    let write = parse(&body)?;
    let _gate = team.admit_change(&state, is_heavy(&write.members))?;
    let group = state
        .store
        .provision_group(team.org, &write, state.clock.now(), team.origin())
        .await?;
    respond(&state, StatusCode::CREATED, &group, &team, query.as_deref()).await
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
    let write = parse(&body)?;
    let _gate = team.admit_change(&state, is_heavy(&write.members))?;
    let group = state
        .store
        .update_provisioned_group(
            team.org,
            id,
            if_match(&headers),
            &write,
            state.clock.now(),
            team.origin(),
        )
        .await?;
    respond(&state, StatusCode::OK, &group, &team, query.as_deref()).await
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
    let (steps, rest) = request.member_steps()?;
    let members = changes(steps);
    let _gate = team.admit_change(&state, is_heavy(&members))?;
    let wanted = if_match(&headers);
    if rest.operations.is_empty() {
        // Members only (what identity providers send): straight to the store, which checks
        // If-Match in the same statement that bumps the version.
        let write = GroupWrite {
            members,
            ..GroupWrite::default()
        };
        let group = state
            .store
            .update_provisioned_group(
                team.org,
                id,
                wanted,
                &write,
                state.clock.now(),
                team.origin(),
            )
            .await?;
        return respond(&state, StatusCode::OK, &group, &team, query.as_deref()).await;
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let present = one(&state, &team, id).await?;
        if wanted.is_some_and(|v| v != present.version) {
            return Err(StoreError::Conflict { field: "version" }.into());
        }
        // The other operations apply to the group without its members; only what they
        // change is written, checked against the version they were applied to.
        let mut write = GroupWrite {
            members: members.clone(),
            ..GroupWrite::default()
        };
        let mut expect = wanted;
        if !rest.operations.is_empty() {
            let before = render(&present, None, &team.base);
            let mut after = before.clone();
            rest.apply(&mut after)?;
            if field(&after, "members").is_some() {
                return Err(invalid("members are changed by the members path."));
            }
            let name = display_name(field(&after, "displayName"))?
                .ok_or_else(|| invalid("displayName cannot be removed."))?;
            if name != present.name {
                write.name = Some(name);
            }
            let external = external_id(field(&after, "externalId"))?;
            if external != present.external_id {
                write.external_id = Some(external);
            }
            expect = Some(present.version);
        }
        match state
            .store
            .update_provisioned_group(
                team.org,
                id,
                expect,
                &write,
                state.clock.now(),
                team.origin(),
            )
            .await
        {
            Ok(group) => {
                return respond(&state, StatusCode::OK, &group, &team, query.as_deref()).await;
            }
            Err(StoreError::Conflict { field: "version" }) if wanted.is_none() && attempts < 5 => {}
            Err(e) => return Err(e.into()),
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    team: ScimTeam,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<StatusCode> {
    state
        .store
        .deprovision_group(
            team.org,
            resource_id(&id)?,
            if_match(&headers),
            team.origin(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
