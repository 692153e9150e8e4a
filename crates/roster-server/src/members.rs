//! Payloads that name people. Group members: a JSON array of `{"user_id": UUID}` /
//! `{"email": "..."}` items, a single such object, or bare strings (a UUID or an email).
//! Campaign members: an array of `{"email", "data"}`, `{"users": [...]}` holding one, or a
//! single such object (PixieBrix types the body as one CampaignMember), with each `data` kept
//! as the exact JSON text sent. Errors come back in DRF's list shape: one
//! object per item, in payload order, empty for a valid item.

use crate::error::ApiError;
use crate::input::each_element;
use roster_core::store::{EmailRef, MemberRef, NewCampaignMember, Rejection, StoreError};
use roster_core::{domain, email};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// A parsed payload: its items, and how many it had and whether as a list (which shape its
/// errors, also once the items have been handed to a change).
pub struct Members {
    pub items: Vec<MemberRef>,
    total: usize,
    is_list: bool,
}

/// Refuses a payload of more than `max` items (`roster serve --max-items`) before looking at
/// any of them.
fn check_count(count: usize, max: usize) -> Result<(), ApiError> {
    if count > max {
        return Err(ApiError::field(
            "non_field_errors",
            format!("Ensure this list has no more than {max} items (it has {count})."),
        ));
    }
    Ok(())
}

impl Members {
    /// Reads a body of one item or a list of them. A list is read twice: once to count its
    /// items (refused past `max_items` before any is looked at, and the items' room made at
    /// its exact size), then item by item, each parsed alone and turned into its reference:
    /// 100,000 items never stand in memory as one JSON tree (which took several times the
    /// body's size), nor a million as a list of their texts (16 MB at the peak of a replace).
    pub fn parse(body: &[u8], max_items: usize) -> Result<Members, ApiError> {
        let raw: &RawValue = crate::input::parse_json(body)?;
        let is_list = raw.get().trim_start().starts_with('[');
        let total = if is_list {
            let mut count = 0;
            each_element(raw.get(), |_: IgnoredAny| count += 1)?;
            count
        } else {
            1
        };
        check_count(total, max_items)?;
        let mut items = Vec::with_capacity(total);
        let mut errors = Vec::new();
        // A roster's emails share a few domains: normalise each domain once.
        let mut domains = HashMap::new();
        let mut position = 0;
        let mut take = |value: Value| {
            match item(value, &mut domains) {
                Ok(item) => items.push(item),
                Err((field, message)) => errors.push(Rejection {
                    position,
                    field,
                    message,
                }),
            }
            position += 1;
        };
        if is_list {
            each_element(raw.get(), &mut take)?;
        } else {
            take(crate::input::parse_json(raw.get().as_bytes())?);
        }
        if errors.is_empty() {
            Ok(Members {
                items,
                total,
                is_list,
            })
        } else {
            Err(item_errors(errors, total, is_list))
        }
    }

    /// Renders a store's rejection of some items in the payload's shape.
    pub fn rejected(&self, e: StoreError) -> ApiError {
        match e {
            StoreError::Rejected(errors) => item_errors(errors, self.total, self.is_list),
            other => other.into(),
        }
    }
}

type DomainCache = HashMap<String, Option<Arc<str>>>;

fn item(value: Value, domains: &mut DomainCache) -> Result<MemberRef, (&'static str, String)> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            match Uuid::try_parse(s) {
                Ok(id) => Ok(MemberRef::UserId(id)),
                Err(_) => by_email(s, domains).map_err(|m| ("email", m)),
            }
        }
        Value::Object(mut map) => {
            // With both, the user id names the person: it cannot be mistyped into someone else.
            if let Some(id) = map.remove("user_id").filter(|v| !v.is_null()) {
                let id = id.as_str().and_then(|s| Uuid::try_parse(s.trim()).ok());
                return id
                    .map(MemberRef::UserId)
                    .ok_or(("user_id", "Must be a valid UUID.".to_owned()));
            }
            match map.remove("email") {
                Some(Value::String(s)) => by_email(s.trim(), domains).map_err(|m| ("email", m)),
                Some(Value::Null) => Err(("email", "This field may not be null.".to_owned())),
                Some(_) => Err(("email", "Not a valid string.".to_owned())),
                None => Err((
                    "non_field_errors",
                    "Give either user_id or email.".to_owned(),
                )),
            }
        }
        _ => Err((
            "non_field_errors",
            "Expected an object with user_id or email, a UUID or an email.".to_owned(),
        )),
    }
}

