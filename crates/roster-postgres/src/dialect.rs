//! What the shared sources in `crates/roster-sql/` need to know of PostgreSQL: the database,
//! how a column holds a timestamp, the SQL for "now", and which pool reads and which writes.

use roster_core::Timestamp;
use time::OffsetDateTime;

pub(crate) type Db = sqlx::Postgres;
pub(crate) type Backend = crate::PostgresStore;
pub(crate) type Conn = sqlx::PgConnection;

/// A timestamp as a column holds it: `timestamptz`.
pub(crate) type Stamp = OffsetDateTime;

pub(crate) fn ts(t: Timestamp) -> Stamp {
    t.to_offset_date_time()
}

pub(crate) fn at(stamp: Stamp) -> Timestamp {
    Timestamp::from_offset_date_time(stamp)
}

/// SQL for the time now, as a column holds it.
pub(crate) const NOW: &str = "now()";

/// SQL that tests a column against a list of texts bound as [`texts`].
pub(crate) const IN_TEXTS: &str = "= ANY($1)";

/// A list of texts as one parameter: a `text[]`.
pub(crate) fn texts(list: &[String]) -> roster_core::StoreResult<&[String]> {
    Ok(list)
}

impl crate::PostgresStore {
    /// Reads and writes share one pool.
    pub(crate) fn reads(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }

    pub(crate) fn writes(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }
}
