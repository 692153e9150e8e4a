//! `roster import members`: reads a roster CSV (columns `email`, and optionally `name`, `role`
//! and `groups` separated by `;`) and hands its rows to one set-based store call, in one
//! transaction, a chunk at a time as the store asks for them (a million rows are never in
//! memory at once). A bad row stops the import with its line number, and nothing is kept.

use roster_core::Origin;
use roster_core::store::{IMPORT_CHUNK, ImportRow, ImportRows, ImportSummary, NOT_A_PERSON};
use roster_core::{Role, Store, Timestamp, email, rules};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read};
use std::sync::mpsc;
use uuid::Uuid;

const MAX_GROUP_NAME: usize = 256;
const MAX_NAME: usize = 150;

/// What a roster CSV is read from: its header line, read first to find its delimiter, then the
/// rest.
type Source<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, std::io::BufReader<R>>;

/// A roster CSV, read and validated a chunk at a time; every error names its line.
pub struct CsvRows<R> {
    records: csv::StringRecordsIntoIter<Source<R>>,
    email_at: usize,
    name_at: Option<usize>,
    role_at: Option<usize>,
    groups_at: Option<usize>,
    /// Each email's line, for the error that names a repeated one.
    seen: HashMap<Box<str>, u64>,
    progress: Option<indicatif::ProgressBar>,
}

impl<R: Read> CsvRows<R> {
    /// Reads the header line: separated by commas, semicolons or tabs, as the console reads a
    /// pasted CSV (`email_header`); a column named twice is refused rather than one of the two
    /// read.
    pub fn new(input: R) -> Result<Self, String> {
        let mut input = std::io::BufReader::new(input);
        let mut first = Vec::new();
        input
            .read_until(b'\n', &mut first)
            .map_err(|e| format!("cannot read the header line: {e}"))?;
        let delimiter = email_header(&String::from_utf8_lossy(&first)).unwrap_or(b',');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(std::io::Cursor::new(first).chain(input));
        let headers = reader
            .headers()
            .map_err(|e| format!("cannot read the header line: {e}"))?;
        let column = |name: &str| {
            let mut named = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name));
            match (named.next(), named.next()) {
                (Some(_), Some(_)) => Err(format!("the header line names `{name}` twice")),
                (at, _) => Ok(at.map(|(i, _)| i)),
            }
        };
        let email_at = column("email")?.ok_or("the header line has no `email` column")?;
        let (name_at, role_at, groups_at) = (column("name")?, column("role")?, column("groups")?);
        Ok(CsvRows {
            records: reader.into_records(),
            email_at,
            name_at,
            role_at,
            groups_at,
            seen: HashMap::new(),
            progress: progress_bar(),
        })
    }
}