fn by_email(address: &str, domains: &mut DomainCache) -> Result<MemberRef, String> {
    let (email_norm, domain) = email_parts(address, domains)?;
    Ok(MemberRef::Email(EmailRef::new(address, email_norm, domain)))
}

/// Whether a payload would take `address`: its syntax, then its domain through IDNA.
pub fn check_email(address: &str) -> Result<(), String> {
    email_parts(address, &mut DomainCache::new()).map(|_| ())
}

/// A valid address lower-cased, and its domain's IDNA form (one per domain in the payload).
fn email_parts(address: &str, domains: &mut DomainCache) -> Result<(String, Arc<str>), String> {
    if address.is_empty() {
        return Err("This field may not be blank.".to_owned());
    }
    email::validate(address).map_err(str::to_owned)?;
    let part = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let domain = domains
        .entry(part.to_owned())
        .or_insert_with(|| domain::normalize(part).ok().map(Arc::from))
        .clone()
        .ok_or("Enter a valid email address.")?;
    Ok((email::normalize(address), domain))
}

/// The largest `data` of one campaign member.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// A campaign-member payload, parsed from the raw body so that `data` keeps its exact text
/// (borrowed from the body).
pub struct CampaignMembers<'a> {
    pub members: Vec<NewCampaignMember<'a>>,
    /// Sent as a list (its errors: one object per item) or as one member (one object).
    is_list: bool,
}

impl<'a> CampaignMembers<'a> {
    /// `users`: the raw members array (the body itself, or its `users` field).
    pub fn parse(users: &'a RawValue, max_items: usize) -> Result<CampaignMembers<'a>, ApiError> {
        let items: Vec<&RawValue> = serde_json::from_str(users.get()).map_err(|_| {
            ApiError::field(
                "non_field_errors",
                "Expected a list of members, or {\"users\": [...]}.",
            )
        })?;
        Self::of(items, max_items, true)
    }

    /// A member payload: the members array (the body, or its `users`), or the body itself
    /// when it is one member, `{"email", "data"}` (its errors then come as one object).
    pub fn payload(body: &'a [u8], max_items: usize) -> Result<CampaignMembers<'a>, ApiError> {
        if let Some(users) = campaign_users(body)? {
            return Self::parse(users, max_items);
        }
        let raw: &RawValue = crate::input::parse_json(body)?;
        let fields: HashMap<&str, &RawValue> = serde_json::from_str(raw.get())
            .map_err(|_| ApiError::field("users", "This field is required."))?;
        if !fields.contains_key("email") {
            return Err(ApiError::field("users", "This field is required."));
        }
        Self::of(vec![raw], max_items, false)
    }

    fn of(
        items: Vec<&'a RawValue>,
        max_items: usize,
        is_list: bool,
    ) -> Result<CampaignMembers<'a>, ApiError> {
        let total = items.len();
        check_count(total, max_items)?;
        let mut members = Vec::with_capacity(total);
        let mut errors = Vec::new();
        let mut domains = DomainCache::new();
        let mut positions = Vec::with_capacity(total);
        for (position, raw) in items.into_iter().enumerate() {
            match campaign_member(raw, &mut domains) {
                Ok(member) => {
                    members.push(member);
                    positions.push(position);
                }
                Err((field, message)) => errors.push(Rejection {
                    position,
                    field,
                    message,
                }),
            }
        }
        errors.extend(repeats(&members, &positions));
        if errors.is_empty() {
            Ok(CampaignMembers { members, is_list })
        } else {
            errors.sort_by_key(|r| r.position);
            Err(item_errors(errors, total, is_list))
        }
    }

    pub fn rejected(&self, e: StoreError) -> ApiError {
        match e {
            StoreError::Rejected(errors) => item_errors(errors, self.members.len(), self.is_list),
            other => other.into(),
        }
    }
}

/// Each member whose email came earlier in the payload too, naming the first. Found by
/// sorting references, not by a map of copied emails: at 50,000 members the copies were
/// megabytes.
fn repeats(members: &[NewCampaignMember<'_>], positions: &[usize]) -> Vec<Rejection> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    // Stable: among equal emails, the first in the payload comes first.
    order.sort_by(|&a, &b| {
        members[a]
            .email
            .email_norm()
            .cmp(members[b].email.email_norm())
    });
    let mut found = Vec::new();
    let mut head: Option<usize> = None;
    for &i in &order {
        match head {
            Some(h) if members[h].email.email_norm() == members[i].email.email_norm() => {
                found.push(Rejection {
                    position: positions[i],
                    field: "email",
                    message: format!(
                        "{} appears more than once in this payload (first as item {}).",
                        members[i].email.email(),
                        positions[h] + 1
                    ),
                });
            }
            _ => head = Some(i),
        }
    }
    found
}

/// Reads the members array of a campaign-member payload: the body itself, or its `users`.
/// Borrowed from the body: a copy would double what a 50,000-member PUT holds.
pub fn campaign_users(body: &[u8]) -> Result<Option<&RawValue>, ApiError> {
    let raw: &RawValue = crate::input::parse_json(body)?;
    if raw.get().trim_start().starts_with('[') {
        return Ok(Some(raw));
    }
    let fields: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        ApiError::field(
            "non_field_errors",
            "Expected a list of members, or {\"users\": [...]}.",
        )
    })?;
    Ok(fields.get("users").copied())
}

