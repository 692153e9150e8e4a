//! What lists and reads share: the query parameters (from the URL or a `.search` body), the
//! `attributes` / `excludedAttributes` projection, and the ListResponse.

use super::{Failure, MAX_RESULTS, ScimResult};
use roster_scim::{AttrPath, Filter, ScimError, ScimType, urn};
use serde_json::{Map, Value};
use std::future::Future;

/// A list request: its filter, window and projection.
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start: u64,
    pub count: u64,
    pub projection: Projection,
}

/// Which attributes a response carries.
#[derive(Default)]
pub struct Projection {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

fn invalid_value(detail: impl Into<String>) -> Failure {
    Failure(ScimError::bad_request(ScimType::InvalidValue, detail))
}

/// A query string's pairs; a repeated parameter is refused rather than guessed at.
pub fn pairs(query: Option<&str>) -> ScimResult<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(o, _)| o.eq_ignore_ascii_case(k)) {
            return Err(invalid_value(format!("The parameter {k} is given twice.")));
        }
    }
    Ok(pairs)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Projection {
    pub fn from_query(pairs: &[(String, String)]) -> ScimResult<Projection> {
        Projection::new(
            get(pairs, "attributes").map(split_list).transpose()?,
            get(pairs, "excludedAttributes")
                .map(split_list)
                .transpose()?,
        )
    }

    fn new(attributes: Option<Vec<AttrPath>>, excluded: Option<Vec<AttrPath>>) -> ScimResult<Self> {
        Ok(Projection {
            attributes: attributes.unwrap_or_default(),
            excluded: excluded.unwrap_or_default(),
        })
    }

    /// Whether the response includes `attr` (a top-level attribute of the core schema), so
    /// that what it leaves out need not be loaded.
    pub fn includes(&self, attr: &str) -> bool {
        let named = |p: &AttrPath| p.attr.eq_ignore_ascii_case(attr) && p.schema.is_none();
        if !self.attributes.is_empty() {
            return self.attributes.iter().any(named);
        }
        !self.excluded.iter().any(|p| named(p) && p.sub.is_none())
    }

    pub fn apply(&self, resource: &mut Value) {
        let Some(object) = resource.as_object_mut() else {
            return;
        };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for (key, value) in object.iter() {
                if ["id", "schemas", "meta"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(key))
                {
                    kept.insert(key.clone(), value.clone());
                } else if let Some(value) = keep(key, value, &self.attributes) {
                    kept.insert(key.clone(), value);
                }
            }
            *object = kept;
        }
        for path in &self.excluded {
            remove(object, path);
        }
    }
}

/// The part of the attribute `key` the listed paths ask for, if any.
fn keep(key: &str, value: &Value, paths: &[AttrPath]) -> Option<Value> {
    if key.to_ascii_lowercase().starts_with("urn:") {
        // An extension object: kept whole when its URN is listed, else only what is named.
        let mut out = Map::new();
        for path in paths {
            let whole = format!(
                "{}:{}",
                path.schema.as_deref().unwrap_or_default(),
                path.attr
            );
            if whole.eq_ignore_ascii_case(key) {
                return Some(value.clone());
            }
            if path
                .schema
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(key))
                && let Some(v) = value.as_object().and_then(|o| find(o, &path.attr))
            {
                out.insert(path.attr.clone(), pick(v, path.sub.as_deref()));
            }
        }
        return (!out.is_empty()).then_some(Value::Object(out));
    }
    let mut subs = Vec::new();
    for path in paths.iter().filter(|p| {
        p.attr.eq_ignore_ascii_case(key)
            && p.schema.as_deref().is_none_or(|s| {
                s.eq_ignore_ascii_case(urn::USER) || s.eq_ignore_ascii_case(urn::GROUP)
            })
    }) {
        match &path.sub {
            None => return Some(value.clone()),
            Some(sub) => subs.push(sub.as_str()),
        }
    }
    if subs.is_empty() {
        return None;
    }
    Some(only_subs(value, &subs))
}

fn find<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn pick(value: &Value, sub: Option<&str>) -> Value {
    match sub {
        None => value.clone(),
        Some(sub) => only_subs(value, &[sub]),
    }
}

/// A complex value (or each of a multi-valued one) with only the named sub-attributes.
fn only_subs(value: &Value, subs: &[&str]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| only_subs(i, subs)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn remove(object: &mut Map<String, Value>, path: &AttrPath) {
    if path.attr.eq_ignore_ascii_case("id") || path.attr.eq_ignore_ascii_case("schemas") {
        return;
    }
    let container = match &path.schema {
        Some(s) if !s.eq_ignore_ascii_case(urn::USER) && !s.eq_ignore_ascii_case(urn::GROUP) => {
            let key = object.keys().find(|k| k.eq_ignore_ascii_case(s)).cloned();
            match key
                .and_then(|k| object.get_mut(&k))
                .and_then(Value::as_object_mut)
            {
                Some(ext) => ext,
                None => return,
            }
        }
        _ => object,
    };
    let Some(key) = container
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&path.attr))
        .cloned()
    else {
        // `excludedAttributes=urn:...:enterprise:2.0:User` names the extension itself.
        let whole = format!(
            "{}:{}",
            path.schema.as_deref().unwrap_or_default(),
            path.attr
        );
        if let Some(k) = container
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&whole))
            .cloned()
        {
            container.remove(&k);
        }
        return;
    };
    match &path.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => match container.get_mut(&key) {
            Some(Value::Object(inner)) => {
                inner.retain(|k, _| !k.eq_ignore_ascii_case(sub));
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
            }
            _ => {}
        },
    }
}

fn split_list(text: &str) -> ScimResult<Vec<AttrPath>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| AttrPath::parse(s).map_err(Failure))
        .collect()
}

