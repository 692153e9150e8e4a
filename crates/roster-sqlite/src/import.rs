//! Importing members from a roster file: set-based, in one transaction, with counts of what
//! changed. A dry run does the same work and rolls it back.

use crate::{SqliteStore, other};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::Imports;
use roster_core::store::{ImportRow, ImportSummary};
use roster_core::{Role, StoreError, StoreResult, Timestamp, rules};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};
use uuid::Uuid;

const TABLES: &str = "
    CREATE TEMP TABLE IF NOT EXISTS import_rows (
        pos        INTEGER PRIMARY KEY,
        new_id     BLOB NOT NULL,  -- the id a new user gets
        email      TEXT NOT NULL,
        email_norm TEXT NOT NULL,
        name       TEXT,
        name_lower TEXT,
        role       INTEGER
    );
    CREATE INDEX IF NOT EXISTS temp.import_rows_email ON import_rows (email_norm);
    DELETE FROM import_rows;";

/// The page cache of an import's bulk statements (256 MiB), and SQLite's own (2 MiB) after.
const BULK_CACHE: &str = "PRAGMA cache_size = -262144";
const NORMAL_CACHE: &str = "PRAGMA cache_size = -2000";

/// Ids of rows made in bulk are time-ordered (UUIDv7): they append at the end of the primary
/// key's B-tree instead of landing at random places in it, which halves large inserts.
fn hex_id() -> String {
    Uuid::now_v7().simple().to_string()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(e.to_string()))
}

/// Runs one statement and counts the rows it changed.
async fn affected(
    conn: &mut SqliteConnection,
    query: sqlx::query::Query<'_, Sqlite, SqliteArguments>,
) -> StoreResult<u64> {
    query
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(other)
}

/// Rows go to the database this many at a time, within the one transaction: the JSON of a
/// million rows' three million group memberships, and SQLite's parse of it, were most of an
/// import's 1.9 GB.
const CHUNK: usize = 50_000;

/// The triggers an import's inserts would run once per row (`crate::bulk`).
const IMPORT_TRIGGERS: &[&str] = &[
    "team_versions_membership_in",
    "team_versions_group_member_in",
];

async fn apply(
    conn: &mut SqliteConnection,
    org: Uuid,
    now: Timestamp,
    groups: String,
    rows: &[ImportRow],
) -> StoreResult<ImportSummary> {
    // The people first (see `users::revoke_unproven`): the team takes their emails in.
    crate::users::revoke_unproven(conn, org, crate::users::Taken::Table("import_rows")).await?;
    let admins_before = crate::memberships::counting_admins(conn, org).await?;
    let now = now.as_micros();
    let users_created = affected(
        conn,
        sqlx::query(
            "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
             SELECT new_id, coalesce(name, ''), coalesce(name_lower, ''), email, email_norm, $1 \
             FROM import_rows WHERE true ORDER BY pos \
             ON CONFLICT (email_norm) DO NOTHING",
        )
        .bind(now),
    )
    .await?;
    // Known people keep their name, unless they have none.
    affected(
        conn,
        sqlx::query(
            "UPDATE users SET name = r.name, name_lower = r.name_lower FROM import_rows r \
             WHERE users.email_norm = r.email_norm AND users.name = '' AND r.name IS NOT NULL",
        ),
    )
    .await?;
    // A given role is set, except on accounts, whose roles are fixed.
    let roles_changed = affected(
        conn,
        sqlx::query(
            "UPDATE memberships SET role = r.role FROM import_rows r \
             WHERE memberships.org_id = $1 AND memberships.email_norm = r.email_norm \
               AND r.role IS NOT NULL AND memberships.role != r.role \
               AND memberships.user_id NOT IN (SELECT user_id FROM accounts)",
        )
        .bind(org),
    )
    .await?;
    let members_added = affected(
        conn,
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
             SELECT $1, u.id, u.email_norm, coalesce(r.role, o.default_role), $2 \
             FROM import_rows r JOIN users u ON u.email_norm = r.email_norm \
             JOIN organizations o ON o.id = $1 WHERE true ORDER BY r.pos \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org)
        .bind(now),
    )
    .await?;
    let groups_created = affected(
        conn,
        sqlx::query(
            "INSERT INTO groups (id, org_id, name, created_at) \
             SELECT unhex(value ->> 0), $1, value ->> 1, $2 FROM json_each($3) WHERE true \
             ON CONFLICT (org_id, name) DO NOTHING",
        )
        .bind(org)
        .bind(now)
        .bind(groups),
    )
    .await?;
    let mut group_memberships_added = 0;
    for chunk in rows.chunks(CHUNK) {
        let pairs: Vec<_> = chunk
            .iter()
            .flat_map(|r| r.groups.iter().map(move |g| (hex_id(), &r.email_norm, g)))
            .collect();
        group_memberships_added += affected(
            conn,
            sqlx::query(
                "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
                 SELECT unhex(p.value ->> 0), g.id, u.id, u.email, u.email_norm, $2 \
                 FROM json_each($3) p \
                 JOIN groups g ON g.org_id = $1 AND g.name = p.value ->> 2 \
                 JOIN users u ON u.email_norm = p.value ->> 1 WHERE true \
                 ON CONFLICT (group_id, email_norm) DO NOTHING",
            )
            .bind(org)
            .bind(now)
            .bind(to_json(&pairs)?),
        )
        .await?;
    }
    // Memberships held by email for the imported people attach to them. Driven from the
    // imported rows through the email index, not by scanning the team's group memberships.
    affected(
        conn,
        sqlx::query(
            "UPDATE group_memberships SET user_id = \
                 (SELECT m.user_id FROM memberships m \
                  WHERE m.org_id = $1 AND m.email_norm = group_memberships.email_norm) \
             WHERE rowid IN (SELECT gm.rowid FROM import_rows r \
                 JOIN group_memberships gm ON gm.email_norm = r.email_norm \
                 JOIN groups g ON g.id = gm.group_id AND g.org_id = $1 \
                 WHERE gm.user_id IS NULL)",
        )
        .bind(org),
    )
    .await?;
    if rules::leaves_without_admin(
        admins_before,
        crate::memberships::counting_admins(conn, org).await?,
    ) {
        return Err(StoreError::import_without_admin());
    }
    Ok(ImportSummary {
        rows: rows.len() as u64,
        users_created,
        members_added,
        roles_changed,
        groups_created,
        group_memberships_added,
    })
}

