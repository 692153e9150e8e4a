//! Conditional reads: every `GET` under `/api/` answered 200 with a whole body (a single
//! resource, a version 2.0 page) carries a weak `ETag` made from that body, and a request
//! whose `If-None-Match` names it is answered 304 with no body. A client that polls a team
//! then pays for the answer only when something in it changed.
//!
//! The tag is a 64-bit SipHash of the body: not a secret (it tells nothing the body does
//! not), and cheap enough for every page read. Bodies streamed as they are read (version 1.0
//! whole lists, the team list with its members) carry none: they are not held to be hashed.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::hash::{Hash, Hasher};

/// Bodies larger than this are sent untagged rather than held to be hashed.
const MAX_TAGGED_BYTES: u64 = 4 * 1024 * 1024;

pub async fn middleware(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let wanted = req.headers().get(IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    let whole = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_TAGGED_BYTES);
    if response.status() != StatusCode::OK || !whole {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = match parts.headers.get(ETAG) {
        Some(tag) => tag.clone(),
        None => {
            let tag = tag_of(&bytes);
            parts.headers.insert(ETAG, tag.clone());
            tag
        }
    };
    if wanted.is_some_and(|w| names(&w, &tag)) {
        let mut not_modified = Response::from_parts(parts, Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        not_modified
            .headers_mut()
            .remove(axum::http::header::CONTENT_LENGTH);
        return not_modified;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The weak tag of a body.
fn tag_of(body: &[u8]) -> HeaderValue {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    let tag = format!("W/\"{:016x}\"", hasher.finish());
    HeaderValue::try_from(tag).unwrap_or_else(|_| HeaderValue::from_static("W/\"0\""))
}

/// Whether an `If-None-Match` value names `tag` (or is `*`); weak comparison, as RFC 9110
/// asks for `If-None-Match`.
fn names(wanted: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(wanted) = wanted.to_str() else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = opaque(tag.to_str().unwrap_or_default());
    wanted
        .split(',')
        .any(|w| w.trim() == "*" || opaque(w) == tag)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::{names, tag_of};
    use axum::http::HeaderValue;

    #[test]
    fn tags_follow_the_body_and_match_weakly() {
        let a = tag_of(b"[1,2]");
        assert_eq!(a, tag_of(b"[1,2]"));
        assert_ne!(a, tag_of(b"[1,3]"));
        let strong = a.to_str().unwrap().trim_start_matches("W/").to_owned();
        for wanted in [
            a.to_str().unwrap(),
            strong.as_str(),
            "*",
            "\"x\", W/\"y\", *",
        ] {
            assert!(
                names(&HeaderValue::from_str(wanted).unwrap(), &a),
                "{wanted}"
            );
        }
        assert!(!names(&HeaderValue::from_static("W/\"other\""), &a));
    }
}
