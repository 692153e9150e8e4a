//! Signing in to the console: an API key is exchanged once for a session cookie, and every
//! page after that is read with the session alone.
//!
//! - The cookie holds a random secret; the database keeps only its digest, beside the digest
//!   of the API key it stands for. Each request authenticates that key again, so revoking or
//!   rotating the key ends its sessions, and the caller is exactly the API's caller for it.
//! - `HttpOnly`, `SameSite=Strict`, `Path=/console/`, and `Secure` when the server is reached
//!   over https. `/api/` and `/scim/` read only the `Authorization` header, never this cookie.
//! - Sessions end after [`IDLE`] without a request and [`LIFETIME`] after sign-in, and at once on
//!   sign-out (the row is deleted: every node sees it).
//! - Every form carries a token derived from the session's secret ([`Session::csrf`]) and is
//!   refused without it; a request that a browser marks as coming from another site is refused
//!   before that.

use super::html::{self, Shell};
use super::{Answer, Form, Problem};
use crate::auth::Caller;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use roster_core::keys::{self, KeyHash};
use roster_core::{Face, Origin, Principal};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The cookie's name.
const COOKIE_NAME: &str = "roster_console";
/// A session unused for this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session this old is over, however busy.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// A signed-in person: the team API's caller for their key, with the origin `console`.
pub struct Session {
    pub caller: Caller,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Session {
    pub fn principal(&self) -> &Principal {
        &self.caller.0
    }

    /// The caller to hand to an API handler (each takes its own).
    pub fn api_caller(&self) -> Caller {
        Caller(self.caller.0.clone(), self.caller.1.clone())
    }

    pub fn shell(&self) -> Shell<'_> {
        Shell {
            email: Some(self.principal().user.email.as_str()),
            csrf: &self.csrf,
            team: None,
        }
    }
}

/// The form token of a session: a digest of its secret, which only the browser holding the
/// cookie can know (a page of another site can neither read the cookie nor this page).
fn csrf_of(secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"roster console form token\0");
    digest.update(secret.as_bytes());
    hex::encode(digest.finalize())
}

/// The session's secret from the request's cookies. Two cookies of the name are none: one was
/// planted beside ours (by a sibling domain, or over plain http) to sign the browser in as
/// someone else, and which is which cannot be told.
fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value);
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(first).filter(|v| keys::looks_like_key(v))
}

/// The session of a request, or `None` when it has none that is still open.
async fn open_session(parts: &Parts, state: &AppState) -> Result<Option<Session>, Problem> {
    let Some(secret) = cookie_secret(&parts.headers) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let found = state
        .store
        .session(
            &KeyHash::of(secret),
            now,
            now.minus(LIFETIME),
            now.minus(IDLE),
        )
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let read = state.store.authenticate(&found.key, now);
    let Some(principal) = state.recall.principal(&found.key, read).await? else {
        // The key was revoked or rotated: its sessions went with it.
        return Ok(None);
    };
    if principal.user.deployment_key_account {
        return Ok(None);
    }
    state
        .limits
        .check(&found.key)
        .map_err(|wait| crate::error::ApiError::Throttled(crate::limits::retry_after_secs(wait)))?;
    let origin = Origin {
        actor: Some(principal.user.id),
        face: Face::Console,
        request_id: crate::auth::request_id(parts).0,
    };
    Ok(Some(Session {
        caller: Caller(principal, origin),
        csrf: csrf_of(secret),
    }))
}

/// Pages for signed-in people: anyone else is sent to the sign-in page, which brings them
/// back here afterwards.
impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match open_session(parts, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(to_sign_in(parts)),
            Err(problem) => Err(problem.page(None)),
        }
    }
}

fn to_sign_in(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with("/console/") && parts.method == axum::http::Method::GET)
        .unwrap_or("/console/");
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("/console/sign-in/?next={next}")).into_response()
}

/// Where to go after signing in: a console page of this server, nothing else.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| {
        // A browser resolves `..` (`%2e%2e` too) before it follows the redirect.
        let dotted = n.to_ascii_lowercase().replace("%2e", ".");
        n.bytes().all(|b| b.is_ascii_graphic())
            && n.starts_with("/console/")
            && !n.contains("//")
            && !n.contains('\\')
            && !n.starts_with("/console/sign-")
            && !dotted.split(['/', '?', '#']).any(|s| s == "." || s == "..")
    })
    .unwrap_or("/console/teams/")
}

/// A form sent by a signed-in person, once its token and its site are checked.
pub struct Posted {
    pub session: Session,
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        if is_cross_site(&parts.headers) {
            return Err(forged(&session));
        }
        let req = Request::from_parts(parts, body);
        let form = Form::read(req, state)
            .await
            .map_err(|problem| problem.page(Some(&session)))?;
        let sent = form.get("csrf").as_bytes();
        if !bool::from(sent.ct_eq(session.csrf.as_bytes())) {
            return Err(forged(&session));
        }
        Ok(Posted { session, form })
    }
}

