//! The console's layout and the pieces every page shares: the header and team navigation,
//! notices, field errors, confirmation pages, pagers. The stylesheet and the one small script
//! are files beside this module, built into the binary.

use super::session::Session;
use super::{Problem, Refusal};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use roster_core::{Role, Timestamp};
use uuid::Uuid;

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The sections of a team's pages, for the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Members,
    Groups,
    Campaigns,
    Accounts,
    IdentityProvider,
    Domains,
    Audit,
}

/// The team a page is about, and what the person may do in it.
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub is_operator: bool,
}

impl Team {
    pub fn can_manage(&self) -> bool {
        self.role.can_manage()
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// A path under this team's pages.
    pub fn url(&self, rest: &str) -> String {
        format!("/console/teams/{}/{rest}", self.id)
    }
}

/// What surrounds a page: who is signed in, the form token, the team in view.
pub struct Shell<'a> {
    pub email: Option<&'a str>,
    pub csrf: &'a str,
    pub team: Option<(&'a Team, Section)>,
}

impl<'a> Shell<'a> {
    pub fn in_team(mut self, team: &'a Team, section: Section) -> Self {
        self.team = Some((team, section));
        self
    }
}

/// The notices a page shows after a change (`?done=`): fixed texts, so that a link cannot make
/// a page say anything else.
pub const NOTICES: &[(&str, &str)] = &[
    ("role", "The role was changed."),
    ("removed", "The member was removed from the team."),
    ("invited", "The invitation was sent."),
    ("revoked", "The invitation was revoked."),
    ("created", "Created."),
    ("renamed", "Renamed."),
    ("deleted", "Deleted."),
    ("added", "Added to the group."),
    ("replaced", "The member list was replaced."),
    ("uploaded", "The campaign's members were replaced."),
    ("domain", "The domain was added."),
];

pub fn notice_of(query: Option<&str>) -> Option<&'static str> {
    let query = query?;
    let key = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned())?;
    NOTICES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, text)| *text)
}

pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A whole page.
pub fn page(shell: &Shell, title: &str, notice: Option<&str>, body: Markup) -> Markup {
    let full_title = match shell.team {
        Some((team, _)) => format!("{title} · {} · Roster", team.name),
        None => format!("{title} · Roster"),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (full_title) }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/teams/" { "Roster" }
                    @if let Some(email) = shell.email {
                        span.who { (email) }
                        form.inline method="post" action="/console/sign-out/" {
                            (token(shell.csrf))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                @if let Some((team, section)) = shell.team {
                    (team_nav(team, section))
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    @if let Some(text) = notice {
                        p.notice role="status" { (text) }
                    }
                    (body)
                }
            }
        }
    }
}

