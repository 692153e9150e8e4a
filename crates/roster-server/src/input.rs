//! Reading requests: the JSON or form body (content type, size limit, parse errors), query parameters
//! (each at most once), path ids (a malformed id is a 404), and `Fields`, which validates a
//! JSON object field by field and collects DRF-style errors.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use bytes::BytesMut;
use futures_util::StreamExt;
use roster_core::Role;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// A JSON request body as sent: its content type checked, its size within the limit.
pub struct RawJson(pub bytes::Bytes);

impl FromRequest<AppState> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        read_json(req, state.config.max_body_bytes)
            .await
            .map(RawJson)
    }
}

/// The most a request without credentials may send, and how long it may take: it is read
/// before anyone is known.
pub const ANONYMOUS_BODY_BYTES: usize = 4 * 1024;
pub const ANONYMOUS_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// A small JSON body, parsed, for the endpoints that take no credentials (accepting an
/// invitation): whoever sends it is unknown, so it may not make the server hold megabytes.
pub struct AnonymousJson(pub Value);

impl FromRequest<AppState> for AnonymousJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &AppState) -> ApiResult<Self> {
        // All of it in a few seconds: trickled a byte at a time, it would hold a connection.
        let bytes = tokio::time::timeout(ANONYMOUS_BODY_TIME, read_json(req, ANONYMOUS_BODY_BYTES))
            .await
            .map_err(|_| ApiError::parse("The body took too long to arrive."))??;
        parse_json(&bytes).map(AnonymousJson)
    }
}

/// Reads a JSON body of at most `limit` bytes.
async fn read_json(req: Request, limit: usize) -> ApiResult<bytes::Bytes> {
    let (parts, body) = req.into_parts();
    check_content_type(&parts)?;
    read_limited(body, declared_length(&parts), limit).await
}

fn declared_length(parts: &Parts) -> Option<u64> {
    parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a body of at most `limit` bytes, refusing at once one whose Content-Length says more.
pub async fn read_body(body: Body, parts: &Parts, limit: usize) -> ApiResult<bytes::Bytes> {
    read_limited(body, declared_length(parts), limit).await
}

/// Reads a body of at most `limit` bytes (`declared` by its Content-Length, if any).
async fn read_limited(body: Body, declared: Option<u64>, limit: usize) -> ApiResult<bytes::Bytes> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    // One buffer of the declared size, filled as the body arrives: collecting the chunks
    // and then joining them would hold a large payload twice.
    let room = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut bytes = BytesMut::with_capacity(room);
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::parse(format!("Could not read the body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// The body of a write whose fields are flat: JSON as sent, or a form
/// (`application/x-www-form-urlencoded` or `multipart/form-data`, as Django REST Framework's
/// default parsers take them) read into an object of strings, which `Fields` validates as it
/// validates the same JSON strings.
pub enum WriteBody {
    Json(bytes::Bytes),
    Form(Value),
}

impl FromRequest<AppState> for WriteBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        let limit = state.config.max_body_bytes;
        match form_kind(req.headers()) {
            None => read_json(req, limit).await.map(WriteBody::Json),
            Some(Form::UrlEncoded) => {
                let (parts, body) = req.into_parts();
                let bytes = read_limited(body, declared_length(&parts), limit).await?;
                // As Django's QueryDict reads a field sent twice: the last value.
                let fields = form_urlencoded::parse(&bytes)
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect();
                Ok(WriteBody::Form(Value::Object(fields)))
            }
            Some(Form::Multipart) => {
                let (parts, body) = req.into_parts();
                let bytes = read_limited(body, declared_length(&parts), limit).await?;
                let req = Request::from_parts(parts, Body::from(bytes));
                multipart_fields(req, state).await.map(WriteBody::Form)
            }
        }
    }
}

/// A flat write's body, parsed: a JSON value, or a form's object of strings.
pub struct FlatBody(pub Value);

impl FromRequest<AppState> for FlatBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> ApiResult<Self> {
        match WriteBody::from_request(req, state).await? {
            WriteBody::Json(bytes) => parse_json(&bytes).map(FlatBody),
            WriteBody::Form(fields) => Ok(FlatBody(fields)),
        }
    }
}

