//! The discovery endpoints (RFC 7644 section 4): what Roster supports and the schemas of the
//! attributes it really keeps, served without credentials.

use super::query::list_response;
use super::{Failure, MAX_RESULTS, scim_body};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_scim::{ScimError, urn};
use serde_json::{Value, json};

fn base(headers: &HeaderMap, state: &AppState) -> String {
    format!(
        "{}/scim/v2",
        crate::pagination::public_base(headers, &state.config)
    )
}

/// An attribute definition (RFC 7643 section 7).
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    uniqueness: &'static str,
    description: &'static str,
    subs: Vec<Attr>,
    canonical: &'static [&'static str],
    references: &'static [&'static str],
}

fn attr(name: &'static str, kind: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        uniqueness: "none",
        description,
        subs: Vec::new(),
        canonical: &[],
        references: &[],
    }
}

impl Attr {
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, m: &'static str) -> Self {
        self.mutability = m;
        self
    }
    fn unique(mut self, u: &'static str) -> Self {
        self.uniqueness = u;
        self
    }
    fn subs(mut self, subs: Vec<Attr>) -> Self {
        self.subs = subs;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    fn references(mut self, types: &'static [&'static str]) -> Self {
        self.references = types;
        self
    }

    fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": "default",
            "uniqueness": self.uniqueness,
        });
        if !self.subs.is_empty() {
            out["subAttributes"] = self.subs.iter().map(Attr::to_json).collect();
        }
        if !self.canonical.is_empty() {
            out["canonicalValues"] = json!(self.canonical);
        }
        if !self.references.is_empty() {
            out["referenceTypes"] = json!(self.references);
        }
        out
    }
}

fn user_schema() -> (&'static str, &'static str, &'static str, Vec<Attr>) {
    let name = attr("name", "complex", "The person's name, kept as sent.").subs(vec![
        attr(
            "formatted",
            "string",
            "The full name, formatted for display.",
        ),
        attr("familyName", "string", "The family name."),
        attr("givenName", "string", "The given name."),
        attr("middleName", "string", "The middle name."),
        attr("honorificPrefix", "string", "A title such as Ms."),
        attr("honorificSuffix", "string", "A suffix such as III."),
    ]);
    let emails = attr(
        "emails",
        "complex",
        "Email addresses; the primary (or first) work email \
         is the account email when userName is not an address.",
    )
    .multi()
    .subs(vec![
        attr("value", "string", "The address."),
        attr("type", "string", "work, home or other.").canonical(&["work", "home", "other"]),
        attr("primary", "boolean", "Whether this is the primary address."),
    ]);
    (
        urn::USER,
        "User",
        "A person and their membership in the team",
        vec![
            attr(
                "userName",
                "string",
                "Unique in the team, case-insensitively; the email.",
            )
            .required()
            .unique("server"),
            name,
            attr("displayName", "string", "The name shown for the person."),
            emails,
            // Always present in responses (Okta reads it back), so it is required here.
            attr(
                "active",
                "boolean",
                "false suspends the person in this team; true when absent on create.",
            )
            .required(),
        ],
    )
}

fn group_schema() -> (&'static str, &'static str, &'static str, Vec<Attr>) {
    (
        urn::GROUP,
        "Group",
        "A permission group of the team",
        vec![
            attr("displayName", "string", "Unique in the team.")
                .required()
                .unique("server"),
            attr("members", "complex", "The group's people.")
                .multi()
                .subs(vec![
                    attr("value", "string", "The User's id.")
                        .exact()
                        .mutability("immutable"),
                    attr("$ref", "reference", "The User's URI.")
                        .exact()
                        .mutability("immutable")
                        .references(&["User"]),
                    attr("type", "string", "User.")
                        .mutability("immutable")
                        .canonical(&["User"]),
                ]),
        ],
    )
}

fn enterprise_schema() -> (&'static str, &'static str, &'static str, Vec<Attr>) {
    (
        urn::ENTERPRISE_USER,
        "EnterpriseUser",
        "Enterprise User",
        vec![
            attr("employeeNumber", "string", "The employee number."),
            attr("costCenter", "string", "The cost center."),
            attr("organization", "string", "The organization."),
            attr("division", "string", "The division."),
            attr("department", "string", "The department."),
            attr("manager", "complex", "The person's manager.").subs(vec![
                attr("value", "string", "The manager's id."),
                attr("$ref", "reference", "The manager's URI.").references(&["User"]),
                attr("displayName", "string", "The manager's name."),
            ]),
        ],
    )
}

fn roster_schema() -> (&'static str, &'static str, &'static str, Vec<Attr>) {
    (
        urn::ROSTER_USER,
        "RosterUser",
        "The person's role in the Roster team",
        vec![
            attr(
                "role",
                "string",
                "member, admin, developer, restricted or manager (1..5 are accepted too); \
                 the team's default role when absent on create.",
            )
            .canonical(&["member", "admin", "developer", "restricted", "manager"]),
        ],
    )
}

fn all_schemas(base: &str) -> Vec<Value> {
    [
        user_schema(),
        group_schema(),
        enterprise_schema(),
        roster_schema(),
    ]
    .into_iter()
    .map(|(id, name, description, attrs)| {
        json!({
            "schemas": [urn::SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
        })
    })
    .collect()
}

fn all_resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [urn::RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person in the team",
            "schema": urn::USER,
            "schemaExtensions": [
                {"schema": urn::ENTERPRISE_USER, "required": false},
                {"schema": urn::ROSTER_USER, "required": false},
            ],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [urn::RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A permission group of the team",
            "schema": urn::GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

pub async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let base = base(&headers, &state);
    scim_body(
        StatusCode::OK,
        &json!({
            "schemas": [urn::SERVICE_PROVIDER_CONFIG],
            "documentationUri": "https://github.com/roster/roster/blob/main/README.md#scim",
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": false},
            "sort": {"supported": false},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The key of a service account with the admin role in the team.",
                "primary": true,
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{base}/ServiceProviderConfig"),
            },
        }),
    )
}

pub async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let types = all_resource_types(&base(&headers, &state));
    scim_body(StatusCode::OK, &list_response(types.len() as u64, 1, types))
}

pub async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Failure> {
    all_resource_types(&base(&headers, &state))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(&name))
        })
        .map(|t| scim_body(StatusCode::OK, &t))
        .ok_or_else(|| Failure(ScimError::new(404, "There is no such resource type.")))
}

pub async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let schemas = all_schemas(&base(&headers, &state));
    scim_body(
        StatusCode::OK,
        &list_response(schemas.len() as u64, 1, schemas),
    )
}

pub async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    all_schemas(&base(&headers, &state))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| scim_body(StatusCode::OK, &s))
        .ok_or_else(|| Failure(ScimError::new(404, "There is no such schema.")))
}
