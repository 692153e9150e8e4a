//! A team's groups: create, rename, delete; a group's members with add by email, and replace
//! from a pasted list or a CSV through a preview that the admin confirms (see `lists`).

use super::html::{self, Confirm, Input, Section, Team};
use super::lists::{self, Lines};
use super::session::{Posted, Session};
use super::teams::team;
use super::{Answer, Form, Problem, Refusal, answered, done};
use crate::api::{group_memberships, groups};
use crate::auth::Needs;
use crate::input::{FlatBody, QueryParams, RawJson};
use crate::preconditions::Preconditions;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use maud::{Markup, html};
use roster_core::Group;
use serde_json::json;

const PER_PAGE: u32 = 100;

/// `GET .../groups/`.
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
    let total = state.store.count_groups(team.id).await?;
    let (number, last, window) = html::paged(number, total, PER_PAGE);
    let found = state.store.list_groups(team.id, window).await?;
    let (form, refusal) = match &trouble {
        Some((f, r)) => (Some(*f), Some(r)),
        None => (None, None),
    };
    let status = refusal.map_or(StatusCode::OK, Refusal::status);
    let body = html! {
        @if found.is_empty() {
            p { "No groups yet." }
        } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Group" } th scope="col" { "Members" } th scope="col" { "Created" } } }
                tbody { @for g in &found { tr {
                    td { a href=(team.url(&format!("groups/{}/", g.id))) { (g.name) } }
                    td { (g.num_members) }
                    td { (html::when(Some(g.created_at))) }
                } } }
            } }
            (html::pager(&format!("{}?", team.url("groups/")), number, last, total))
        }
        h2 { "New group" }
        (html::one_field(&team.url("groups/"), &session.csrf, Input { name: "name", label: "Name", value: form.map_or("", |f| f.get("name")), kind: "text", required: true, form: "create" }, "Create the group", refusal))
    };
    let shell = session.shell().in_team(team, Section::Groups);
    Ok(html::respond(
        status,
        html::page(&shell, "Groups", notice, body),
    ))
}

