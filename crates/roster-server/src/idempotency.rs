//! Idempotent retries: a write under `/api/` sent with an `Idempotency-Key` header is carried
//! out once per API key and `Idempotency-Key`. The first answer is kept for a day and every retry gets it
//! back byte for byte with `Idempotent-Replayed: true`, so a sync job that retries a POST after
//! a timeout never makes its change twice.
//!
//! The key is claimed in the database before the request runs, so concurrent requests with one
//! key (on one node or many) make one change: the others wait for the first one's answer. The
//! same key with another method, path or body is a 422. An answer that carries a credential (a
//! token or key, shown once) is never kept: its retry is a 409, as is the retry of an answer
//! too large to keep (over 1 MiB, or past its caller's budget of kept answers). A refusal
//! changes nothing (any 4xx, and 503 and 507): it frees the key instead, so the retry runs
//! again. A committed change never answers a 4xx (its streamed answer passes the heavy-slot
//! gate `after_change`); a 503 between a commit and its answer's first rows does free the key,
//! as docs/API.md says. A deployment key, which may write nothing, never claims a key. Requests with a key count against the key's request rate once, here.

use crate::auth::{RateCounted, identify};
use crate::error::{ApiError, ApiResult};
use crate::limits::retry_after_secs;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use roster_core::store::{KeptAnswer, KeyClaim};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a key and its answer are kept.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// A request that has held its key this long without finishing is taken as lost (its server
/// stopped): the key is free again.
const ABANDONED_AFTER: Duration = Duration::from_secs(10 * 60);
/// How long a retry waits for the request holding its key to finish before it is a 409.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(25);
/// The largest answer kept; a larger one (a replace's whole member list) is carried out, not
/// kept.
pub const MAX_KEPT_BYTES: usize = 1024 * 1024;
/// The most that one caller's kept answers take together: past it, answers are carried out
/// and not kept (their retries are 409s), so that no key holder can fill the disk with them.
pub const CALLER_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
/// The longest key taken.
const MAX_KEY_LEN: usize = 255;
/// Top-level fields of an answer that hold a credential shown once.
const CREDENTIALS: &[&str] = &["token", "key", "accept_token", "secret"];

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(state, req, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, req: Request, next: Next) -> ApiResult<Response> {
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = req.headers().get(&IDEMPOTENCY_KEY).filter(|_| writes) else {
        return Ok(next.run(req).await);
    };
    let key = valid_key(key)?;
    let (mut parts, body) = req.into_parts();
    // A request without a known key is refused by its handler, as without the header; so is
    // a deployment key's (it may only read `/api/me/`), before its body is read or a key kept.
    let Some((caller, hash)) = identify(&parts, &state)
        .await
        .filter(|(caller, _)| !caller.user.deployment_key_account)
    else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    // Counted here, once, before anything is claimed or replayed.
    state
        .limits
        .check(&hash)
        .map_err(|wait| ApiError::Throttled(retry_after_secs(wait)))?;
    parts.extensions.insert(RateCounted);
    let (holder, user) = (hash.0, caller.user.id);
    let body = axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(state.config.max_body_bytes))?;
    let fingerprint = fingerprint(&parts, &body);
    let waiting_since = tokio::time::Instant::now();
    loop {
        let now = state.clock.now();
        let claim = state
            .store
            .claim_idempotency_key(
                &holder,
                user,
                &key,
                &fingerprint,
                now,
                now.minus(KEPT_FOR),
                now.minus(ABANDONED_AFTER),
            )
            .await?;
        match claim {
            KeyClaim::Claimed => break,
            KeyClaim::Running { fingerprint: f } | KeyClaim::Done { fingerprint: f, .. }
                if f != fingerprint =>
            {
                return Err(ApiError::KeyReused);
            }
            KeyClaim::Done {
                answer: Some(answer),
                ..
            } => return Ok(replay(answer)),
            KeyClaim::Done { answer: None, .. } => {
                return Err(ApiError::KeyConflict(
                    "This request was carried out; its answer is not kept (it held a \
                     credential, was over 1 MiB, or this key holder's kept answers already \
                     take 64 MiB). Read the resource to see its state.",
                ));
            }
            KeyClaim::Running { .. } if waiting_since.elapsed() < WAIT_FOR_FIRST => {
                tokio::time::sleep(POLL_EVERY).await;
            }
            KeyClaim::Running { .. } => {
                return Err(ApiError::KeyConflict(
                    "A request with this Idempotency-Key is still in progress: try again later.",
                ));
            }
        }
    }
    // The request and the record of its answer run to the end even when the client hangs up
    // (the very case a retry is for): a request cut short would leave its key running.
    let request = Request::from_parts(parts, Body::from(body));
    let run = tokio::spawn(async move {
        let response = next.run(request).await;
        keep(&state, &holder, &key, response).await
    });
    run.await
        .map_err(|e| ApiError::Internal(format!("idempotent request failed: {e}")))?
}

