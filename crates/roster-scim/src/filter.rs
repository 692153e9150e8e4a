//! The SCIM filter grammar (RFC 7644 3.4.2.2): a tokenizer and a recursive-descent parser with
//! the RFC's precedence (`not` over `and` over `or`), a nesting depth limit and a length limit,
//! so that a hostile filter costs little. Operators and keywords are case-insensitive.
//!
//! A parsed [`Filter`] can be pushed down to SQL by the server or evaluated here against a
//! resource's JSON ([`Filter::matches`]).

use crate::error::{ScimError, ScimType};
use crate::path::AttrPath;
use serde_json::Value;

/// Deeper nesting than this is refused (parentheses, `not`, value paths).
pub const MAX_DEPTH: usize = 32;
/// Longer filters than this are refused.
pub const MAX_LEN: usize = 8 * 1024;
/// Filters with more attribute expressions than this are refused: each is evaluated against
/// every resource a filter cannot be narrowed past, and 600 `co` terms in 8 KiB took seconds.
pub const MAX_TERMS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `attr pr`
    Present(AttrPath),
    /// `attr op value`
    Compare(AttrPath, CompareOp, Value),
    /// `attr[filter]`: some value of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

fn invalid(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, detail)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Value(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '[' => {
                chars.next();
                tokens.push(Token::OpenBracket);
            }
            ']' => {
                chars.next();
                tokens.push(Token::CloseBracket);
            }
            '"' => {
                // A JSON string: find its end, honouring escapes, and let serde decode it.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (j, d) in chars.by_ref() {
                    match (escaped, d) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| invalid("a string is not closed"))?;
                let s: String = serde_json::from_str(&text[i..=end])
                    .map_err(|_| invalid("a string has a bad escape"))?;
                // No stored value holds NUL, and some databases refuse it as a parameter.
                if s.contains('\0') {
                    return Err(invalid("a filter value cannot hold NUL"));
                }
                tokens.push(Token::Value(Value::String(s)));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || "()[]\"".contains(d) {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                let word = &text[i..end];
                let token = match word.to_ascii_lowercase().as_str() {
                    "true" => Token::Value(Value::Bool(true)),
                    "false" => Token::Value(Value::Bool(false)),
                    "null" => Token::Value(Value::Null),
                    _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                        let n: serde_json::Number = word
                            .parse()
                            .map_err(|_| invalid(format!("{word:?} is not a number")))?;
                        Token::Value(Value::Number(n))
                    }
                    _ => Token::Word(word.to_owned()),
                };
                tokens.push(token);
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.next();
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, ScimError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.next();
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, ScimError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("the filter nests deeper than {MAX_DEPTH}")));
        }
        if self.keyword("not") {
            self.next();
            if self.next() != Some(Token::Open) {
                return Err(invalid("`not` must be followed by a parenthesised filter"));
            }
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "a ')'")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "a ')'")?;
            return Ok(inner);
        }
        self.attribute_expression(depth)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), ScimError> {
        if self.next() == Some(token) {
            Ok(())
        } else {
            Err(invalid(format!("expected {what}")))
        }
    }

    fn attribute_expression(&mut self, depth: usize) -> Result<Filter, ScimError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(invalid(format!(
                "the filter has more than {MAX_TERMS} attribute expressions"
            )));
        }
        let Some(Token::Word(word)) = self.next() else {
            return Err(invalid("expected an attribute name"));
        };
        let path = AttrPath::parse(&word)
            .map_err(|_| invalid(format!("{word:?} is not an attribute path")))?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.next();
            let mut inner = self.or(depth + 1)?;
            self.expect(Token::CloseBracket, "a ']'")?;
            // `emails[type eq "work"].value eq "ann@acme.com"`, as Entra ID sends it: the
            // element the brackets select must also match the comparison on its sub-attribute.
            if let Some(Token::Word(sub)) = self.peek()
                && let Some(name) = sub.strip_prefix('.')
            {
                let name = name.to_owned();
                self.next();
                let sub_path = AttrPath::parse(&name)
                    .map_err(|_| invalid(format!("{name:?} is not a sub-attribute")))?;
                let compare = self.comparison(sub_path, &name)?;
                inner = Filter::And(Box::new(inner), Box::new(compare));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path, &word)
    }

    /// `op value` (or `pr`) after the attribute `path`, written `word`.
    fn comparison(&mut self, path: AttrPath, word: &str) -> Result<Filter, ScimError> {
        let Some(Token::Word(op)) = self.next() else {
            return Err(invalid(format!("expected an operator after {word:?}")));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(invalid(format!("{other:?} is not a filter operator"))),
        };
        match self.next() {
            Some(Token::Value(v)) => Ok(Filter::Compare(path, op, v)),
            _ => Err(invalid(format!("expected a value after {word} {op:?}"))),
        }
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        if text.len() > MAX_LEN {
            return Err(invalid(format!(
                "the filter is longer than {MAX_LEN} bytes"
            )));
        }
        let mut parser = Parser {
            tokens: tokenize(text)?,
            at: 0,
            terms: 0,
        };
        if parser.tokens.is_empty() {
            return Err(invalid("the filter is empty"));
        }
        let filter = parser.or(0)?;
        match parser.peek() {
            None => Ok(filter),
            Some(t) => Err(invalid(format!("unexpected {t:?} after the filter"))),
        }
    }

    /// Whether this is one `attr eq value`: the lookup identity providers make, which an index
    /// answers. Any other filter may have to be evaluated against every resource.
    pub fn is_single_eq(&self) -> bool {
        matches!(self, Filter::Compare(_, CompareOp::Eq, _))
    }

    /// Whether the resource (its SCIM JSON) matches. Strings compare case-insensitively except
    /// for the attributes `case_exact` names (such as `id` and `externalId`).
    pub fn matches(&self, resource: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
        match self {
            Filter::Not(f) => !f.matches(resource, case_exact),
            Filter::And(a, b) => a.matches(resource, case_exact) && b.matches(resource, case_exact),
            Filter::Or(a, b) => a.matches(resource, case_exact) || b.matches(resource, case_exact),
            Filter::Present(path) => values(resource, path)
                .iter()
                .any(|v| !v.is_null() && v != &&Value::String(String::new())),
            Filter::Compare(path, op, expected) => {
                let exact = case_exact(path);
                values(resource, path)
                    .iter()
                    .any(|v| compare(v, *op, expected, exact))
            }
            Filter::ValuePath(path, inner) => match field(resource, &path.attr) {
                Some(Value::Array(items)) => {
                    items.iter().any(|item| inner.matches(item, case_exact))
                }
                Some(item @ Value::Object(_)) => inner.matches(item, case_exact),
                _ => false,
            },
        }
    }
}