#[async_trait]
impl Imports for SqliteStore {
    async fn import_members(
        &self,
        org: Uuid,
        rows: &[ImportRow],
        dry_run: bool,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ImportSummary> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
                .bind(org)
                .fetch_one(&mut *tx)
                .await
                .map_err(other)?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        sqlx::raw_sql(TABLES)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let mut group_names: Vec<&str> = rows
            .iter()
            .flat_map(|r| r.groups.iter().map(String::as_str))
            .collect();
        group_names.sort_unstable();
        group_names.dedup();
        let groups: Vec<_> = group_names.iter().map(|name| (hex_id(), name)).collect();
        // The bulk statements below insert millions of index entries in one transaction: with
        // SQLite's 2 MiB of cache each insert reads its B-tree pages back from the file (and
        // spills dirty ones to the log mid-transaction). A million-row import took 47.6 s with
        // it and 33.7 s with this (docs/PERFORMANCE.md). Only `roster import members` runs
        // this, in its own process; the cache is given back once the rows are in.
        sqlx::raw_sql(BULK_CACHE)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        // An error from here on still gives the cache back.
        let applied = async {
            for (n, chunk) in rows.chunks(CHUNK).enumerate() {
                let people: Vec<_> = chunk
                    .iter()
                    .map(|r| {
                        let lower = r.name.as_deref().map(str::to_lowercase);
                        (
                            hex_id(),
                            &r.email,
                            &r.email_norm,
                            &r.name,
                            lower,
                            r.role.map(Role::as_i64),
                        )
                    })
                    .collect();
                sqlx::query(
                    "INSERT INTO import_rows (pos, new_id, email, email_norm, name, name_lower, role) \
                     SELECT $2 + key, unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 3, \
                            value ->> 4, value ->> 5 FROM json_each($1)",
                )
                .bind(to_json(&people)?)
                .bind(i64::try_from(n * CHUNK).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(other)?;
            }
            // Every import, however small: it runs in its own process, with no readers.
            let paused = crate::bulk::pause(&mut tx, org, IMPORT_TRIGGERS).await?;
            let summary = apply(&mut tx, org, now, to_json(&groups)?, rows).await?;
            paused.resume(&mut tx).await?;
            Ok::<_, StoreError>(summary)
        }
        .await;
        sqlx::raw_sql(NORMAL_CACHE)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let summary = applied?;
        sqlx::query("DELETE FROM import_rows")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        crate::audit::imported(&mut tx, origin, org, &summary, rows).await?;
        if dry_run {
            tx.rollback().await.map_err(other)?;
        } else {
            tx.commit().await.map_err(other)?;
        }
        Ok(summary)
    }
}