fn team_nav(team: &Team, section: Section) -> Markup {
    let mut links = vec![(Section::Overview, "", "Overview")];
    if team.can_manage() {
        links.push((Section::Members, "members/", "Members"));
        links.push((Section::Groups, "groups/", "Groups"));
        links.push((Section::Campaigns, "campaigns/", "Campaigns"));
    }
    if team.is_admin() {
        links.push((Section::Accounts, "accounts/", "Accounts and keys"));
        links.push((
            Section::IdentityProvider,
            "identity-provider/",
            "Identity provider",
        ));
        links.push((Section::Domains, "domains/", "Email domains"));
        links.push((Section::Audit, "audit/", "Audit log"));
    }
    html! {
        nav.team aria-label="Team" {
            p.team-name { a href="/console/teams/" { "Teams" } " / " strong { (team.name) } }
            ul {
                @for (s, path, label) in links {
                    li {
                        @if s == section {
                            a href=(team.url(path)) aria-current="page" { (label) }
                        } @else {
                            a href=(team.url(path)) { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// The hidden field every form carries.
pub fn token(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A field's messages, placed right after it; `id` is what the field's
/// `aria-describedby` names.
pub fn field_errors(id: &str, messages: &[String]) -> Markup {
    html! {
        @if !messages.is_empty() {
            ul.field-error id=(id) {
                @for m in messages { li { (m) } }
            }
        }
    }
}

/// Messages that concern no one field, above a form.
pub fn form_errors(refusal: Option<&Refusal>) -> Markup {
    html! {
        @if let Some(r) = refusal {
            @if !r.general.is_empty() {
                div.error role="alert" {
                    @for m in &r.general { p { (m) } }
                }
            }
        }
    }
}

/// A text input with its label and its messages.
pub struct Input<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub value: &'a str,
    pub kind: &'a str,
    pub required: bool,
    /// Distinguishes the ids of the same field in several forms of one page.
    pub form: &'a str,
}

impl Input<'_> {
    pub fn render(&self, refusal: Option<&Refusal>) -> Markup {
        let id = format!("{}-{}", self.form, self.name);
        let error_id = format!("{id}-error");
        let messages = refusal.map_or(&[][..], |r| r.on(self.name));
        let invalid = !messages.is_empty();
        html! {
            div.field {
                label for=(id) { (self.label) }
                input id=(id) name=(self.name) type=(self.kind) value=(self.value)
                    required[self.required] aria-invalid=[invalid.then_some("true")]
                    aria-describedby=[invalid.then_some(error_id.as_str())];
                (field_errors(&error_id, messages))
            }
        }
    }
}

/// A form of one field (a name, a domain, an email) and its button, with its messages.
pub fn one_field(
    action: &str,
    csrf: &str,
    input: Input,
    button: &str,
    refusal: Option<&Refusal>,
) -> Markup {
    html! {
        form.card method="post" action=(action) {
            (token(csrf))
            (form_errors(refusal))
            (input.render(refusal))
            button type="submit" { (button) }
        }
    }
}

/// A role's name as people read it.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Member => "Member",
        Role::Admin => "Admin",
        Role::Developer => "Developer",
        Role::Restricted => "Restricted",
        Role::Manager => "Manager",
    }
}

/// How many people of a role there are, as a count reads: "3 Admins", "1 Admin".
pub fn role_count(role: Role, n: u64) -> String {
    let label = role_label(role);
    if n == 1 || role == Role::Restricted {
        label.to_owned()
    } else {
        format!("{label}s")
    }
}

/// The roles in the order a picker lists them.
pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::Manager,
    Role::Developer,
    Role::Member,
    Role::Restricted,
];

pub fn role_options(selected: Option<Role>) -> Markup {
    grantable_options(selected, true)
}

/// The roles someone may hand out: only admins give the admin role (the API's rule; a
/// manager is shown no choice that it would refuse).
pub fn grantable_options(selected: Option<Role>, admin: bool) -> Markup {
    html! {
        @for role in ROLES.into_iter().filter(|r| admin || *r != Role::Admin) {
            option value=(role.as_i64()) selected[selected == Some(role)] { (role_label(role)) }
        }
    }
}

pub fn when(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => {
            let text = t.to_string();
            // 2026-12-04T10:11:12.123456Z is read to the minute.
            text.get(..16).map_or(text.clone(), |s| s.replace('T', " "))
        }
        None => "never".to_owned(),
    }
}

/// Links to the other pages of a list: `base` is the list's URL with its filters and a
/// trailing `&` or `?`.
pub fn pager(base: &str, number: u64, last: u64, total: u64) -> Markup {
    html! {
        nav.pager aria-label="Pages" {
            span { "Page " (number) " of " (last.max(1)) " · " (total) " in all" }
            @if number > 1 {
                a href={(base) "page=1"} { "First" }
                a href={(base) "page=" (number - 1)} rel="prev" { "Previous" }
            }
            @if number < last {
                a href={(base) "page=" (number + 1)} rel="next" { "Next" }
                a href={(base) "page=" (last)} { "Last" }
            }
        }
    }
}

/// Page `number` of a list of `total` items, `per` to a page: the number brought within the
/// list, the last page's number, and the window of rows to read.
pub fn paged<C>(number: u64, total: u64, per: u32) -> (u64, u64, roster_core::store::Window<C>) {
    let last = total.div_ceil(u64::from(per)).max(1);
    let number = number.clamp(1, last);
    let window = roster_core::store::Window::Page {
        offset: (number - 1) * u64::from(per),
        limit: per,
    };
    (number, last, window)
}

/// The page number asked for (`?page=`), at least 1.
pub fn page_number(query: Option<&str>) -> u64 {
    query_value(query, "page")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

pub fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A page that asks before a destructive action: the action happens only when its button is
/// pressed (a form, so keyboards and pages without scripts work alike).
pub struct Confirm<'a> {
    pub title: &'a str,
    pub message: Markup,
    pub action: String,
    pub button: &'a str,
    pub back: String,
}

pub fn confirm(shell: &Shell, c: Confirm) -> Response {
    let body = html! {
        div.confirm {
            (c.message)
            form method="post" action=(c.action) {
                (token(shell.csrf))
                button.danger type="submit" { (c.button) }
                " "
                a.button.secondary href=(c.back) { "Cancel" }
            }
        }
    };
    respond(StatusCode::OK, page(shell, c.title, None, body))
}

pub fn problem(p: &Problem, session: Option<&Session>) -> Response {
    let shell = match session {
        Some(s) => s.shell(),
        None => Shell {
            email: None,
            csrf: "",
            team: None,
        },
    };
    let title = match p.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let body = html! {
        div.error role="alert" { p { (p.message) } }
        p { a href="/console/teams/" { "Back to your teams" } }
    };
    respond(p.status, page(&shell, title, None, body))
}

pub fn sign_in(
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let shell = Shell {
        email: None,
        csrf: "",
        team: None,
    };
    let action = match next {
        Some(n) => format!(
            "/console/sign-in/?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/console/sign-in/".to_owned(),
    };
    let body = html! {
        form.card method="post" action=(action) {
            p { "Sign in with your Roster API key. The key is checked once and not kept by this page: \
                 your browser gets a session that ends when you sign out, after 30 minutes without use, \
                 or 12 hours after signing in." }
            div.field {
                label for="key" { "API key" }
                input #key name="key" type="password" autocomplete="off" required
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "key-error")];
                @if let Some(e) = error {
                    ul.field-error #key-error { li { (e) } }
                }
            }
            button type="submit" { "Sign in" }
        }
    };
    respond(status, page(&shell, "Sign in", notice, body))
}
