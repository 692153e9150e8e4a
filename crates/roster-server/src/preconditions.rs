//! Conditional requests on groups and campaigns: a weak `ETag` made of the resource's version
//! (which grows with every change to it or its members, and is SCIM's `meta.version` of a
//! group too), `If-None-Match` on their GET (304), and `If-Match` on their changes (renames,
//! deletes, member-list changes), checked by the store against the version it finds under the
//! row's lock, so that of two changes made from one read, one wins and the other is a 412.
//!
//! Tags are compared by their opaque part, weak or not, as SCIM clients send back the weak
//! tags they were given (RFC 7644, 3.14).

use crate::error::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A resource's tag.
pub fn etag(version: i64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("W/\"{version}\"")).unwrap_or(HeaderValue::from_static("*"))
}

/// The request's `If-Match` and `If-None-Match`.
pub struct Preconditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

enum Tags {
    Any,
    /// The versions named (tags that name none of Roster's versions are left out: they match
    /// nothing).
    Versions(Vec<i64>),
}

impl Tags {
    fn of(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<Tags> {
        let mut values = headers.get_all(name).iter().peekable();
        values.peek()?;
        let mut versions = Vec::new();
        for value in values {
            let text = value.to_str().unwrap_or_default();
            for tag in text.split(',').map(str::trim) {
                if tag == "*" {
                    return Some(Tags::Any);
                }
                let opaque = tag.strip_prefix("W/").unwrap_or(tag);
                let number = opaque.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
                if let Some(v) = number.and_then(|n| n.parse::<i64>().ok()) {
                    versions.push(v);
                }
            }
        }
        Some(Tags::Versions(versions))
    }

    fn names(&self, version: i64) -> bool {
        match self {
            Tags::Any => true,
            Tags::Versions(versions) => versions.contains(&version),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions {
            if_match: Tags::of(&parts.headers, IF_MATCH),
            if_none_match: Tags::of(&parts.headers, IF_NONE_MATCH),
        })
    }
}

impl Preconditions {
    /// For a change to a resource read at `version`: the version the store must still find
    /// (`None`: no `If-Match`, or `*`), or a 412 at once when `If-Match` names another.
    pub fn expect(&self, version: i64) -> ApiResult<Option<i64>> {
        match &self.if_match {
            None | Some(Tags::Any) => Ok(None),
            Some(tags) if tags.names(version) => Ok(Some(version)),
            Some(_) => Err(ApiError::PreconditionFailed),
        }
    }

    /// The answer to a GET of a resource at `version`: 304 when `If-None-Match` names its
    /// tag, else `answer` with the tag.
    pub fn read(&self, version: i64, answer: ApiResult<Response>) -> ApiResult<Response> {
        if self
            .if_none_match
            .as_ref()
            .is_some_and(|t| t.names(version))
        {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(ETAG, etag(version));
            return Ok(response);
        }
        tagged(version, answer)
    }
}

/// `answer` with the tag of the resource's `version`.
pub fn tagged(version: i64, answer: ApiResult<Response>) -> ApiResult<Response> {
    let mut response = answer?;
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(values: &[&str]) -> Preconditions {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(IF_MATCH, HeaderValue::from_str(v).expect("a header value"));
        }
        Preconditions {
            if_match: Tags::of(&headers, IF_MATCH),
            if_none_match: None,
        }
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
}
