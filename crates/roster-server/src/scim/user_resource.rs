//! The SCIM User resource: how a provisioned member is shown (the whole core schema,
//! enterprise and Roster extensions) and how a User body is read into a store write, with the leniency
//! identity providers need (unknown attributes and nulls ignored, string booleans).

use super::{Failure, ScimResult};
use roster_core::Role;
use roster_core::email;
use roster_core::provisioning::{ProvisionedUser, UserKey, UserWrite};
use roster_scim::filter::field;
use roster_scim::{AttrPath, ScimError, ScimType, urn};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The sub-attributes of `name` that Roster keeps.
const NAME_PARTS: &[&str] = &[
    "formatted",
    "familyName",
    "givenName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
];
/// The enterprise extension's string attributes that Roster keeps (and `manager`).
const ENTERPRISE: &[&str] = &[
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
];
/// The core schema's singular string attributes that Roster keeps as sent.
const SINGULAR: &[&str] = &[
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "profileUrl",
];
/// The sub-attributes that most multi-valued attributes have (RFC 7643 section 2.4).
const PLURAL_SUBS: &[&str] = &["value", "display", "type", "primary"];
/// The core schema's multi-valued attributes that Roster keeps as sent, with the
/// sub-attributes kept of each item (`primary` a boolean, the rest strings); `emails` is
/// read first, as it also names the account.
const PLURAL: &[(&str, &[&str])] = &[
    ("phoneNumbers", PLURAL_SUBS),
    ("ims", PLURAL_SUBS),
    ("photos", PLURAL_SUBS),
    (
        "addresses",
        &[
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ],
    ),
    ("entitlements", PLURAL_SUBS),
    ("roles", PLURAL_SUBS),
    ("x509Certificates", PLURAL_SUBS),
];
/// Text attributes longer than this are refused.
const MAX_TEXT: usize = 1024;
/// A certificate (base64 DER) may be longer than other text.
const MAX_CERTIFICATE: usize = 16 * 1024;
/// Items of one multi-valued attribute beyond this are refused (PATCH stops at the same bound).
const MAX_ITEMS: usize = roster_scim::patch::MAX_VALUES;

fn invalid(detail: impl Into<String>) -> Failure {
    Failure(ScimError::bad_request(ScimType::InvalidValue, detail))
}

/// The User resource.
pub fn render(user: &ProvisionedUser, base: &str) -> Value {
    let stored: Map<String, Value> = user
        .attributes
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let mut out = Map::new();
    let mut schemas = vec![json!(urn::USER)];
    out.insert("id".into(), json!(user.id));
    if let Some(x) = &user.external_id {
        out.insert("externalId".into(), json!(x));
    }
    out.insert("userName".into(), json!(user.user_name));
    if user.attributes.is_some() {
        let plural = PLURAL.iter().map(|(name, _)| name);
        let kept = ["name", "displayName", "emails"]
            .iter()
            .chain(SINGULAR)
            .chain(plural);
        for key in kept {
            if let Some(v) = stored.get(*key) {
                out.insert((*key).into(), v.clone());
            }
        }
    } else {
        // Someone added through the team API: their name and email.
        if !user.name.is_empty() {
            out.insert("displayName".into(), json!(user.name));
        }
        if email::validate(&user.email).is_ok() {
            out.insert(
                "emails".into(),
                json!([{"value": user.email, "type": "work", "primary": true}]),
            );
        }
    }
    out.insert("active".into(), json!(user.active));
    if let Some(ext) = stored.get(urn::ENTERPRISE_USER) {
        schemas.push(json!(urn::ENTERPRISE_USER));
        out.insert(urn::ENTERPRISE_USER.into(), ext.clone());
    }
    // The role shows for people the team API added, and for those whose identity provider
    // sets it; for others it is the team's business.
    if user.attributes.is_none() || stored.contains_key(urn::ROSTER_USER) {
        schemas.push(json!(urn::ROSTER_USER));
        out.insert(urn::ROSTER_USER.into(), json!({"role": user.role.name()}));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.created,
            "lastModified": user.modified,
            "location": format!("{base}/Users/{}", user.id),
            "version": super::etag(user.version),
        }),
    );
    Value::Object(out)
}

