//! A team's campaigns: create, rename, delete; a campaign's members with their `data` as a
//! table (its columns are the keys found in the page's data), and a CSV upload that replaces
//! the members through a preview the admin confirms (see `lists`).

use super::html::{self, Confirm, Input, Section, Team};
use super::lists::{self, Lines};
use super::session::{Posted, Session};
use super::teams::team;
use super::{Answer, Form, Problem, Refusal, answered, done};
use crate::api::{campaign_members, campaigns};
use crate::auth::Needs;
use crate::input::{FlatBody, QueryParams, RawJson, WriteBody};
use crate::preconditions::Preconditions;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use maud::html;
use roster_core::{Campaign, CampaignMember};
use serde_json::Value;

const PER_PAGE: u32 = 100;

/// `GET .../campaigns/`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let notice = html::notice_of(uri.query());
    render_list(
        &state,
        &session,
        &team,
        html::page_number(uri.query()),
        notice,
        None,
    )
    .await
}

async fn render_list(
    state: &AppState,
    session: &Session,
    team: &Team,
    number: u64,
    notice: Option<&str>,
    trouble: Option<(&Form, Refusal)>,
) -> Answer {
    let total = state.store.count_campaigns(team.id).await?;
    let (number, last, window) = html::paged(number, total, PER_PAGE);
    let found = state.store.list_campaigns(team.id, window).await?;
    let (form, refusal) = match &trouble {
        Some((f, r)) => (Some(*f), Some(r)),
        None => (None, None),
    };
    let status = refusal.map_or(StatusCode::OK, Refusal::status);
    let body = html! {
        @if found.is_empty() { p { "No campaigns yet." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Campaign" } th scope="col" { "Updated" } } }
                tbody { @for c in &found { tr {
                    td { a href=(team.url(&format!("campaigns/{}/", c.id))) { (c.name) } }
                    td { (html::when(Some(c.updated_at))) }
                } } }
            } }
            (html::pager(&format!("{}?", team.url("campaigns/")), number, last, total))
        }
        h2 { "New campaign" }
        (html::one_field(&team.url("campaigns/"), &session.csrf, Input { name: "name", label: "Name", value: form.map_or("", |f| f.get("name")), kind: "text", required: true, form: "create" }, "Create the campaign", refusal))
    };
    let shell = session.shell().in_team(team, Section::Campaigns);
    Ok(html::respond(
        status,
        html::page(&shell, "Campaigns", notice, body),
    ))
}

/// `POST .../campaigns/`.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let answer = campaigns::create(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(form.json(&["name"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(made) => {
            let id = made["id"].as_str().unwrap_or_default();
            Ok(done(&team.url(&format!("campaigns/{id}/")), "created"))
        }
        Err(e) => {
            render_list(
                &state,
                &session,
                &team,
                1,
                None,
                Some((&form, Refusal::of(e))),
            )
            .await
        }
    }
}

async fn campaign(
    state: &AppState,
    session: &Session,
    team: &Team,
    cid: &str,
) -> Result<Campaign, Problem> {
    let org = team.id.to_string();
    Ok(campaigns::load(state, &session.caller, &org, cid).await?)
}

enum Trouble<'a> {
    Rename(&'a Form, Refusal),
    Upload(&'a Form, Refusal),
}

/// `GET .../campaigns/{cid}/`.
pub async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path((org, cid)): Path<(String, String)>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let notice = html::notice_of(uri.query());
    let number = html::page_number(uri.query());
    render(&state, &session, &team, &campaign, number, notice, None).await
}

/// The columns of a page of members: every key of their data, in the order first seen.
fn columns(members: &[(CampaignMember, serde_json::Map<String, Value>)]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for (_, data) in members {
        for key in data.keys() {
            if !seen.iter().any(|k| k == key) {
                seen.push(key.clone());
            }
        }
    }
    seen
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    team: &Team,
    campaign: &Campaign,
    number: u64,
    notice: Option<&str>,
    trouble: Option<Trouble<'_>>,
) -> Answer {
    let total = state.store.count_campaign_members(campaign.id).await?;
    let (number, last, window) = html::paged(number, total, PER_PAGE);
    let members: Vec<(CampaignMember, serde_json::Map<String, Value>)> = state
        .store
        .list_campaign_members(campaign.id, window)
        .await?
        .into_iter()
        .map(|m| {
            let data = serde_json::from_str(m.data.get()).unwrap_or_default();
            (m, data)
        })
        .collect();
    let keys = columns(&members);
    let here = team.url(&format!("campaigns/{}/", campaign.id));
    let (status, rename, upload) = match &trouble {
        Some(Trouble::Rename(f, r)) => (r.status(), Some((*f, r)), None),
        Some(Trouble::Upload(f, r)) => (r.status(), None, Some((*f, r))),
        None => (StatusCode::OK, None, None),
    };
    let upload_errors = upload.map_or(&[][..], |(_, r)| r.on("list"));
    let body = html! {
        p { (total) " members · " a href={(here) "delete/"} { "Delete this campaign" } }
        @if members.is_empty() { p { "No members yet." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr {
                    th scope="col" { "Email" } th scope="col" { "Team member" }
                    @for k in &keys { th scope="col" { (k) } }
                } }
                tbody { @for (m, data) in &members { tr {
                    td { (m.email) }
                    td { @match &m.account { Some(u) => (u.name), None => span.muted { "no" } } }
                    @for k in &keys { td { (cell(data.get(k))) } }
                } } }
            } }
            (html::pager(&format!("{here}?"), number, last, total))
        }
        h2 { "Upload members" }
        form.card method="post" action={(here) "upload/"} enctype="multipart/form-data" {
            (html::token(&session.csrf))
            p { "A CSV with a header row: an email column, and a column for each field of the members' data. It replaces the whole list; you will see what changes first." }
            (html::form_errors(upload.map(|(_, r)| r)))
            div.field {
                label for="upload-list" { "Paste the CSV" }
                textarea #upload-list name="list" aria-invalid=[(!upload_errors.is_empty()).then_some("true")]
                    aria-describedby=[(!upload_errors.is_empty()).then_some("upload-list-error")] {
                    (upload.map_or("", |(f, _)| f.get("list")))
                }
                (html::field_errors("upload-list-error", upload_errors))
            }
            div.field {
                label for="upload-file" { "Or a CSV file" }
                input #upload-file type="file" name="file" accept=".csv,text/csv,text/plain";
            }
            button type="submit" { "Preview the change" }
        }
        h2 { "Rename" }
        (html::one_field(&format!("{here}rename/"), &session.csrf, Input { name: "name", label: "Name", value: rename.map_or(campaign.name.as_str(), |(f, _)| f.get("name")), kind: "text", required: true, form: "rename" }, "Rename", rename.map(|(_, r)| r)))
    };
    let shell = session.shell().in_team(team, Section::Campaigns);
    Ok(html::respond(
        status,
        html::page(&shell, &campaign.name, notice, body),
    ))
}