/// `POST .../groups/`.
pub async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let answer = groups::create(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(form.json(&["name"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(group) => {
            let id = group["id"].as_str().unwrap_or_default();
            Ok(done(&team.url(&format!("groups/{id}/")), "created"))
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

/// The group `gid` of this team (another team's is a 404).
async fn group(state: &AppState, team: &Team, gid: &str) -> Result<Group, Problem> {
    let group = state
        .store
        .get_group(crate::input::parse_uuid(gid)?)
        .await?;
    if group.organization != team.id {
        return Err(crate::error::ApiError::NotFound.into());
    }
    Ok(group)
}

/// Which form of the group's page went wrong, to show its messages beside it.
enum Trouble<'a> {
    Rename(&'a Form, Refusal),
    Add(&'a Form, Refusal),
    Replace(&'a Form, Refusal),
}

/// `GET .../groups/{gid}/`.
pub async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path((org, gid)): Path<(String, String)>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let notice = html::notice_of(uri.query());
    let number = html::page_number(uri.query());
    render(&state, &session, &team, &group, number, notice, None).await
}

async fn render(
    state: &AppState,
    session: &Session,
    team: &Team,
    group: &Group,
    number: u64,
    notice: Option<&str>,
    trouble: Option<Trouble<'_>>,
) -> Answer {
    let total = state.store.count_group_memberships(group.id).await?;
    let (number, last, window) = html::paged(number, total, PER_PAGE);
    let members = state.store.list_group_memberships(group.id, window).await?;
    let here = team.url(&format!("groups/{}/", group.id));
    let pick = |which: fn(&Trouble) -> bool| match &trouble {
        Some(t) if which(t) => match t {
            Trouble::Rename(f, r) | Trouble::Add(f, r) | Trouble::Replace(f, r) => {
                (Some(*f), Some(r))
            }
        },
        _ => (None, None),
    };
    let status = match &trouble {
        Some(Trouble::Rename(_, r) | Trouble::Add(_, r) | Trouble::Replace(_, r)) => r.status(),
        None => StatusCode::OK,
    };
    let (rename_form, rename_refusal) = pick(|t| matches!(t, Trouble::Rename(..)));
    let (add_form, add_refusal) = pick(|t| matches!(t, Trouble::Add(..)));
    let (replace_form, replace_refusal) = pick(|t| matches!(t, Trouble::Replace(..)));
    let body = html! {
        p { (group.num_members) " members · " a href=(team.url(&format!("groups/{}/delete/", group.id))) { "Delete this group" } }
        @if members.is_empty() { p { "No members yet." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Added" } th scope="col" { "Last active" } } }
                tbody { @for m in &members { tr {
                    td { (m.email) }
                    td { @match &m.user { Some(u) => (u.name), None => span.muted { "not joined yet" } } }
                    td { (html::when(Some(m.created_at))) }
                    td { (html::when(m.last_active_at)) }
                } } }
            } }
            (html::pager(&format!("{here}?"), number, last, total))
        }
        h2 { "Add people" }
        (html::one_field(&format!("{here}add/"), &session.csrf, Input { name: "email", label: "Email", value: add_form.map_or("", |f| f.get("email")), kind: "email", required: true, form: "add" }, "Add to the group", add_refusal))
        h2 { "Replace the whole list" }
        (replace_form_markup(session, &here, replace_form, replace_refusal))
        h2 { "Rename" }
        (html::one_field(&format!("{here}rename/"), &session.csrf, Input { name: "name", label: "Name", value: rename_form.map_or(group.name.as_str(), |f| f.get("name")), kind: "text", required: true, form: "rename" }, "Rename", rename_refusal))
    };
    let shell = session.shell().in_team(team, Section::Groups);
    Ok(html::respond(
        status,
        html::page(&shell, &group.name, notice, body),
    ))
}

fn replace_form_markup(
    session: &Session,
    here: &str,
    form: Option<&Form>,
    refusal: Option<&Refusal>,
) -> Markup {
    let errors = refusal.map_or(&[][..], |r| r.on("list"));
    html! {
        form.card method="post" action={(here) "replace/"} enctype="multipart/form-data" {
            (html::token(&session.csrf))
            p { "Paste emails (one per line, or separated by commas), or upload a CSV with an email column. You will see what changes before anything does." }
            (html::form_errors(refusal))
            div.field {
                label for="replace-list" { "Emails" }
                textarea #replace-list name="list" aria-invalid=[(!errors.is_empty()).then_some("true")]
                    aria-describedby=[(!errors.is_empty()).then_some("replace-list-error")] {
                    (form.map_or("", |f| f.get("list")))
                }
                (html::field_errors("replace-list-error", errors))
            }
            div.field {
                label for="replace-file" { "Or a CSV file" }
                input #replace-file type="file" name="file" accept=".csv,text/csv,text/plain";
            }
            button type="submit" { "Preview the change" }
        }
    }
}

/// `POST .../groups/{gid}/rename/`.
pub async fn rename(
    State(state): State<AppState>,
    Path((org, gid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let answer = groups::update(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path(group.id.to_string()),
        FlatBody(form.json(&["name"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(_) => Ok(done(&team.url(&format!("groups/{}/", group.id)), "renamed")),
        Err(e) => {
            let trouble = Trouble::Rename(&form, Refusal::of(e));
            render(&state, &session, &team, &group, 1, None, Some(trouble)).await
        }
    }
}

/// `POST .../groups/{gid}/add/`.
pub async fn add(
    State(state): State<AppState>,
    Path((org, gid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let body = json!([{ "email": form.get("email").trim() }]).to_string();
    let answer = group_memberships::add(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        QueryParams(Vec::new()),
        Path(group.id.to_string()),
        RawJson(body.into()),
    )
    .await;
    match answered(answer).await {
        Ok(_) => Ok(done(&team.url(&format!("groups/{}/", group.id)), "added")),
        Err(e) => {
            // A one-item list's refusal names the item's field: `email`, beside the input.
            let trouble = Trouble::Add(&form, Refusal::of(e));
            render(&state, &session, &team, &group, 1, None, Some(trouble)).await
        }
    }
}

/// `POST .../groups/{gid}/replace/`: the preview.
pub async fn preview(
    State(state): State<AppState>,
    Path((org, gid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let text = lists::sent(&form);
    let fail = |refusal: Refusal| {
        let trouble = Trouble::Replace(&form, refusal);
        render(&state, &session, &team, &group, 1, None, Some(trouble))
    };
    let lines = match Lines::emails(&text, state.config.max_items) {
        Ok(lines) => lines,
        Err(message) => return fail(lists::refusal(vec![message])).await,
    };
    let dry_run = |body: Vec<u8>| {
        group_memberships::replace(
            State(state.clone()),
            session.api_caller(),
            Preconditions::of(&HeaderMap::new()),
            QueryParams(vec![("dry_run".into(), "true".into())]),
            Path(group.id.to_string()),
            RawJson(body.into()),
        )
    };
    let preview = match lists::preview(&lines, dry_run).await {
        Ok(preview) => preview,
        Err(refusal) => return fail(refusal).await,
    };
    let here = team.url(&format!("groups/{}/", group.id));
    let body = html! {
        p { "What replacing the members of " strong { (group.name) } " with this list of " (lines.items.len()) " would do:" }
        (lists::diff(&preview, &lines, false))
        (lists::confirm_form(&format!("{here}replace/confirm/"), &session.csrf, &text, &preview, group.version, &here))
    };
    let shell = session.shell().in_team(&team, Section::Groups);
    let page = html::page(&shell, "Preview: replace the members", None, body);
    Ok(html::respond(StatusCode::OK, page))
}

/// `POST .../groups/{gid}/replace/confirm/`: the change as previewed.
pub async fn replace(
    State(state): State<AppState>,
    Path((org, gid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let lines = Lines::emails(form.get("list"), state.config.max_items);
    let body = lists::confirmed(lines, &form)?;
    let answer = group_memberships::replace(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&lists::if_match(form.get("version"))),
        QueryParams(Vec::new()),
        Path(group.id.to_string()),
        RawJson(body.into()),
    )
    .await;
    match answer {
        // The answer is the new list, streamed: nothing here reads it.
        Ok(_) => Ok(done(
            &team.url(&format!("groups/{}/", group.id)),
            "replaced",
        )),
        Err(crate::error::ApiError::PreconditionFailed) => Err(Problem {
            status: StatusCode::PRECONDITION_FAILED,
            message: "The group changed after the preview was made, so nothing was applied: \
                      preview the list again."
                .into(),
        }),
        Err(e) => Err(Problem::from(e)),
    }
}

/// `GET .../groups/{gid}/delete/`: asks first.
pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    Path((org, gid)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let shell = session.shell().in_team(&team, Section::Groups);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Delete a group",
            message: html! { p { "Delete " strong { (group.name) } " and its " (group.num_members) " memberships? The people stay in the team." } },
            action: team.url(&format!("groups/{}/delete/", group.id)),
            button: "Delete the group",
            back: team.url(&format!("groups/{}/", group.id)),
        },
    ))
}

/// `POST .../groups/{gid}/delete/`.
pub async fn delete(
    State(state): State<AppState>,
    Path((org, gid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let group = group(&state, &team, &gid).await?;
    let answer = groups::destroy(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path(group.id.to_string()),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("groups/"), "deleted"))
}
