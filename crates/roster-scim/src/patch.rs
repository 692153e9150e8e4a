//! PATCH (RFC 7644 3.5.2): the request, the quirks identity providers send (Entra's
//! capitalised `Replace`, string booleans, Okta's path-less `replace` whose value keys are
//! dotted or URN-prefixed paths, `remove` of `members` carrying a value list), an engine that
//! applies operations in order and all or nothing to a resource's JSON, and the reduction of a
//! group's member operations to steps that cost O(members named), whatever the group's size.

use crate::error::{ScimError, ScimType};
use crate::filter::{CompareOp, Filter, field};
use crate::path::{AttrPath, PatchPath};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// The most operations one PATCH may carry: identity providers send a handful (a group's
/// members travel as value lists), and each operation costs up to a pass over the resource.
pub const MAX_OPERATIONS: usize = 1000;
/// The most values a multi-valued attribute may hold, checked as each operation applies (and
/// again by the server's schema check), so that no PATCH works on longer lists than a resource
/// can keep: a value list of thousands, appended one by one without repeats, is refused after
/// a hundred instead of costing the square of its length.
pub const MAX_VALUES: usize = 100;

/// Attributes that are booleans, so `"True"`/`"False"` strings are read as booleans.
const BOOLEANS: &[&str] = &["active", "primary"];
/// Attributes a client may not set; values for them are ignored.
const READ_ONLY: &[&str] = &["id", "meta", "schemas"];

fn syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::NoTarget, detail)
}

impl PatchRequest {
    pub fn parse(body: &Value) -> Result<PatchRequest, ScimError> {
        let operations = field(body, "Operations")
            .and_then(Value::as_array)
            .filter(|ops| !ops.is_empty())
            .ok_or_else(|| {
                syntax("a PATCH request needs an \"Operations\" array of one or more")
            })?;
        if operations.len() > MAX_OPERATIONS {
            return Err(ScimError::bad_request(
                ScimType::InvalidValue,
                format!("a PATCH request holds at most {MAX_OPERATIONS} operations"),
            ));
        }
        let operations = operations
            .iter()
            .map(|raw| {
                let op = match field(raw, "op")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                {
                    Some("add") => PatchOp::Add,
                    Some("replace") => PatchOp::Replace,
                    Some("remove") => PatchOp::Remove,
                    _ => return Err(syntax("each operation's \"op\" is add, replace or remove")),
                };
                let path = match field(raw, "path") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(p)) if p.trim().is_empty() => None,
                    Some(Value::String(p)) => Some(PatchPath::parse(p)?),
                    Some(_) => {
                        return Err(ScimError::bad_request(
                            ScimType::InvalidPath,
                            "\"path\" is a string",
                        ));
                    }
                };
                let value = field(raw, "value").cloned();
                if op == PatchOp::Remove && path.is_none() {
                    return Err(no_target("a remove operation needs a path"));
                }
                if op != PatchOp::Remove && value.is_none() {
                    return Err(syntax("add and replace operations need a value"));
                }
                Ok(PatchOperation { op, path, value })
            })
            .collect::<Result<_, _>>()?;
        Ok(PatchRequest { operations })
    }

    /// Applies the operations in order to `resource`; on any error `resource` is unchanged.
    pub fn apply(&self, resource: &mut Value) -> Result<(), ScimError> {
        let mut draft = resource.clone();
        for op in &self.operations {
            apply_one(&mut draft, op)?;
            within_bounds(&draft)?;
        }
        *resource = draft;
        Ok(())
    }

    /// Splits a group PATCH: the steps on `members` (in order), and the other operations.
    pub fn member_steps(&self) -> Result<(Vec<MemberStep>, PatchRequest), ScimError> {
        let mut steps = Vec::new();
        let mut rest = Vec::new();
        for op in &self.operations {
            match &op.path {
                Some(path)
                    if path.attr.is("members")
                        || path.attr.attr.eq_ignore_ascii_case("members") =>
                {
                    steps.extend(member_step(op, path)?);
                }
                Some(_) => rest.push(op.clone()),
                None => {
                    // A path-less value may carry `members` beside other attributes.
                    let Some(Value::Object(map)) = &op.value else {
                        return Err(syntax("a path-less operation's value is an object"));
                    };
                    let mut others = Map::new();
                    for (key, value) in map {
                        if key.eq_ignore_ascii_case("members") {
                            // A null is ignored, as for any attribute: it empties no group.
                            if value.is_null() {
                                continue;
                            }
                            let ids = member_ids(value)?;
                            steps.push(match op.op {
                                PatchOp::Add => MemberStep::Add(ids),
                                _ => MemberStep::ReplaceAll(ids),
                            });
                        } else {
                            others.insert(key.clone(), value.clone());
                        }
                    }
                    if !others.is_empty() {
                        rest.push(PatchOperation {
                            op: op.op,
                            path: None,
                            value: Some(Value::Object(others)),
                        });
                    }
                }
            }
        }
        Ok((steps, PatchRequest { operations: rest }))
    }
}

