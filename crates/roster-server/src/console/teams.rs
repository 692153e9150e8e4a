//! The teams a person may open (an operator: every team) and a team's overview: its members
//! by role, groups, campaigns, pending invitations and the identity provider's last change.

use super::html::{self, Section, Team};
use super::session::Session;
use super::{Answer, Problem};
use crate::auth::Needs;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use maud::html;
use roster_core::audit::{AuditFilter, AuditScope};
use roster_core::store::{MembershipFilter, Window};
use roster_core::{Face, Role};

/// Teams per page of the list.
const PER_PAGE: u32 = 50;

/// The team named by a page's path, once the person's role in it is checked against what the
/// page needs: another team's pages are a 404, as the API's are.
pub async fn team(
    state: &AppState,
    session: &Session,
    org: &str,
    needs: Needs,
) -> Result<Team, Problem> {
    let id = session.caller.team(state, org, Needs::Member).await?;
    let role = session.caller.role_in(state, id, needs).await?;
    let found = state.store.get_organization(id).await?;
    Ok(Team {
        id,
        name: found.name,
        role,
        is_operator: session.principal().is_operator,
    })
}

/// `GET /console/teams/`.
pub async fn list(State(state): State<AppState>, session: Session, uri: Uri) -> Answer {
    let who = crate::api::organizations::visibility(&session.caller);
    let total = state.store.count_organizations(who).await?;
    let (number, last, window) = html::paged(html::page_number(uri.query()), total, PER_PAGE);
    let teams = state.store.list_organizations(who, window).await?;
    let operator = session.principal().is_operator;
    let body = html! {
        @if operator {
            p.muted { "You are an operator: every team is listed." }
        }
        @if teams.is_empty() {
            p { "You are not in any team yet. An admin of a team can invite you, or an operator can add you." }
        } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
                table {
                    thead { tr { th scope="col" { "Team" } th scope="col" { "Scope" } } }
                    tbody {
                        @for t in &teams {
                            tr {
                                td { a href={"/console/teams/" (t.id) "/"} { (t.name) } }
                                td { (t.scope.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
            (html::pager("/console/teams/?", number, last, total))
        }
    };
    let page = html::page(&session.shell(), "Your teams", None, body);
    Ok(html::respond(StatusCode::OK, page))
}

/// `GET /console/teams/{org}/`.
pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Member).await?;
    let shell = session.shell().in_team(&team, Section::Overview);
    if !team.can_manage() {
        let body = html! {
            p { "You are a " (html::role_label(team.role)) " of this team. Its members, groups and campaigns are managed by its admins and managers." }
        };
        let page = html::page(&shell, &team.name, None, body);
        return Ok(html::respond(StatusCode::OK, page));
    }
    let store = &state.store;
    let mut by_role = Vec::new();
    for role in html::ROLES {
        let filter = MembershipFilter {
            roles: Some(vec![role]),
            ..MembershipFilter::default()
        };
        by_role.push((role, store.count_memberships(team.id, &filter).await?));
    }
    let members: u64 = by_role.iter().map(|(_, n)| n).sum();
    let groups = store.count_groups(team.id).await?;
    let campaigns = store.count_campaigns(team.id).await?;
    let invitations = store.count_invitations(team.id).await?;
    let scim = AuditFilter {
        face: Some(Face::Scim),
        ..AuditFilter::default()
    };
    // The history is the admins' (as in the API): managers do not see its last SCIM change.
    let last_scim = if !team.is_admin() {
        None
    } else {
        Some(
            store
                .list_audit_events(
                    AuditScope::Organization(team.id),
                    &scim,
                    Window::After {
                        cursor: None,
                        limit: 1,
                    },
                )
                .await?
                .into_iter()
                .next(),
        )
    };
    let body = html! {
        h2 { "At a glance" }
        ul.stats {
            li { strong { (members) } a href=(team.url("members/")) { "members" } }
            @for (role, n) in &by_role {
                li { strong { (n) } (html::role_count(*role, *n)) }
            }
            li { strong { (groups) } a href=(team.url("groups/")) { "groups" } }
            li { strong { (campaigns) } a href=(team.url("campaigns/")) { "campaigns" } }
            li { strong { (invitations) } "pending invitations" }
        }
        @if let Some(last_scim) = &last_scim {
            h2 { "Identity provider" }
            @match last_scim {
                Some(event) => p {
                    "Last SCIM change: " (event.action_type) " at " (html::when(Some(event.timestamp))) " UTC."
                },
                None => p { "No SCIM change yet." },
            }
            p { a href=(team.url("identity-provider/")) { "Set up provisioning from Okta or Entra ID" } }
        }
        @if team.role == Role::Admin {
            p.muted { "You are an admin of this team." }
        } @else {
            p.muted { "You are a " (html::role_label(team.role)) " of this team: roles, accounts and the audit log are for its admins." }
        }
    };
    let page = html::page(&shell, &team.name, None, body);
    Ok(html::respond(StatusCode::OK, page))
}