/// A text attribute: absent or null is `None`; anything but a short string is refused.
fn text(value: Option<&Value>, name: &str) -> ScimResult<Option<String>> {
    bounded_text(value, name, MAX_TEXT, false)
}

/// A text attribute of at most `max` bytes; `lines` lets it hold line breaks and tabs (a
/// formatted address is written on several lines).
fn bounded_text(
    value: Option<&Value>,
    name: &str,
    max: usize,
    lines: bool,
) -> ScimResult<Option<String>> {
    let allowed = |c: char| !c.is_control() || (lines && matches!(c, '\n' | '\r' | '\t'));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() > max => {
            Err(invalid(format!("{name} is longer than {max} bytes.")))
        }
        Some(Value::String(s)) if !s.chars().all(allowed) => {
            Err(invalid(format!("{name} holds control characters.")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("{name} is a string."))),
    }
}

fn boolean(value: Option<&Value>, name: &str) -> ScimResult<Option<bool>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(invalid(format!("{name} is a boolean."))),
    }
}

/// An object of the listed string attributes, or `None` when none is set.
fn strings(
    value: Option<&Value>,
    name: &str,
    keys: &[&str],
) -> ScimResult<Option<Map<String, Value>>> {
    let object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid(format!("{name} is an object."))),
    };
    let mut out = Map::new();
    for key in keys {
        if let Some(v) = text(find(object, key), &format!("{name}.{key}"))? {
            out.insert((*key).to_owned(), json!(v));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn find<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A multi-valued complex attribute: each item keeps the listed sub-attributes that it sets
/// (`primary` as a boolean, the others as text), and an item that sets none of them (or,
/// with `needs`, not that one) is dropped, as a null would be.
fn plural(
    value: Option<&Value>,
    name: &str,
    subs: &[&str],
    needs: Option<&str>,
) -> ScimResult<Option<Vec<Value>>> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(format!("{name} is a list."))),
    };
    if items.len() > MAX_ITEMS {
        return Err(invalid(format!(
            "{name} holds more than {MAX_ITEMS} items."
        )));
    }

    let mut out = Vec::new();
    for item in items {
        let Value::Object(o) = item else {
            return Err(invalid(format!("Each of {name} is an object.")));
        };
        let mut kept = Map::new();
        for sub in subs {
            let label = format!("{name}.{sub}");
            let value = if *sub == "primary" {
                boolean(find(o, sub), &label)?.map(Value::Bool)
            } else {
                // A certificate's value may be longer than other text; nothing else of it.
                let max = if name == "x509Certificates" && *sub == "value" {
                    MAX_CERTIFICATE
                } else {
                    MAX_TEXT
                };
                bounded_text(find(o, sub), &label, max, *sub == "formatted")?.map(Value::String)
            };
            if let Some(v) = value {
                kept.insert((*sub).to_owned(), v);
            }
        }
        if needs.is_none_or(|n| kept.contains_key(n)) && !kept.is_empty() {
            out.push(Value::Object(kept));
        }
    }
    Ok(Some(out))
}

fn parse_role(value: Option<&Value>) -> ScimResult<Option<Role>> {
    let bad = || invalid("role is one of member, admin, developer, restricted, manager (or 1..5).");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(Role::from_i64)
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => Role::parse(s).map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// The extension object keyed by `urn` (or, as some clients send, attributes written as
/// `urn:...:attr` at the top level).
fn extension<'a>(body: &'a Value, urn: &str) -> Option<&'a Value> {
    field(body, urn).filter(|v| !v.is_null())
}