/// Refuses a resource with a multi-valued attribute (of the core schema or an extension's
/// object) longer than [`MAX_VALUES`].
fn within_bounds(resource: &Value) -> Result<(), ScimError> {
    let Value::Object(object) = resource else {
        return Ok(());
    };
    let nested = object.values().filter_map(Value::as_object).flatten();
    for (name, value) in object.iter().chain(nested) {
        if let Value::Array(items) = value
            && items.len() > MAX_VALUES
        {
            return Err(too_many_values(name));
        }
    }
    Ok(())
}

fn too_many_values(name: &str) -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("{name} holds more than {MAX_VALUES} items."),
    )
}

/// A change to a group's members, by member id (the server checks the ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberStep {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    ReplaceAll(Vec<String>),
}

fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items = match value {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        one => vec![one],
    };
    items
        .into_iter()
        .map(|item| match field(item, "value").or(Some(item)) {
            Some(Value::String(id)) => Ok(id.trim().to_owned()),
            _ => Err(ScimError::bad_request(
                ScimType::InvalidValue,
                "a member is {\"value\": \"<id>\"}",
            )),
        })
        .collect()
}

/// The ids a `members[...]` filter names: `value eq "x"`, or several joined by `or`.
fn filtered_ids(filter: &Filter, ids: &mut Vec<String>) -> Result<(), ScimError> {
    match filter {
        Filter::Compare(path, CompareOp::Eq, Value::String(id)) if path.is("value") => {
            ids.push(id.clone());
            Ok(())
        }
        Filter::Or(a, b) => {
            filtered_ids(a, ids)?;
            filtered_ids(b, ids)
        }
        _ => Err(ScimError::bad_request(
            ScimType::InvalidFilter,
            "members are selected by value eq \"<id>\"",
        )),
    }
}

/// The step an operation on `members` makes; none for one whose value is null (ignored, as for
/// any attribute: a null never empties a group).
fn member_step(op: &PatchOperation, path: &PatchPath) -> Result<Option<MemberStep>, ScimError> {
    if path.attr.sub.is_some() || path.sub.is_some() {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            "members are changed as a whole",
        ));
    }
    if let Some(filter) = &path.filter {
        let mut ids = Vec::new();
        filtered_ids(filter, &mut ids)?;
        return match op.op {
            PatchOp::Remove => Ok(Some(MemberStep::Remove(ids))),
            _ => Err(ScimError::bad_request(
                ScimType::InvalidPath,
                "add and replace members without a filter",
            )),
        };
    }
    if op.value.as_ref().is_some_and(Value::is_null) {
        return Ok(None);
    }
    let ids = op.value.as_ref().map(member_ids).transpose()?;
    Ok(match (op.op, ids) {
        (PatchOp::Add, ids) => Some(MemberStep::Add(ids.unwrap_or_default())),
        (PatchOp::Replace, ids) => Some(MemberStep::ReplaceAll(ids.unwrap_or_default())),
        // Entra removes some members with a value list (an empty one removes nobody);
        // without one, all go.
        (PatchOp::Remove, Some(ids)) => Some(MemberStep::Remove(ids)),
        (PatchOp::Remove, None) => Some(MemberStep::RemoveAll),
    })
}

