//! A team's members: search and filters over server-side pages (a team of 100,000 reads one
//! page at a time, by the same page ends the API's lists keep), role changes, removal, and
//! invitations. Changes are the API's handlers', called with the signed-in caller.

use super::html::{self, Confirm, Input, Section, Team};
use super::session::{Posted, Session};
use super::teams::team;
use super::{Answer, Form, Problem, Refusal, answered, done};
use crate::api::{invitations, memberships};
use crate::auth::Needs;
use crate::input::{FlatBody, QueryParams};
use crate::preconditions::Preconditions;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use maud::{Markup, html};
use roster_core::store::{MembershipCursor, Window};
use roster_core::{Membership, Role};
use serde_json::json;

/// Members per page.
pub const PER_PAGE: u32 = 100;

/// The list's filters, read from the page's query (and carried through its forms).
#[derive(Default)]
struct Filters {
    q: String,
    role: String,
    group: String,
    page: u64,
}

impl Filters {
    fn read(query: Option<&str>) -> Self {
        let get = |name| html::query_value(query, name).unwrap_or_default();
        Filters {
            q: get("q"),
            role: get("role"),
            group: get("group"),
            page: html::page_number(query),
        }
    }

    /// The query of the list without its page (for the pager and the forms' way back).
    fn query(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", &self.q), ("role", &self.role), ("group", &self.group)] {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }

    /// The same filters as the API's list takes them, so that they are checked alike.
    fn as_api_query(&self) -> QueryParams {
        let mut pairs = Vec::new();
        if !self.q.trim().is_empty() {
            pairs.push(("q".to_owned(), self.q.trim().to_owned()));
        }
        if !self.role.is_empty() {
            pairs.push(("role".to_owned(), self.role.clone()));
        }
        if !self.group.is_empty() {
            pairs.push(("groups".to_owned(), self.group.clone()));
        }
        QueryParams(pairs)
    }
}

/// `GET /console/teams/{org}/members/`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let filters = Filters::read(uri.query());
    let notice = html::notice_of(uri.query());
    render(&state, &session, &team, &filters, notice, Trouble::None).await
}

/// What went wrong with a form of the page, to show beside it.
enum Trouble<'a> {
    None,
    Row(i64, Refusal),
    Invite(&'a Form, Refusal),
}

/// One page of the members, read by keyset from the list's page ends (kept per team version,
/// as the API's lists keep them): its number within the list, the last page's, the list's
/// length, and the rows.
pub async fn page_of(
    state: &AppState,
    session: &Session,
    team: &Team,
    filter: &roster_core::store::MembershipFilter,
    number: u64,
) -> Result<(u64, u64, u64, Vec<Membership>), Problem> {
    let gate = state.gate(session.caller.user_id(), Some(team.id));
    let version = crate::api::organizations::team_version(state, team.id).await?;
    let ends = memberships::ends(state, team.id, version, filter, PER_PAGE, gate).await?;
    let total = ends.0;
    let last = total.div_ceil(u64::from(PER_PAGE)).max(1);
    let number = number.clamp(1, last);
    let previous = usize::try_from(number).ok().and_then(|n| n.checked_sub(2));
    let window: Window<MembershipCursor> = match previous.and_then(|i| ends.1.get(i)) {
        Some(cursor) => Window::After {
            cursor: Some(cursor.clone()),
            limit: PER_PAGE,
        },
        None => Window::Page {
            offset: (number - 1) * u64::from(PER_PAGE),
            limit: PER_PAGE,
        },
    };
    let rows = state
        .store
        .list_memberships(team.id, filter, window)
        .await?;
    Ok((number, last, total, rows))
}

