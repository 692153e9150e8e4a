//! SCIM 2.0 at `/scim/v2/` (RFC 7643 and 7644): its own route table, bearer
//! authentication by a team's admin service account, and responses and errors in SCIM's
//! shapes and media type. The protocol (filters, PATCH) is `roster_scim`; the data is the same
//! store the team API uses.

pub mod creates;
mod discovery;
mod groups;
mod query;
pub mod turns;
mod user_resource;
mod users;

use crate::limits::{HeavyGate, retry_after_secs};
use crate::preconditions::{Preconditions, Tag};
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, LOCATION, RETRY_AFTER,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use roster_core::keys::{self, KeyHash};
use roster_core::{Role, StoreError};
use roster_scim::{ScimError, ScimType};
use serde_json::Value;
use uuid::Uuid;

pub const MEDIA_TYPE: &str = "application/scim+json";
/// The largest page a list answers (advertised as `filter.maxResults`).
pub const MAX_RESULTS: u64 = 1000;

pub fn router(state: AppState) -> Router {
    let read_only = || axum::routing::MethodRouter::new().fallback(method_not_allowed);
    Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config).merge(read_only()),
        )
        .route(
            "/ResourceTypes",
            get(discovery::resource_types).merge(read_only()),
        )
        .route(
            "/ResourceTypes/{name}",
            get(discovery::resource_type).merge(read_only()),
        )
        .route("/Schemas", get(discovery::schemas).merge(read_only()))
        .route("/Schemas/{urn}", get(discovery::schema).merge(read_only()))
        .route("/.search", post(search_everything))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::retrieve)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::retrieve)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// RFC 7644 3.4.3 lets a server search several resource types at once; Roster does not.
async fn search_everything() -> Failure {
    Failure(ScimError::new(
        501,
        "Searching several resource types at once is not offered: POST /Users/.search or \
         /Groups/.search.",
    ))
}

async fn not_found() -> Failure {
    Failure(ScimError::new(404, "There is no such SCIM endpoint."))
}

async fn method_not_allowed(method: Method) -> Failure {
    Failure(ScimError::new(
        405,
        format!("{method} is not allowed on this endpoint."),
    ))
}

/// A SCIM error as the response: the RFC 7644 body in SCIM's media type.
#[derive(Debug)]
pub struct Failure(pub ScimError);

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Failure(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure(match e {
            StoreError::NotFound => ScimError::new(404, "Resource not found."),
            StoreError::Conflict { field: "version" } => ScimError::new(
                412,
                "The resource changed since that version (If-Match): read it again.",
            ),
            // An address taken anywhere reads the same whoever holds it (docs/SECURITY.md).
            StoreError::Conflict { field: "emails" } => {
                ScimError::uniqueness("This email is not available.")
            }
            StoreError::Conflict { field } => {
                ScimError::uniqueness(format!("{field} is already taken in this team."))
            }
            StoreError::Forbidden(detail) => ScimError {
                status: 403,
                scim_type: Some(ScimType::Mutability),
                detail,
            },
            StoreError::Invalid { message, .. } => {
                ScimError::bad_request(ScimType::InvalidValue, message)
            }
            StoreError::Rejected(items) => ScimError::bad_request(
                ScimType::InvalidValue,
                items
                    .first()
                    .map(|r| r.message.clone())
                    .unwrap_or_else(|| "The change was refused.".into()),
            ),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ScimError::new(503, "The database is unavailable. Try again shortly.")
            }
            StoreError::Full(detail) => {
                tracing::warn!(%detail, "storage full");
                ScimError::new(
                    507,
                    "The server's storage is full: nothing was changed. Try again once space \
                     is freed.",
                )
            }
            StoreError::Other(detail) => {
                tracing::error!(%detail, "storage failure");
                ScimError::new(500, "Internal server error.")
            }
        })
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = scim_body(status, &self.0.body());
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        let retry =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if retry && !response.headers().contains_key(RETRY_AFTER) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub type ScimResult<T> = Result<T, Failure>;

fn scim_body(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}