enum Form {
    UrlEncoded,
    Multipart,
}

fn form_kind(headers: &axum::http::HeaderMap) -> Option<Form> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(Form::UrlEncoded),
        "multipart/form-data" => Some(Form::Multipart),
        _ => None,
    }
}

/// The text fields of a multipart form; a file part is not a field of any flat write and is
/// ignored, as unknown fields are.
async fn multipart_fields(req: Request, state: &AppState) -> ApiResult<Value> {
    let parse = |e: axum::extract::multipart::MultipartError| {
        ApiError::parse(format!("Multipart form parse error - {}", e.body_text()))
    };
    let mut form = axum::extract::Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::parse(format!("Multipart form parse error - {}", e.body_text())))?;
    let mut fields = Map::new();
    while let Some(part) = form.next_field().await.map_err(parse)? {
        let Some(name) = part.name().map(str::to_owned) else {
            continue;
        };
        if part.file_name().is_some() {
            continue;
        }
        let text = part.text().await.map_err(parse)?;
        fields.insert(name, Value::String(text));
    }
    Ok(Value::Object(fields))
}

/// Parses JSON, answering a DRF parse error for anything malformed.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(json_error)
}

fn json_error(e: serde_json::Error) -> ApiError {
    ApiError::parse(format!("JSON parse error - {e}"))
}

/// Hands each element of the JSON array `list` to `each`, parsed as `T`, in order, one at a
/// time: a million-element body never stands as a million parsed (or even split) elements.
pub fn each_element<'a, T: serde::Deserialize<'a>>(
    list: &'a str,
    each: impl FnMut(T),
) -> ApiResult<()> {
    use serde::Deserializer as _;
    struct Elements<T, F>(F, std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>, F: FnMut(T)> serde::de::Visitor<'de> for Elements<T, F> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            while let Some(element) = seq.next_element::<T>()? {
                (self.0)(element);
            }
            Ok(())
        }
    }
    let mut parser = serde_json::Deserializer::from_str(list);
    parser
        .deserialize_seq(Elements(each, std::marker::PhantomData))
        .and_then(|()| parser.end())
        .map_err(json_error)
}

fn check_content_type(parts: &Parts) -> ApiResult<()> {
    let Some(value) = parts.headers.get(CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(String::new()));
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            text.chars().filter(|c| !c.is_control()).take(100).collect(),
        ))
    }
}

/// The query string as ordered pairs; a parameter this endpoint reads may appear only once.
#[derive(Clone, Debug, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

impl QueryParams {
    /// The value of `name`; empty values count as absent, as in django-filter.
    pub fn get(&self, name: &str) -> ApiResult<Option<&str>> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(ApiError::field(name, "Provide this parameter only once."));
        }
        // As in bodies: no database stores a NUL in text (PostgreSQL refuses it outright).
        if first.is_some_and(|(_, v)| v.contains('\0')) {
            return Err(ApiError::field(name, "Null characters are not allowed."));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    }
}

impl QueryParams {
    /// A boolean parameter: `true`, `True` or `1`; `false`, `False` or `0`; absent is false.
    pub fn flag(&self, name: &str) -> ApiResult<bool> {
        match self.get(name)? {
            None | Some("false" | "False" | "0") => Ok(false),
            Some("true" | "True" | "1") => Ok(true),
            Some(other) => Err(ApiError::field(
                name,
                format!("Must be true or false, not {other:?}."),
            )),
        }
    }
}

pub fn parse_uuid(s: &str) -> ApiResult<Uuid> {
    Uuid::try_parse(s).map_err(|_| ApiError::NotFound)
}

pub fn parse_int_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ApiError::NotFound)
}