async fn render(
    state: &AppState,
    session: &Session,
    team: &Team,
    filters: &Filters,
    notice: Option<&str>,
    trouble: Trouble<'_>,
) -> Answer {
    let shell = session.shell().in_team(team, Section::Members);
    let query = filters.as_api_query();
    let (filter_error, (number, last, rows, total)) =
        match checked_filter(state, team, &query).await {
            Ok(filter) => {
                // The page ends hold the list's length: no count of the team per page.
                let (number, last, total, rows) =
                    page_of(state, session, team, &filter, filters.page).await?;
                (None, (number, last, rows, total))
            }
            Err(refusal) => (Some(refusal), (1, 1, Vec::new(), 0)),
        };
    let groups = state.store.group_refs(team.id, 500).await?;
    let invitations = state
        .store
        .list_invitations(
            team.id,
            Window::Page {
                offset: 0,
                limit: 50,
            },
        )
        .await?;
    let back = filters.query();
    let back_to = format!("{}page={number}", list_base(team, &back));
    let status = match &trouble {
        Trouble::None => StatusCode::OK,
        Trouble::Row(_, r) | Trouble::Invite(_, r) => r.status(),
    };
    let body = html! {
        form.row method="get" action=(team.url("members/")) role="search" {
            div.field {
                label for="q" { "Search by name or email" }
                input #q type="search" name="q" value=(filters.q);
            }
            div.field {
                label for="role" { "Role" }
                select #role name="role" {
                    option value="" { "Any role" }
                    @for role in html::ROLES {
                        option value=(role.as_i64()) selected[filters.role == role.as_i64().to_string()] { (html::role_label(role)) }
                    }
                }
            }
            div.field {
                label for="group" { "Group" }
                select #group name="group" {
                    option value="" { "Any group" }
                    @for g in &groups {
                        option value=(g.id) selected[filters.group == g.id.to_string()] { (g.name) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
        @if let Some(r) = &filter_error {
            div.error role="alert" { p { (r.summary()) } }
        }
        (table(team, session, &rows, &back_to, &trouble))
        (html::pager(&list_base(team, &back), number, last, total))
        (invite_form(team, session, &trouble))
        @if !invitations.is_empty() {
            h2 { "Pending invitations" }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
                table {
                    thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Expires" } th scope="col" { span.muted { "Actions" } } } }
                    tbody {
                        @for i in &invitations {
                            tr {
                                td { (i.email) }
                                td { (html::role_label(i.role)) }
                                td { (html::when(Some(i.expires_at))) }
                                td {
                                    // Only admins revoke an admin's invitation (the API's rule).
                                    @if team.is_admin() || i.role != Role::Admin {
                                        a href=(team.url(&format!("invitations/{}/revoke/", i.id))) { "Revoke" span.sr { " the invitation of " (i.email) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let page = html::page(&shell, "Members", notice, body);
    Ok(html::respond(status, page))
}

async fn checked_filter(
    state: &AppState,
    team: &Team,
    query: &QueryParams,
) -> Result<roster_core::store::MembershipFilter, Refusal> {
    let filter = memberships::filter_from(query).map_err(Refusal::of)?;
    memberships::check_groups(state, team.id, &filter)
        .await
        .map_err(Refusal::of)?;
    Ok(filter)
}

fn list_base(team: &Team, query: &str) -> String {
    if query.is_empty() {
        format!("{}?", team.url("members/"))
    } else {
        format!("{}?{query}&", team.url("members/"))
    }
}

fn table(
    team: &Team,
    session: &Session,
    rows: &[Membership],
    back: &str,
    trouble: &Trouble,
) -> Markup {
    html! {
        @if rows.is_empty() {
            p { "No member matches." }
        } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
                table {
                    thead { tr {
                        th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Role" }
                        th scope="col" { "Groups" } th scope="col" { "Last active" }
                        @if team.is_admin() { th scope="col" { span.muted { "Actions" } } }
                    } }
                    tbody {
                        @for m in rows {
                            @let account = m.user.service_account || m.user.deployment_key_account;
                            tr {
                                td { (m.user.email) }
                                td { (m.user.name) }
                                td {
                                    @if team.is_admin() && !account {
                                        @let id = format!("role-{}", m.id);
                                        @let errors = match trouble { Trouble::Row(row, r) if *row == m.id => r.general.iter().chain(r.on("role")).cloned().collect(), _ => Vec::new() };
                                        form method="post" action=(team.url(&format!("members/{}/role/", m.id))) {
                                            (html::token(&session.csrf))
                                            input type="hidden" name="back" value=(back);
                                            label.sr for=(id) { "Role of " (m.user.email) }
                                            select id=(id) name="role" aria-invalid=[(!errors.is_empty()).then_some("true")]
                                                aria-describedby=[(!errors.is_empty()).then(|| format!("{id}-error"))] {
                                                (html::role_options(Some(m.role)))
                                            }
                                            button.secondary type="submit" { "Save" span.sr { " the role of " (m.user.email) } }
                                            (html::field_errors(&format!("{id}-error"), &errors))
                                        }
                                    } @else {
                                        (html::role_label(m.role))
                                        @if account { span.muted { " (account)" } }
                                    }
                                }
                                td { (m.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { (html::when(m.last_active_at)) }
                                @if team.is_admin() {
                                    td {
                                        @if !account {
                                            a href=(team.url(&format!("members/{}/remove/", m.id))) { "Remove" span.sr { " " (m.user.email) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn invite_form(team: &Team, session: &Session, trouble: &Trouble) -> Markup {
    let (form, refusal) = match trouble {
        Trouble::Invite(form, r) => (Some(*form), Some(r)),
        _ => (None, None),
    };
    let email = form.map_or("", |f| f.get("email"));
    let role = form.and_then(|f| Role::parse(f.get("role")));
    let role_errors = refusal.map_or(&[][..], |r| r.on("role"));
    html! {
        h2 { "Invite someone" }
        form.card method="post" action=(team.url("invitations/")) {
            (html::token(&session.csrf))
            (html::form_errors(refusal))
            (Input { name: "email", label: "Email", value: email, kind: "email", required: true, form: "invite" }.render(refusal))
            div.field {
                label for="invite-role" { "Role" }
                select #invite-role name="role" aria-invalid=[(!role_errors.is_empty()).then_some("true")]
                    aria-describedby=[(!role_errors.is_empty()).then_some("invite-role-error")] {
                    (html::grantable_options(role.or(Some(Role::Member)), team.is_admin()))
                }
                (html::field_errors("invite-role-error", role_errors))
            }
            button type="submit" { "Send invitation" }
        }
    }
}

/// The membership `mid` of this team (another team's is a 404, whoever may manage it).
async fn membership(state: &AppState, team: &Team, mid: &str) -> Result<Membership, Problem> {
    let id = crate::input::parse_int_id(mid)?;
    let membership = state.store.get_membership(id).await?;
    if membership.organization != team.id {
        return Err(crate::error::ApiError::NotFound.into());
    }
    Ok(membership)
}

/// `POST .../members/{mid}/role/`.
pub async fn set_role(
    State(state): State<AppState>,
    Path((org, mid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let found = membership(&state, &team, &mid).await?;
    let answer = memberships::update(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path(found.id.to_string()),
        FlatBody(json!({ "role": form.get("role") })),
    )
    .await;
    let back = form.get("back");
    let back_query = back.split_once('?').map(|(_, q)| q);
    match answered(answer).await {
        Ok(_) => {
            let filters = Filters::read(back_query);
            let to = format!(
                "{}page={}",
                list_base(&team, &filters.query()),
                filters.page
            );
            Ok(done(&to, "role"))
        }
        // Refused outright (another's role to change, say): a page of its own.
        Err(e) if matches!(e.status().as_u16(), 403 | 404) => Err(Problem::from(e)),
        Err(e) => {
            let filters = Filters::read(back_query);
            let trouble = Trouble::Row(found.id, Refusal::of(e));
            render(&state, &session, &team, &filters, None, trouble).await
        }
    }
}

/// `GET .../members/{mid}/remove/`: asks first.
pub async fn confirm_remove(
    State(state): State<AppState>,
    session: Session,
    Path((org, mid)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let found = membership(&state, &team, &mid).await?;
    let shell = session.shell().in_team(&team, Section::Members);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Remove a member",
            message: html! { p { "Remove " strong { (found.user.email) } " from " (team.name) "? They leave its groups too; their account stays." } },
            action: team.url(&format!("members/{}/remove/", found.id)),
            button: "Remove from the team",
            back: team.url("members/"),
        },
    ))
}

/// `POST .../members/{mid}/remove/`.
pub async fn remove(
    State(state): State<AppState>,
    Path((org, mid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let found = membership(&state, &team, &mid).await?;
    let answer = memberships::destroy(
        State(state.clone()),
        session.api_caller(),
        Preconditions::of(&HeaderMap::new()),
        Path(found.id.to_string()),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("members/"), "removed"))
}

/// `POST .../invitations/`: the API's invitation; its link is shown only as the security
/// model allows (see `invited`).
pub async fn invite(
    State(state): State<AppState>,
    Path(org): Path<String>,
    headers: HeaderMap,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let answer = invitations::create(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        headers.clone(),
        FlatBody(form.json(&["email", "role"], true)),
    )
    .await;
    match answered(answer).await {
        Ok(created) => super::accept::invited(&state, &session, &team, &headers, &created).await,
        Err(e) => {
            let filters = Filters::default();
            let trouble = Trouble::Invite(&form, Refusal::of(e));
            render(&state, &session, &team, &filters, None, trouble).await
        }
    }
}

/// `GET .../invitations/{iid}/revoke/`: asks first.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    session: Session,
    Path((org, iid)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let id = crate::input::parse_uuid(&iid)?;
    let shell = session.shell().in_team(&team, Section::Members);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Revoke an invitation",
            message: html! { p { "Revoke this invitation? Its link stops working at once." } },
            action: team.url(&format!("invitations/{id}/revoke/")),
            button: "Revoke the invitation",
            back: team.url("members/"),
        },
    ))
}

/// `POST .../invitations/{iid}/revoke/`.
pub async fn revoke(
    State(state): State<AppState>,
    Path((org, iid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Manager).await?;
    let answer = invitations::destroy(
        State(state.clone()),
        session.api_caller(),
        Path((team.id.to_string(), iid)),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("members/"), "revoked"))
}
