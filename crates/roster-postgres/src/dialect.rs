//! What the shared sources in `crates/roster-sql/` need to know of PostgreSQL: the database,
//! how a column holds a timestamp, the SQL for "now", and which pool reads and which writes.

use roster_core::{StoreResult, Timestamp};
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

/// SQL that tests a column against the list of texts bound as [`texts`] at `param` (`"$2"`).
pub(crate) fn in_texts(param: &str) -> String {
    format!("= ANY({param})")
}

/// SQL that tests a column against the list of ids bound as [`uuids`] at `param`.
pub(crate) fn in_uuids(param: &str) -> String {
    format!("= ANY({param})")
}

/// A FROM item of the pairs of texts bound as one JSON array of `[a, b]` arrays at `param`,
/// with columns `a` and `b`.
pub(crate) fn each_pair(param: &str) -> String {
    format!(
        "(SELECT value ->> 0 AS a, value ->> 1 AS b FROM json_array_elements({param}::json) AS value)"
    )
}

/// SQL for the later of `a` and a moment after `b`: a version's modification time always
/// moves, even when the clock did not.
pub(crate) fn later_of(a: &str, b: &str) -> String {
    format!("greatest({a}, {b} + interval '1 microsecond')")
}

/// A list of texts as one parameter: a `text[]`.
pub(crate) fn texts(list: &[String]) -> StoreResult<&[String]> {
    Ok(list)
}

/// A list of ids as one parameter: a `uuid[]`.
pub(crate) fn uuids(list: &[uuid::Uuid]) -> StoreResult<&[uuid::Uuid]> {
    Ok(list)
}

/// A join that the planner must take in the order written; PostgreSQL's plans for these are
/// good as they are (and it refuses `CROSS JOIN ... ON`).
pub(crate) const JOIN_IN_ORDER: &str = "JOIN";

/// Runs the rest of the transaction alone among those that name `key` (a transaction-scoped
/// advisory lock): nodes starting together on an empty database make one operator.
pub(crate) async fn one_at_a_time(conn: &mut Conn, key: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(key)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(crate::other)
}

/// Lets the transaction commit without waiting for its WAL to reach the disk: for writes
/// that a crash may lose without harm (a webhook's position and delivery log, whose loss
/// means a message sent again, which at-least-once delivery allows), so that they do not
/// queue for the disk beside the changes that matter.
pub(crate) async fn lazy_commit(conn: &mut Conn) -> StoreResult<()> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(crate::other)
}

impl crate::PostgresStore {
    /// Reads and writes share one pool.
    pub(crate) fn reads(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }

    pub(crate) fn writes(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }

    /// The pools, by name, for `/metrics`.
    pub(crate) fn named_pools(&self) -> [(&'static str, &sqlx::Pool<Db>); 1] {
        [("main", &self.pool)]
    }

    /// A write transaction, at READ COMMITTED: it holds what it must with row locks.
    pub(crate) async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        self.pool.begin().await.map_err(crate::other)
    }
}

/// A row-lock clause (`" FOR UPDATE OF i"`) as this database takes it: as written (see
/// `tx.rs`).
pub(crate) fn locks(clause: &'static str) -> &'static str {
    clause
}

/// Payloads from this size on refresh the table's statistics after their change: the planner
/// must not go on believing that a group or campaign it has never analyzed is empty (it then
/// scans the whole group for each row it looks up), and autovacuum may take minutes. In the
/// background: the change is committed and its own statements are planned already, and the
/// request need not wait (a fifth of a second at 100,000 rows) for what only later requests'
/// plans need.
const ANALYZE_AFTER: usize = 10_000;

pub(crate) fn analyze_if_large(store: &Backend, table: &'static str, items: usize) {
    if items >= ANALYZE_AFTER {
        let pool = store.pool.clone();
        tokio::spawn(async move {
            let sql = sqlx::AssertSqlSafe(format!("ANALYZE {table}"));
            if let Err(e) = sqlx::query(sql).execute(&pool).await {
                tracing::warn!(error = %e, table, "could not refresh statistics");
            }
        });
    }
}

/// How a page of `table`'s rows (aliased `alias` in the outer query) is chosen on an index
/// alone and then read: the SQL that comes before the inner query's conditions and after it.
/// `= ANY(ARRAY(...))` makes the planner fetch just the page's rows by primary key, never
/// scan the table.
pub(crate) fn page_of(table: &str, alias: &str) -> (String, String) {
    (
        format!(" WHERE {alias}.id = ANY(ARRAY(SELECT id FROM {table} WHERE "),
        "))".to_owned(),
    )
}

/// SQL for a JSON array, as text, of one object per row of `from` (a `FROM` clause's tables
/// and conditions) in `order`; `fields` are the objects' keys and their SQL values.
pub(crate) fn json_rows(fields: &[(&str, &str)], from: &str, order: &str) -> String {
    let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("'{k}', {v}")).collect();
    format!(
        "(SELECT coalesce(CAST(json_agg(json_build_object({}) ORDER BY {order}) AS text), '[]') \
         FROM {from})",
        pairs.join(", ")
    )
}