/// `"True"` and `"False"` (any case) for boolean attributes become booleans.
fn normalize(attr: &str, value: Value) -> Value {
    match &value {
        Value::String(s) if BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(attr)) => {
            match s.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => value,
            }
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize(k, v.clone())))
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| normalize(attr, v.clone())).collect())
        }
        _ => value,
    }
}

/// The key of `name` in `object`, matched case-insensitively, or `name` itself.
fn key_of(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

/// The object an attribute lives in: the resource, or its extension object for a path with an
/// extension schema URN.
fn container<'a>(
    resource: &'a mut Value,
    path: &AttrPath,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let object = resource
        .as_object_mut()
        .ok_or_else(|| syntax("the resource is not an object"))?;
    let core = path.schema.as_deref().is_none_or(|s| {
        s.eq_ignore_ascii_case(crate::urn::USER) || s.eq_ignore_ascii_case(crate::urn::GROUP)
    });
    if core {
        return Ok(object);
    }
    let urn = path.schema.clone().unwrap_or_default();
    let key = key_of(object, &urn);
    let ext = object
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !ext.is_object() {
        *ext = Value::Object(Map::new());
    }
    ext.as_object_mut().ok_or_else(|| syntax("bad extension"))
}

fn apply_one(resource: &mut Value, op: &PatchOperation) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        // Path-less add/replace: each key is an attribute path (maybe dotted or URN-prefixed),
        // or an extension URN holding an object of that extension's attributes.
        let Some(Value::Object(map)) = &op.value else {
            return Err(syntax("a path-less operation's value is an object"));
        };
        for (key, value) in map {
            if value.is_null() || READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(key)) {
                continue;
            }
            // A key naming a schema ends in a resource type (`...:2.0:User`, capitalised), one
            // naming an attribute in the attribute (`...:User:displayName`, lower-case first).
            let names_schema = AttrPath::parse(key)
                .is_ok_and(|p| p.schema.is_some() && p.attr.starts_with(char::is_uppercase));
            if names_schema && value.is_object() {
                // An extension object, e.g. {"urn:...:enterprise:2.0:User": {"department": "x"}}
                for (sub, v) in value.as_object().into_iter().flatten() {
                    let path = AttrPath::parse(&format!("{key}:{sub}"))?;
                    set(
                        resource,
                        &path,
                        normalize(sub, v.clone()),
                        op.op == PatchOp::Add,
                    )?;
                }
                continue;
            }
            let path = AttrPath::parse(key)?;
            set(
                resource,
                &path,
                normalize(&path.attr, value.clone()),
                op.op == PatchOp::Add,
            )?;
        }
        return Ok(());
    };
    if READ_ONLY.iter().any(|r| path.attr.is(r)) {
        return Ok(());
    }
    // A path naming an extension schema (`urn:...:enterprise:2.0:User`) targets its object.
    if let (Some(schema), None, None) = (&path.attr.schema, &path.attr.sub, &path.filter)
        && path.attr.attr.starts_with(char::is_uppercase)
    {
        let urn = format!("{schema}:{}", path.attr.attr);
        let object = resource
            .as_object_mut()
            .ok_or_else(|| syntax("the resource is not an object"))?;
        if op.op != PatchOp::Add {
            let key = key_of(object, &urn);
            object.remove(&key);
        }
        if op.op == PatchOp::Remove {
            return Ok(());
        }
        let mut whole = Map::new();
        whole.insert(urn, op.value.clone().unwrap_or(Value::Null));
        return apply_one(
            resource,
            &PatchOperation {
                op: op.op,
                path: None,
                value: Some(Value::Object(whole)),
            },
        );
    }
    let value = op.value.clone().map(|v| {
        normalize(
            path.sub
                .as_deref()
                .or(path.attr.sub.as_deref())
                .unwrap_or(&path.attr.attr),
            v,
        )
    });
    if matches!(value, Some(Value::Null)) {
        return Ok(());
    }
    match (&path.filter, op.op) {
        (None, PatchOp::Remove) => {
            let object = container(resource, &path.attr)?;
            let key = key_of(object, &path.attr.attr);
            match &path.attr.sub {
                None => {
                    object.remove(&key);
                }
                Some(sub) => {
                    if let Some(Value::Object(inner)) = object.get_mut(&key) {
                        let k = key_of(inner, sub);
                        inner.remove(&k);
                    }
                }
            }
            Ok(())
        }
        (None, op_kind) => set(
            resource,
            &path.attr,
            value.unwrap_or(Value::Null),
            op_kind == PatchOp::Add,
        ),
        (Some(filter), op_kind) => {
            let object = container(resource, &path.attr)?;
            let key = key_of(object, &path.attr.attr);
            let exact = |_: &AttrPath| false;
            let matched = |v: &Value| filter.matches(v, &exact);
            let present = object.get(&key).and_then(Value::as_array);
            let none_match = !present.is_some_and(|items| items.iter().any(matched));
            let empty = present.is_none_or(Vec::is_empty);
            if op_kind == PatchOp::Add && none_match || op_kind == PatchOp::Replace && empty {
                // Entra sets a value the filter names that is not there yet (a first work
                // phone: `add phoneNumbers[type eq "work"].value`): the value is made. A replace
                // makes it only where the attribute has no value at all (RFC 7644 3.5.2.3 treats
                // that as an add); through a filter that matches none of its values it is a
                // `noTarget`, below.
                let item = new_item(filter, path.sub.as_deref(), value)
                    .ok_or_else(|| no_target("no value matches the path's filter"))?;
                match object.get_mut(&key) {
                    Some(Value::Array(items)) => items.push(item),
                    _ => {
                        object.insert(key, Value::Array(vec![item]));
                    }
                }
                return Ok(());
            }
            let Some(Value::Array(items)) = object.get_mut(&key) else {
                return Ok(());
            };
            let matching: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, v)| matched(v))
                .map(|(i, _)| i)
                .collect();
            if matching.is_empty() && op_kind == PatchOp::Replace {
                return Err(no_target("no value matches the path's filter"));
            }
            for &i in matching.iter().rev() {
                match (op_kind, &path.sub) {
                    (PatchOp::Remove, None) => {
                        items.remove(i);
                    }
                    (PatchOp::Remove, Some(sub)) => {
                        if let Value::Object(item) = &mut items[i] {
                            let k = key_of(item, sub);
                            item.remove(&k);
                        }
                    }
                    (_, Some(sub)) => {
                        if let Value::Object(item) = &mut items[i] {
                            let k = key_of(item, sub);
                            item.insert(k, value.clone().unwrap_or(Value::Null));
                        }
                    }
                    (_, None) => match (&mut items[i], value.clone()) {
                        (Value::Object(item), Some(Value::Object(new))) => item.extend(new),
                        (slot, Some(new)) => *slot = new,
                        (_, None) => {}
                    },
                }
            }
            Ok(())
        }
    }
}

