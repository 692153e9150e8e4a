//! Service accounts (created with their token shown once, rotated, deleted), deployment keys
//! (created, shown, deleted, as the API does), and the identity-provider setup page, whose
//! button makes the SCIM service account. Admins only, as in the API.

use super::html::{self, Confirm, Input, Section, Team};
use super::session::{Posted, Session};
use super::teams::team;
use super::{Answer, Form, Problem, Refusal, answered, done};
use crate::api::accounts;
use crate::auth::Needs;
use crate::input::FlatBody;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use maud::{Markup, html};
use roster_core::store::{AccountKind, Window};
use roster_core::{Account, Role};
use serde_json::{Value, json};

/// Accounts of each kind listed (a team has a handful).
const SHOWN: u32 = 200;

/// `GET .../accounts/`.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    uri: Uri,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let notice = html::notice_of(uri.query());
    render(&state, &session, &team, notice, None).await
}

enum Trouble<'a> {
    Service(&'a Form, Refusal),
    Deployment(&'a Form, Refusal),
}

async fn of_kind(
    state: &AppState,
    team: &Team,
    kind: AccountKind,
) -> Result<Vec<Account>, Problem> {
    let window = Window::Page {
        offset: 0,
        limit: SHOWN,
    };
    Ok(state.store.list_accounts(team.id, kind, window).await?)
}

async fn render(
    state: &AppState,
    session: &Session,
    team: &Team,
    notice: Option<&str>,
    trouble: Option<Trouble<'_>>,
) -> Answer {
    let services = of_kind(state, team, AccountKind::ServiceAccount).await?;
    let deployments = of_kind(state, team, AccountKind::DeploymentKey).await?;
    let (status, service, deployment) = match &trouble {
        Some(Trouble::Service(f, r)) => (r.status(), Some((*f, r)), None),
        Some(Trouble::Deployment(f, r)) => (r.status(), None, Some((*f, r))),
        None => (StatusCode::OK, None, None),
    };
    let service_refusal = service.map(|(_, r)| r);
    let role = service.and_then(|(f, _)| Role::parse(f.get("role")));
    let body = html! {
        h2 { "Service accounts" }
        p { "Programs that call Roster's API with a role of their own (an identity provider's SCIM connection is one)." }
        @if services.is_empty() { p.muted { "None yet." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { span.muted { "Actions" } } } }
                tbody { @for a in &services { tr {
                    td { (a.name) }
                    td { (html::role_label(a.role)) }
                    td { (html::when(Some(a.created_at))) }
                    td {
                        a href=(team.url(&format!("service-accounts/{}/rotate/", a.id))) { "Rotate token" span.sr { " of " (a.name) } }
                        " · "
                        a href=(team.url(&format!("service-accounts/{}/delete/", a.id))) { "Delete" span.sr { " " (a.name) } }
                    }
                } } }
            } }
        }
        form.card method="post" action=(team.url("service-accounts/")) {
            (html::token(&session.csrf))
            (html::form_errors(service_refusal))
            (Input { name: "name", label: "Name", value: service.map_or("", |(f, _)| f.get("name")), kind: "text", required: true, form: "service" }.render(service_refusal))
            div.field {
                label for="service-role" { "Role" }
                select #service-role name="role" { (html::role_options(role.or(Some(Role::Restricted)))) }
                (html::field_errors("service-role-error", service_refusal.map_or(&[][..], |r| r.on("role"))))
            }
            button type="submit" { "Create a service account" }
        }
        h2 { "Deployment keys" }
        p { "Keys that browser extensions are deployed with: they may only read their own account." }
        @if deployments.is_empty() { p.muted { "None yet." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Created" } th scope="col" { span.muted { "Actions" } } } }
                tbody { @for a in &deployments { tr {
                    td { (a.name) }
                    td.secret { (a.token.as_deref().unwrap_or("")) }
                    td { (html::when(Some(a.created_at))) }
                    td { a href=(team.url(&format!("deployment-keys/{}/delete/", a.id))) { "Delete" span.sr { " " (a.name) } } }
                } } }
            } }
        }
        (html::one_field(&team.url("deployment-keys/"), &session.csrf, Input { name: "name", label: "Name", value: deployment.map_or("", |(f, _)| f.get("name")), kind: "text", required: true, form: "deployment" }, "Create a deployment key", deployment.map(|(_, r)| r)))
    };
    let shell = session.shell().in_team(team, Section::Accounts);
    Ok(html::respond(
        status,
        html::page(&shell, "Accounts and keys", notice, body),
    ))
}

