//! Large writes without the per-row version triggers. Migration 0005 moves a team's version
//! from a trigger on every inserted, changed or deleted (group) membership, which no write path
//! can forget; a write of a million rows paid a million trigger runs (about 1.7 µs each) for
//! what one bump says. Such a write drops the triggers inside its transaction and makes them
//! again before it commits, moving the version once. SQLite has one writer at a time and DDL
//! is transactional, so no other write, and no reader, ever sees a table without its trigger;
//! a rollback brings them back with everything else. The readers re-prepare their statements
//! once after the schema changed, which is why small writes keep the triggers.

use crate::other;
use sqlx::SqliteConnection;
use uuid::Uuid;

/// Writes of fewer rows than this keep the triggers.
pub(crate) const ROWS: usize = 10_000;

/// Triggers dropped for the length of one transaction.
pub(crate) struct Paused {
    org: Uuid,
    made: Vec<String>,
}

/// Drops `triggers` (names from migration 0005, not from input) for team `org`'s write.
pub(crate) async fn pause(
    conn: &mut SqliteConnection,
    org: Uuid,
    triggers: &[&'static str],
) -> roster_core::StoreResult<Paused> {
    let mut made = Vec::new();
    for name in triggers {
        let sql: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = $1",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
        // A name from the caller's constant list.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER {name}")))
            .execute(&mut *conn)
            .await
            .map_err(other)?;
        made.push(sql);
    }
    Ok(Paused { org, made })
}

impl Paused {
    /// Makes the triggers again and moves the team's version once for all the rows.
    pub(crate) async fn resume(self, conn: &mut SqliteConnection) -> roster_core::StoreResult<()> {
        for sql in self.made {
            // The schema's own text, read back from sqlite_master.
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .map_err(other)?;
        }
        sqlx::query("UPDATE team_versions SET version = version + 1 WHERE org_id = $1")
            .bind(self.org)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
        Ok(())
    }
}
