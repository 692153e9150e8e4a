//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa), and the
//! Swagger UI that renders it from assets compiled into the binary.
//!
//! The DRF error responses every operation can give are added here once, by a modifier,
//! rather than repeated on each handler.

use serde::Serialize;
use serde_json::json;
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
            `Accept: application/json; version=2.0` (pages) or `1.0` (whole lists)."
    ),
    security(("token" = [])),
    components(schemas(ErrorDetail, ValidationErrors)),
    tags(
        (name = "organizations", description = "Teams"),
        (name = "memberships", description = "Who is on a team, with which role"),
        (name = "groups", description = "Permission groups and who is in them"),
        (name = "email domains", description = "Domains verified for a team"),
        (name = "campaigns", description = "Campaign rosters with per-person reporting data"),
        (name = "accounts", description = "Service accounts and deployment keys"),
        (name = "invitations", description = "Inviting people and joining"),
        (name = "me", description = "The caller"),
        (name = "health", description = "Liveness"),
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
pub fn add_conventions(openapi: &mut utoipa::openapi::OpenApi) {
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
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_error_responses(op);
            }
        }
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
        add("415", "Body is not JSON", "ErrorDetail");
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