fn campaign_member<'a>(
    raw: &'a RawValue,
    domains: &mut DomainCache,
) -> Result<NewCampaignMember<'a>, (&'static str, String)> {
    let fields: HashMap<String, &RawValue> = serde_json::from_str(raw.get()).map_err(|_| {
        (
            "non_field_errors",
            "Expected an object with an email and optional data.".to_owned(),
        )
    })?;
    let address = match fields
        .get("email")
        .map(|v| serde_json::from_str::<Value>(v.get()))
    {
        Some(Ok(Value::String(s))) => s,
        Some(Ok(Value::Null)) => return Err(("email", "This field may not be null.".to_owned())),
        Some(_) => return Err(("email", "Not a valid string.".to_owned())),
        None => return Err(("email", "This field is required.".to_owned())),
    };
    let address = address.trim();
    let (email_norm, domain) = email_parts(address, domains).map_err(|m| ("email", m))?;
    let data = match fields.get("data") {
        None => "{}",
        Some(raw) => {
            let text = raw.get();
            if text == "null" {
                return Err(("data", "This field may not be null.".to_owned()));
            }
            if !text.starts_with('{') {
                return Err(("data", "Expected a JSON object.".to_owned()));
            }
            if text.len() > MAX_DATA_BYTES {
                return Err((
                    "data",
                    format!("Ensure the data is no larger than {MAX_DATA_BYTES} bytes."),
                ));
            }
            // What every backend stores alike (PostgreSQL's jsonb refuses the rest).
            roster_core::json::check_portable(text).map_err(|m| ("data", m.to_owned()))?;
            text
        }
    };
    Ok(NewCampaignMember {
        email: EmailRef::new(address, email_norm, domain),
        data,
    })
}

/// DRF's shape: for a list, one object per item in order (`{}` for a valid one); for a single
/// item, its own object.
fn item_errors(errors: Vec<Rejection>, len: usize, is_list: bool) -> ApiError {
    let object = |r: &Rejection| {
        let mut map = Map::new();
        map.insert(r.field.to_owned(), json!([r.message]));
        Value::Object(map)
    };
    if !is_list {
        return ApiError::BadRequest(errors.first().map(object).unwrap_or_else(|| json!({})));
    }
    let len = len.max(errors.iter().map(|r| r.position + 1).max().unwrap_or(0));
    let mut list = vec![json!({}); len];
    for r in &errors {
        if let Some(slot) = list.get_mut(r.position) {
            *slot = object(r);
        }
    }
    ApiError::BadRequest(Value::Array(list))
}