/// `POST .../campaigns/{cid}/rename/`.
pub async fn rename(
    State(state): State<AppState>,
    Path((org, cid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let answer = campaigns::partial_update(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path((team.id.to_string(), campaign.id.to_string())),
        WriteBody::Form(form.json(&["name"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(_) => Ok(done(
            &team.url(&format!("campaigns/{}/", campaign.id)),
            "renamed",
        )),
        Err(e) => {
            let trouble = Trouble::Rename(&form, Refusal::of(e));
            render(&state, &session, &team, &campaign, 1, None, Some(trouble)).await
        }
    }
}

/// `POST .../campaigns/{cid}/upload/`: the preview.
pub async fn preview(
    State(state): State<AppState>,
    Path((org, cid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let text = lists::sent(&form);
    let fail = |refusal: Refusal| {
        let trouble = Trouble::Upload(&form, refusal);
        render(&state, &session, &team, &campaign, 1, None, Some(trouble))
    };
    let lines = match Lines::with_data(&text, state.config.max_items, state.config.max_body_bytes) {
        Ok(lines) => lines,
        Err(message) => return fail(lists::refusal(vec![message])).await,
    };
    let ids = (team.id.to_string(), campaign.id.to_string());
    let dry_run = |body: Vec<u8>| {
        campaign_members::replace(
            State(state.clone()),
            session.api_caller(),
            Preconditions::of(&HeaderMap::new()),
            QueryParams(vec![("dry_run".into(), "true".into())]),
            Path(ids.clone()),
            RawJson(body.into()),
        )
    };
    let preview = match lists::preview(&lines, dry_run).await {
        Ok(preview) => preview,
        Err(refusal) => return fail(refusal).await,
    };
    let here = team.url(&format!("campaigns/{}/", campaign.id));
    let body = html! {
        p { "What replacing the members of " strong { (campaign.name) } " with these " (lines.items.len()) " rows would do:" }
        (lists::diff(&preview, &lines, true))
        (lists::confirm_form(&format!("{here}upload/confirm/"), &session.csrf, &text, &preview, campaign.version, &here))
    };
    let shell = session.shell().in_team(&team, Section::Campaigns);
    let page = html::page(&shell, "Preview: replace the members", None, body);
    Ok(html::respond(StatusCode::OK, page))
}

/// `POST .../campaigns/{cid}/upload/confirm/`: the change as previewed.
pub async fn replace(
    State(state): State<AppState>,
    Path((org, cid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let lines = Lines::with_data(
        form.get("list"),
        state.config.max_items,
        state.config.max_body_bytes,
    );
    let body = lists::confirmed(lines, &form)?;
    let answer = campaign_members::replace(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&lists::if_match(form.get("version"))),
        QueryParams(Vec::new()),
        Path((team.id.to_string(), campaign.id.to_string())),
        RawJson(body.into()),
    )
    .await;
    match answer {
        Ok(_) => Ok(done(
            &team.url(&format!("campaigns/{}/", campaign.id)),
            "uploaded",
        )),
        Err(crate::error::ApiError::PreconditionFailed) => Err(Problem {
            status: StatusCode::PRECONDITION_FAILED,
            message: "The campaign changed after the preview was made, so nothing was \
                      applied: preview the upload again."
                .into(),
        }),
        Err(e) => Err(Problem::from(e)),
    }
}

/// `GET .../campaigns/{cid}/delete/`: asks first.
pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    Path((org, cid)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let shell = session.shell().in_team(&team, Section::Campaigns);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Delete a campaign",
            message: html! { p { "Delete " strong { (campaign.name) } " and its members' data?" } },
            action: team.url(&format!("campaigns/{}/delete/", campaign.id)),
            button: "Delete the campaign",
            back: team.url(&format!("campaigns/{}/", campaign.id)),
        },
    ))
}

/// `POST .../campaigns/{cid}/delete/`.
pub async fn delete(
    State(state): State<AppState>,
    Path((org, cid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let campaign = campaign(&state, &session, &team, &cid).await?;
    let answer = campaigns::destroy(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path((team.id.to_string(), campaign.id.to_string())),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("campaigns/"), "deleted"))
}
