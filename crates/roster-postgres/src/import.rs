//! Importing members from a roster file: its rows are loaded a chunk at a time (arrays through
//! `UNNEST`) into working tables, then applied set-based, all in one transaction that holds
//! the team's lock, with counts of what changed. A dry run does the same work and rolls it
//! back.

use crate::tx::{TeamLock, lock_team};
use crate::{PostgresStore, other, ts};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::Imports;
use roster_core::store::{
    IMPORT_CHUNK, ImportRow, ImportRows, ImportSummary, import_group_names, unreadable_import,
};
use roster_core::{Role, StoreError, StoreResult, Timestamp, rules};
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;

const TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS import_rows (
        pos        bigint PRIMARY KEY,
        new_id     uuid   NOT NULL,  -- the id a new user gets
        email      text   NOT NULL,
        email_norm text   COLLATE \"C\" NOT NULL,
        name       text,
        name_lower text,
        role       bigint
    ) ON COMMIT DELETE ROWS";

/// A row's groups, by the row's position.
const PAIRS: &str = "CREATE TEMP TABLE IF NOT EXISTS import_pairs (
        pos        bigint NOT NULL,
        new_id     uuid   NOT NULL,  -- the id of the group membership it makes
        group_name text   NOT NULL
    ) ON COMMIT DELETE ROWS";

/// Loads one chunk of rows (the first at position `from`) into the working tables, and notes
/// the group names it uses.
async fn load(
    conn: &mut PgConnection,
    rows: &[ImportRow],
    from: usize,
    names: &mut BTreeSet<String>,
) -> StoreResult<()> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    // Ids of rows made in bulk are time-ordered (UUIDv7), which keeps inserts at the end of the
    // primary key's B-tree.
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO import_rows (pos, new_id, email, email_norm, name, name_lower, role) \
         SELECT $7 + ord - 1, new_id, email, email_norm, name, name_lower, role \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
              WITH ORDINALITY AS t(new_id, email, email_norm, name, name_lower, role, ord)",
    )
    .bind(ids)
    .bind(rows.iter().map(|r| r.email.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.email_norm.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.name.as_deref()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.name.as_deref().map(str::to_lowercase))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.role.map(Role::as_i64))
            .collect::<Vec<_>>(),
    )
    .bind(from)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    let (mut positions, mut groups) = (Vec::new(), Vec::new());
    for (i, r) in rows.iter().enumerate() {
        for g in &r.groups {
            positions.push(from + i64::try_from(i).unwrap_or(i64::MAX));
            groups.push(g.as_str());
        }
    }
    import_group_names(rows, names);
    let ids: Vec<Uuid> = groups.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO import_pairs (pos, new_id, group_name) \
         SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[])",
    )
    .bind(positions)
    .bind(ids)
    .bind(groups)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// Runs one statement and counts the rows it changed.
async fn affected(
    conn: &mut PgConnection,
    query: sqlx::query::Query<'_, Postgres, PgArguments>,
) -> StoreResult<u64> {
    query
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(other)
}

async fn apply(
    conn: &mut PgConnection,
    org: Uuid,
    now: OffsetDateTime,
    group_names: Vec<String>,
    rows: u64,
) -> StoreResult<ImportSummary> {
    // The people first (see `users::revoke_unproven`): the team takes their emails in.
    crate::users::revoke_unproven(conn, org, crate::users::Taken::Table("import_rows")).await?;
    let admins_before = crate::memberships::counting_admins(conn, org).await?;
    let users_created = affected(
        conn,
        sqlx::query(
            "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
             SELECT new_id, coalesce(name, ''), coalesce(name_lower, ''), email, email_norm, $1 \
             FROM import_rows ORDER BY pos ON CONFLICT (email_norm) DO NOTHING",
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
            "UPDATE memberships m SET role = r.role FROM import_rows r \
             WHERE m.org_id = $1 AND m.email_norm = r.email_norm AND r.role IS NOT NULL \
               AND m.role != r.role AND m.user_id NOT IN (SELECT user_id FROM accounts)",
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
             JOIN organizations o ON o.id = $1 \
             WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = u.id) \
             ORDER BY r.pos",
        )
        .bind(org)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(crate::tx::user_name_taken)?
        .rows_affected();
    let group_ids: Vec<Uuid> = group_names.iter().map(|_| Uuid::now_v7()).collect();
    let groups_created = affected(
        conn,
        sqlx::query(
            "INSERT INTO groups (id, org_id, name, created_at) \
             SELECT id, $1, name, $2 FROM UNNEST($3::uuid[], $4::text[]) AS t(id, name) \
             ON CONFLICT (org_id, name) DO NOTHING",
        )
        .bind(org)
        .bind(now)
        .bind(group_ids)
        .bind(group_names),
    )
    .await?;
    let group_memberships_added = affected(
        conn,
        sqlx::query(
            "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
             SELECT p.new_id, g.id, u.id, u.email, u.email_norm, $2 \
             FROM import_pairs p JOIN import_rows r ON r.pos = p.pos \
             JOIN groups g ON g.org_id = $1 AND g.name = p.group_name \
             JOIN users u ON u.email_norm = r.email_norm \
             WHERE NOT EXISTS (SELECT 1 FROM group_memberships x \
                 WHERE x.group_id = g.id AND x.email_norm = u.email_norm)",
        )
        .bind(org)
        .bind(now),
    )
    .await?;
    // Memberships held by email for the imported people attach to them.
    affected(
        conn,
        sqlx::query(
            "UPDATE group_memberships gm SET user_id = m.user_id \
             FROM import_rows r, memberships m, groups g \
             WHERE gm.email_norm = r.email_norm AND gm.user_id IS NULL \
               AND g.id = gm.group_id AND g.org_id = $1 \
               AND m.org_id = $1 AND m.email_norm = gm.email_norm",
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
impl Imports for PostgresStore {
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
        lock_team(&mut tx, org, TeamLock::Members).await?;
        sqlx::query(TABLE).execute(&mut *tx).await.map_err(other)?;
        sqlx::query(PAIRS).execute(&mut *tx).await.map_err(other)?;
        sqlx::query("DELETE FROM import_rows")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        sqlx::query("DELETE FROM import_pairs")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let (mut count, mut names) = (0, BTreeSet::new());
        loop {
            let chunk = rows.next_rows(IMPORT_CHUNK).map_err(unreadable_import)?;
            if chunk.is_empty() {
                break;
            }
            load(&mut tx, &chunk, count, &mut names).await?;
            count += chunk.len();
        }
        sqlx::query("ANALYZE import_rows")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        sqlx::query("ANALYZE import_pairs")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let names = names.into_iter().collect();
        let summary = apply(&mut tx, org, ts(now), names, count as u64).await?;
        crate::audit::imported(&mut tx, origin, org, &summary).await?;
        if dry_run {
            tx.rollback().await.map_err(other)?;
        } else {
            tx.commit().await.map_err(other)?;
            // An import can grow these tables tenfold in one go, and autovacuum may take a minute
            // to notice: until then the planner would plan the next reads for the old sizes
            // (seconds for a filtered page of a 100,000-member team instead of milliseconds).
            sqlx::query("ANALYZE users, memberships, groups, group_memberships")
                .execute(&self.pool)
                .await
                .map_err(other)?;
        }
        Ok(summary)
    }
}