/// Validates the fields of a JSON object, collecting every error before failing.
pub struct Fields {
    map: Map<String, Value>,
    errors: Map<String, Value>,
    /// PATCH: absent fields are left alone rather than required.
    partial: bool,
}

impl Fields {
    pub fn new(body: Value, partial: bool) -> ApiResult<Self> {
        match body {
            Value::Object(map) => Ok(Fields {
                map,
                errors: Map::new(),
                partial,
            }),
            other => Err(ApiError::field(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    json_kind(&other)
                ),
            )),
        }
    }

    fn error(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .errors
            .entry(field.to_owned())
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(Value::String(message.into()));
        }
    }

    /// The raw value of a present field, or `None` (with "required" recorded if it must be
    /// there).
    fn take(&mut self, field: &str, required: bool) -> Option<Value> {
        let value = self.map.remove(field);
        if value.is_none() && required && !self.partial {
            self.error(field, "This field is required.");
        }
        value
    }

    /// A string trimmed of surrounding white space, 1..=max characters, no NUL.
    pub fn text(&mut self, field: &str, required: bool, max: usize) -> Option<String> {
        match self.take(field, required)? {
            Value::String(s) => match check_text(&s, max) {
                Ok(()) => Some(s.trim().to_owned()),
                Err(message) => {
                    self.error(field, message);
                    None
                }
            },
            Value::Null => {
                self.error(field, "This field may not be null.");
                None
            }
            _ => {
                self.error(field, "Not a valid string.");
                None
            }
        }
    }

    /// A nullable string: `Some(None)` when the client sent `null` or an empty string.
    pub fn nullable_text(&mut self, field: &str, max: usize) -> Option<Option<String>> {
        match self.take(field, false)? {
            Value::Null => Some(None),
            Value::String(s) if s.trim().is_empty() => Some(None),
            value => {
                self.map.insert(field.to_owned(), value);
                self.text(field, false, max).map(Some)
            }
        }
    }

    /// A role number (1..5), as a JSON integer or a numeric string like DRF's ChoiceField.
    pub fn role(&mut self, field: &str, required: bool) -> Option<Role> {
        let value = self.take(field, required)?;
        let number = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            Value::Null => {
                self.error(field, "This field may not be null.");
                return None;
            }
            _ => None,
        };
        let role = number.and_then(Role::from_i64);
        if role.is_none() {
            let shown: String = match &value {
                Value::String(s) => s.chars().take(100).collect(),
                other => other.to_string().chars().take(100).collect(),
            };
            self.error(field, format!("\"{shown}\" is not a valid choice."));
        }
        role
    }

    /// A boolean: JSON `true`/`false`, or in a form `true`/`false`/`1`/`0` as Django REST
    /// Framework's BooleanField reads them.
    pub fn boolean(&mut self, field: &str, required: bool) -> Option<bool> {
        let value = self.take(field, required)?;
        let parsed = match &value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.error(field, "Must be a valid boolean.");
        }
        parsed
    }

    /// A list of strings: a JSON array, or in a form one string of comma-separated items.
    pub fn strings(&mut self, field: &str, required: bool) -> Option<Vec<String>> {
        let value = self.take(field, required)?;
        let list = match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Some(s.trim().to_owned()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>(),
            Value::String(s) => Some(
                s.split(',')
                    .map(|item| item.trim().to_owned())
                    .filter(|item| !item.is_empty())
                    .collect(),
            ),
            _ => None,
        };
        if list.is_none() {
            self.error(field, "Expected a list of strings.");
        }
        list
    }

    /// Records an error found by the caller's own check.
    pub fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.error(field, message);
    }

    /// Fails with every error found; unknown fields are ignored, as the contract says.
    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(Value::Object(self.errors)))
        }
    }
}

pub fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.contains('\0') {
        return Err("Null characters are not allowed.".to_owned());
    }
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err("This field may not be blank.".to_owned());
    }
    if trimmed.chars().count() > max {
        return Err(format!(
            "Ensure this field has no more than {max} characters."
        ));
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