/// The key as sent: 1 to 255 visible ASCII characters.
fn valid_key(value: &HeaderValue) -> ApiResult<String> {
    let key = value.to_str().unwrap_or_default();
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_LEN || !visible {
        return Err(ApiError::parse(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters."
        )));
    }
    Ok(key.to_owned())
}

/// What makes two requests the same one: method, path and query, the media types of the body
/// and of the answer asked for, body.
fn fingerprint(parts: &axum::http::request::Parts, body: &Bytes) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(parts.method.as_str().as_bytes());
    hash.update(b" ");
    let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
    hash.update(target.as_bytes());
    for name in [CONTENT_TYPE, ACCEPT] {
        hash.update(b"\n");
        for value in parts.headers.get_all(name) {
            hash.update(value.as_bytes());
            hash.update(b",");
        }
    }
    hash.update(b"\n");
    hash.update(body);
    hash.finalize().to_vec()
}

/// Keeps the answer for retries (or frees the key when the request was refused before it
/// changed anything), and sends it on.
async fn keep(
    state: &AppState,
    holder: &[u8],
    key: &str,
    response: Response,
) -> ApiResult<Response> {
    let status = response.status();
    // Refusals change nothing (every 4xx; a busy or unavailable database, a full disk): the
    // retry may run, and a caller refused over and over leaves no rows behind.
    let nothing_changed = status.is_client_error() || matches!(status.as_u16(), 503 | 507);
    if nothing_changed {
        state.store.release_idempotency_key(holder, key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    // Read up to the limit; what is past it is sent on as it comes.
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    let mut whole = true;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // Carried out, but its answer broke off: a retry is told so, not run again.
                state
                    .store
                    .finish_idempotency_key(holder, key, None, CALLER_BUDGET_BYTES)
                    .await?;
                return Err(ApiError::Internal(e.to_string()));
            }
        };
        head.extend_from_slice(&chunk);
        if head.len() > MAX_KEPT_BYTES {
            whole = false;
            break;
        }
    }
    let kept = (whole && !holds_credential(&head)).then(|| KeptAnswer {
        status: status.as_u16(),
        headers: kept_headers(&parts.headers),
        body: head.clone(),
    });
    state
        .store
        .finish_idempotency_key(holder, key, kept.as_ref(), CALLER_BUDGET_BYTES)
        .await?;
    let body = if whole {
        Body::from(head)
    } else {
        let first = futures_util::stream::once(async move { Ok(Bytes::from(head)) });
        Body::from_stream(first.chain(stream))
    };
    Ok(Response::from_parts(parts, body))
}

/// Whether a JSON answer shows a credential at its top level (or in its items').
fn holds_credential(body: &[u8]) -> bool {
    let shows = |v: &Value| {
        v.as_object().is_some_and(|o| {
            CREDENTIALS
                .iter()
                .any(|k| o.get(*k).is_some_and(Value::is_string))
        })
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.iter().any(shows),
        Ok(v) => shows(&v),
        Err(_) => false,
    }
}

/// The answer's headers, as replayed: all but those of the connection and the moment.
fn kept_headers(headers: &axum::http::HeaderMap) -> String {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| ![CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING].contains(name))
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// The kept answer, byte for byte, marked as replayed.
fn replay(answer: KeptAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let pairs: Vec<(String, String)> = serde_json::from_str(&answer.headers).unwrap_or_default();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::holds_credential;

    #[test]
    fn answers_with_credentials_are_recognised() {
        assert!(holds_credential(br#"{"id": 1, "token": "abc"}"#));
        assert!(holds_credential(br#"{"accept_token": "abc"}"#));
        assert!(holds_credential(br#"[{"key": "abc"}]"#));
        assert!(!holds_credential(br#"{"id": 1, "token": null}"#));
        assert!(!holds_credential(br#"{"name": "token"}"#));
        assert!(!holds_credential(b"not json"));
    }
}
