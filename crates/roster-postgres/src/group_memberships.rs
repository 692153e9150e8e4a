//! Group memberships: the list, and adding or replacing members with the email rule, set-based
//! through `crate::payload`. A change locks its team `FOR SHARE` and its group `FOR UPDATE`, so
//! changes of one group apply one after another, whichever node serves them.

use crate::audit;
use crate::payload;
use crate::rows::push_window;
use crate::tx::{TeamLock, lock_team};
use crate::users::{self, Taken};
use crate::{PostgresStore, at, other, preview, ts};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::GroupMembers;
use roster_core::store::{EmailCursor, MemberRef, MembersChange, Window};
use roster_core::{
    CampaignRef, GroupMembership, MembersPreview, StoreError, StoreResult, Timestamp, User,
};
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A group's memberships with their people; their campaigns come after (`with_campaigns`).
/// The group is the only table a list's rows are read from in order: a per-row campaign
/// lookup in the same statement made the planner, costing it, walk the email index of every
/// group and filter for this one (80-150 ms a chunk of 2,000 at a million, against 7 ms).
const SELECT: &str = "SELECT gm.id, gm.email, gm.email_norm, gm.created_at, \
     u.id AS user_id, u.name, u.email AS user_email, u.service_account, \
     u.deployment_key_account, u.date_joined, u.last_active_at \
     FROM group_memberships gm LEFT JOIN users u ON u.id = gm.user_id";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    email: String,
    email_norm: String,
    created_at: OffsetDateTime,
    user_id: Option<Uuid>,
    name: Option<String>,
    user_email: Option<String>,
    service_account: Option<bool>,
    deployment_key_account: Option<bool>,
    date_joined: Option<OffsetDateTime>,
    last_active_at: Option<OffsetDateTime>,
}

impl Row {
    fn into_membership(self, campaigns: &mut HashMap<String, Vec<CampaignRef>>) -> GroupMembership {
        let user = self.user_id.map(|id| User {
            id,
            name: self.name.unwrap_or_default(),
            email: self
                .user_email
                .clone()
                .unwrap_or_else(|| self.email.clone()),
            service_account: self.service_account.unwrap_or_default(),
            deployment_key_account: self.deployment_key_account.unwrap_or_default(),
            date_joined: self.date_joined.map(at),
        });
        GroupMembership {
            id: self.id,
            campaigns: campaigns.remove(&self.email_norm).unwrap_or_default(),
            email: self.user_email.unwrap_or(self.email),
            user,
            created_at: at(self.created_at),
            last_active_at: self.last_active_at.map(at),
        }
    }
}

