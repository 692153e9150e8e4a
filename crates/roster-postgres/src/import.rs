//! Importing members from a roster file: set-based (arrays through `UNNEST`), in one
//! transaction that holds the team's lock, with counts of what changed. A dry run does the
//! same work and rolls it back.

use crate::tx::{TeamLock, lock_team};
use crate::{PostgresStore, other, ts};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::Imports;
use roster_core::store::{ImportRow, ImportSummary};
use roster_core::{Role, StoreError, StoreResult, Timestamp, rules};
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres};
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
    rows: &[ImportRow],
) -> StoreResult<ImportSummary> {
    let mut group_names: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.groups.iter().map(String::as_str))
        .collect();
    group_names.sort_unstable();
    group_names.dedup();
    let (mut pair_emails, mut pair_groups) = (Vec::new(), Vec::new());
    for r in rows {
        for g in &r.groups {
            pair_emails.push(r.email_norm.as_str());
            pair_groups.push(g.as_str());
        }
    }
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
    let members_added = affected(
        conn,
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
             SELECT $1, u.id, u.email_norm, coalesce(r.role, o.default_role), $2 \
             FROM import_rows r JOIN users u ON u.email_norm = r.email_norm \
             JOIN organizations o ON o.id = $1 ORDER BY r.pos \
             ON CONFLICT (org_id, user_id) DO NOTHING",
        )
        .bind(org)
        .bind(now),
    )
    .await?;
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
    let pair_ids: Vec<Uuid> = pair_emails.iter().map(|_| Uuid::now_v7()).collect();
    let group_memberships_added = affected(
        conn,
        sqlx::query(
            "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
             SELECT p.id, g.id, u.id, u.email, u.email_norm, $2 \
             FROM UNNEST($3::uuid[], $4::text[], $5::text[]) AS p(id, email_norm, group_name) \
             JOIN groups g ON g.org_id = $1 AND g.name = p.group_name \
             JOIN users u ON u.email_norm = p.email_norm \
             ON CONFLICT (group_id, email_norm) DO NOTHING",
        )
        .bind(org)
        .bind(now)
        .bind(pair_ids)
        .bind(pair_emails)
        .bind(pair_groups),
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
        rows: rows.len() as u64,
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
        rows: &[ImportRow],
        dry_run: bool,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ImportSummary> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        sqlx::query(TABLE).execute(&mut *tx).await.map_err(other)?;
        sqlx::query("DELETE FROM import_rows")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        // Ids of rows made in bulk are time-ordered (UUIDv7), which keeps inserts at the end of
        // the primary key's B-tree.
        let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO import_rows (pos, new_id, email, email_norm, name, name_lower, role) \
             SELECT ord - 1, new_id, email, email_norm, name, name_lower, role \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
                  WITH ORDINALITY AS t(new_id, email, email_norm, name, name_lower, role, ord)",
        )
        .bind(ids)
        .bind(rows.iter().map(|r| r.email.clone()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.email_norm.clone())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
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
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        sqlx::query("ANALYZE import_rows")
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let summary = apply(&mut tx, org, ts(now), rows).await?;
        crate::audit::imported(&mut tx, origin, org, &summary, rows).await?;
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
