//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa), and the
//! Swagger UI that renders it from assets compiled into the binary.
//!
//! The DRF error responses every operation can give are added here once, by a modifier,
//! rather than repeated on each handler; so are the pagination headers of every list, the
//! form media types of the writes that take forms, and an example of every request and
//! response body, made from the schemas (their own examples where a field has one), so that
//! an example can never drift from what it illustrates.

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roster team-management API",
        description = "Teams, roles, groups and campaign rosters, compatible with the PixieBrix \
            Team Management API. Send `Authorization: Token <key>`; pick the list format with \
            `Accept: application/json; version=2.0` (pages of `page_size`, with RFC 8288 `Link` \
            and `X-Total-Count` headers) or `application/json; version=1.0` (whole lists; the \
            default). Any other version is answered 406.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    security(("token" = [])),
    components(schemas(ErrorDetail, ValidationErrors)),
    tags(
        (name = "organizations", description = "Teams"),
        (name = "memberships", description = "Who is on a team, with which role"),
        (name = "groups", description = "Permission groups and who is in them"),
        (name = "email domains", description = "Domains verified for a team"),
        (name = "audit", description = "The change history: who changed what, and how"),
        (name = "campaigns", description = "Campaign rosters with per-person reporting data"),
        (name = "accounts", description = "Service accounts and deployment keys"),
        (name = "invitations", description = "Inviting people and joining"),
        (name = "webhooks", description = "Changes pushed to other systems, signed, with a delivery log"),
        (name = "me", description = "The caller"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// `{"detail": "..."}`: the body of 401, 403, 404, 405, 406, 413, 415, 429 and 503.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub detail: String,
}

/// A 400: messages keyed by field (`non_field_errors` for the rest); for a list payload, one
/// such object per item in payload order; `{"detail": ...}` for a body that is not valid JSON.
pub struct ValidationErrors;

impl utoipa::PartialSchema for ValidationErrors {
    fn schema() -> RefOr<Schema> {
        let by_field = || {
            let messages =
                ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String));
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(messages))
        };
        let detail = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("detail", ObjectBuilder::new().schema_type(Type::String))
            .required("detail");
        AnyOfBuilder::new()
            .item(detail)
            .item(by_field())
            .item(ArrayBuilder::new().items(by_field()))
            .examples([json!({"name": ["This field is required."]})])
            .into()
    }
}

impl ToSchema for ValidationErrors {}

/// Pagination of list endpoints; honoured with `Accept: application/json; version=2.0`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents what `PageRequest` parses
pub struct PageParams {
    /// 1-based page number, or `last`.
    page: Option<String>,
    /// Items per page: default 100, larger values are clamped to 1000.
    #[param(schema_with = page_size)]
    page_size: Option<i64>,
}

/// Any positive integer: there is no maximum, since larger sizes are clamped, not refused.
fn page_size() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
}

