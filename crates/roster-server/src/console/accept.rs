//! Invitations from the console: what the inviter is shown once an invitation is made, and
//! the page where a new person accepts one.
//!
//! How the invitee learns of it follows the security model (docs/SECURITY.md): Roster mails
//! the token where SMTP is set. Otherwise the inviter is shown a link to the accept page only
//! when the team owns the verified domain of the address (a link handed on by hand would
//! otherwise let the inviter, who holds it, act as someone whose mailbox nobody proved); for
//! any other address the invitation waits for its invitee to sign in and answer it.

use super::html::{self, Section, Team};
use super::session::{self, Session};
use super::{Answer, Form, Problem, Refusal, answered};
use crate::api::invitations;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use maud::html;
use roster_core::email;
use roster_core::store::Window;
use serde_json::{Value, json};

/// The page an inviter sees after inviting.
pub async fn invited(
    state: &AppState,
    session: &Session,
    team: &Team,
    headers: &HeaderMap,
    created: &Value,
) -> Answer {
    let address = created["email"].as_str().unwrap_or_default();
    let token = created["accept_token"].as_str();
    let owned = owns_domain(state, team, address).await?;
    let link = match token {
        Some(token) if owned => Some(format!(
            "{}/console/invitations/accept/?token={token}",
            crate::pagination::public_base(headers, &state.config)
        )),
        _ => None,
    };
    let body = html! {
        p.notice role="status" { "Invitation made for " strong { (address) } "." }
        @if token.is_none() {
            p { "Roster has emailed the invitation to " (address) "." }
        } @else if let Some(link) = &link {
            p { "Roster does not send mail here. Send this link to " (address) " yourself: it is shown only now, and whoever opens it joins the team as this person." }
            div.field {
                label for="invite-link" { "Invitation link" }
                input #invite-link.secret type="text" readonly value=(link);
            }
            button.secondary type="button" data-copy="invite-link" { "Copy the link" }
            p #invite-link-copied.muted role="status" {}
        } @else {
            p { "Roster does not send mail here, and " (team.name) " does not own this address's domain, so no link is shown: " (address) " answers the invitation after signing in to Roster (it is listed among their invitations). To hand out links, an operator verifies the team's email domain; to mail invitations, the server is given an SMTP address." }
        }
        p { a href=(team.url("members/")) { "Back to the members" } }
    };
    let shell = session.shell().in_team(team, Section::Members);
    let page = html::page(&shell, "Invitation made", None, body);
    Ok(html::respond(StatusCode::CREATED, page))
}

async fn owns_domain(state: &AppState, team: &Team, address: &str) -> Result<bool, Problem> {
    let normalized = email::normalize(address);
    let Some((_, domain)) = normalized.rsplit_once('@') else {
        return Ok(false);
    };
    let window = Window::Page {
        offset: 0,
        limit: 1000,
    };
    let domains = state.store.list_email_domains(team.id, window).await?;
    Ok(domains.iter().any(|d| d.verified && d.domain == domain))
}

fn accept_form(token: &str, refusal: Option<&Refusal>, name: &str) -> maud::Markup {
    html! {
        form.card method="post" action="/console/invitations/accept/" {
            p { "You have been invited to join a team on Roster. Accepting gives you an API key, shown once, and signs you in here." }
            (html::form_errors(refusal))
            input type="hidden" name="token" value=(token);
            (html::Input { name: "name", label: "Your name (optional)", value: name, kind: "text", required: false, form: "accept" }.render(refusal))
            button type="submit" { "Accept the invitation" }
        }
    }
}

fn no_shell() -> html::Shell<'static> {
    html::Shell {
        email: None,
        csrf: "",
        team: None,
    }
}

/// `GET /console/invitations/accept/?token=`.
pub async fn page(req: Request) -> Answer {
    let token = html::query_value(req.uri().query(), "token").unwrap_or_default();
    let body = accept_form(&token, None, "");
    let page = html::page(&no_shell(), "Accept an invitation", None, body);
    Ok(html::respond(StatusCode::OK, page))
}

/// `POST /console/invitations/accept/`: the API's acceptance; the new key is shown once and
/// a session is opened with it.
pub async fn accept(State(state): State<AppState>, req: Request) -> Answer {
    let (parts, body) = req.into_parts();
    if session::is_cross_site(&parts.headers) {
        return Err(Problem {
            status: StatusCode::FORBIDDEN,
            message: "This form was not sent from this console's own page.".into(),
        });
    }
    let form = Form::read_anonymous(Request::from_parts(parts.clone(), body), &state).await?;
    let token = form.get("token").trim();
    let mut fields = json!({ "accept_token": token });
    if !form.get("name").trim().is_empty() {
        fields["name"] = Value::String(form.get("name").to_owned());
    }
    let origin = roster_core::Origin {
        actor: None,
        face: roster_core::Face::Console,
        request_id: crate::auth::request_id(&parts).0,
    };
    let answer = invitations::accept_as(&state, &origin, fields).await;
    let joined = match answered(answer).await {
        Ok(joined) => joined,
        Err(e) => {
            let refusal = Refusal::of(e);
            let body = accept_form(token, Some(&refusal), form.get("name"));
            let page = html::page(&no_shell(), "Accept an invitation", None, body);
            return Ok(html::respond(refusal.status(), page));
        }
    };
    let key = joined["token"].as_str().unwrap_or_default();
    let team_name = joined["organization"]["name"].as_str().unwrap_or_default();
    let team_id = joined["organization"]["id"].as_str().unwrap_or_default();
    let cookie = session::open(&state, &parts.headers, key).await?;
    let body = html! {
        p.notice role="status" { "You joined " strong { (team_name) } "." }
        p { "This is your API key. It is shown only now: keep it somewhere safe (a password manager). You sign in to this console with it, and programs use it to call Roster's API." }
        div.field {
            label for="new-key" { "Your API key" }
            input #new-key.secret type="text" readonly value=(key);
        }
        button.secondary type="button" data-copy="new-key" { "Copy the key" }
        p #new-key-copied.muted role="status" {}
        p { a href={"/console/teams/" (team_id) "/"} { "Go to the team" } }
    };
    let page = html::page(&no_shell(), "Welcome", None, body);
    let mut response = html::respond(StatusCode::CREATED, page);
    response
        .headers_mut()
        .insert(axum::http::header::SET_COOKIE, cookie);
    Ok(response)
}
