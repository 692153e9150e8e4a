//! Conditional requests: a weak `ETag` on every single resource and every page of a list,
//! `If-None-Match` answered with 304, and `If-Match` on the changes of teams, memberships,
//! groups and campaigns, answered with 412 when the resource moved on since it was read.
//!
//! A tag is one of two kinds. Answers whose bytes are not all at hand when the headers go
//! (a team's detail, streamed; a page of teams; member-list pages, kept by the page cache)
//! are tagged by a version the store grows, in the same transaction, with every change they
//! could show: the team's data version, or a group's or campaign's own (SCIM's
//! `meta.version` of a group too). Every other answer of a GET is tagged by a digest of its
//! body in which the activity stamps of the items shown (`last_active_at`) are left out, as
//! the page cache leaves them out: a tag moves when what the answer shows moves, not every
//! time someone makes a request. The digest is SHA-256, so that it reads the same on every
//! node and no one can make two different answers share a tag.
//!
//! `If-Match` is checked twice: at once against the tag of the resource as read (412 if it
//! names another), then by the store, under the lock it takes for the change, against the
//! version read before the resource was (412 if anything moved in between), so that of two
//! changes made from one read, one wins and the other is a 412.
//!
//! Tags are compared by their opaque part, weak or not, as SCIM clients send back the weak
//! tags they were given (RFC 7644, 3.14).

use crate::error::{ApiError, ApiResult};
use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// An entity tag's opaque part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// The tag of a version.
    pub fn version(version: i64) -> Tag {
        Tag(version.to_string())
    }

    /// The tag of a JSON body (and of the list length it is a page of): a digest that leaves
    /// out the activity stamps of the items shown.
    pub fn of_body(body: &[u8], total: Option<&[u8]>) -> Tag {
        let mut hash = Sha256::new();
        for_each_shown(body, |part| hash.update(part));
        if let Some(total) = total {
            hash.update(b"\0");
            hash.update(total);
        }
        Tag::of_digest(hash)
    }

    /// The tag of `parts`, written in turn (each ends with a separator of its own).
    pub fn of_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Tag {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        Tag::of_digest(hash)
    }

    /// The tag of `value`'s JSON body, as a GET of it would carry.
    pub fn of_json<T: serde::Serialize>(value: &T) -> ApiResult<Tag> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Tag::of_body(&body, None))
    }

    fn of_digest(hash: Sha256) -> Tag {
        // 128 bits are plenty to tell a resource's answers apart.
        let digest = hash.finalize();
        let mut text = String::with_capacity(32);
        for byte in &digest[..16] {
            let _ = write!(text, "{byte:02x}");
        }
        Tag(text)
    }

    /// The tag as a header (and SCIM's `meta.version`) writes it: weak.
    pub fn weak(&self) -> String {
        format!("W/\"{}\"", self.0)
    }

    fn header(&self) -> HeaderValue {
        // Digits and hex letters only: always a valid header value.
        HeaderValue::from_str(&self.weak()).unwrap_or(HeaderValue::from_static("*"))
    }

    fn of_header(value: &HeaderValue) -> Option<Tag> {
        let text = value.to_str().ok()?;
        let opaque = text.strip_prefix("W/").unwrap_or(text);
        let inner = opaque.strip_prefix('"')?.strip_suffix('"')?;
        Some(Tag(inner.to_owned()))
    }
}