/// Reads a User body into what the store writes; `present` is the member being replaced.
pub fn parse(body: &Value, present: Option<&ProvisionedUser>) -> ScimResult<UserWrite> {
    let user_name = text(field(body, "userName"), "userName")?
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("userName is required."))?;
    let mut stored = Map::new();
    let name = strings(field(body, "name"), "name", NAME_PARTS)?;
    let display_name = text(field(body, "displayName"), "displayName")?;
    let emails = plural(field(body, "emails"), "emails", PLURAL_SUBS, Some("value"))?;
    if let Some(n) = &name {
        stored.insert("name".into(), Value::Object(n.clone()));
    }
    if let Some(d) = &display_name {
        stored.insert("displayName".into(), json!(d));
    }
    if let Some(e) = &emails {
        stored.insert("emails".into(), Value::Array(e.clone()));
    }
    for key in SINGULAR {
        if let Some(v) = text(field(body, key), key)? {
            stored.insert((*key).to_owned(), json!(v));
        }
    }
    for (key, subs) in PLURAL {
        if let Some(items) = plural(field(body, key), key, subs, None)? {
            stored.insert((*key).to_owned(), Value::Array(items));
        }
    }
    if let Some(ext) = extension(body, urn::ENTERPRISE_USER) {
        let mut out = strings(Some(ext), "enterprise", ENTERPRISE)?.unwrap_or_default();
        // Entra ID sets the manager as a bare id (`"manager": "<id>"`), RFC 7643 as an object.
        let manager = ext
            .as_object()
            .and_then(|o| find(o, "manager"))
            .map(|m| match m {
                // An empty one clears it, as a null does.
                Value::String(id) if id.trim().is_empty() => Value::Null,
                Value::String(id) => json!({ "value": id }),
                other => other.clone(),
            });
        if let Some(m) = strings(
            manager.as_ref(),
            "manager",
            &["value", "$ref", "displayName"],
        )? {
            out.insert("manager".into(), Value::Object(m));
        }
        if !out.is_empty() {
            stored.insert(urn::ENTERPRISE_USER.into(), Value::Object(out));
        }
    }
    let role = match extension(body, urn::ROSTER_USER) {
        Some(Value::Object(o)) => parse_role(find(o, "role"))?,
        Some(_) => return Err(invalid("The Roster extension is an object.")),
        None => None,
    };
    if role.is_some() {
        // Marks the role as the identity provider's to set; its value lives in the membership.
        stored.insert(urn::ROSTER_USER.into(), json!({}));
    }
    let active = boolean(field(body, "active"), "active")?
        .or(present.map(|p| p.active))
        .unwrap_or(true);
    let external_id = text(field(body, "externalId"), "externalId")?;
    // The account email: the primary (or first) work email, else the first address; without
    // any, userName (an identity provider that sends no address keeps its userName as the
    // person's identifier).
    let addresses: Vec<(&str, bool, bool)> = emails
        .iter()
        .flatten()
        .filter_map(|e| {
            let value = e["value"].as_str()?;
            email::validate(value).ok()?;
            let work = e["type"]
                .as_str()
                .is_none_or(|t| t.eq_ignore_ascii_case("work"));
            Some((value, e["primary"] == json!(true), work))
        })
        .collect();
    let account = addresses
        .iter()
        .find(|(_, primary, work)| *primary && *work)
        .or_else(|| addresses.iter().find(|(_, _, work)| *work))
        .or_else(|| addresses.first())
        .map_or_else(|| user_name.clone(), |(a, _, _)| (*a).to_owned());
    // A person is known by an email: without one among `emails`, userName must be one.
    if email::validate(&account).is_err() {
        return Err(invalid(
            "A user needs an email address: in emails, or as the userName.",
        ));
    }
    let person_name = display_name
        .clone()
        .or_else(|| {
            name.as_ref()
                .and_then(|n| n.get("formatted")?.as_str().map(str::to_owned))
        })
        .or_else(|| {
            let n = name.as_ref()?;
            let parts: Vec<&str> = ["givenName", "familyName"]
                .iter()
                .filter_map(|k| n.get(*k)?.as_str())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
    Ok(UserWrite {
        user_name,
        email: account,
        name: person_name,
        external_id,
        active,
        role,
        attributes: Value::Object(stored).to_string(),
    })
}

/// The lookup a filter on Users narrows to in SQL.
pub fn user_key(path: &AttrPath, value: &str) -> Option<UserKey> {
    if path.is("userName") {
        Some(UserKey::UserName(value.to_lowercase()))
    } else if path.is("externalId") {
        Some(UserKey::ExternalId(value.to_owned()))
    } else if path.is("displayName") {
        Some(UserKey::DisplayName(value.to_lowercase()))
    } else if path.is("emails") || path.is_sub("emails", "value") {
        Some(UserKey::Email(value.to_lowercase()))
    } else if path.is("id") {
        Some(UserKey::Id(Uuid::parse_str(value).unwrap_or(Uuid::nil())))
    } else {
        None
    }
}
