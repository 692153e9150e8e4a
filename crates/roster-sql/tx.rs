//! What every write shares: how a database error becomes a [`StoreError`], and how a
//! transaction holds its team. Compiled into each backend against its `dialect` module (see
//! README.md).
//!
//! Locks are taken in one order, the team's row first, so the rules that read before they
//! write see a settled team and two transactions never wait on each other in a circle. On
//! PostgreSQL, at READ COMMITTED, these are row locks:
//! - a change to a team's memberships (join, role change, removal, import, a new account)
//!   holds the team's row `FOR NO KEY UPDATE`: last-admin checks and the email rule see a
//!   settled team;
//! - a change to a group's or campaign's members holds the team's row `FOR SHARE` (many may
//!   run at once, but not beside a membership change), then its own row `FOR UPDATE`, so two
//!   replaces of one group apply one after the other.
//!
//! SQLite has one writer: every write transaction begins `IMMEDIATE` and so holds the whole
//! database, and the same statements only check that the row is there.

use crate::dialect::{Conn, Db, locks};
use crate::other;
use roster_core::{StoreError, StoreResult};
use uuid::Uuid;

/// Maps a unique-constraint violation to a conflict on `field`, a foreign-key violation (the
/// row named is gone) to `NotFound`, anything else as [`other`] does.
pub(crate) fn conflict_on(field: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { field },
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => other(e),
    }
}

/// Maps a violation of `memberships_user_name` by a membership made without a userName (keyed
/// by its email) to [`StoreError::user_name_taken`], anything else as [`other`] does.
pub(crate) fn user_name_taken(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::user_name_taken(),
        _ => other(e),
    }
}

/// How a transaction holds its team's row.
#[derive(Clone, Copy)]
pub(crate) enum TeamLock {
    /// Changes to the team's memberships.
    Members,
    /// Changes to one of its groups or campaigns.
    Share,
}

/// Holds the team's row; `NotFound` if there is no such team.
pub(crate) async fn lock_team(conn: &mut Conn, org: Uuid, lock: TeamLock) -> StoreResult<()> {
    let clause = match lock {
        TeamLock::Members => " FOR NO KEY UPDATE",
        TeamLock::Share => " FOR SHARE",
    };
    lock_row(conn, "organizations", org, clause).await
}

/// Holds the row `id` of `table` (a group or a campaign) for update, after its team.
pub(crate) async fn lock_own(conn: &mut Conn, table: &'static str, id: Uuid) -> StoreResult<()> {
    lock_row(conn, table, id, " FOR UPDATE").await
}

async fn lock_row(conn: &mut Conn, table: &str, id: Uuid, clause: &'static str) -> StoreResult<()> {
    let sql = format!("SELECT id FROM {table} WHERE id = $1{}", locks(clause));
    let found: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Refuses a change whose `If-Match` named a version (`expect`) that the row `id` of `table` (a
/// group or a campaign) no longer has: `Conflict` on `version`. The caller holds the row.
pub(crate) async fn expect_version(
    conn: &mut Conn,
    table: &'static str,
    id: Uuid,
    expect: Option<i64>,
) -> StoreResult<()> {
    let Some(expect) = expect else {
        return Ok(());
    };
    let sql = format!("SELECT version FROM {table} WHERE id = $1");
    let version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    match version {
        None => Err(StoreError::NotFound),
        Some(v) if v != expect => Err(StoreError::Conflict { field: "version" }),
        Some(_) => Ok(()),
    }
}

/// Refuses a change to team `org` whose `If-Match` was read at data version `expect`, when
/// the team is at another: `Conflict` on `version`. The caller holds the team's row; the
/// version's row is held too, so that a change that does not take the team's lock (a SCIM
/// update of a person) and is not committed yet is waited for, and seen.
pub(crate) async fn expect_team_version(
    conn: &mut Conn,
    org: Uuid,
    expect: Option<i64>,
) -> StoreResult<()> {
    let Some(expect) = expect else {
        return Ok(());
    };
    let sql = format!(
        "SELECT version FROM team_versions WHERE org_id = $1{}",
        locks(" FOR UPDATE")
    );
    let version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    match version {
        None => Err(StoreError::NotFound),
        Some(v) if v != expect => Err(StoreError::Conflict { field: "version" }),
        Some(_) => Ok(()),
    }
}

/// The backend's own `migrations/` (the macro reads the folder of the crate that compiles
/// this), paired with the other backend's by number and name.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Brings the schema up to date.
pub(crate) async fn migrate(pool: &sqlx::Pool<Db>) -> StoreResult<()> {
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))
}

/// Whether every migration this build knows has been applied.
pub(crate) async fn migrated(pool: &sqlx::Pool<Db>) -> StoreResult<bool> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(other)?;
    Ok(usize::try_from(applied).is_ok_and(|n| n >= MIGRATOR.migrations.len()))
}
