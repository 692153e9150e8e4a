//! A team's verified email domains (admins read them, operators add and remove them, as in
//! the API) and its audit log, with the history's filters.

use super::html::{self, Confirm, Input, Section, Team};
use super::session::{Posted, Session};
use super::teams::team;
use super::{Answer, Form, Problem, Refusal, answered, done};
use crate::api::{audit, email_domains};
use crate::auth::Needs;
use crate::input::{FlatBody, QueryParams};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use maud::html;
use roster_core::Face;
use roster_core::audit::{AuditScope, CONTENT_TYPES};
use roster_core::store::Window;

/// Events per page of the audit log.
const EVENTS_PER_PAGE: u32 = 50;

/// `GET .../domains/`.
pub async fn domains(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    render_domains(&state, &session, &team, html::notice_of(uri.query()), None).await
}

async fn render_domains(
    state: &AppState,
    session: &Session,
    team: &Team,
    notice: Option<&str>,
    trouble: Option<(&Form, Refusal)>,
) -> Answer {
    let window = Window::Page {
        offset: 0,
        limit: 1000,
    };
    let found = state.store.list_email_domains(team.id, window).await?;
    let (form, refusal) = match &trouble {
        Some((f, r)) => (Some(*f), Some(r)),
        None => (None, None),
    };
    let status = refusal.map_or(StatusCode::OK, Refusal::status);
    let body = html! {
        p { "Addresses on a verified domain belong to this team: it may put them in groups before their owners join, and invitations to them can be handed out as links." }
        @if found.is_empty() { p.muted { "No verified domain." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Domain" } th scope="col" { "Verified" }
                    @if team.is_operator { th scope="col" { span.muted { "Actions" } } } } }
                tbody { @for d in &found { tr {
                    td { (d.domain) }
                    td { (html::when(d.verified_at)) }
                    @if team.is_operator {
                        td { a href=(team.url(&format!("domains/{}/delete/", d.id))) { "Remove" span.sr { " " (d.domain) } } }
                    }
                } } }
            } }
        }
        @if team.is_operator {
            h2 { "Add a verified domain" }
            form.card method="post" action=(team.url("domains/")) {
                (html::token(&session.csrf))
                p.muted { "As an operator, you vouch that the team owns this domain." }
                (html::form_errors(refusal))
                (Input { name: "domain", label: "Domain", value: form.map_or("", |f| f.get("domain")), kind: "text", required: true, form: "domain" }.render(refusal))
                button type="submit" { "Add the domain" }
            }
        } @else {
            p.muted { "Only an operator of this Roster adds or removes a team's domains." }
        }
    };
    let shell = session.shell().in_team(team, Section::Domains);
    Ok(html::respond(
        status,
        html::page(&shell, "Email domains", notice, body),
    ))
}

/// `POST .../domains/`.
pub async fn add_domain(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = email_domains::create(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(form.json(&["domain"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(_) => Ok(done(&team.url("domains/"), "domain")),
        Err(e) => {
            render_domains(&state, &session, &team, None, Some((&form, Refusal::of(e)))).await
        }
    }
}

/// `GET .../domains/{did}/delete/`: asks first.
pub async fn confirm_delete_domain(
    State(state): State<AppState>,
    session: Session,
    Path((org, did)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let id = crate::input::parse_uuid(&did)?;
    let shell = session.shell().in_team(&team, Section::Domains);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Remove a domain",
            message: html! { p { "Remove this verified domain from " (team.name) "? Held group memberships of its addresses stay until their owners join or are removed." } },
            action: team.url(&format!("domains/{id}/delete/")),
            button: "Remove the domain",
            back: team.url("domains/"),
        },
    ))
}

/// `POST .../domains/{did}/delete/`.
pub async fn delete_domain(
    State(state): State<AppState>,
    Path((org, did)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = email_domains::destroy(
        State(state.clone()),
        session.api_caller(),
        Path((team.id.to_string(), did)),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("domains/"), "deleted"))
}

/// `GET .../audit/`: the team's change history, newest first, filtered as the API filters it.
pub async fn audit(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let query = uri.query();
    let get = |name| html::query_value(query, name).unwrap_or_default();
    let (action, kind, face, since, until) = (
        get("action_type"),
        get("content_type"),
        get("face"),
        get("since"),
        get("until"),
    );
    // Dates from the form's date inputs are days, which the API's filter reads as midnight UTC.
    let day = |d: &str| {
        if d.len() == 10 {
            format!("{d}T00:00:00Z")
        } else {
            d.to_owned()
        }
    };
    let mut pairs = Vec::new();
    for (name, value) in [
        ("action_type", action.clone()),
        ("content_type", kind.clone()),
        ("face", face.clone()),
        ("since", day(&since)),
        ("until", day(&until)),
    ] {
        if !value.trim().is_empty() {
            pairs.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let filtered = audit::filter_from(&QueryParams(pairs.clone()));
    let scope = AuditScope::Organization(team.id);
    let (refusal, events, number, last, total) = match filtered {
        Ok(filter) => {
            let total = state.store.count_audit_events(scope, &filter).await?;
            let (number, last, window) =
                html::paged(html::page_number(query), total, EVENTS_PER_PAGE);
            let events = state
                .store
                .list_audit_events(scope, &filter, window)
                .await?;
            (None, events, number, last, total)
        }
        Err(e) => (Some(Refusal::of(e)), Vec::new(), 1, 1, 0),
    };
    let mut base = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("action_type", &action),
        ("content_type", &kind),
        ("face", &face),
        ("since", &since),
        ("until", &until),
    ] {
        if !value.is_empty() {
            base.append_pair(name, value);
        }
    }
    let base = format!("{}?{}", team.url("audit/"), base.finish());
    let base = if base.ends_with('?') {
        base
    } else {
        format!("{base}&")
    };
    let body = html! {
        form.row method="get" action=(team.url("audit/")) {
            (Input { name: "action_type", label: "Action", value: &action, kind: "text", required: false, form: "audit" }.render(refusal.as_ref()))
            div.field {
                label for="audit-content_type" { "Object" }
                select #audit-content_type name="content_type" {
                    option value="" { "Any" }
                    @for c in CONTENT_TYPES { option value=(c) selected[kind == c] { (c) } }
                }
            }
            div.field {
                label for="audit-face" { "Made through" }
                select #audit-face name="face" {
                    option value="" { "Any" }
                    @for f in Face::ALL { option value=(f.as_str()) selected[face == f.as_str()] { (f.as_str()) } }
                }
            }
            (Input { name: "since", label: "From (UTC day)", value: &since, kind: "date", required: false, form: "audit" }.render(refusal.as_ref()))
            (Input { name: "until", label: "Before (UTC day)", value: &until, kind: "date", required: false, form: "audit" }.render(refusal.as_ref()))
            button type="submit" { "Filter" }
        }
        (html::form_errors(refusal.as_ref()))
        @if events.is_empty() { p { "No change matches." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Object" } th scope="col" { "Through" } } }
                tbody { @for e in &events { tr {
                    td { (html::when(Some(e.timestamp))) }
                    td { @match &e.actor { Some(u) => (u.email), None => span.muted { "command line" } } }
                    td { (e.action_type) }
                    td { @match &e.action_object { Some(o) => (o.label), None => (e.target_object.label) } }
                    td { (e.face.as_str()) }
                } } }
            } }
            (html::pager(&base, number, last, total))
        }
    };
    let shell = session.shell().in_team(&team, Section::Audit);
    let status = refusal.as_ref().map_or(StatusCode::OK, Refusal::status);
    Ok(html::respond(
        status,
        html::page(&shell, "Audit log", None, body),
    ))
}
