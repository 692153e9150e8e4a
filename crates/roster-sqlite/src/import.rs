//! Importing members from a roster file: its rows are loaded a chunk at a time into working
//! tables, then applied set-based, all in one transaction, with counts of what changed. A dry
//! run does the same work and rolls it back.

use crate::{SqliteStore, other};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::Imports;
use roster_core::store::{
    IMPORT_CHUNK, ImportRow, ImportRows, ImportSummary, import_group_names, unreadable_import,
};
use roster_core::{Role, StoreError, StoreResult, Timestamp, rules};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Sqlite, SqliteConnection};
use std::collections::BTreeSet;
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
    -- A row's groups, by the row's position.
    CREATE TEMP TABLE IF NOT EXISTS import_pairs (
        pos        INTEGER NOT NULL,
        new_id     BLOB NOT NULL,  -- the id of the group membership it makes
        group_name TEXT NOT NULL
    );
    DELETE FROM import_rows;
    DELETE FROM import_pairs;";

/// The page cache of an import's bulk statements (128 MiB), and SQLite's own (2 MiB) after: 256 MiB
/// took a million-row import from 29.4 s to 27.7 s and its process from 525 MB to 681 MB.
const BULK_CACHE: &str = "PRAGMA cache_size = -131072";
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

/// Loads one chunk of rows (the first at position `from`) into the working tables, and notes
/// the group names it uses.
async fn load(
    conn: &mut SqliteConnection,
    rows: &[ImportRow],
    from: usize,
    names: &mut BTreeSet<String>,
) -> StoreResult<()> {
    let people: Vec<_> = rows
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
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO import_rows (pos, new_id, email, email_norm, name, name_lower, role) \
         SELECT $2 + key, unhex(value ->> 0), value ->> 1, value ->> 2, value ->> 3, \
                value ->> 4, value ->> 5 FROM json_each($1)",
    )
    .bind(to_json(&people)?)
    .bind(from)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    let pairs: Vec<_> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.groups.iter().map(move |g| (i, hex_id(), g)))
        .collect();
    sqlx::query(
        "INSERT INTO import_pairs (pos, new_id, group_name) \
         SELECT $2 + (value ->> 0), unhex(value ->> 1), value ->> 2 FROM json_each($1)",
    )
    .bind(to_json(&pairs)?)
    .bind(from)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    import_group_names(rows, names);
    Ok(())
}

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
    rows: u64,
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
    // An address that is another member's userName in the team is refused (the unique key
    // of a membership's userName or, lacking one, its email).
    let members_added = sqlx::query(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
             SELECT $1, u.id, u.email_norm, coalesce(r.role, o.default_role), $2 \
             FROM import_rows r JOIN users u ON u.email_norm = r.email_norm \
             JOIN organizations o ON o.id = $1 WHERE true ORDER BY r.pos \
             ON CONFLICT (org_id, user_id) DO NOTHING",
    )
    .bind(org)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(crate::tx::user_name_taken)?
    .rows_affected();
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
    let group_memberships_added = affected(
        conn,
        sqlx::query(
            "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
             SELECT p.new_id, g.id, u.id, u.email, u.email_norm, $2 \
             FROM import_pairs p JOIN import_rows r ON r.pos = p.pos \
             JOIN groups g ON g.org_id = $1 AND g.name = p.group_name \
             JOIN users u ON u.email_norm = r.email_norm WHERE true \
             ON CONFLICT (group_id, email_norm) DO NOTHING",
        )
        .bind(org)
        .bind(now),
    )
    .await?;
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
        rows,
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
        rows: &mut dyn ImportRows,
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
        // The bulk statements below insert millions of index entries in one transaction: with
        // SQLite's 2 MiB of cache each insert reads its B-tree pages back from the file (and
        // spills dirty ones to the log mid-transaction). A million-row import took 47.6 s with
        // it and 33.7 s with 256 MiB (docs/PERFORMANCE.md; `BULK_CACHE` says why 128). Only `roster import members` runs
        // this, in its own process; the cache is given back once the rows are in.
        sqlx::raw_sql(BULK_CACHE)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        // An error from here on still gives the cache back.
        let applied = async {
            let (mut count, mut names) = (0, BTreeSet::new());
            loop {
                let chunk = rows.next_rows(IMPORT_CHUNK).map_err(unreadable_import)?;
                if chunk.is_empty() {
                    break;
                }
                load(&mut tx, &chunk, count, &mut names).await?;
                count += chunk.len();
            }
            let groups: Vec<_> = names.iter().map(|name| (hex_id(), name)).collect();
            // Every import, however small: it runs in its own process, with no readers.
            let paused = crate::bulk::pause(&mut tx, org, IMPORT_TRIGGERS).await?;
            let summary = apply(&mut tx, org, now, to_json(&groups)?, count as u64).await?;
            paused.resume(&mut tx).await?;
            Ok::<_, StoreError>(summary)
        }
        .await;
        sqlx::raw_sql(NORMAL_CACHE)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let summary = applied?;
        crate::audit::imported(&mut tx, origin, org, &summary).await?;
        sqlx::raw_sql("DELETE FROM import_rows; DELETE FROM import_pairs")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        if dry_run {
            tx.rollback().await.map_err(other)?;
        } else {
            tx.commit().await.map_err(other)?;
        }
        Ok(summary)
    }
}