/// A resource with its version as the ETag (and its location, when it was just created).
fn resource_response(status: StatusCode, body: &Value, version: i64) -> Response {
    let mut response = scim_body(status, body);
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        headers.insert(ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Some(Ok(location)) = body["meta"]["location"].as_str().map(HeaderValue::from_str)
    {
        headers.insert(LOCATION, location);
    }
    response
}

/// A resource version's tag, as the team API writes it (`preconditions`).
pub fn etag(version: i64) -> String {
    Tag::version(version).weak()
}

/// The version an `If-Match` header asks for (see `Preconditions::version_wanted`).
fn if_match(headers: &HeaderMap) -> Option<i64> {
    Preconditions::of(headers).version_wanted()
}

/// The 304 to answer when `If-None-Match` names the current version.
fn not_modified(headers: &HeaderMap, version: i64) -> Option<Response> {
    Preconditions::of(headers).not_modified(&Tag::version(version))
}

/// The team a request provisions, from its bearer token (the key of an admin service account
/// of that team), and the base of the locations it is told.
pub struct ScimTeam {
    pub org: Uuid,
    pub base: String,
    /// The service account whose key it is: heavy requests count against it.
    pub account: Uuid,
    /// The account, acting through SCIM in this request, as the change history records it.
    origin: roster_core::Origin,
}

impl ScimTeam {
    pub fn origin(&self) -> &roster_core::Origin {
        &self.origin
    }

    /// A slot for a heavy request (a filter other than one `eq`, more than
    /// `limits::HEAVY_ITEMS` member ids) when `heavy`, held while the gate lives; else 429.
    pub fn admit(&self, state: &AppState, heavy: bool) -> ScimResult<HeavyGate> {
        let mut gate = state.gate(self.account, Some(self.org));
        gate.admit(heavy)
            .map_err(|busy| Failure(ScimError::new(429, busy.detail())))?;
        Ok(gate)
    }

    /// As [`ScimTeam::admit`], for a change to group members: a heavy one first lets go of the
    /// team's kept pages, as the team API's does (`api::memberships::forget_pages`).
    pub fn admit_change(&self, state: &AppState, heavy: bool) -> ScimResult<HeavyGate> {
        let gate = self.admit(state, heavy)?;
        if heavy {
            crate::api::memberships::forget_pages(state, self.org);
        }
        Ok(gate)
    }
}

impl FromRequestParts<AppState> for ScimTeam {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (team, key) = team_of(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if let Err(wait) = state.limits.check(&key) {
            let seconds = retry_after_secs(wait);
            let detail = format!("Too many requests: try again in {seconds} seconds.");
            let mut response = Failure(ScimError::new(429, detail)).into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
            return Err(response);
        }
        Ok(team)
    }
}

/// The team a SCIM key provisions, and the key's hash.
async fn team_of(parts: &Parts, state: &AppState) -> ScimResult<(ScimTeam, KeyHash)> {
    let unauthorized = |detail: &str| Failure(ScimError::new(401, detail));
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| unauthorized("Authentication is required: Authorization: Bearer <key>."))?
        .to_str()
        .map_err(|_| unauthorized("The Authorization header is not readable."))?;
    let mut words = header.split_ascii_whitespace();
    let scheme = words.next().unwrap_or_default();
    let secret = match (words.next(), words.next()) {
        (Some(secret), None)
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") =>
        {
            secret
        }
        _ => return Err(unauthorized("The Authorization header is Bearer <key>.")),
    };
    let hash = KeyHash::of(secret);
    let principal = if keys::looks_like_key(secret) {
        let read = state.store.authenticate(&hash, state.clock.now());
        state.recall.principal(&hash, read).await?
    } else {
        None
    };
    let Some(principal) = principal else {
        tracing::warn!(method = %parts.method, path = %parts.uri.path(), "invalid SCIM key");
        return Err(unauthorized("Invalid token."));
    };
    let forbidden = || {
        Failure(ScimError::new(
            403,
            "SCIM needs the key of a service account with the admin role in its team.",
        ))
    };
    if !principal.user.service_account {
        return Err(forbidden());
    }
    let account = principal.user.id;
    let read = async {
        let teams = state.store.memberships_of(account).await?;
        Ok(teams
            .iter()
            .find(|m| m.role == Role::Admin)
            .map(|m| m.organization))
    };
    let org = state
        .recall
        .scim_team(account, read)
        .await?
        .ok_or_else(forbidden)?;
    let team = ScimTeam {
        org,
        base: format!(
            "{}/scim/v2",
            crate::pagination::public_base(&parts.headers, &state.config)
        ),
        account,
        origin: roster_core::Origin {
            actor: Some(account),
            face: roster_core::Face::Scim,
            request_id: crate::auth::request_id(parts).0,
        },
    };
    Ok((team, hash))
}

/// A request body as JSON: `application/scim+json` or `application/json` (or no type), within
/// the server's size limit, and an object.
pub struct ScimJson(pub Value);

impl FromRequest<AppState> for ScimJson {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &AppState) -> ScimResult<Self> {
        let limit = state.config.max_body_bytes;
        let (parts, body) = req.into_parts();
        if let Some(kind) = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            let essence = kind.split(';').next().unwrap_or_default().trim();
            if !essence.eq_ignore_ascii_case(MEDIA_TYPE)
                && !essence.eq_ignore_ascii_case("application/json")
            {
                return Err(Failure(ScimError::new(
                    415,
                    "Send application/scim+json or application/json.",
                )));
            }
        }
        let too_large = || {
            Failure(ScimError::new(
                413,
                format!("The body is larger than {limit} bytes."),
            ))
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::bad_request(
                ScimType::InvalidSyntax,
                format!("The body is not JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "The body is a JSON object.",
            )
            .into());
        }
        // Absent `schemas` is forgiven (some clients leave it out); a malformed one is not.
        let schemas = roster_scim::filter::field(&value, "schemas");
        if schemas.is_some_and(|s| !s.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
            return Err(ScimError::bad_request(
                ScimType::InvalidSyntax,
                "\"schemas\" is a list of schema URNs.",
            )
            .into());
        }
        Ok(ScimJson(value))
    }
}

/// A resource id from the path; an id that is no UUID names no resource.
fn resource_id(id: &str) -> ScimResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| Failure(ScimError::new(404, "Resource not found.")))
}