/// A browser's word that the request comes from a page of another site: `Sec-Fetch-Site`, or
/// failing that an `Origin` that is not this host's.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (None, _) => false,
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            bare != Some(host)
        }
        (Some(_), None) => true,
    }
}

fn forged(session: &Session) -> Response {
    let problem = Problem {
        status: StatusCode::FORBIDDEN,
        message: "This form was not sent from this console's own page (or the page is too old): \
                  nothing was changed. Open the page again and retry."
            .into(),
    };
    problem.page(Some(session))
}

/// `GET /console/sign-in/`.
pub async fn sign_in_page(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> Response {
    let (parts, _) = req.into_parts();
    if let Ok(Some(_)) = open_session(&parts, &state).await {
        return Redirect::to("/console/teams/").into_response();
    }
    let next = next_of(&parts);
    let signed_out = html::query_value(parts.uri.query(), "signed_out").is_some();
    let notice = signed_out.then_some("You have signed out.");
    html::sign_in(next.as_deref(), None, StatusCode::OK, notice)
}

fn next_of(parts: &Parts) -> Option<String> {
    let query = parts.uri.query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| safe_next(Some(&v)).to_owned())
}

/// `POST /console/sign-in/`: the key is checked as the API checks it, then forgotten; the
/// browser gets a session cookie.
pub async fn sign_in(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let next = next_of(&parts);
    if is_cross_site(&parts.headers) {
        let why = "This sign-in was not sent from this console's own page.";
        return html::sign_in(next.as_deref(), Some(why), StatusCode::FORBIDDEN, None);
    }
    let form = match Form::read_anonymous(Request::from_parts(parts.clone(), body), &state).await {
        Ok(form) => form,
        Err(problem) => return problem.page(None),
    };
    let secret = form.get("key").trim();
    let refused = |why: &str, status| html::sign_in(next.as_deref(), Some(why), status, None);
    if !keys::looks_like_key(secret) {
        let why = "This is not an API key: a key is 64 characters of 0-9 and a-f.";
        return refused(why, StatusCode::BAD_REQUEST);
    }
    let key = KeyHash::of(secret);
    if let Err(wait) = state.limits.check(&key) {
        let why = format!(
            "Too many attempts: try again in {} seconds.",
            crate::limits::retry_after_secs(wait)
        );
        return refused(&why, StatusCode::TOO_MANY_REQUESTS);
    }
    let now = state.clock.now();
    let principal = match state.store.authenticate(&key, now).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::warn!("console sign-in with an unknown key");
            return refused(
                "No key matches: check it and try again.",
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return Problem::from(crate::error::ApiError::from(e)).page(None),
    };
    if principal.user.deployment_key_account {
        let why = "A deployment key cannot sign in: it may only read its own account.";
        return refused(why, StatusCode::FORBIDDEN);
    }
    let cookie = match open_with(&state, &parts.headers, &key, principal.user.id).await {
        Ok(cookie) => cookie,
        Err(problem) => return problem.page(None),
    };
    let mut response = Redirect::to(safe_next(next.as_deref())).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    response
}

/// Opens a session for the key `secret` (just issued to its holder) and answers the cookie
/// that carries it.
pub async fn open(
    state: &AppState,
    headers: &HeaderMap,
    secret: &str,
) -> Result<HeaderValue, Problem> {
    let key = KeyHash::of(secret);
    let principal = state.store.authenticate(&key, state.clock.now()).await?;
    let principal = principal.ok_or(crate::error::ApiError::AuthenticationFailed(
        "Invalid token.",
    ))?;
    open_with(state, headers, &key, principal.user.id).await
}

async fn open_with(
    state: &AppState,
    headers: &HeaderMap,
    key: &KeyHash,
    user: uuid::Uuid,
) -> Result<HeaderValue, Problem> {
    // A browser signing in again (or accepting an invitation) leaves its last session behind
    // for good: it ends here, not at its expiry.
    if let Some(secret) = cookie_secret(headers) {
        state.store.close_session(&KeyHash::of(secret)).await?;
    }
    let session = keys::issue();
    state
        .store
        .open_session(&session.hash, key, user, state.clock.now())
        .await?;
    let secure = is_https(headers, state);
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/console/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session.secret,
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie)
        .map_err(|e| Problem::from(crate::error::ApiError::Internal(e.to_string())))
}

/// Whether browsers reach this server over https: its public URL says so, or the proxy in
/// front of it does. (Marking the cookie `Secure` when it need not be only keeps it off plain
/// http, so a forged header can do no harm.)
fn is_https(headers: &HeaderMap, state: &AppState) -> bool {
    let proxied = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    proxied
        || state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
}

/// `POST /console/sign-out/`: the session ends on every node, and the cookie is cleared.
pub async fn sign_out(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    posted: Posted,
) -> Answer {
    if let Some(secret) = cookie_secret(&headers) {
        state.store.close_session(&KeyHash::of(secret)).await?;
    }
    let _ = posted;
    let mut response = Redirect::to("/console/sign-in/?signed_out=1").into_response();
    let clear = format!("{COOKIE_NAME}=; Path=/console/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}