/// Feeds `body` to `sink` without the values of the activity stamps of the items it shows:
/// `last_active_at` in the top-level object, or in the objects of a top-level array. Free-form
/// data (a campaign member's `data`) is deeper, so a key of that name there is still read.
/// The body is JSON as serde writes it: a quote outside a string opens one, and inside a
/// string every quote is escaped, so `"last_active_at":` at that depth is always the key.
fn for_each_shown(body: &[u8], mut sink: impl FnMut(&[u8])) {
    const KEY: &[u8] = b"\"last_active_at\":";
    let items = if body.first() == Some(&b'[') { 2 } else { 1 };
    let (mut depth, mut i, mut from) = (0usize, 0usize, 0usize);
    while i < body.len() {
        match body[i] {
            b'"' => {
                let end = string_end(body, i);
                if depth == items && body[i..].starts_with(KEY) {
                    let value = i + KEY.len();
                    sink(&body[from..value]);
                    i = match body.get(value) {
                        Some(b'"') => string_end(body, value),
                        _ => {
                            value
                                + body[value..]
                                    .iter()
                                    .take_while(|b| b.is_ascii_alphanumeric())
                                    .count()
                        }
                    };
                    from = i;
                    continue;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    sink(&body[from.min(body.len())..]);
}

/// Where the string that opens at `start` ends (just past its closing quote).
fn string_end(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    body.len()
}

/// The request's `If-Match` and `If-None-Match`.
pub struct Preconditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

enum Tags {
    Any,
    Named(Vec<Tag>),
}

impl Tags {
    fn of(headers: &HeaderMap, name: HeaderName) -> Option<Tags> {
        let mut values = headers.get_all(name).iter().peekable();
        values.peek()?;
        let mut tags = Vec::new();
        for value in values {
            let text = value.to_str().unwrap_or_default();
            for tag in text.split(',').map(str::trim) {
                if tag == "*" {
                    return Some(Tags::Any);
                }
                // A tag that is not quoted names nothing: it matches no answer.
                if let Some(tag) = HeaderValue::from_str(tag)
                    .ok()
                    .as_ref()
                    .and_then(Tag::of_header)
                {
                    tags.push(tag);
                }
            }
        }
        Some(Tags::Named(tags))
    }

    fn names(&self, tag: &Tag) -> bool {
        match self {
            Tags::Any => true,
            Tags::Named(tags) => tags.contains(tag),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions::of(&parts.headers))
    }
}

impl Preconditions {
    pub fn of(headers: &HeaderMap) -> Self {
        Preconditions {
            if_match: Tags::of(headers, IF_MATCH),
            if_none_match: Tags::of(headers, IF_NONE_MATCH),
        }
    }

    /// The one version SCIM's changes expect (SCIM names one resource version per request):
    /// `None` without `If-Match` or for `*`, the first version named, or one no resource has
    /// when it names none of Roster's tags, so that the change is a 412.
    pub fn version_wanted(&self) -> Option<i64> {
        match &self.if_match {
            None | Some(Tags::Any) => None,
            Some(Tags::Named(tags)) => Some(
                tags.iter()
                    .find_map(|t| t.0.parse::<i64>().ok())
                    .unwrap_or(-1),
            ),
        }
    }

    /// Whether `If-Match` names a tag (`*` names none: it asks only that the resource be).
    pub fn has_if_match(&self) -> bool {
        matches!(self.if_match, Some(Tags::Named(_)))
    }

    /// For a change to a resource read at `version`: the version the store must still find
    /// (`None`: no `If-Match`, or `*`), or a 412 at once when `If-Match` names another.
    pub fn expect(&self, version: i64) -> ApiResult<Option<i64>> {
        Ok(self.matches(&Tag::version(version))?.then_some(version))
    }

    /// For a change to a resource whose present tag is `tag`: whether `If-Match` named it
    /// (the store must then find nothing moved), or a 412 when it names another.
    pub fn matches(&self, tag: &Tag) -> ApiResult<bool> {
        match &self.if_match {
            None | Some(Tags::Any) => Ok(false),
            Some(tags) if tags.names(tag) => Ok(true),
            Some(_) => Err(ApiError::PreconditionFailed),
        }
    }

    /// A 304 when `If-None-Match` names `tag`.
    pub fn not_modified(&self, tag: &Tag) -> Option<Response> {
        let fresh = self.if_none_match.as_ref().is_some_and(|t| t.names(tag));
        fresh.then(|| {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(ETAG, tag.header());
            response
        })
    }

    /// The answer to a GET of a resource at `version`: 304 when `If-None-Match` names its
    /// tag, else `answer` with the tag.
    pub fn read(&self, version: i64, answer: ApiResult<Response>) -> ApiResult<Response> {
        match self.not_modified(&Tag::version(version)) {
            Some(response) => Ok(response),
            None => tagged(version, answer),
        }
    }
}

/// `answer` with the tag of the resource's `version`.
pub fn tagged(version: i64, answer: ApiResult<Response>) -> ApiResult<Response> {
    with_tag(&Tag::version(version), answer)
}

/// A 200 JSON answer of `value`, tagged by the digest of its body, serialized once.
pub fn json_tagged<T: serde::Serialize>(value: &T) -> ApiResult<Response> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let tag = Tag::of_body(&body, None);
    with_tag(
        &tag,
        Ok(crate::pagination::json_bytes(StatusCode::OK, body)),
    )
}

/// `answer` with `tag`.
pub fn with_tag(tag: &Tag, answer: ApiResult<Response>) -> ApiResult<Response> {
    let mut response = answer?;
    response.headers_mut().insert(ETAG, tag.header());
    Ok(response)
}

/// Tags every 200 answer of a GET that its handler did not tag, by the digest of its body,
/// and answers 304 when `If-None-Match` names the answer's tag. Streamed bodies (lists served
/// whole under versions 1.0 and 1.1) are left as they are: their bytes are not at hand.
pub async fn middleware(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let pre = Preconditions::of(req.headers());
    let mut response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !response.headers().contains_key(ETAG)
        && json
        && response.body().size_hint().exact().is_some()
    {
        let (mut parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => return ApiError::Internal(e.to_string()).into_response(),
        };
        let total = parts
            .headers
            .get("x-total-count")
            .map(HeaderValue::as_bytes);
        let tag = Tag::of_body(&body, total);
        parts.headers.insert(ETAG, tag.header());
        response = Response::from_parts(parts, Body::from(body));
    }
    let tag = response.headers().get(ETAG).and_then(Tag::of_header);
    match tag.and_then(|tag| pre.not_modified(&tag)) {
        Some(not_modified) => not_modified,
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(values: &[&str]) -> Preconditions {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(IF_MATCH, HeaderValue::from_str(v).expect("a header value"));
        }
        Preconditions::of(&headers)
    }

    #[test]
    fn if_match_names_versions_weak_or_strong_and_star_names_any() {
        assert_eq!(parsed(&[]).expect(3).ok(), Some(None));
        assert_eq!(parsed(&["*"]).expect(3).ok(), Some(None));
        assert_eq!(parsed(&["W/\"3\""]).expect(3).ok(), Some(Some(3)));
        assert_eq!(parsed(&["\"3\""]).expect(3).ok(), Some(Some(3)));
        assert_eq!(parsed(&["W/\"2\", W/\"3\""]).expect(3).ok(), Some(Some(3)));
        assert_eq!(
            parsed(&["W/\"2\"", "W/\"3\""]).expect(3).ok(),
            Some(Some(3))
        );
        for stale in ["W/\"2\"", "3", "W/3", "\"x\"", ""] {
            assert!(parsed(&[stale]).expect(3).is_err(), "{stale}");
        }
    }

    fn shown(body: &str) -> String {
        let mut out = Vec::new();
        for_each_shown(body.as_bytes(), |part| out.extend_from_slice(part));
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn digests_leave_out_the_activity_of_the_items_shown_and_nothing_else() {
        assert_eq!(
            shown(r#"{"id":1,"last_active_at":"2026-01-01T00:00:00Z","role":2}"#),
            r#"{"id":1,"last_active_at":,"role":2}"#
        );
        assert_eq!(
            shown(r#"[{"a":"x\"y","last_active_at":null},{"last_active_at":"t"}]"#),
            r#"[{"a":"x\"y","last_active_at":},{"last_active_at":}]"#
        );
        // Deeper down, and as a value or inside a string, it is data.
        for kept in [
            r#"[{"data":{"last_active_at":"mine"}}]"#,
            r#"{"user":{"last_active_at":1}}"#,
            r#"{"name":"\"last_active_at\":","x":"last_active_at"}"#,
        ] {
            assert_eq!(shown(kept), kept);
        }
        let a = Tag::of_body(
            br#"[{"id":1,"last_active_at":"2026-01-01T00:00:00Z"}]"#,
            None,
        );
        let b = Tag::of_body(br#"[{"id":1,"last_active_at":null}]"#, None);
        let c = Tag::of_body(br#"[{"id":2,"last_active_at":null}]"#, None);
        assert_eq!(a, b);
        assert_ne!(b, c);
        assert_ne!(
            b,
            Tag::of_body(br#"[{"id":1,"last_active_at":null}]"#, Some(b"2"))
        );
    }
}