/// A token shown once, with a copy button.
fn shown_once(label: &str, token: &str) -> Markup {
    html! {
        p { strong { "Copy it now: it is shown only once." } " Roster keeps only a digest of it, so it cannot be shown again (rotate it to get a new one)." }
        div.field {
            label for="token" { (label) }
            input #token.secret type="text" readonly value=(token);
        }
        button.secondary type="button" data-copy="token" { "Copy" }
        p #token-copied.muted role="status" {}
    }
}

fn token_page(
    session: &Session,
    team: &Team,
    section: Section,
    title: &str,
    made: &Value,
    back: &str,
) -> Answer {
    let name = made["name"].as_str().unwrap_or_default();
    let token = made["token"].as_str().unwrap_or_default();
    let body = html! {
        p.notice role="status" { "The service account " strong { (name) } " has a new token." }
        (shown_once("Token", token))
        p { a href=(back) { "Done" } }
    };
    let shell = session.shell().in_team(team, section);
    Ok(html::respond(
        StatusCode::OK,
        html::page(&shell, title, None, body),
    ))
}

/// `POST .../service-accounts/`.
pub async fn create_service(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = accounts::create_service_account(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(form.json(&["name", "role"], true)),
    )
    .await;
    match answered(answer).await {
        Ok(made) => token_page(
            &session,
            &team,
            Section::Accounts,
            "Service account created",
            &made,
            &team.url("accounts/"),
        ),
        Err(e) => {
            let trouble = Trouble::Service(&form, Refusal::of(e));
            render(&state, &session, &team, None, Some(trouble)).await
        }
    }
}

async fn account(
    state: &AppState,
    team: &Team,
    kind: AccountKind,
    aid: &str,
) -> Result<Account, Problem> {
    let id = crate::input::parse_uuid(aid)?;
    Ok(state.store.get_account(team.id, kind, id).await?)
}

/// `GET .../service-accounts/{aid}/rotate/`: asks first.
pub async fn confirm_rotate(
    State(state): State<AppState>,
    session: Session,
    Path((org, aid)): Path<(String, String)>,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let found = account(&state, &team, AccountKind::ServiceAccount, &aid).await?;
    let shell = session.shell().in_team(&team, Section::Accounts);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Rotate a token",
            message: html! { p { "Give " strong { (found.name) } " a new token? The present one stops working at once: whatever uses it must be given the new one." } },
            action: team.url(&format!("service-accounts/{}/rotate/", found.id)),
            button: "Rotate the token",
            back: team.url("accounts/"),
        },
    ))
}