/// The value a filter of `eq` comparisons (joined by `and`) names, such as `type eq "work"`,
/// with `value` as its sub-attribute `sub` (or, without one, its other sub-attributes): what an
/// add or replace through that filter makes when no value matches it. None for any other
/// filter, which names no one value.
fn new_item(filter: &Filter, sub: Option<&str>, value: Option<Value>) -> Option<Value> {
    fn named(filter: &Filter, item: &mut Map<String, Value>) -> bool {
        match filter {
            Filter::Compare(path, CompareOp::Eq, v)
                if path.schema.is_none() && path.sub.is_none() && !v.is_null() =>
            {
                item.insert(path.attr.clone(), v.clone());
                true
            }
            Filter::And(a, b) => named(a, item) && named(b, item),
            _ => false,
        }
    }
    let mut item = Map::new();
    if !named(filter, &mut item) {
        return None;
    }
    match (sub, value?) {
        (Some(sub), value) => {
            item.insert(sub.to_owned(), value);
        }
        (None, Value::Object(rest)) => item.extend(rest),
        (None, _) => return None,
    }
    Some(Value::Object(item))
}

/// Sets an attribute (or sub-attribute). `add` appends to a multi-valued attribute instead of
/// replacing it, without repeating a value already there.
fn set(resource: &mut Value, path: &AttrPath, value: Value, add: bool) -> Result<(), ScimError> {
    if READ_ONLY.iter().any(|r| path.is(r)) || value.is_null() {
        return Ok(());
    }
    let object = container(resource, path)?;
    let key = key_of(object, &path.attr);
    match &path.sub {
        Some(sub) => {
            let slot = object
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = slot else {
                return Err(ScimError::bad_request(
                    ScimType::InvalidPath,
                    format!("{} has no sub-attributes", path.attr),
                ));
            };
            let k = key_of(inner, sub);
            inner.insert(k, value);
        }
        None => match (add, object.get_mut(&key), value) {
            (true, Some(Value::Array(items)), Value::Array(new)) => {
                for v in new {
                    if !items.contains(&v) {
                        if items.len() >= MAX_VALUES {
                            return Err(too_many_values(&path.attr));
                        }
                        items.push(v);
                    }
                }
            }
            (true, Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
            (_, _, value) => {
                object.insert(key, value);
            }
        },
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use serde_json::json;

    fn request(ops: Value) -> PatchRequest {
        PatchRequest::parse(&json!({"schemas": [crate::urn::PATCH_OP], "Operations": ops})).unwrap()
    }

    fn user() -> Value {
        json!({
            "userName": "bjensen@example.com", "active": true, "name": {"givenName": "Barbara"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}]
        })
    }

    #[test]
    fn entra_capitalised_ops_and_string_booleans() {
        let mut u = user();
        request(json!([{"op": "Replace", "path": "active", "value": "False"}]))
            .apply(&mut u)
            .unwrap();
        assert_eq!(u["active"], false);
        request(json!([{"op": "Add", "path": "name.familyName", "value": "Jensen"}]))
            .apply(&mut u)
            .unwrap();
        assert_eq!(
            u["name"],
            json!({"givenName": "Barbara", "familyName": "Jensen"})
        );
        request(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@new.example"}])).apply(&mut u).unwrap();
        assert_eq!(u["emails"][0]["value"], "b@new.example");
    }

    #[test]
    fn okta_path_less_replace_with_dotted_and_urn_keys() {
        let mut u = user();
        let ops = json!([{"op": "replace", "value": {
            "id": "ignored", "active": "True", "name.givenName": "Babs",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Babs J",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour"},
            "nickName": null
        }}]);
        request(ops).apply(&mut u).unwrap();
        assert_eq!(
            (
                u["active"].as_bool(),
                u["name"]["givenName"].as_str(),
                u["displayName"].as_str()
            ),
            (Some(true), Some("Babs"), Some("Babs J"))
        );
        assert_eq!(u[crate::urn::ENTERPRISE_USER]["department"], "Tour");
        assert!(
            u.get("id").is_none() && u.get("nickName").is_none(),
            "read-only and null values are ignored"
        );
    }

    #[test]
    fn remove_and_filters() {
        let mut u = user();
        request(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]))
            .apply(&mut u)
            .unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 1);
        request(json!([{"op": "remove", "path": "name.givenName"}]))
            .apply(&mut u)
            .unwrap();
        assert_eq!(u["name"], json!({}));
        let before = u.clone();
        let bad = request(
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"}]),
        );
        assert_eq!(
            bad.apply(&mut u).unwrap_err().scim_type,
            Some(ScimType::NoTarget)
        );
        assert_eq!(u, before, "all or nothing");
    }

    #[test]
    fn entra_sets_a_value_its_filter_names_that_is_not_there_yet() {
        let mut u = user();
        request(json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555"},
            {"op": "Add", "path": "emails[type eq \"other\"].value", "value": "o@x.example"},
            {"op": "Add", "path": "addresses[type eq \"work\" and primary eq true]", "value": {"locality": "Oslo"}},
            {"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 556"},
            {"op": "Replace", "path": "ims[type eq \"xmpp\"].value", "value": "b@chat"}
        ]))
        .apply(&mut u)
        .unwrap();
        assert_eq!(u["ims"], json!([{"type": "xmpp", "value": "b@chat"}]));
        assert_eq!(
            u["phoneNumbers"],
            json!([{"type": "work", "value": "+1 556"}])
        );
        assert_eq!(
            u["emails"][2],
            json!({"type": "other", "value": "o@x.example"})
        );
        assert_eq!(
            u["addresses"],
            json!([{"type": "work", "primary": true, "locality": "Oslo"}])
        );
    }

    #[test]
    fn long_value_lists_and_many_operations_are_refused_early() {
        let phones: Vec<Value> = (0..10_000).map(|i| json!({"value": i})).collect();
        let refused = request(json!([{"op": "add", "path": "phoneNumbers", "value": phones}]))
            .apply(&mut user())
            .unwrap_err();
        assert_eq!(refused.detail, "phoneNumbers holds more than 100 items.");
        // One at a time, and set whole: refused as the list passes the bound.
        let one_by_one: Vec<Value> = (0..200)
            .map(|i| json!({"op": "add", "path": "ims", "value": [{"value": i}]}))
            .collect();
        assert!(
            request(Value::Array(one_by_one))
                .apply(&mut user())
                .is_err()
        );
        let whole: Vec<Value> = (0..101).map(|i| json!({"value": i})).collect();
        assert!(
            request(json!([{"op": "replace", "value": {"roles": whole}}]))
                .apply(&mut user())
                .is_err()
        );
        let ops: Vec<Value> = (0..=MAX_OPERATIONS)
            .map(|_| json!({"op": "replace", "path": "title", "value": "x"}))
            .collect();
        let refused = PatchRequest::parse(&json!({"Operations": ops})).unwrap_err();
        assert_eq!(refused.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn refuses_malformed_requests() {
        let cases = [
            (json!({}), ScimType::InvalidSyntax),
            (
                json!({"Operations": [{"op": "move", "path": "a"}]}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"Operations": [{"op": "remove"}]}),
                ScimType::NoTarget,
            ),
            (
                json!({"Operations": [{"op": "add", "path": "a"}]}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"Operations": [{"op": "add", "path": "a b", "value": 1}]}),
                ScimType::InvalidPath,
            ),
            (
                json!({"Operations": [{"op": "remove", "path": "members[value eq \"x\""}]}),
                ScimType::InvalidPath,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                PatchRequest::parse(&body).unwrap_err().scim_type,
                Some(expected),
                "{body}"
            );
        }
    }

    #[test]
    fn group_member_operations_become_steps() {
        let ops = request(json!([
            {"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
            {"op": "remove", "path": "members[value eq \"b\" or value eq \"c\"]"},
            {"op": "replace", "path": "displayName", "value": "Ops"},
            {"op": "replace", "value": {"displayName": "Ops 2", "members": []}},
            {"op": "remove", "path": "members"},
            {"op": "remove", "path": "members", "value": []},
            // Nulls are ignored: they empty no group.
            {"op": "replace", "path": "members", "value": null},
            {"op": "replace", "value": {"members": null}},
            {"op": "remove", "path": "members", "value": null},
        ]));
        let (steps, rest) = ops.member_steps().unwrap();
        assert_eq!(
            steps,
            [
                MemberStep::Add(vec!["a".into(), "b".into()]),
                MemberStep::Remove(vec!["a".into()]),
                MemberStep::Remove(vec!["b".into(), "c".into()]),
                MemberStep::ReplaceAll(vec![]),
                MemberStep::RemoveAll,
                // An empty value list names nobody: it removes nobody, not everyone.
                MemberStep::Remove(vec![]),
            ]
        );
        assert_eq!(
            rest.operations.len(),
            2,
            "displayName changes stay for the JSON engine"
        );
        let odd = request(json!([{"op": "remove", "path": "members[display co \"x\"]"}]));
        assert_eq!(
            odd.member_steps().unwrap_err().scim_type,
            Some(ScimType::InvalidFilter)
        );
    }
}
