//! Member lists sent from a form (a pasted list, or an uploaded CSV) for a group's or a
//! campaign's replace: read into the items the API takes, previewed with the API's own dry run,
//! then applied as previewed.
//!
//! The API refuses a whole payload when any item breaks a rule, naming each bad item. The
//! preview shows those items as *rejected, with the reason*, and previews the rest; the
//! confirmation applies exactly the rest, under `If-Match` with the version the preview read,
//! so that a list changed by someone else in between is refused rather than changed blindly.

use super::html;
use super::{Problem, Refusal, answered};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::{Map, Value};
use std::future::Future;

/// How many of each kind of line a preview lists by name.
const SHOWN: usize = 200;

/// A CSV row: its email, and the rest of its cells by column.
type Row = (String, Map<String, Value>);

/// The lines of a list, each as the API's item and as a person reads it.
pub struct Lines {
    pub items: Vec<Value>,
    pub labels: Vec<String>,
}

impl Lines {
    /// People by email: a CSV with an `email` column, or any list of addresses (one per line,
    /// or separated by commas, semicolons or spaces). At most `max` of them (`--max-items`).
    pub fn emails(text: &str, max: usize) -> Result<Lines, String> {
        let labels: Vec<String> = if let Some(delimiter) = crate::import::email_header(text) {
            let rows = Self::csv(text, delimiter, max, None)?;
            rows.into_iter().map(|(email, _)| email).collect()
        } else {
            let labels: Vec<String> = text
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .map(|s| s.trim_matches('"'))
                .filter(|s| !s.is_empty())
                .take(max.saturating_add(1))
                .map(str::to_owned)
                .collect();
            if labels.len() > max {
                return Err(too_many(max));
            }
            labels
        };
        let items = labels.iter().map(|l| Value::String(l.clone())).collect();
        Ok(Lines { items, labels })
    }

    /// Campaign members: a CSV with an `email` column; every other column is a key of the
    /// person's `data` (its text as given; empty cells are left out). At most `max` rows, whose
    /// data may take at most `bytes` (`--max-body-bytes`, as the same payload sent as JSON).
    pub fn with_data(text: &str, max: usize, bytes: usize) -> Result<Lines, String> {
        let rows = Self::csv(
            text,
            crate::import::email_header(text).unwrap_or(b','),
            max,
            Some(bytes),
        )?;
        let mut lines = Lines {
            items: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
        };
        for (email, data) in rows {
            let mut item = Map::new();
            item.insert("email".into(), Value::String(email.clone()));
            item.insert("data".into(), Value::Object(data));
            lines.items.push(Value::Object(item));
            lines.labels.push(email);
        }
        Ok(lines)
    }

    /// The rows of a CSV (at most `max`), with their data when given its limit in bytes: every
    /// row repeats the header's names, so a long header must not multiply past it.
    fn csv(text: &str, delimiter: u8, max: usize, data: Option<usize>) -> Result<Vec<Row>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| format!("The CSV cannot be read: {e}"))?
            .clone();
        let Some(at) = headers.iter().position(|h| h.eq_ignore_ascii_case("email")) else {
            return Err("The CSV needs a header row with an email column.".into());
        };
        let mut rows = Vec::new();
        let mut built = 0usize;
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| format!("Line {} cannot be read: {e}", n + 2))?;
            let email = record.get(at).unwrap_or_default().to_owned();
            if email.is_empty() && record.iter().all(str::is_empty) {
                continue;
            }
            if rows.len() == max {
                return Err(too_many(max));
            }
            let mut fields = Map::new();
            for (i, (header, cell)) in headers.iter().zip(record.iter()).enumerate() {
                let Some(limit) = data else { break };
                if i != at && !cell.is_empty() && !header.is_empty() {
                    built += header.len() + cell.len();
                    if built > limit {
                        return Err(format!(
                            "The CSV's data is too large: the change may hold {limit} bytes of it."
                        ));
                    }
                    fields.insert(header.to_owned(), Value::String(cell.to_owned()));
                }
            }
            rows.push((email, fields));
        }
        Ok(rows)
    }

    /// The lines without those at `skip` (positions), as a JSON array body. A list that keeps
    /// nobody is refused: applied, it would remove everyone, which is never what a list of
    /// people meant (a file read the wrong way rejects every line; an empty one names nobody).
    /// Removing everyone is done member by member, or by the API.
    pub fn body(&self, skip: &[usize]) -> Result<Vec<u8>, String> {
        let kept: Vec<&Value> = self.kept(skip).map(|i| &self.items[i]).collect();
        if self.items.is_empty() {
            return Err(
                "This list names nobody, so applying it would remove everyone: nothing \
                 was changed."
                    .into(),
            );
        }
        if kept.is_empty() {
            return Err(format!(
                "None of the list's {} lines can be used, so applying it would remove everyone: \
                 nothing was changed. Check that the file has an email column or one address a line.",
                self.items.len()
            ));
        }
        Ok(serde_json::to_vec(&kept).unwrap_or_default())
    }

    /// The positions of the lines not at `skip`.
    fn kept(&self, skip: &[usize]) -> impl Iterator<Item = usize> + use<> {
        let mut left_out = vec![false; self.items.len()];
        for &i in skip {
            if let Some(slot) = left_out.get_mut(i) {
                *slot = true;
            }
        }
        (0..self.items.len()).filter(move |&i| !left_out[i])
    }
}