/// `POST .../service-accounts/{aid}/rotate/`.
pub async fn rotate(
    State(state): State<AppState>,
    Path((org, aid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = accounts::rotate_service_account(
        State(state.clone()),
        session.api_caller(),
        Path((team.id.to_string(), aid)),
    )
    .await;
    let made = answered(answer).await.map_err(Problem::from)?;
    token_page(
        &session,
        &team,
        Section::Accounts,
        "Token rotated",
        &made,
        &team.url("accounts/"),
    )
}

async fn confirm_delete(
    state: &AppState,
    session: &Session,
    (org, aid): (String, String),
    kind: AccountKind,
) -> Answer {
    let team = team(state, session, &org, Needs::Admin).await?;
    let found = account(state, &team, kind, &aid).await?;
    let (what, path) = match kind {
        AccountKind::DeploymentKey => ("deployment key", "deployment-keys"),
        _ => ("service account", "service-accounts"),
    };
    let shell = session.shell().in_team(&team, Section::Accounts);
    Ok(html::confirm(
        &shell,
        Confirm {
            title: "Delete an account",
            message: html! { p { "Delete the " (what) " " strong { (found.name) } "? Its key stops working at once." } },
            action: team.url(&format!("{path}/{}/delete/", found.id)),
            button: "Delete it",
            back: team.url("accounts/"),
        },
    ))
}

/// `GET .../service-accounts/{aid}/delete/`: asks first.
pub async fn confirm_delete_service(
    State(state): State<AppState>,
    session: Session,
    Path(ids): Path<(String, String)>,
) -> Answer {
    confirm_delete(&state, &session, ids, AccountKind::ServiceAccount).await
}

/// `GET .../deployment-keys/{aid}/delete/`: asks first.
pub async fn confirm_delete_deployment(
    State(state): State<AppState>,
    session: Session,
    Path(ids): Path<(String, String)>,
) -> Answer {
    confirm_delete(&state, &session, ids, AccountKind::DeploymentKey).await
}

/// `POST .../service-accounts/{aid}/delete/`.
pub async fn delete_service(
    State(state): State<AppState>,
    Path((org, aid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = accounts::destroy_service_account(
        State(state.clone()),
        session.api_caller(),
        Path((team.id.to_string(), aid)),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("accounts/"), "deleted"))
}

/// `POST .../deployment-keys/`.
pub async fn create_deployment(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = accounts::create_deployment_key(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(form.json(&["name"], false)),
    )
    .await;
    match answered(answer).await {
        Ok(_) => Ok(done(&team.url("accounts/"), "created")),
        Err(e) => {
            let trouble = Trouble::Deployment(&form, Refusal::of(e));
            render(&state, &session, &team, None, Some(trouble)).await
        }
    }
}

/// `POST .../deployment-keys/{aid}/delete/`.
pub async fn delete_deployment(
    State(state): State<AppState>,
    Path((org, aid)): Path<(String, String)>,
    posted: Posted,
) -> Answer {
    let session = posted.session;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let answer = accounts::destroy_deployment_key(
        State(state.clone()),
        session.api_caller(),
        Path((team.id.to_string(), aid)),
    )
    .await;
    answered(answer).await.map_err(Problem::from)?;
    Ok(done(&team.url("accounts/"), "deleted"))
}

/// `GET .../identity-provider/`: the SCIM address and the steps for Entra ID and Okta.
pub async fn identity_provider(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let base = format!(
        "{}/scim/v2",
        crate::pagination::public_base(&headers, &state.config)
    );
    let body = html! {
        p { "Your identity provider can create, update, suspend and remove this team's people and groups itself, over SCIM 2.0." }
        div.field {
            label for="scim-url" { "SCIM base URL" }
            input #scim-url.secret type="text" readonly value=(base);
        }
        button.secondary type="button" data-copy="scim-url" { "Copy the URL" }
        p #scim-url-copied.muted role="status" {}
        h2 { "1. Create the SCIM service account" }
        p { "Its token is the secret your identity provider sends. It is an admin of this team, and is listed under Accounts and keys." }
        form method="post" action=(team.url("identity-provider/")) {
            (html::token(&session.csrf))
            div.field {
                label for="scim-name" { "Name" }
                input #scim-name name="name" type="text" value="SCIM provisioning" required;
            }
            button type="submit" { "Create the SCIM service account" }
        }
        h2 { "2. In Microsoft Entra ID" }
        ol.steps {
            li { "Enterprise applications → New application → Create your own application (non-gallery)." }
            li { "Provisioning → Automatic. " em { "Tenant URL" } ": the SCIM base URL above. " em { "Secret Token" } ": the service account's token." }
            li { "Test Connection, then Start provisioning." }
        }
        h2 { "2. Or in Okta" }
        ol.steps {
            li { "App integration → SCIM 2.0 → Provisioning tab." }
            li { em { "SCIM connector base URL" } ": the SCIM base URL above. " em { "Unique identifier field for users" } ": userName." }
            li { em { "Supported provisioning actions" } ": Push New Users, Push Profile Updates, Push Groups." }
            li { em { "Authentication Mode" } ": HTTP Header, " em { "Authorization" } ": Bearer and the token." }
        }
        p.muted { "Behind a proxy, start Roster with --public-url so that this address is the public one." }
    };
    let shell = session.shell().in_team(&team, Section::IdentityProvider);
    Ok(html::respond(
        StatusCode::OK,
        html::page(&shell, "Identity provider", None, body),
    ))
}

/// `POST .../identity-provider/`: the SCIM service account (an admin), its token shown once.
pub async fn create_scim_account(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted,
) -> Answer {
    let Posted { session, form } = posted;
    let team = team(&state, &session, &org, Needs::Admin).await?;
    let name = match form.get("name").trim() {
        "" => "SCIM provisioning",
        given => given,
    };
    let answer = accounts::create_service_account(
        State(state.clone()),
        session.api_caller(),
        Path(team.id.to_string()),
        FlatBody(json!({ "name": name, "role": Role::Admin.as_i64() })),
    )
    .await;
    let made = answered(answer).await.map_err(Problem::from)?;
    token_page(
        &session,
        &team,
        Section::IdentityProvider,
        "SCIM service account created",
        &made,
        &team.url("identity-provider/"),
    )
}
