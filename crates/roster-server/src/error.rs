//! `ApiError`: the one way an error leaves a handler. It renders the DRF shapes of the
//! contract (section 1.4); 5xx details are logged once here and never sent.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::StoreError;
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    #[error("{0}")]
    AuthenticationFailed(&'static str),
    #[error("You do not have permission to perform this action.")]
    Forbidden,
    /// A 403 that says which rule refused (the rule needed the data to decide).
    #[error("{0}")]
    Denied(String),
    #[error("Not found.")]
    NotFound,
    #[error("Invalid page.")]
    InvalidPage,
    #[error("Method \"{0}\" not allowed.")]
    MethodNotAllowed(Method),
    #[error("{0}")]
    NotAcceptable(&'static str),
    #[error("Request body is larger than the limit of {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    /// A request the client must fix: a malformed body (`detail`) or field errors.
    #[error("{0}")]
    BadRequest(Value),
    /// Over the key's request rate; the seconds until it may try again.
    #[error("Request was throttled. Expected available in {0} seconds.")]
    Throttled(u64),
    /// The key holder has their fill of heavy requests running (`limits::Heavy`).
    #[error("{}", .0.detail())]
    Busy(crate::limits::TooMany),
    #[error("The database is unavailable. Try again shortly.")]
    Unavailable,
    #[error("The server's storage is full: nothing was changed. Try again once space is freed.")]
    StorageFull,
    #[error("The invitation email could not be sent: nothing was kept. Try again later.")]
    MailFailed,
    /// An `Idempotency-Key` sent again with another request.
    #[error(
        "This Idempotency-Key was used with another request (method, path or body): use a new \
         key for a new request."
    )]
    KeyReused,
    /// A retry of a request that cannot be answered as the first one was.
    #[error("{0}")]
    KeyConflict(&'static str),
    /// `If-Match` named none of the resource's present tag.
    #[error(
        "The resource has changed since the tag in If-Match was read: read it again, then \
         retry."
    )]
    PreconditionFailed,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// `{"field": ["message"]}`; `non_field_errors` when no field is to blame.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert(field.to_owned(), json!([message.into()]));
        ApiError::BadRequest(Value::Object(map))
    }

    pub fn parse(message: impl Into<String>) -> Self {
        ApiError::BadRequest(json!({ "detail": message.into() }))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated | ApiError::AuthenticationFailed(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden | ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::InvalidPage => StatusCode::NOT_FOUND,
            ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::KeyConflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Throttled(_) | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::MailFailed => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::limits::TooMany> for ApiError {
    fn from(e: crate::limits::TooMany) -> Self {
        ApiError::Busy(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            // The one version a change must find is the one `If-Match` named.
            StoreError::Conflict { field: "version" } => ApiError::PreconditionFailed,
            StoreError::Conflict { field } => {
                ApiError::field(field, format!("This {field} is already taken."))
            }
            StoreError::Forbidden(message) => ApiError::Denied(message),
            StoreError::Invalid { field, message } => {
                ApiError::field(field.unwrap_or("non_field_errors"), message)
            }
            StoreError::Rejected(rejections) => {
                let messages: Vec<String> = rejections.into_iter().map(|r| r.message).collect();
                ApiError::BadRequest(json!({ "non_field_errors": messages }))
            }
            StoreError::Unavailable(message) => {
                tracing::warn!(error = %message, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Full(message) => {
                tracing::warn!(error = %message, "storage full");
                ApiError::StorageFull
            }
            StoreError::Other(message) => ApiError::Internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::BadRequest(value) => value.clone(),
            ApiError::Internal(message) => {
                tracing::error!(error = %message, "request failed");
                json!({ "detail": "A server error occurred." })
            }
            other => json!({ "detail": other.to_string() }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        let retry_after = match self {
            ApiError::Throttled(seconds) => Some(seconds),
            ApiError::Busy(_) | ApiError::Unavailable => Some(1),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
