//! Previews of member-list changes (`?dry_run=true`): the change is made inside its
//! transaction, compared with the list as it stood, and rolled back, so a preview is refused
//! exactly as the change would be and names exactly what it would do. Compiled into each
//! backend against its `dialect` module (see README.md).

use crate::dialect::Conn;
use crate::other;
use roster_core::StoreResult;
use uuid::Uuid;

/// Notes the ids (and, for campaigns, the data) of the list's rows as they stand, in a table
/// that the transaction's rollback takes away again.
pub(crate) async fn note(
    conn: &mut Conn,
    table: &'static str,
    column: &'static str,
    id: Uuid,
) -> StoreResult<()> {
    let data = if table == "campaign_members" {
        ", email, data"
    } else {
        ""
    };
    let sql = format!(
        "CREATE TEMP TABLE preview_before AS SELECT id{data} FROM {table} WHERE {column} = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    Ok(())
}

/// How many of the payload's people were in the list before and are, unchanged, after.
pub(crate) async fn unchanged(
    conn: &mut Conn,
    table: &'static str,
    column: &'static str,
    id: Uuid,
) -> StoreResult<u64> {
    let same = if table == "campaign_members" {
        " AND b.data IS NOT DISTINCT FROM t.data AND b.email IS NOT DISTINCT FROM t.email"
    } else {
        ""
    };
    let sql = format!(
        "SELECT count(*) FROM {table} t WHERE t.{column} = $1 \
         AND t.email_norm IN (SELECT email_norm FROM payload) \
         AND EXISTS (SELECT 1 FROM preview_before b WHERE b.id = t.id{same})"
    );
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The condition (on the list's rows, aliased `alias`) of those the change added.
pub(crate) fn added(alias: &str) -> String {
    format!("{alias}.id NOT IN (SELECT id FROM preview_before)")
}

/// The condition (on the list's rows, aliased `alias`) of those that are about to be removed:
/// a replace removes whoever the payload does not name.
pub(crate) fn removed(alias: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM payload p WHERE p.email_norm = {alias}.email_norm)")
}

/// The condition (on a campaign's members, aliased `alias`) of those whose data or email the
/// change rewrote.
pub(crate) fn updated(alias: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM preview_before b WHERE b.id = {alias}.id \
         AND (b.data IS DISTINCT FROM {alias}.data OR b.email IS DISTINCT FROM {alias}.email))"
    )
}