/// Completes the document once every route is in it: the token security scheme and the error
/// responses that every operation can give.
fn add_conventions(openapi: &mut utoipa::openapi::OpenApi) {
    {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <key>` or `Bearer <key>`",
            ))),
        );
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_idempotency(op);
            }
            if let Some(op) = &mut item.get {
                add_conditional_read(op);
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_conditional_write(op);
                add_error_responses(op);
            }
        }
    }
}

/// The document as served: [`add_conventions`], then the pagination headers of every list
/// and an example for every body.
pub fn finish(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    add_conventions(&mut openapi);
    let Ok(mut doc) = serde_json::to_value(&openapi) else {
        return openapi;
    };
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let operations = doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for op in operations {
        let takes_forms = op["operationId"]
            .as_str()
            .is_some_and(|id| FORM_OPERATIONS.contains(&id));
        if takes_forms {
            add_form_bodies(op);
        }
        let lists = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "page"));
        if let Some(contents) = op
            .pointer_mut("/requestBody/content")
            .and_then(Value::as_object_mut)
        {
            contents
                .values_mut()
                .for_each(|c| with_example(c, &schemas));
        }
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if let Some(contents) = response.get_mut("content").and_then(Value::as_object_mut) {
                contents
                    .values_mut()
                    .for_each(|c| with_example(c, &schemas));
            }
            if lists && status.starts_with('2') {
                response["headers"] = page_headers();
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(openapi)
}

/// The writes whose fields are flat, which take forms as well as JSON (`input::FlatBody`).
const FORM_OPERATIONS: &[&str] = &[
    "organizations_create",
    "organizations_update",
    "organizations_partial_update",
    "groups_create",
    "groups_update",
    "groups_partial_update",
    "campaigns_create",
    "campaigns_update",
    "campaigns_partial_update",
    "memberships_update",
    "memberships_partial_update",
    "service_accounts_create",
    "deployment_keys_create",
    "invitations_create",
    "email_domains_create",
    "webhooks_create",
    "webhooks_update",
    "webhooks_partial_update",
];

/// Documents the form media types of a flat write: the JSON body's fields, sent as form
/// fields (values as text; a campaign's `users` only in JSON).
fn add_form_bodies(op: &mut Value) {
    let Some(contents) = op
        .pointer_mut("/requestBody/content")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let Some(json) = contents.get("application/json").cloned() else {
        return;
    };
    for form in ["application/x-www-form-urlencoded", "multipart/form-data"] {
        contents.insert(form.to_owned(), json.clone());
    }
}

/// The headers of a page (`version=2.0`): where the neighbouring pages are, and how many
/// items the whole list has.
fn page_headers() -> Value {
    json!({
        "Link": {
            "description": "RFC 8288 links to the `first`, `prev`, `next` and `last` pages \
                (`version=2.0` only)",
            "schema": {"type": "string"},
            "example": "<https://roster.example.com/api/organizations/?page=2>; rel=\"next\""
        },
        "X-Total-Count": {
            "description": "How many items the whole list has (`version=2.0` only)",
            "schema": {"type": "integer", "minimum": 0},
            "example": 250
        }
    })
}

/// Gives a media type an example made from its schema, unless it has one.
fn with_example(content: &mut Value, schemas: &Value) {
    if content.get("example").is_some() || content.get("examples").is_some() {
        return;
    }
    let example = content.get("schema").map(|s| example_of(s, schemas, 0));
    if let (Some(example), Some(content)) = (example, content.as_object_mut()) {
        content.insert("example".into(), example);
    }
}

/// A value that the schema accepts: its own example where it gives one, else one made of
/// its parts (the first of a choice, one item of an array).
fn example_of(schema: &Value, schemas: &Value, depth: usize) -> Value {
    if depth > 12 {
        return Value::Null;
    }
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.rsplit('/').next().unwrap_or_default();
        return example_of(&schemas[name], schemas, depth + 1);
    }
    if let Some(first) = schema["examples"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for choice in ["oneOf", "anyOf"] {
        if let Some(options) = schema[choice].as_array() {
            let option = options
                .iter()
                .find(|o| o["type"] != "null")
                .or(options.first());
            return option.map_or(Value::Null, |o| example_of(o, schemas, depth + 1));
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = serde_json::Map::new();
        for part in parts {
            if let Value::Object(fields) = example_of(part, schemas, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned(),
        kind => Some(kind.clone()),
    };
    match kind.as_ref().and_then(Value::as_str) {
        Some("object") | None if schema.get("properties").is_some() => {
            let fields = schema["properties"].as_object().into_iter().flatten();
            Value::Object(
                fields
                    .map(|(k, v)| (k.clone(), field_example(k, v, schemas, depth + 1)))
                    .collect(),
            )
        }
        Some("object") => json!({}),
        Some("array") => json!([example_of(&schema["items"], schemas, depth + 1)]),
        Some("string") => match schema["format"].as_str() {
            Some("uuid") => json!("0192f5e4-7b3c-7def-8a11-2c4e5f60a7b8"),
            Some("date-time") => json!("2026-12-04T09:30:00Z"),
            Some("email") => json!("ann@example.com"),
            _ => json!("Example"),
        },
        Some("integer") => schema["minimum"]
            .as_i64()
            .map_or(json!(1), |m| json!(m.max(1))),
        Some("number") => json!(1.5),
        Some("boolean") => json!(false),
        _ => Value::Null,
    }
}

/// A field's example: a plain text field named for an address or a domain reads as one.
fn field_example(name: &str, schema: &Value, schemas: &Value, depth: usize) -> Value {
    let plain_text = schema["type"] == "string" && schema.get("format").is_none();
    match name {
        "email" if plain_text => json!("ann@example.com"),
        "domain" if plain_text => json!("example.com"),
        _ => example_of(schema, schemas, depth),
    }
}

/// Reads whose lists are served whole under versions 1.0 and 1.1 (streamed, so untagged
/// there; their 2.0 pages are tagged like every other answer).
const WHOLE_LISTS: &str = " Lists served whole (versions 1.0 and 1.1) carry no tag.";

/// Changes checked by `If-Match` against the tag of their resource (for member lists: of
/// their group or campaign).
const CONDITIONAL_WRITES: &[&str] = &[
    "organizations_update",
    "organizations_partial_update",
    "organizations_destroy",
    "memberships_update",
    "memberships_partial_update",
    "memberships_destroy",
    "groups_update",
    "groups_partial_update",
    "groups_destroy",
    "group_memberships_add",
    "group_memberships_replace",
    "campaigns_update",
    "campaigns_partial_update",
    "campaigns_destroy",
    "campaign_members_add",
    "campaign_members_replace",
];

/// Every read carries an `ETag` and answers `If-None-Match` with a 304 (`preconditions`).
fn add_conditional_read(op: &mut Operation) {
    let about = format!(
        "Tags read before (the `ETag` of this GET): an answer of 304 with no body while the \
         answer would still carry one of them.{}",
        if op
            .operation_id
            .as_deref()
            .is_some_and(|id| id.ends_with("_list"))
        {
            WHOLE_LISTS
        } else {
            ""
        }
    );
    add_precondition(
        op,
        "If-None-Match",
        &about,
        "304",
        "Not modified: If-None-Match names the answer's present tag",
    );
}

/// `If-Match` and its 412 where a change is checked against its resource's tag.
fn add_conditional_write(op: &mut Operation) {
    let id = op.operation_id.clone().unwrap_or_default();
    if !CONDITIONAL_WRITES.contains(&id.as_str()) {
        return;
    }
    let members = id.starts_with("group_memberships") || id.starts_with("campaign_members");
    let whose = if members {
        "the group's (or campaign's) GET"
    } else {
        "the resource's GET"
    };
    add_precondition(
        op,
        "If-Match",
        &format!(
            "The tag of {whose} when it was read (`*`: any): the change is made only while \
             that is still its tag."
        ),
        "412",
        "If-Match names none of the present tags: the resource changed since it was read; \
         nothing was changed",
    );
}

/// A precondition header, and the answer when it does not hold.
fn add_precondition(
    op: &mut Operation,
    header: &str,
    about: &str,
    status: &str,
    description: &str,
) {
    let parameter = utoipa::openapi::path::ParameterBuilder::new()
        .name(header)
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(about))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(parameter.into());
    let mut response = ResponseBuilder::new().description(description);
    if status == "412" {
        response = response.content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorDetail")))
                .build(),
        );
    }
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert(response.build().into());
}

/// The `Idempotency-Key` header of an authenticated write, and its answers (`idempotency`).
fn add_idempotency(op: &mut Operation) {
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.contains(&SecurityRequirement::default()));
    if public {
        return;
    }
    let header = utoipa::openapi::path::ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(utoipa::openapi::path::ParameterIn::Header)
        .required(utoipa::openapi::Required::False)
        .description(Some(
            "Carries the write out once per caller and key: a retry within 24 hours gets the \
             first answer back byte for byte, with `Idempotent-Replayed: true`. 1 to 255 \
             visible ASCII characters.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(header.into());
    for (status, description) in [
        (
            "409",
            "The request with this Idempotency-Key is still running, or was carried out and \
             its answer (holding a credential, or too large) is not kept",
        ),
        (
            "422",
            "This Idempotency-Key was used with another method, path or body",
        ),
    ] {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorDetail")))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert(response.into());
    }
}

fn add_error_responses(op: &mut Operation) {
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.contains(&SecurityRequirement::default()));
    let mut add = |status: &str, description: &str, schema: &str| {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert(response.into());
    };
    add("406", "Invalid version in the Accept header", "ErrorDetail");
    if op.request_body.is_some() {
        add("400", "Invalid input", "ValidationErrors");
        add("413", "Body over the size limit", "ErrorDetail");
        add(
            "415",
            "Body is not JSON (or, for flat writes, a form)",
            "ErrorDetail",
        );
    }
    if !public {
        add("400", "Invalid input", "ValidationErrors");
        add("401", "Missing, unknown or revoked key", "ErrorDetail");
        add(
            "403",
            "The caller's role does not allow this",
            "ErrorDetail",
        );
        add(
            "404",
            "Not found, another team's, or a page past the end",
            "ErrorDetail",
        );
        add(
            "429",
            "Over the key's request rate, or its heavy requests are running (Retry-After)",
            "ErrorDetail",
        );
    }
}
