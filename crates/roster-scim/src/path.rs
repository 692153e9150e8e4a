//! Attribute paths (RFC 7644 3.10): `[schema URN ":"] attribute ["." sub-attribute]`, and the
//! PATCH path, which may also filter a multi-valued attribute: `members[value eq "x"]`,
//! `emails[type eq "work"].value`. Names compare case-insensitively.

use crate::error::{ScimError, ScimType};
use crate::filter::Filter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path carried one.
    pub schema: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `name`, `name.sub`, or `urn:...:Resource:name[.sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, ScimError> {
        let invalid = || {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("{text:?} is not an attribute path"),
            )
        };
        let text = text.trim();
        let (schema, rest) = if text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            let (schema, rest) = text.rsplit_once(':').ok_or_else(invalid)?;
            // A schema URN has parts of its own: `urn:<namespace>:<...>`.
            if !schema.get(4..).is_some_and(|s| s.contains(':')) {
                return Err(invalid());
            }
            (Some(schema.to_owned()), rest)
        } else {
            (None, text)
        };
        let (attr, sub) = match rest.split_once('.') {
            Some((a, s)) => (a, Some(s)),
            None => (rest, None),
        };
        let name_ok = |n: &str| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
        };
        if !name_ok(attr) || sub.is_some_and(|s| !name_ok(s)) {
            return Err(invalid());
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// Whether this path names `attr` (and no sub-attribute), case-insensitively.
    pub fn is(&self, attr: &str) -> bool {
        self.sub.is_none() && self.attr.eq_ignore_ascii_case(attr)
    }

    /// Whether this path names `attr.sub`, case-insensitively.
    pub fn is_sub(&self, attr: &str, sub: &str) -> bool {
        self.attr.eq_ignore_ascii_case(attr)
            && self
                .sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(sub))
    }
}

/// The target of a PATCH operation.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    /// `attr[filter]`: only the values of the multi-valued attribute that match.
    pub filter: Option<Filter>,
    /// `attr[filter].sub`: a sub-attribute of the matching values.
    pub sub: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let text = text.trim();
        let Some(open) = text.find('[') else {
            return Ok(PatchPath {
                attr: AttrPath::parse(text)?,
                filter: None,
                sub: None,
            });
        };
        let close = text.rfind(']').filter(|c| *c > open).ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("{text:?} has an unclosed '['"),
            )
        })?;
        let attr = AttrPath::parse(&text[..open])?;
        let filter = Filter::parse(&text[open + 1..close]).map_err(|e| {
            ScimError::bad_request(
                ScimType::InvalidPath,
                format!("in path {text:?}: {}", e.detail),
            )
        })?;
        let sub = match &text[close + 1..] {
            "" => None,
            rest => match rest.strip_prefix('.') {
                Some(s)
                    if AttrPath::parse(s).is_ok_and(|p| p.sub.is_none() && p.schema.is_none()) =>
                {
                    Some(s.to_owned())
                }
                _ => {
                    return Err(ScimError::bad_request(
                        ScimType::InvalidPath,
                        format!("{text:?} is not a valid path"),
                    ));
                }
            },
        };
        Ok(PatchPath {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;

    #[test]
    fn parses_plain_dotted_and_urn_paths() {
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref(), p.schema),
            ("name", Some("givenName"), None)
        );
        let p = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert_eq!(
            (p.schema.as_deref(), p.attr.as_str()),
            (Some(crate::urn::USER), "userName")
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert!(p.is_sub("MANAGER", "Value"));
        for bad in [
            "", "1abc", "a b", "a.b.c", "name.", "urn:x", "urn:", "urnаа", "uр:x",
        ] {
            assert!(AttrPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_patch_paths_with_filters() {
        let p = PatchPath::parse(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.attr.is("members") && p.filter.is_some() && p.sub.is_none());
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.sub.as_deref(), Some("value"));
        for bad in [
            r#"members[value eq "x""#,
            r#"members[value eq]"#,
            r#"emails[type eq "work"].a.b"#,
        ] {
            assert_eq!(
                PatchPath::parse(bad).unwrap_err().scim_type,
                Some(ScimType::InvalidPath),
                "{bad}"
            );
        }
    }
}