/// A campaign of the team that holds an email, with that email.
#[derive(FromRow)]
struct Held {
    email_norm: String,
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// The campaigns of the team of `group` that hold emails between two (inclusive), in email
/// order and, for each, by name and id: one range of the (team, email) index, of which at
/// most `$4` entries are read (the limit is on the index's scan, before the join: on top of
/// it, the planner could join and sort the team's whole range first).
const HELD_IN_RANGE: &str = "SELECT cm.email_norm, c.id, c.name, c.created_at, c.updated_at \
     FROM (SELECT email_norm, campaign_id FROM campaign_members \
           WHERE org_id = (SELECT org_id FROM groups WHERE id = $1) \
             AND email_norm BETWEEN $2 AND $3 ORDER BY email_norm LIMIT $4) cm \
     JOIN campaigns c ON c.id = cm.campaign_id \
     ORDER BY cm.email_norm, c.name, c.id";

/// The same for a list of emails, one index probe each (`OFFSET 0` keeps the planner from
/// turning the probes into a read of the whole table).
const HELD_BY_EMAIL: &str = "SELECT e.email_norm, c.id, c.name, c.created_at, c.updated_at \
     FROM UNNEST($2::text[]) AS e(email_norm) \
     CROSS JOIN LATERAL (SELECT cm.campaign_id FROM campaign_members cm \
         WHERE cm.org_id = (SELECT org_id FROM groups WHERE id = $1) \
           AND cm.email_norm = e.email_norm OFFSET 0) cm \
     JOIN campaigns c ON c.id = cm.campaign_id \
     ORDER BY e.email_norm, c.name, c.id";

/// Fills in each row's campaigns (those of the group's team that hold its email, by name then
/// id). Rows come a window of the list at a time, so their emails span a short range of the
/// team's campaign members: read as one range while it holds at most a few per row, which
/// costs a fraction of a lookup per row (2,000 lookups were 60 % of a chunk's time); past
/// that (a few rows spread over large campaigns), one lookup per row.
async fn with_campaigns(
    conn: &mut PgConnection,
    group: Uuid,
    rows: Vec<Row>,
) -> StoreResult<Vec<GroupMembership>> {
    let range =
        rows.iter()
            .map(|r| r.email_norm.as_str())
            .fold(None, |range: Option<(&str, &str)>, e| match range {
                None => Some((e, e)),
                Some((low, high)) => Some((low.min(e), high.max(e))),
            });
    let Some((low, high)) = range else {
        return Ok(Vec::new());
    };
    let bound = rows.len().saturating_mul(4).saturating_add(256);
    let mut held: Vec<Held> = sqlx::query_as(HELD_IN_RANGE)
        .bind(group)
        .bind(low)
        .bind(high)
        .bind(i64::try_from(bound + 1).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(other)?;
    if held.len() > bound {
        let emails: Vec<&str> = rows.iter().map(|r| r.email_norm.as_str()).collect();
        held = sqlx::query_as(HELD_BY_EMAIL)
            .bind(group)
            .bind(emails)
            .fetch_all(&mut *conn)
            .await
            .map_err(other)?;
    }
    let mut campaigns: HashMap<String, Vec<CampaignRef>> = HashMap::new();
    for h in held {
        campaigns
            .entry(h.email_norm)
            .or_default()
            .push(CampaignRef {
                id: h.id,
                name: h.name,
                created_at: at(h.created_at),
                updated_at: at(h.updated_at),
            });
    }
    Ok(rows
        .into_iter()
        .map(|r| r.into_membership(&mut campaigns))
        .collect())
}

/// Locks the group's team for sharing, then the group itself; returns the team.
async fn lock_group(conn: &mut PgConnection, group: Uuid) -> StoreResult<Uuid> {
    let org: Uuid = sqlx::query_scalar("SELECT org_id FROM groups WHERE id = $1")
        .bind(group)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?
        .ok_or(StoreError::NotFound)?;
    lock_team(conn, org, TeamLock::Share).await?;
    let locked: Option<Uuid> = sqlx::query_scalar("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
        .bind(group)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    locked.map(|_| org).ok_or(StoreError::NotFound)
}

/// The people of `rows` (what a statement returned: `email`, `email_norm`) as the change
/// history names them: a JSON array in email order.
fn people(rows: &str) -> String {
    format!(
        "SELECT coalesce(CAST(json_agg(json_build_object('email', email) \
         ORDER BY email_norm) AS text), '[]') FROM {rows}"
    )
}

/// Records the change's event with the lists `apply` kept, unless it changed nobody: a sync
/// that sends the group as it is takes no history lock and writes no event.
async fn record(
    conn: &mut PgConnection,
    origin: &Origin,
    org: Uuid,
    group: Uuid,
    replace: bool,
) -> StoreResult<()> {
    let changed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM change_lists WHERE list <> '[]')")
            .fetch_one(&mut *conn)
            .await
            .map_err(other)?;
    if !changed {
        return Ok(());
    }
    let event =
        audit::record_group_change(conn, origin, org, group, replace, String::new()).await?;
    sqlx::query(
        "UPDATE audit_events SET data = concat('{\"added\":', \
             (SELECT list FROM change_lists WHERE kind = 'added'), ',\"removed\":', \
             coalesce((SELECT list FROM change_lists WHERE kind = 'removed'), '[]'), '}') \
         WHERE seq = $1",
    )
    .bind(event)
    .execute(&mut *conn)
    .await
    .map(|_| ())
    .map_err(other)
}

/// Items beyond which a change joins the payload by hash (see `apply`).
const LARGE_PAYLOAD: usize = 1000;

/// The DELETE of a replace: who is not in the payload leaves.
const GONE: &str = "DELETE FROM group_memberships gm WHERE gm.group_id = $1 AND NOT EXISTS \
     (SELECT 1 FROM payload p WHERE p.email_norm = gm.email_norm) \
     RETURNING gm.email, gm.email_norm";

/// The INSERT of a change: who is in the payload and not in the group comes in. People
/// already in the group are filtered out first (the conflict path of an insert is far slower
/// than a lookup); duplicates in the payload collapse on the unique index.
const MADE: &str = "INSERT INTO group_memberships \
         (id, group_id, user_id, email, email_norm, created_at) \
     SELECT p.new_id, $1, m.user_id, p.email, p.email_norm, $2 \
     FROM payload p LEFT JOIN memberships m ON m.org_id = $3 AND m.email_norm = p.email_norm \
     WHERE NOT EXISTS (SELECT 1 FROM group_memberships gm \
         WHERE gm.group_id = $1 AND gm.email_norm = p.email_norm) \
     ORDER BY p.pos \
     ON CONFLICT (group_id, email_norm) DO NOTHING \
     RETURNING email, email_norm";

/// Who a change removed and who it added, as the history's JSON arrays, until its event is
/// written (`record`): the event takes the team's history lock, held to commit, which must
/// not wait on the change's writes.
const LISTS: &str = "CREATE TEMP TABLE IF NOT EXISTS change_lists \
     (kind text PRIMARY KEY, list text NOT NULL) ON COMMIT DELETE ROWS; \
     DELETE FROM change_lists";

/// Makes the change, set-based, inside the caller's transaction (after `prepare`); `items`
/// is the payload's size. With `listed` (a change, not a preview), the database keeps who it
/// removed and who it added in `change_lists` for [`record`], aggregated from what the DELETE
/// and the INSERT return: no second pass over the group, and a million-person change's lists
/// never pass through the server's memory.
async fn apply(
    conn: &mut PgConnection,
    group: Uuid,
    org: Uuid,
    change: MembersChange,
    items: usize,
    now: Timestamp,
    listed: bool,
) -> StoreResult<()> {
    let listing = |kind: &str, rows: &str, statement: &str| {
        if listed {
            format!(
                "WITH {rows} AS ({statement}) INSERT INTO change_lists (kind, list) \
                 SELECT '{kind}', ({})",
                people(rows)
            )
        } else {
            statement.to_owned()
        }
    };
    if listed {
        sqlx::raw_sql(LISTS)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    if change == MembersChange::Replace {
        sqlx::query(sqlx::AssertSqlSafe(listing("removed", "gone", GONE)))
            .bind(group)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    // A membership held by email whose owner is now a member attaches to them.
    sqlx::query(
        "UPDATE group_memberships gm SET user_id = m.user_id FROM payload p, memberships m \
         WHERE gm.group_id = $1 AND gm.user_id IS NULL AND p.email_norm = gm.email_norm \
           AND m.org_id = $2 AND m.email_norm = gm.email_norm",
    )
    .bind(group)
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    // A large payload is matched against the group by hash, never by a lookup per row: the
    // planner, believing a new group empty, chose a scan of the group per row, and that scan
    // also reads the rows this INSERT adds (invisible, but read), so it grew with the square
    // of the payload. The hash is built before any row goes in.
    let large = items > LARGE_PAYLOAD;
    if large {
        sqlx::query("SET LOCAL enable_nestloop = off")
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    sqlx::query(sqlx::AssertSqlSafe(listing("added", "made", MADE)))
        .bind(group)
        .bind(ts(now))
        .bind(org)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    if large {
        sqlx::query("SET LOCAL enable_nestloop = on")
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    Ok(())
}

/// Holds the group and loads the payload, checked as every change does; the group's team.
async fn prepare(
    conn: &mut PgConnection,
    group: Uuid,
    items: &[MemberRef],
    require_campaign: bool,
) -> StoreResult<Uuid> {
    let org = lock_group(&mut *conn, group).await?;
    payload::load_members(&mut *conn, org, items).await?;
    if require_campaign {
        payload::keep_campaign_members(&mut *conn, org).await?;
    }
    payload::reject_rule_breakers(&mut *conn, org).await?;
    // Held memberships take their emails in: on an owned domain, their unproven keys go.
    users::revoke_unproven(&mut *conn, org, Taken::Table("payload")).await?;
    Ok(org)
}

/// The group's memberships that meet `condition`, in email order.
async fn read(
    conn: &mut PgConnection,
    group: Uuid,
    condition: &str,
) -> StoreResult<Vec<GroupMembership>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE gm.group_id = $1 AND {condition} ORDER BY gm.email_norm"
    )))
    .bind(group)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    with_campaigns(&mut *conn, group, rows).await
}

#[async_trait]
impl GroupMembers for PostgresStore {
    async fn list_group_memberships(
        &self,
        group: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<GroupMembership>> {
        // The group is written into the statement, as list limits are (a `Uuid` prints as hex
        // digits and hyphens only): with `group_id = $1` a connection's generic plan expects
        // an average group, and for a group of 100,000 among 400,000 memberships chose to
        // gather and sort all of it for each chunk of 2,000 (60-90 ms a chunk instead of 8).
        // Planned for the group, the chunk is the next rows of the (group, email) index. Each
        // group is then a statement of its own in a connection's cache of prepared ones (100,
        // least recently used out first, so the hot statements stay): one parse per group and
        // connection. An unnamed statement, planned afresh for each chunk, read a list of
        // 100,000 in 0.58-0.61 s against 0.41-0.46 s this way.
        let mut qb = QueryBuilder::<Postgres>::new(SELECT);
        let literal = format!("'{group}'::uuid");
        if let Window::After { .. } = window {
            qb.push(" WHERE gm.group_id = ").push(&literal);
            push_window(
                &mut qb,
                window,
                "gm.email_norm",
                |qb, EmailCursor(after)| {
                    qb.push(" AND gm.email_norm > ").push_bind(after);
                },
            );
        } else {
            // A page's ids come from the index; `= ANY(ARRAY(...))` makes the planner fetch just
            // those rows by primary key, not every row the offset skips.
            qb.push(" WHERE gm.id = ANY(ARRAY(SELECT id FROM group_memberships WHERE group_id = ")
                .push(&literal);
            push_window(&mut qb, window, "email_norm", |_, _| {});
            qb.push(")) ORDER BY gm.email_norm");
        }
        let mut conn = self.pool.acquire().await.map_err(other)?;
        let rows: Vec<Row> = qb
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(other)?;
        with_campaigns(&mut conn, group, rows).await
    }

    async fn count_group_memberships(&self, group: Uuid) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM group_memberships WHERE group_id = $1")
                .bind(group)
                .fetch_one(&self.pool)
                .await
                .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn change_group_members(
        &self,
        group: Uuid,
        items: Vec<MemberRef>,
        change: MembersChange,
        require_campaign: bool,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Vec<GroupMembership>> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let org = prepare(&mut tx, group, &items, require_campaign).await?;
        let count = items.len();
        // In the working table now (see the trait).
        drop(items);
        crate::tx::expect_version(&mut tx, "groups", group, expect).await?;
        apply(&mut tx, group, org, change, count, now, true).await?;
        let result = match change {
            MembersChange::Add => {
                let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE gm.group_id = $1 \
                     AND gm.email_norm IN (SELECT email_norm FROM payload) ORDER BY gm.email_norm"
                )))
                .bind(group)
                .fetch_all(&mut *tx)
                .await
                .map_err(other)?;
                with_campaigns(&mut tx, group, rows).await?
            }
            MembersChange::Replace => Vec::new(),
        };
        // Last: the event holds the team's history lock until commit.
        let replace = change == MembersChange::Replace;
        record(&mut tx, origin, org, group, replace).await?;
        crate::provisioning::touch_group(&mut tx, group).await?;
        tx.commit().await.map_err(other)?;
        crate::dialect::analyze_if_large(self, "group_memberships", count);
        Ok(result)
    }

    async fn preview_group_members(
        &self,
        group: Uuid,
        items: &[MemberRef],
        change: MembersChange,
        require_campaign: bool,
        now: Timestamp,
    ) -> StoreResult<MembersPreview<GroupMembership>> {
        let mut tx = self.write().await?;
        let org = prepare(&mut tx, group, items, require_campaign).await?;
        let removed = match change {
            MembersChange::Replace => read(&mut tx, group, &preview::removed("gm")).await?,
            MembersChange::Add => Vec::new(),
        };
        preview::note(&mut tx, "group_memberships", "group_id", group).await?;
        apply(&mut tx, group, org, change, items.len(), now, false).await?;
        let added = read(&mut tx, group, &preview::added("gm")).await?;
        let unchanged = preview::unchanged(&mut tx, "group_memberships", "group_id", group).await?;
        tx.rollback().await.map_err(other)?;
        Ok(MembersPreview {
            added,
            removed,
            updated: Vec::new(),
            unchanged,
        })
    }

    async fn remove_group_membership(
        &self,
        group: Uuid,
        membership: Uuid,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        crate::sql::groups::remove_member(self, group, membership, origin).await
    }
}