/// An object's field by case-insensitive name.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The values a path reaches: through arrays (for `emails.value`, or `emails` meaning each
/// email's `value`) and into extension objects keyed by their schema URN.
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let base = match &path.schema {
        Some(urn) => field(resource, urn)
            .filter(|v| v.is_object())
            .unwrap_or(resource),
        None => resource,
    };
    let Some(top) = field(base, &path.attr) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|item| match (&path.sub, item) {
            (Some(sub), Value::Object(_)) => field(item, sub),
            (None, Value::Object(_)) => field(item, "value"),
            (None, v) => Some(v),
            (Some(_), _) => None,
        })
        .collect()
}

fn compare(actual: &Value, op: CompareOp, expected: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, expected) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => a.cmp(&b),
            }
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            _ => return false,
        },
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (a, Value::Null) => return matches!(op, CompareOp::Eq) == a.is_null(),
        _ => return op == CompareOp::Ne,
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;
    use serde_json::json;

    /// Entra ID matches a user by a value path followed by a sub-attribute: the element the
    /// brackets select must match the comparison too.
    #[test]
    fn a_value_path_may_be_followed_by_a_sub_attribute_comparison() {
        let f = Filter::parse(r#"emails[type eq "work"].value eq "ann@acme.com""#).unwrap();
        let both = json!({"emails": [
            {"type": "home", "value": "ann@acme.com"},
            {"type": "work", "value": "other@acme.com"}]});
        let exact = |_: &AttrPath| false;
        assert!(!f.matches(&both, &exact), "no one element is both");
        let work = json!({"emails": [{"type": "work", "value": "ANN@acme.com"}]});
        assert!(f.matches(&work, &exact));
        assert!(Filter::parse(r#"emails[type eq "work"].value"#).is_err());
        assert!(Filter::parse(r#"emails[type eq "work"]. eq "x""#).is_err());
    }

    /// The example filters of RFC 7644 section 3.4.2.2.
    const RFC_EXAMPLES: &[&str] = &[
        r#"userName Eq "john""#,
        r#"Username eq "john""#,
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];

    fn bjensen() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223", "userName": "bjensen@example.com", "title": "Tour Guide",
            "userType": "Employee", "active": true, "name": {"familyName": "O'Malley"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"}
        })
    }

    fn no_exact(_: &AttrPath) -> bool {
        false
    }

    #[test]
    fn parses_every_rfc_example() {
        for text in RFC_EXAMPLES {
            Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn a_hundred_terms_at_most_and_single_eq_is_told_apart() {
        let terms = |n: usize| vec![r#"userName co "a""#; n].join(" or ");
        assert!(Filter::parse(&terms(MAX_TERMS)).is_ok());
        let too_many = Filter::parse(&terms(MAX_TERMS + 1)).unwrap_err();
        assert_eq!(too_many.scim_type, Some(ScimType::InvalidFilter));
        assert!(Filter::parse(r#"userName eq "a""#).unwrap().is_single_eq());
        for other in [r#"userName co "a""#, r#"a eq 1 and b eq 2"#, "a pr"] {
            assert!(!Filter::parse(other).unwrap().is_single_eq(), "{other}");
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let f = Filter::parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref right) if matches!(**right, Filter::And(_, _))));
    }

    #[test]
    fn evaluates_against_a_resource() {
        let user = bjensen();
        let cases = [
            (r#"USERNAME EQ "BJensen@Example.com""#, true),
            (r#"name.familyName co "o'mal""#, true),
            (r#"title pr and userType eq "Employee""#, true),
            (r#"nickName pr"#, false),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (r#"emails co "jensen.org""#, true),
            (r#"not (userType eq "Employee")"#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"active eq true"#, true),
            (r#"active eq "true""#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#,
                true,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Filter::parse(text).unwrap().matches(&user, &no_exact),
                expected,
                "{text}"
            );
        }
        let exact = |p: &AttrPath| p.is("id");
        assert!(
            !Filter::parse(r#"id eq "2819C223""#)
                .unwrap()
                .matches(&user, &exact)
        );
    }

    #[test]
    fn refuses_malformed_and_hostile_filters() {
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName zz "x""#,
            r#"userName eq "x"#,
            "(userName pr",
            r#"userName eq "x" and"#,
            r#"emails[type eq "work""#,
            "not userName pr",
            r#"userName eq "x")"#,
            r#"1abc eq "x""#,
            "userName eq 1e",
            r#"userName eq "\q""#,
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some(ScimType::InvalidFilter)),
                "{bad:?}"
            );
        }
        let deep = format!("{}userName pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(
            Filter::parse(&deep).is_err(),
            "a filter bomb is refused, not a stack overflow"
        );
        let nots = format!("{}userName pr{}", "not (".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&nots).is_err());
        let long = format!(r#"userName eq "{}""#, "x".repeat(MAX_LEN));
        assert!(Filter::parse(&long).is_err());
    }
}
