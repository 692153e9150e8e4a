//! What the shared sources in `crates/roster-sql/` need to know of SQLite: the database, how a
//! column holds a timestamp, the SQL for "now", and which pool reads and which writes.

use roster_core::Timestamp;

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

/// SQL that tests a column against a list of texts bound as [`texts`].
pub(crate) const IN_TEXTS: &str = "IN (SELECT value FROM json_each($1))";

/// A list of texts as one parameter: a JSON array, which `json_each` expands.
pub(crate) fn texts(list: &[String]) -> roster_core::StoreResult<String> {
    crate::import::to_json(&list)
}

impl crate::SqliteStore {
    /// Reads go to the pool of readers, which never wait for the writer (WAL).
    pub(crate) fn reads(&self) -> &sqlx::Pool<Db> {
        &self.reader
    }

    /// Writes go to the one writer connection.
    pub(crate) fn writes(&self) -> &sqlx::Pool<Db> {
        &self.writer
    }
}