fn number(text: Option<&str>, name: &str) -> ScimResult<Option<i64>> {
    text.map(|t| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| invalid_value(format!("{name} is an integer.")))
    })
    .transpose()
}

fn window(start: Option<i64>, count: Option<i64>) -> (u64, u64) {
    // startIndex below 1 counts as 1; count is clamped to what is advertised.
    let start = u64::try_from(start.unwrap_or(1).max(1)).unwrap_or(1);
    let count = u64::try_from(count.unwrap_or(100).max(0))
        .unwrap_or(0)
        .min(MAX_RESULTS);
    (start, count)
}

impl ListQuery {
    pub fn from_query(query: Option<&str>) -> ScimResult<ListQuery> {
        let pairs = pairs(query)?;
        let filter = get(&pairs, "filter")
            .filter(|f| !f.trim().is_empty())
            .map(Filter::parse)
            .transpose()?;
        let (start, count) = window(
            number(get(&pairs, "startIndex"), "startIndex")?,
            number(get(&pairs, "count"), "count")?,
        );
        Ok(ListQuery {
            filter,
            start,
            count,
            projection: Projection::from_query(&pairs)?,
        })
    }

    /// A `.search` body (RFC 7644 3.4.3).
    pub fn from_search(body: &Value) -> ScimResult<ListQuery> {
        let field = |name: &str| roster_scim::filter::field(body, name).filter(|v| !v.is_null());
        let filter = match field("filter") {
            None => None,
            Some(Value::String(f)) if f.trim().is_empty() => None,
            Some(Value::String(f)) => Some(Filter::parse(f)?),
            Some(_) => return Err(invalid_value("filter is a string.")),
        };
        let int = |name: &str| -> ScimResult<Option<i64>> {
            match field(name) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| invalid_value(format!("{name} is an integer."))),
                Some(Value::String(s)) => number(Some(s), name),
                Some(_) => Err(invalid_value(format!("{name} is an integer."))),
            }
        };
        let list = |name: &str| -> ScimResult<Option<Vec<AttrPath>>> {
            match field(name) {
                None => Ok(None),
                Some(Value::String(s)) => split_list(s).map(Some),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .ok_or_else(|| invalid_value(format!("{name} lists attribute names.")))
                            .and_then(|s| AttrPath::parse(s).map_err(Failure))
                    })
                    .collect::<ScimResult<Vec<_>>>()
                    .map(Some),
                Some(_) => Err(invalid_value(format!("{name} lists attribute names."))),
            }
        };
        let (start, count) = window(int("startIndex")?, int("count")?);
        Ok(ListQuery {
            filter,
            start,
            count,
            projection: Projection::new(list("attributes")?, list("excludedAttributes")?)?,
        })
    }
}

/// The ListResponse body.
pub fn list_response(total: u64, start: u64, resources: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [urn::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Attributes compared exactly by filters; everything else ignores case.
pub fn case_exact(path: &AttrPath) -> bool {
    path.is("id") || path.is("externalId")
}

/// Whether a filter looks at `attr` anywhere.
pub fn mentions(filter: &Filter, attr: &str) -> bool {
    match filter {
        Filter::Present(p) | Filter::Compare(p, _, _) => p.attr.eq_ignore_ascii_case(attr),
        Filter::ValuePath(p, _) => p.attr.eq_ignore_ascii_case(attr),
        Filter::Not(f) => mentions(f, attr),
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, attr) || mentions(b, attr),
    }
}

/// A lookup that every match of the filter satisfies, taken from an `attr eq "value"` term
/// the whole filter requires (the filter itself, or one side of an `and`): SQL narrows to it
/// before the filter is evaluated on what remains.
pub fn narrow<K>(filter: &Filter, classify: &dyn Fn(&AttrPath, &str) -> Option<K>) -> Option<K> {
    match filter {
        Filter::Compare(path, roster_scim::CompareOp::Eq, Value::String(v))
            if path.schema.as_deref().is_none_or(|s| {
                s.eq_ignore_ascii_case(urn::USER) || s.eq_ignore_ascii_case(urn::GROUP)
            }) =>
        {
            classify(path, v)
        }
        Filter::ValuePath(outer, inner) if outer.sub.is_none() => {
            narrow(inner, &|p: &AttrPath, v: &str| {
                let full = AttrPath {
                    schema: outer.schema.clone(),
                    attr: outer.attr.clone(),
                    sub: Some(p.attr.clone()),
                };
                classify(&full, v)
            })
        }
        Filter::And(a, b) => narrow(a, classify).or_else(|| narrow(b, classify)),
        _ => None,
    }
}

/// A filter no SQL lookup answers exactly, evaluated over the whole (narrowed) collection read
/// in batches of `batch`: `fetch(after)` reads the batch after a cursor and pairs each item with
/// the resource the filter sees. Returns the number of matches and the items of the window
/// `start`/`count`, so memory holds one batch and one page, whatever the collection's size.
pub async fn scan<T, C, F, Fut>(
    filter: &Filter,
    start: u64,
    count: u64,
    batch: u64,
    cursor: fn(&T) -> C,
    mut fetch: F,
) -> ScimResult<(u64, Vec<T>)>
where
    F: FnMut(Option<C>) -> Fut,
    Fut: Future<Output = ScimResult<Vec<(T, Value)>>>,
{
    let mut page = Vec::new();
    let mut total = 0u64;
    let mut after = None;
    loop {
        let items = fetch(after.take()).await?;
        let full = items.len() as u64 >= batch;
        for (item, resource) in items {
            after = Some(cursor(&item));
            if filter.matches(&resource, &case_exact) {
                total += 1;
                if total >= start && (page.len() as u64) < count {
                    page.push(item);
                }
            }
        }
        if !full {
            return Ok((total, page));
        }
    }
}
