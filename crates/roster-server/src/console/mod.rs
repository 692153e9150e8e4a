//! The admin console at `/console/`: server-rendered pages (maud) for the people who run a
//! roster, served by the binary with every asset built in.
//!
//! The console is another face of the team API, not a second implementation of it: every
//! change it makes is the API handler's own, called in-process with the signed-in person as its
//! [`crate::auth::Caller`] (origin `console`), so permissions, validation, messages and the
//! change history are the API's. Reads for pages call the same store methods the API's lists
//! do. A page shows only the actions that the person's role allows; the handler would refuse
//! the rest anyway.
//!
//! One module per area: `session` (sign-in, cookie, form tokens), `html` (the layout and
//! shared pieces), `lists` (pasted and uploaded member lists, previewed), then `teams`,
//! `members`, `accept` (invitations), `groups`, `campaigns`, `accounts` (service accounts,
//! deployment keys, identity-provider setup) and `admin` (email domains, audit log).

pub mod accept;
pub mod accounts;
pub mod admin;
pub mod campaigns;
pub mod groups;
pub mod html;
pub mod lists;
pub mod members;
pub mod session;
pub mod teams;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Router, middleware};
use serde_json::Value;
use session::Session;
use std::collections::{BTreeMap, HashMap};

/// What a console handler answers: a page, or a page that says what went wrong.
pub type Answer = Result<Response, Problem>;

/// The console's routes, every path under `/console/`.
pub fn router(state: AppState) -> Router {
    let team = |p: &str| format!("/console/teams/{{org}}/{p}");
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/assets/console.css", get(html::stylesheet))
        .route("/console/assets/console.js", get(html::script))
        .route(
            "/console/sign-in/",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out/", post(session::sign_out))
        .route(
            "/console/invitations/accept/",
            get(accept::page).post(accept::accept),
        )
        .route("/console/teams/", get(teams::list))
        .route(&team(""), get(teams::overview))
        .route(&team("members/"), get(members::list))
        .route(&team("members/{mid}/role/"), post(members::set_role))
        .route(
            &team("members/{mid}/remove/"),
            get(members::confirm_remove).post(members::remove),
        )
        .route(&team("invitations/"), post(members::invite))
        .route(
            &team("invitations/{iid}/revoke/"),
            get(members::confirm_revoke).post(members::revoke),
        )
        .route(&team("groups/"), get(groups::list).post(groups::create))
        .route(&team("groups/{gid}/"), get(groups::detail))
        .route(&team("groups/{gid}/rename/"), post(groups::rename))
        .route(&team("groups/{gid}/add/"), post(groups::add))
        .route(&team("groups/{gid}/replace/"), post(groups::preview))
        .route(
            &team("groups/{gid}/replace/confirm/"),
            post(groups::replace),
        )
        .route(
            &team("groups/{gid}/delete/"),
            get(groups::confirm_delete).post(groups::delete),
        )
        .route(
            &team("campaigns/"),
            get(campaigns::list).post(campaigns::create),
        )
        .route(&team("campaigns/{cid}/"), get(campaigns::detail))
        .route(&team("campaigns/{cid}/rename/"), post(campaigns::rename))
        .route(&team("campaigns/{cid}/upload/"), post(campaigns::preview))
        .route(
            &team("campaigns/{cid}/upload/confirm/"),
            post(campaigns::replace),
        )
        .route(
            &team("campaigns/{cid}/delete/"),
            get(campaigns::confirm_delete).post(campaigns::delete),
        )
        .route(&team("accounts/"), get(accounts::list))
        .route(&team("service-accounts/"), post(accounts::create_service))
        .route(
            &team("service-accounts/{aid}/rotate/"),
            get(accounts::confirm_rotate).post(accounts::rotate),
        )
        .route(
            &team("service-accounts/{aid}/delete/"),
            get(accounts::confirm_delete_service).post(accounts::delete_service),
        )
        .route(&team("deployment-keys/"), post(accounts::create_deployment))
        .route(
            &team("deployment-keys/{aid}/delete/"),
            get(accounts::confirm_delete_deployment).post(accounts::delete_deployment),
        )
        .route(
            &team("identity-provider/"),
            get(accounts::identity_provider).post(accounts::create_scim_account),
        )
        .route(
            &team("domains/"),
            get(admin::domains).post(admin::add_domain),
        )
        .route(
            &team("domains/{did}/delete/"),
            get(admin::confirm_delete_domain).post(admin::delete_domain),
        )
        .route(&team("audit/"), get(admin::audit))
        // Any other path under /console/ (the server's own fallback answers elsewhere).
        .route("/console/{*rest}", any(not_found))
        .layer(middleware::from_fn(guard_pages))
        // Forms are read against --max-body-bytes by `Form` (axum would cut multipart at 2 MiB).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

async fn home(session: Option<Session>) -> Response {
    match session {
        Some(_) => Redirect::to("/console/teams/").into_response(),
        None => Redirect::to("/console/sign-in/").into_response(),
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Session as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await
            .ok(),
        )
    }
}

async fn not_found() -> Response {
    Problem::from(ApiError::NotFound).page(None)
}

/// Every console answer: never cached (pages show tokens once), never framed, scripts and
/// forms only from this server, and no Referer that could carry a page's address elsewhere.
async fn guard_pages(req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/console/assets/");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; \
         base-uri 'none'; object-src 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    if !asset {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Something that stops a whole page: a team or object that is not there (or not the
/// person's to see), a refused action, a database that is away.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub message: String,
}

impl Problem {
    pub fn page(&self, session: Option<&Session>) -> Response {
        html::problem(self, session)
    }
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let message = match &e {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "console request failed");
                "A server error occurred.".to_owned()
            }
            ApiError::NotFound => {
                "Not found: it does not exist, or it is not yours to see.".to_owned()
            }
            ApiError::Forbidden => "Your role in this team does not allow this.".to_owned(),
            ApiError::BadRequest(value) => Refusal::from_body(value).summary(),
            other => other.to_string(),
        };
        Problem { status, message }
    }
}

