//! What the shared sources in `crates/roster-sql/` need to know of SQLite: the database, how a
//! column holds a timestamp, the SQL for "now", and which pool reads and which writes.

use roster_core::{StoreResult, Timestamp};

pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Backend = crate::SqliteStore;
pub(crate) type Conn = sqlx::SqliteConnection;

/// A timestamp as a column holds it: integer microseconds since the epoch (UTC).
pub(crate) type Stamp = i64;

pub(crate) fn ts(t: Timestamp) -> Stamp {
    t.as_micros()
}

pub(crate) fn at(stamp: Stamp) -> Timestamp {
    Timestamp::from_micros(stamp)
}

/// SQL for the time now, as a column holds it.
pub(crate) const NOW: &str = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";

/// SQL that tests a column against the list of texts bound as [`texts`] at `param` (`"$2"`).
pub(crate) fn in_texts(param: &str) -> String {
    format!("IN (SELECT value FROM json_each({param}))")
}

/// SQL that tests a column against the list of ids bound as [`uuids`] at `param`.
pub(crate) fn in_uuids(param: &str) -> String {
    format!("IN (SELECT unhex(value) FROM json_each({param}))")
}

/// A FROM item of the pairs of texts bound as one JSON array of `[a, b]` arrays at `param`,
/// with columns `a` and `b`.
pub(crate) fn each_pair(param: &str) -> String {
    format!("(SELECT value ->> 0 AS a, value ->> 1 AS b FROM json_each({param}))")
}

/// SQL for the later of `a` and a moment after `b`: a version's modification time always
/// moves, even when the clock did not.
pub(crate) fn later_of(a: &str, b: &str) -> String {
    format!("max({a}, {b} + 1)")
}

/// A list of texts as one parameter: a JSON array, which `json_each` expands.
pub(crate) fn texts(list: &[String]) -> StoreResult<String> {
    crate::import::to_json(&list)
}

/// A list of ids as one parameter: a JSON array of their hex forms (a uuid column holds the
/// 16 bytes, which `unhex` gives back).
pub(crate) fn uuids(list: &[uuid::Uuid]) -> StoreResult<String> {
    let hex: Vec<String> = list.iter().map(|id| id.simple().to_string()).collect();
    crate::import::to_json(&hex)
}

/// A join that the planner must take in the order written: SQLite reorders a plain `JOIN`, not
/// a `CROSS JOIN`.
pub(crate) const JOIN_IN_ORDER: &str = "CROSS JOIN";

/// Runs the rest of the transaction alone among those that name `_key`: every write
/// transaction already is, as it begins `IMMEDIATE`.
pub(crate) async fn one_at_a_time(_conn: &mut Conn, _key: &str) -> StoreResult<()> {
    Ok(())
}

/// Lets the transaction commit without waiting for the disk: SQLite's WAL at
/// `synchronous = NORMAL` already does, for every transaction.
pub(crate) async fn lazy_commit(_conn: &mut Conn) -> StoreResult<()> {
    Ok(())
}

impl crate::SqliteStore {
    /// Reads go to the pool of readers, which never wait for the writer (WAL).
    pub(crate) fn reads(&self) -> &sqlx::Pool<Db> {
        &self.reader
    }

    /// The pools, by name, for `/metrics`.
    pub(crate) fn named_pools(&self) -> [(&'static str, &sqlx::Pool<Db>); 2] {
        [("reader", &self.reader), ("writer", &self.writer)]
    }

    /// Writes go to the one writer connection.
    pub(crate) fn writes(&self) -> &sqlx::Pool<Db> {
        &self.writer
    }

    /// A write transaction: `IMMEDIATE`, so it holds the database from its first statement
    /// and a read-then-write never finds the database changed under it.
    pub(crate) async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(crate::other)
    }
}

/// A row-lock clause (`" FOR UPDATE OF i"`) as this database takes it: not at all, as SQLite's
/// one writer holds the whole database from `BEGIN IMMEDIATE` on (see `tx.rs`).
pub(crate) fn locks(_clause: &'static str) -> &'static str {
    ""
}

/// Refreshes a table's statistics after a large change, on PostgreSQL; SQLite's planner needs
/// none for these statements (its `PRAGMA optimize` runs as connections close).
pub(crate) fn analyze_if_large(_store: &Backend, _table: &'static str, _items: usize) {}

/// How a page of `table`'s rows (aliased `alias` in the outer query) is chosen on an index
/// alone and then read: the SQL that comes before the inner query's conditions and after it.
/// By `rowid`: a deep page skips index entries, not rows.
pub(crate) fn page_of(table: &str, alias: &str) -> (String, String) {
    (
        format!(" JOIN (SELECT rowid AS page_rowid FROM {table} WHERE "),
        format!(") page ON page.page_rowid = {alias}.rowid"),
    )
}

/// SQL for a JSON array, as text, of one object per row of `from` (a `FROM` clause's tables
/// and conditions) in `order`; `fields` are the objects' keys and their SQL values.
pub(crate) fn json_rows(fields: &[(&str, &str)], from: &str, order: &str) -> String {
    format!("('[' || {} || ']')", json_items(fields, from, order))
}

/// The items of [`json_rows`]' array, comma-separated, as text ('' for none): a caller that
/// wraps them in a larger text makes one copy of them, not one per concatenation. Joined as
/// text (`string_agg`), not with `json_group_array`, which builds its array in SQLite's binary
/// form and copies it into text at the end: a 100,000-person list took twice its size.
pub(crate) fn json_items(fields: &[(&str, &str)], from: &str, order: &str) -> String {
    let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("'{k}', {v}")).collect();
    format!(
        "(SELECT coalesce(string_agg(json_object({}), ',' ORDER BY {order}), '') FROM {from})",
        pairs.join(", ")
    )
}