impl<R: Read + Send> ImportRows for CsvRows<R> {
    fn next_rows(&mut self, max: usize) -> Result<Vec<ImportRow>, String> {
        let mut rows = Vec::new();
        for record in self.records.by_ref().take(max) {
            let record = record.map_err(|e| match e.position() {
                Some(p) => format!("line {}: {e}", p.line()),
                None => e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let field =
                |at: Option<usize>| at.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
            let row = parse_row(
                field(Some(self.email_at)),
                field(self.name_at),
                field(self.role_at),
                field(self.groups_at),
            )
            .map_err(|e| format!("line {line}: {e}"))?;
            if let Some(first) = self.seen.insert(row.email_norm.as_str().into(), line) {
                return Err(format!(
                    "line {line}: {} is already on line {first}",
                    row.email
                ));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            // Every row is read: the emails seen (80 MB at a million rows) are let go before
            // the store writes.
            self.seen = HashMap::new();
        }
        if let Some(bar) = &self.progress {
            bar.inc(rows.len() as u64);
            if rows.is_empty() {
                bar.set_message("(all of them; writing them in one transaction)");
            }
        }
        Ok(rows)
    }
}

/// Reads and checks the next chunk of rows on a thread of its own while the store writes the
/// chunk before, so that the file's parsing and the database's writing overlap: reading and
/// checking a million rows is seconds of one core, which the import otherwise waited for between
/// its chunks. One chunk is read ahead at most (a rendezvous channel), so memory holds two.
pub struct ReadAhead {
    chunks: mpsc::Receiver<Result<Vec<ImportRow>, String>>,
    pending: Vec<ImportRow>,
    done: bool,
    /// Waited for when the import ends, so that the reader's progress line is finished
    /// before anything else is printed.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    pub fn new(mut rows: impl ImportRows + 'static) -> Result<Self, String> {
        let (sender, chunks) = mpsc::sync_channel(0);
        let reader = std::thread::Builder::new()
            .name("import-reader".into())
            .spawn(move || {
                loop {
                    let chunk = rows.next_rows(IMPORT_CHUNK);
                    let last = !matches!(&chunk, Ok(rows) if !rows.is_empty());
                    // The store stopped asking (it failed): nothing more is wanted.
                    if sender.send(chunk).is_err() || last {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the file's reader: {e}"))?;
        Ok(ReadAhead {
            chunks,
            pending: Vec::new(),
            done: false,
            reader: Some(reader),
        })
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // A reader still at work stops at its next chunk, whose send then fails.
        let (_, closed) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.chunks, closed));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl ImportRows for ReadAhead {
    fn next_rows(&mut self, max: usize) -> Result<Vec<ImportRow>, String> {
        while self.pending.len() < max && !self.done {
            match self.chunks.recv() {
                Ok(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Ok(Ok(chunk)) if self.pending.is_empty() => self.pending = chunk,
                Ok(Ok(chunk)) => self.pending.extend(chunk),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("the file's reader stopped".into()),
            }
        }
        let rest = self.pending.split_off(max.min(self.pending.len()));
        Ok(std::mem::replace(&mut self.pending, rest))
    }
}

/// The spinner's last line stays on the terminal, above the summary.
impl<R> Drop for CsvRows<R> {
    fn drop(&mut self) {
        if let Some(bar) = &self.progress {
            bar.finish();
        }
    }
}

/// The delimiter of a CSV whose first line names an `email` column (quoted or not; separated
/// by commas, semicolons as spreadsheets in many locales write them, or tabs), else `None`.
/// The console's pasted lists and `roster import members` read a header alike.
pub fn email_header(text: &str) -> Option<u8> {
    let first = text.lines().next().unwrap_or_default();
    let first = first.trim_start_matches('\u{feff}');
    [b',', b';', b'\t'].into_iter().find(|&delimiter| {
        csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .trim(csv::Trim::All)
            .from_reader(first.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
            .is_some_and(|header| header.iter().any(|h| h.eq_ignore_ascii_case("email")))
    })
}

/// What a spreadsheet program takes a cell starting with as a formula (and `'`, which it hides
/// as the marker of text).
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r', '\''];

/// A text cell as the export writes it: one starting like a formula gets a `'` in front, so
/// that a name such as `=HYPERLINK(...)` set by a SCIM client is shown as text, not run, when
/// an operator opens the file in a spreadsheet program. [`from_cell`] takes it off again, so
/// an export imports as it was.
pub fn to_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The text of a cell that [`to_cell`] wrote: a `'` followed by what starts a formula is the
/// export's marker, and goes. Any other cell (`'Ohara`) is read as it is.
fn from_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

fn parse_row(
    address: Option<&str>,
    name: Option<&str>,
    role: Option<&str>,
    groups: Option<&str>,
) -> Result<ImportRow, String> {
    let (address, name, groups) = (
        address.map(from_cell),
        name.map(from_cell),
        groups.map(from_cell),
    );
    let address = address.ok_or("the email is empty")?;
    email::validate(address).map_err(|e| format!("email {address:?}: {e}"))?;
    if rules::is_account_address(address) {
        return Err(format!("email {address:?}: {NOT_A_PERSON}"));
    }
    if let Some(n) = name {
        crate::input::check_text(n, MAX_NAME).map_err(|e| format!("name: {e}"))?;
    }
    let role = role
        .map(|r| Role::parse(r).ok_or_else(|| format!("role {r:?} is not {}", Role::EXPECTED)))
        .transpose()?;
    // A line break in the groups cell is a quote left open: the CSV reader takes everything
    // after it, to the next quote or the end of the file, as that cell, rows and all.
    if groups.is_some_and(|g| g.contains(['\n', '\r'])) {
        return Err("the groups cell runs over a line break: is a quote (\") left open?".into());
    }
    let mut group_names: Vec<String> = Vec::new();
    for g in groups
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        crate::input::check_text(g, MAX_GROUP_NAME).map_err(|e| format!("group {g:?}: {e}"))?;
        if !group_names.iter().any(|known| known == g) {
            group_names.push(g.to_owned());
        }
    }
    Ok(ImportRow {
        email: address.to_owned(),
        email_norm: email::normalize(address),
        name: name.map(str::to_owned),
        role,
        groups: group_names,
    })
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} rows read and checked {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    })
}

/// Applies the rows, read as the store asks for them.
pub async fn apply(
    store: &dyn Store,
    org: Uuid,
    rows: &mut dyn ImportRows,
    dry_run: bool,
    now: Timestamp,
) -> Result<ImportSummary, String> {
    store
        .import_members(org, rows, dry_run, now, &Origin::cli())
        .await
        .map_err(|e| match e {
            roster_core::StoreError::NotFound => format!("no organization {org}"),
            e => e.to_string(),
        })
}

pub fn describe(summary: &ImportSummary, dry_run: bool) -> String {
    let verb = if dry_run { "would" } else { "did" };
    format!(
        "{rows} rows: {verb} create {users} people, add {members} members to the team, change \
         {roles} roles, create {groups} groups, add {gms} group memberships{tail}",
        rows = summary.rows,
        users = summary.users_created,
        members = summary.members_added,
        roles = summary.roles_changed,
        groups = summary.groups_created,
        gms = summary.group_memberships_added,
        tail = if dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `csv`, as the store would read them.
    fn read_rows(csv: &str) -> Result<Vec<ImportRow>, String> {
        let mut source = CsvRows::new(csv.as_bytes())?;
        let mut all = Vec::new();
        loop {
            let chunk = source.next_rows(1)?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend(chunk);
        }
    }

    /// The emails of every row, asked for `max` at a time.
    fn emails(rows: &mut dyn ImportRows, max: usize) -> Result<Vec<String>, String> {
        let mut all = Vec::new();
        loop {
            let chunk = rows.next_rows(max)?;
            if chunk.is_empty() {
                return Ok(all);
            }
            assert!(chunk.len() <= max);
            all.extend(chunk.into_iter().map(|r| r.email));
        }
    }

    #[test]
    fn reading_ahead_gives_the_same_rows_and_errors() {
        let rows = IMPORT_CHUNK + 3;
        let mut csv = String::from("email\n");
        for i in 0..rows {
            csv.push_str(&format!("p{i}@x.com\n"));
        }
        let direct = emails(&mut CsvRows::new(csv.as_bytes()).expect("header"), rows);
        let direct = direct.expect("valid rows");
        assert_eq!(direct.len(), rows);
        for max in [IMPORT_CHUNK, 7, rows + 1] {
            let ahead =
                ReadAhead::new(CsvRows::new(std::io::Cursor::new(csv.clone())).expect("header"));
            let ahead = emails(&mut ahead.expect("reader"), max).expect("valid rows");
            assert_eq!(ahead, direct, "asked {max} at a time");
        }
        // A bad row in the second chunk: the first chunk comes, then the error with its line.
        csv.push_str("not-an-email\n");
        let mut ahead = ReadAhead::new(CsvRows::new(std::io::Cursor::new(csv)).expect("header"))
            .expect("reader");
        assert_eq!(
            ahead.next_rows(IMPORT_CHUNK).expect("first chunk").len(),
            IMPORT_CHUNK
        );
        let error = ahead.next_rows(IMPORT_CHUNK).expect_err("refused");
        assert!(error.starts_with(&format!("line {}:", rows + 2)), "{error}");
    }

    #[test]
    fn reads_rows_and_names_the_bad_line() {
        let csv = "email,name,role,groups\nann@x.com,Ann,admin,A;B; A\nbob@x.com,,5,\n";
        let rows = read_rows(csv).expect("valid rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].role, Some(Role::Admin));
        assert_eq!(rows[0].groups, ["A", "B"]);
        assert_eq!(
            (rows[1].name.as_deref(), rows[1].role),
            (None, Some(Role::Manager))
        );
        let bad = "email,role\nann@x.com,1\nnot-an-email,1\n";
        assert!(read_rows(bad).expect_err("refused").starts_with("line 3:"));
        let dup = "email\nann@x.com\nANN@x.com\n";
        assert_eq!(
            read_rows(dup).expect_err("refused"),
            "line 3: ANN@x.com is already on line 2"
        );
        assert!(read_rows("name\nx\n").is_err());
        assert!(
            read_rows("email,role\na@x.com,boss\n")
                .expect_err("refused")
                .contains("line 2")
        );
    }
}
