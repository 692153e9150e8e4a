//! Who is calling: `Authorization: Token <key>` (or `Bearer <key>`) resolved to a principal,
//! and the role checks of the contract's section 2.
//!
//! [`Caller`] is what team-management endpoints take: it refuses deployment-key accounts,
//! which may only call `GET /api/me/`; that endpoint takes [`AnyCaller`].

use crate::error::{ApiError, ApiResult};
use crate::limits::retry_after_secs;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use roster_core::keys::{self, KeyHash};
use roster_core::{Face, Origin, Principal, Role};
use uuid::Uuid;

pub struct AnyCaller(pub Principal);

/// A caller of the team API, and the origin its changes are recorded with.
pub struct Caller(pub Principal, pub Origin);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let secret = credentials(parts)?;
        if !keys::looks_like_key(secret) {
            return Err(reject(parts));
        }
        let hash = KeyHash::of(secret);
        let read = state.store.authenticate(&hash, state.clock.now());
        let found = state.recall.principal(&hash, read).await?;
        let principal = found.ok_or_else(|| reject(parts))?;
        if parts.extensions.get::<RateCounted>().is_none() {
            state
                .limits
                .check(&hash)
                .map_err(|wait| ApiError::Throttled(retry_after_secs(wait)))?;
        }
        Ok(AnyCaller(principal))
    }
}

/// Who the request's key belongs to, if it is a known key: the same lookup as [`AnyCaller`]'s,
/// without its refusals or its count against the key's request rate (the handler that runs
/// next does both).
pub async fn identify(parts: &Parts, state: &AppState) -> Option<(Principal, KeyHash)> {
    let secret = credentials(parts).ok()?;
    if !keys::looks_like_key(secret) {
        return None;
    }
    let hash = KeyHash::of(secret);
    let read = state.store.authenticate(&hash, state.clock.now());
    let principal = state.recall.principal(&hash, read).await.ok().flatten()?;
    Some((principal, hash))
}

/// Marks a request already counted against its key's request rate (by a middleware that
/// needed to, before the handler), so that it is counted once.
#[derive(Clone, Copy)]
pub struct RateCounted;

/// No credentials at all is `None` (an endpoint that also answers anonymous callers); any
/// credentials are checked as [`AnyCaller`] checks them: a bad key is still a 401.
impl axum::extract::OptionalFromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Option<Self>> {
        if let Err(ApiError::NotAuthenticated) = credentials(parts) {
            // No credentials, or another scheme's (not ours: as if none were sent).
            return Ok(None);
        }
        <AnyCaller as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let AnyCaller(principal) = AnyCaller::from_request_parts(parts, state).await?;
        if principal.user.deployment_key_account {
            return Err(ApiError::Forbidden);
        }
        let origin = request_id(parts).origin(Some(principal.user.id));
        Ok(Caller(principal, origin))
    }
}

/// The request's `X-Request-Id` (every request has one: see `telemetry`).
pub struct RequestId(pub Option<String>);

impl RequestId {
    /// The origin of a team-API change by `actor`.
    pub fn origin(self, actor: Option<Uuid>) -> Origin {
        Origin {
            actor,
            face: Face::Api,
            request_id: self.0,
        }
    }
}

pub fn request_id(parts: &Parts) -> RequestId {
    let id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    RequestId(id)
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(request_id(parts))
    }
}

/// The digest of the key the request presents (for an endpoint that acts on that very key;
/// take it beside [`Caller`], which has checked it).
pub struct PresentedKey(pub KeyHash);

impl FromRequestParts<AppState> for PresentedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> ApiResult<Self> {
        credentials(parts).map(|secret| PresentedKey(KeyHash::of(secret)))
    }
}

/// Logs a refused key (never the key itself) and answers 401.
fn reject(parts: &Parts) -> ApiError {
    tracing::warn!(method = %parts.method, path = %parts.uri.path(), "invalid API key");
    ApiError::AuthenticationFailed("Invalid token.")
}

fn credentials(parts: &Parts) -> ApiResult<&str> {
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Err(ApiError::NotAuthenticated);
    };
    let header = header
        .to_str()
        .map_err(|_| ApiError::AuthenticationFailed("Invalid token header."))?;
    let mut words = header.split_ascii_whitespace();
    let scheme = words.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("token") && !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, ...) is not ours: as if no credentials were sent.
        return Err(ApiError::NotAuthenticated);
    }
    match (words.next(), words.next()) {
        (Some(key), None) => Ok(key),
        (None, _) => Err(ApiError::AuthenticationFailed(
            "Invalid token header. No credentials provided.",
        )),
        (Some(_), Some(_)) => Err(ApiError::AuthenticationFailed(
            "Invalid token header. Token string should not contain spaces.",
        )),
    }
}

/// What a caller may do in one organization.
pub enum Needs {
    /// Any member (reading the organization itself).
    Member,
    /// Admins and managers.
    Manager,
    /// Admins only.
    Admin,
}

impl Caller {
    pub fn user_id(&self) -> Uuid {
        self.0.user.id
    }

    /// Who makes the changes of this request, for the change history.
    pub fn origin(&self) -> &Origin {
        &self.1
    }

    /// The team named by `org` (a path's id, so a malformed one is a 404), once the caller's
    /// role in it is checked against what the action needs.
    pub async fn team(&self, state: &AppState, org: &str, needs: Needs) -> ApiResult<Uuid> {
        let org = crate::input::parse_uuid(org)?;
        self.role_in(state, org, needs).await?;
        Ok(org)
    }

    /// The caller's role in `org`, checked against what the action needs. An organization the
    /// caller is not in (or an unproven key's holder is in, but not through it) is a 404, so its
    /// existence does not leak; operators act as admins of every organization.
    pub async fn role_in(&self, state: &AppState, org: Uuid, needs: Needs) -> ApiResult<Role> {
        // An unproven key acts in its own team alone: elsewhere its holder is in no team.
        if self.0.confined_to.is_some_and(|team| team != org) {
            return Err(ApiError::NotFound);
        }
        let read = async {
            if self.0.is_operator {
                state.store.get_organization(org).await?;
                Ok(Some(Role::Admin))
            } else {
                state.store.role_in(org, self.user_id()).await
            }
        };
        let role = state
            .recall
            .role(org, self.user_id(), read)
            .await?
            .ok_or(ApiError::NotFound)?;
        let allowed = match needs {
            Needs::Member => true,
            Needs::Manager => role.can_manage(),
            Needs::Admin => role == Role::Admin,
        };
        if allowed {
            Ok(role)
        } else {
            Err(ApiError::Forbidden)
        }
    }
}