fn too_many(max: usize) -> String {
    format!("This list has more than {max} lines, the most one change takes.")
}

/// A preview: what the change would do, and the lines that it leaves out, with the reason.
pub struct Preview {
    pub diff: Value,
    pub rejected: Vec<(usize, String)>,
}

impl Preview {
    pub fn skip(&self) -> Vec<usize> {
        self.rejected.iter().map(|(i, _)| *i).collect()
    }

    /// The skipped positions as a form field carries them.
    pub fn skip_field(&self) -> String {
        let all: Vec<String> = self.skip().iter().map(usize::to_string).collect();
        all.join(",")
    }
}

/// The body a confirmation applies: its list as read (`lines`), without the lines the
/// preview left out (the form's `skip`); a list that cannot be read or keeps nobody is a 400.
pub fn confirmed(lines: Result<Lines, String>, form: &super::Form) -> Result<Vec<u8>, Problem> {
    let refused = |message| Problem {
        status: axum::http::StatusCode::BAD_REQUEST,
        message,
    };
    lines
        .map_err(refused)?
        .body(&parse_skip(form.get("skip")))
        .map_err(refused)
}

/// Positions as a form field carried them (anything else is ignored).
pub fn parse_skip(field: &str) -> Vec<usize> {
    field
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// Runs the API's dry run on the lines, leaving out every line it refuses (a refusal names
/// each bad item; the rest is asked again, at most a few times).
pub async fn preview<F, Fut>(lines: &Lines, dry_run: F) -> Result<Preview, Refusal>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = ApiResult<Response>>,
{
    let mut rejected: Vec<(usize, String)> = Vec::new();
    for _ in 0..3 {
        let skip: Vec<usize> = rejected.iter().map(|(i, _)| *i).collect();
        let kept: Vec<usize> = lines.kept(&skip).collect();
        let body = match lines.body(&skip) {
            Ok(body) => body,
            Err(message) => return Err(every_line_rejected(message, &rejected, lines)),
        };
        match answered(dry_run(body).await).await {
            Ok(diff) => {
                rejected.sort_unstable();
                return Ok(Preview { diff, rejected });
            }
            Err(ApiError::BadRequest(Value::Array(items))) => {
                for (at, error) in items.iter().enumerate() {
                    let Some(fields) = error.as_object().filter(|f| !f.is_empty()) else {
                        continue;
                    };
                    let reason: Vec<String> = fields
                        .values()
                        .flat_map(|v| match v {
                            Value::Array(m) => m
                                .iter()
                                .map(|x| x.as_str().unwrap_or_default().to_owned())
                                .collect(),
                            other => vec![other.to_string()],
                        })
                        .collect();
                    if let Some(&position) = kept.get(at) {
                        rejected.push((position, reason.join(" ")));
                    }
                }
            }
            Err(e) => return Err(Refusal::of(e)),
        }
    }
    Err(Refusal::of(ApiError::parse(
        "The list could not be previewed: try a shorter one.",
    )))
}

/// The refusal of a list none of whose lines can be used, naming the first few reasons.
fn every_line_rejected(message: String, rejected: &[(usize, String)], lines: &Lines) -> Refusal {
    let mut messages = vec![message];
    let mut first: Vec<&(usize, String)> = rejected.iter().collect();
    first.sort_unstable();
    for (at, reason) in first.into_iter().take(3) {
        let label = lines.labels.get(*at).map_or("", String::as_str);
        messages.push(format!("Line {}: {label} — {reason}", at + 1));
    }
    refusal(messages)
}

/// A form's refusal of its list, shown next to the list.
pub fn refusal(messages: Vec<String>) -> Refusal {
    let mut refusal = Refusal {
        status: 400,
        ..Refusal::default()
    };
    refusal.fields.insert("list".into(), messages);
    refusal
}

/// The people of one side of a diff, as a person reads them.
fn who(item: &Value) -> String {
    let email = item["email"].as_str().unwrap_or_default();
    match item["user"]["name"]
        .as_str()
        .or(item["account"]["name"].as_str())
    {
        Some(name) if !name.is_empty() => format!("{email} ({name})"),
        _ => email.to_owned(),
    }
}

fn side(title: &str, items: &[Value]) -> Markup {
    html! {
        section {
            h3 { (title) " (" (items.len()) ")" }
            @if items.is_empty() { p.muted { "None." } } @else {
                ul {
                    @for item in items.iter().take(SHOWN) { li { (who(item)) } }
                    @if items.len() > SHOWN { li.muted { "and " (items.len() - SHOWN) " more" } }
                }
            }
        }
    }
}

/// The diff of a preview: added, removed, updated (campaigns), unchanged, and rejected lines.
pub fn diff(preview: &Preview, lines: &Lines, updated: bool) -> Markup {
    let list = |name: &str| preview.diff[name].as_array().cloned().unwrap_or_default();
    let unchanged = preview.diff["unchanged"].as_u64().unwrap_or_default();
    html! {
        div.diff {
            (side("Added", &list("added")))
            (side("Removed", &list("removed")))
            @if updated { (side("Data updated", &list("updated"))) }
            section {
                h3 { "Unchanged (" (unchanged) ")" }
                p.muted { "Already there, and staying." }
            }
            section {
                h3 { "Rejected (" (preview.rejected.len()) ")" }
                @if preview.rejected.is_empty() { p.muted { "None." } } @else {
                    ul {
                        @for (at, reason) in preview.rejected.iter().take(SHOWN) {
                            li { "Line " (at + 1) ": " strong { (lines.labels.get(*at).map_or("", String::as_str)) } " — " (reason) }
                        }
                        @if preview.rejected.len() > SHOWN { li.muted { "and " (preview.rejected.len() - SHOWN) " more" } }
                    }
                }
            }
        }
    }
}

/// The confirmation form under a preview: the list as sent, the lines to leave out, and the
/// version the preview read.
pub fn confirm_form(
    action: &str,
    csrf: &str,
    text: &str,
    preview: &Preview,
    version: i64,
    back: &str,
) -> Markup {
    html! {
        // Multipart, as the upload came: URL-encoding would send the list up to three times
        // its size, past the body limit the upload itself was within.
        form method="post" action=(action) enctype="multipart/form-data" {
            (html::token(csrf))
            input type="hidden" name="list" value=(text);
            input type="hidden" name="skip" value=(preview.skip_field());
            input type="hidden" name="version" value=(version);
            p { "Nothing has changed yet. Confirm to apply exactly this change; rejected lines are left out." }
            button.danger type="submit" { "Apply this change" }
            " "
            a.button.secondary href=(back) { "Cancel" }
        }
    }
}

/// `If-Match` for the version a preview read.
pub fn if_match(version: &str) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    let tag = crate::preconditions::Tag::version(version.trim().parse().unwrap_or(-1)).weak();
    if let Ok(value) = axum::http::HeaderValue::from_str(&tag) {
        headers.insert(axum::http::header::IF_MATCH, value);
    }
    headers
}

/// The list a form sent: its pasted text, or else its uploaded file.
pub fn sent(form: &super::Form) -> String {
    let pasted = form.get("list");
    let text = if pasted.trim().is_empty() {
        form.get("file")
    } else {
        pasted
    };
    // A spreadsheet's "CSV UTF-8" starts with a byte-order mark, which is no part of `email`.
    text.trim_start_matches('\u{feff}').to_owned()
}