impl From<roster_core::StoreError> for Problem {
    fn from(e: roster_core::StoreError) -> Self {
        Problem::from(ApiError::from(e))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.page(None)
    }
}

/// An API handler's refusal of a form, as the page shows it: messages next to the fields they
/// concern, and the rest above the form.
#[derive(Debug, Default)]
pub struct Refusal {
    pub status: u16,
    pub fields: BTreeMap<String, Vec<String>>,
    pub general: Vec<String>,
}

impl Refusal {
    pub fn of(e: ApiError) -> Self {
        let status = e.status().as_u16();
        let mut refusal = match &e {
            ApiError::BadRequest(body) => Refusal::from_body(body),
            _ => Refusal {
                general: vec![Problem::from(e).message],
                ..Refusal::default()
            },
        };
        refusal.status = status;
        refusal
    }

    fn from_body(body: &Value) -> Self {
        let mut refusal = Refusal::default();
        let texts = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            }
        };
        match body {
            Value::Object(map) => {
                for (field, value) in map {
                    if field == "non_field_errors" || field == "detail" {
                        refusal.general.extend(texts(value));
                    } else {
                        refusal.fields.insert(field.clone(), texts(value));
                    }
                }
            }
            // A member list's refusal: one object per item, in the list's order.
            Value::Array(items) => {
                for item in items.iter().filter_map(Value::as_object) {
                    for (field, value) in item {
                        refusal
                            .fields
                            .entry(field.clone())
                            .or_default()
                            .extend(texts(value));
                    }
                }
            }
            other => refusal.general.push(other.to_string()),
        }
        refusal
    }

    pub fn on(&self, field: &str) -> &[String] {
        self.fields.get(field).map_or(&[], Vec::as_slice)
    }

    /// Every message in one line (for a page with no form to put them beside).
    pub fn summary(&self) -> String {
        let mut all: Vec<String> = self.general.clone();
        for (field, messages) in &self.fields {
            all.extend(messages.iter().map(|m| format!("{field}: {m}")));
        }
        all.join(" ")
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }
}

/// What an API handler answered, for a page: its JSON body (`null` for none), or its refusal.
pub async fn answered(answer: ApiResult<Response>) -> Result<Value, ApiError> {
    let response = answer?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::Internal(format!("reading an API answer: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A console form's fields (a file's content is the field's text), as sent.
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    /// Reads an `application/x-www-form-urlencoded` or `multipart/form-data` body of at most
    /// `--max-body-bytes`.
    pub async fn read(req: Request, state: &AppState) -> Result<Form, Problem> {
        Self::read_at_most(req, state, state.config.max_body_bytes).await
    }

    /// Reads a form sent without a session (signing in, accepting an invitation) as the API
    /// reads bodies sent without credentials: a few KiB, arriving within a few seconds.
    pub async fn read_anonymous(req: Request, state: &AppState) -> Result<Form, Problem> {
        let read = Self::read_at_most(req, state, crate::input::ANONYMOUS_BODY_BYTES);
        tokio::time::timeout(crate::input::ANONYMOUS_BODY_TIME, read)
            .await
            .map_err(|_| Problem {
                status: StatusCode::BAD_REQUEST,
                message: "The form took too long to arrive.".into(),
            })?
    }

    async fn read_at_most(req: Request, state: &AppState, limit: usize) -> Result<Form, Problem> {
        let refuse = |message: String| Problem {
            status: StatusCode::BAD_REQUEST,
            message,
        };
        let kind = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if kind.starts_with("multipart/form-data") {
            let (parts, body) = req.into_parts();
            let bytes = crate::input::read_body(body, &parts, limit).await?;
            let req = Request::from_parts(parts, Body::from(bytes));
            let mut multipart = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|e| refuse(e.body_text()))?;
            let mut fields = HashMap::new();
            while let Some(part) = multipart
                .next_field()
                .await
                .map_err(|e| refuse(e.body_text()))?
            {
                let Some(name) = part.name().map(str::to_owned) else {
                    continue;
                };
                let bytes = part.bytes().await.map_err(|e| refuse(e.body_text()))?;
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    refuse(format!(
                        "The {name} field is not UTF-8 text (save it as UTF-8)."
                    ))
                })?;
                fields.insert(name, text);
            }
            Ok(Form(fields))
        } else if kind.starts_with("application/x-www-form-urlencoded") {
            let (parts, body) = req.into_parts();
            let bytes = crate::input::read_body(body, &parts, limit).await?;
            Ok(Form(
                form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ))
        } else {
            Err(Problem {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "Send this form from the console's page.".into(),
            })
        }
    }

    /// The field's text, empty when it was not sent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// The named fields as the flat JSON object an API handler reads (empty ones left out
    /// when `skip_empty`, so that the handler's default applies).
    pub fn json(&self, names: &[&str], skip_empty: bool) -> Value {
        let mut map = serde_json::Map::new();
        for name in names {
            if let Some(v) = self.0.get(*name)
                && !(skip_empty && v.trim().is_empty())
            {
                map.insert((*name).to_owned(), Value::String(v.clone()));
            }
        }
        Value::Object(map)
    }
}

/// A 303 to a console page, with a notice (one of [`html::NOTICES`]) for it to show.
pub fn done(to: &str, notice: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}done={notice}")).into_response()
}
