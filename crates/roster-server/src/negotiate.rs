//! API versions chosen by the `Accept` header (contract section 1.1): `version=1.0` or `1.1`
//! serve lists whole, `version=2.0` in pages. Checked for every API request by a middleware,
//! so an invalid version is a 406 wherever it is sent; and every JSON answer names the version
//! it was served in (`Content-Type: application/json; version=2.0`), as Django REST
//! Framework's accept-header versioning does.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V1_0,
    V1_1,
    V2_0,
}

impl ApiVersion {
    pub fn paginated(self) -> bool {
        self == ApiVersion::V2_0
    }

    /// The media type of a JSON answer in this version.
    fn media_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            ApiVersion::V1_0 => "application/json; version=1.0",
            ApiVersion::V1_1 => "application/json; version=1.1",
            ApiVersion::V2_0 => "application/json; version=2.0",
        })
    }
}

const SERVED: [&str; 4] = [
    "application/json",
    "application/vnd.pixiebrix.api+json",
    "application/*",
    "*/*",
];

/// The version asked for by the first media range we can serve.
pub fn from_accept(accept: Option<&str>) -> Result<ApiVersion, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(ApiVersion::V1_0);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if !SERVED.contains(&media.as_str()) {
            continue;
        }
        let version = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("version")).then(|| v.trim().trim_matches('"'))
        });
        return match version {
            None | Some("1.0") => Ok(ApiVersion::V1_0),
            Some("1.1") => Ok(ApiVersion::V1_1),
            Some("2.0") => Ok(ApiVersion::V2_0),
            Some(_) => Err(ApiError::NotAcceptable(
                "Invalid version in \"Accept\" header.",
            )),
        };
    }
    Err(ApiError::NotAcceptable(
        "Could not satisfy the request Accept header.",
    ))
}

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    match from_accept(accept) {
        Ok(version) => {
            req.extensions_mut().insert(version);
            let mut response = next.run(req).await;
            let plain_json = response
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes() == b"application/json");
            if plain_json {
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, version.media_type());
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion::V1_0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_version_of_the_first_servable_range() {
        assert_eq!(from_accept(None).ok(), Some(ApiVersion::V1_0));
        assert_eq!(from_accept(Some("*/*")).ok(), Some(ApiVersion::V1_0));
        let v2 = Some(ApiVersion::V2_0);
        assert_eq!(from_accept(Some("application/json; version=2.0")).ok(), v2);
        assert_eq!(
            from_accept(Some("application/vnd.pixiebrix.api+json;version=\"2.0\"")).ok(),
            v2
        );
        assert_eq!(
            from_accept(Some("text/html, application/json; version=1.1")).ok(),
            Some(ApiVersion::V1_1)
        );
        assert!(from_accept(Some("application/json; version=3.0")).is_err());
        assert!(from_accept(Some("text/html")).is_err());
    }
}
