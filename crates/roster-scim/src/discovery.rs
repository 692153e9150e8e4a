//! The discovery documents (RFC 7643 sections 5-7): the schemas of the attributes Roster keeps,
//! its resource types and its service provider configuration, as JSON. Only attributes the
//! server really stores are published: scim2-tester writes and reads back every one.

use crate::urn;
use serde_json::{Value, json};

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
    // Published as required: a person is known by an email, so one without an address in
    // emails needs userName to be one (else 400); clients that fill required attributes
    // (scim2-tester) then send an address.
    let emails = attr(
        "emails",
        "complex",
        "Email addresses; the primary (or first) work email \
         is the account email. Without one, userName must be an address.",
    )
    .multi()
    .required()
    .subs(vec![
        attr("value", "string", "The address.").required(),
        attr("display", "string", "A name for display, kept as sent."),
        attr("type", "string", "work, home or other.").canonical(&["work", "home", "other"]),
        attr("primary", "boolean", "Whether this is the primary address."),
    ]);
    let mut attributes = vec![
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
    ];
    attributes.extend(kept_as_sent());
    (
        urn::USER,
        "User",
        "A person and their membership in the team",
        attributes,
    )
}

/// The rest of the core User schema (RFC 7643 section 4.1): stored as the identity provider
/// sends it and returned unchanged, so that it sees the user it wrote.
fn kept_as_sent() -> Vec<Attr> {
    let singular = [
        ("nickName", "string", "A casual name, as sent."),
        ("title", "string", "The person's title, as sent."),
        (
            "userType",
            "string",
            "The person's kind, as the identity provider names it.",
        ),
        (
            "preferredLanguage",
            "string",
            "A language tag such as en-US.",
        ),
        ("locale", "string", "A locale such as en-US."),
        (
            "timezone",
            "string",
            "An IANA time zone such as Europe/Paris.",
        ),
    ];
    let mut out: Vec<Attr> = singular
        .into_iter()
        .map(|(name, kind, description)| attr(name, kind, description))
        .collect();
    out.push(attr("profileUrl", "reference", "A page about the person.").references(&["external"]));
    let plural = |name, description, value: Attr, types: &'static [&'static str]| {
        attr(name, "complex", description).multi().subs(vec![
            value,
            attr("display", "string", "A label for display."),
            attr("type", "string", "The item's kind.").canonical(types),
            attr("primary", "boolean", "Whether this is the primary item."),
        ])
    };
    let text = |description| attr("value", "string", description);
    out.push(plural(
        "phoneNumbers",
        "Phone numbers, as sent.",
        text("The number."),
        &["work", "home", "mobile", "fax", "pager", "other"],
    ));
    out.push(plural(
        "ims",
        "Instant messaging addresses, as sent.",
        text("The address."),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    ));
    out.push(plural(
        "photos",
        "Pictures of the person, as sent.",
        attr("value", "reference", "The picture's URL.").references(&["external"]),
        &["photo", "thumbnail"],
    ));
    out.push(
        attr("addresses", "complex", "Postal addresses, as sent.")
            .multi()
            .subs(vec![
                attr("formatted", "string", "The whole address, for display."),
                attr("streetAddress", "string", "The street and number."),
                attr("locality", "string", "The city."),
                attr("region", "string", "The state or region."),
                attr("postalCode", "string", "The postal code."),
                attr("country", "string", "The ISO 3166-1 alpha-2 country code."),
                attr("type", "string", "The address's kind.").canonical(&["work", "home", "other"]),
                attr("primary", "boolean", "Whether this is the primary address."),
            ]),
    );
    out.push(plural(
        "entitlements",
        "Entitlements, as sent.",
        text("The entitlement."),
        &[],
    ));
    out.push(plural(
        "roles",
        "Roles in the identity provider, as sent (the team role is the Roster extension's).",
        text("The role."),
        &[],
    ));
    out.push(plural(
        "x509Certificates",
        "Certificates, as sent.",
        attr("value", "binary", "The DER certificate, base64-encoded."),
        &[],
    ));
    out
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

/// Every schema, as `/Schemas` lists them; `base` is the absolute `/scim/v2` URL.
pub fn schemas(base: &str) -> Vec<Value> {
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

/// The User and Group resource types.
pub fn resource_types(base: &str) -> Vec<Value> {
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

/// The service provider configuration; lists answer at most `max_results` resources.
pub fn service_provider_config(base: &str, max_results: u64) -> Value {
    json!({
        "schemas": [urn::SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://github.com/roster/roster/blob/main/README.md#scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
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
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;

    /// Every attribute definition carries the characteristics RFC 7643 section 7 lists.
    #[test]
    fn attributes_are_fully_described() {
        fn check(attr: &Value) {
            for key in [
                "name",
                "type",
                "multiValued",
                "required",
                "caseExact",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(attr.get(key).is_some(), "{key} missing in {attr}");
            }
            if attr["type"] == "complex" {
                attr["subAttributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .for_each(check);
            }
        }
        let all = schemas("http://x/scim/v2");
        assert_eq!(all.len(), 4);
        for schema in &all {
            assert_eq!(
                schema["meta"]["location"],
                format!(
                    "http://x/scim/v2/Schemas/{}",
                    schema["id"].as_str().unwrap()
                )
            );
            schema["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .for_each(check);
        }
        let types = resource_types("http://x/scim/v2");
        let ids: Vec<&Value> = all.iter().map(|s| &s["id"]).collect();
        for t in &types {
            assert!(ids.contains(&&t["schema"]));
            for ext in t["schemaExtensions"].as_array().into_iter().flatten() {
                assert!(ids.contains(&&ext["schema"]));
            }
        }
        assert_eq!(
            service_provider_config("http://x", 10)["filter"]["maxResults"],
            10
        );
    }
}
