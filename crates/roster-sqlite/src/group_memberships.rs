//! Group memberships: the list, and adding or replacing members with the email rule.
//!
//! A change is set-based: the payload is loaded into the working table of `crate::payload`,
//! checked against the email rule, and applied with a fixed handful of statements, whatever
//! its size. It all happens in one `BEGIN IMMEDIATE` transaction, so a rejected item changes
//! nothing and concurrent changes apply in some serial order.

use crate::audit;
use crate::dialect::{Conn, JOIN_IN_ORDER, json_items};
use crate::rows::push_window;
use crate::users::{self, Taken};
use crate::{SqliteStore, other, payload, preview};
use async_trait::async_trait;
use roster_core::Origin;
use roster_core::store::GroupMembers;
use roster_core::store::{EmailCursor, MemberRef, MembersChange, Window};
use roster_core::{
    CampaignRef, GroupMembership, MembersPreview, StoreError, StoreResult, Timestamp, User,
};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection, SqliteExecutor};
use std::collections::HashMap;
use uuid::Uuid;

const SELECT: &str = "SELECT gm.id, gm.email, gm.email_norm, gm.created_at, g.org_id, \
     u.id AS user_id, u.name, u.email AS user_email, u.service_account, \
     u.deployment_key_account, u.date_joined, u.last_active_at \
     FROM group_memberships gm JOIN groups g ON g.id = gm.group_id \
     LEFT JOIN users u ON u.id = gm.user_id";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    email: String,
    email_norm: String,
    created_at: i64,
    org_id: Uuid,
    user_id: Option<Uuid>,
    name: Option<String>,
    user_email: Option<String>,
    service_account: Option<bool>,
    deployment_key_account: Option<bool>,
    date_joined: Option<i64>,
    last_active_at: Option<i64>,
}

impl Row {
    fn into_membership(self, campaigns: &mut Campaigns) -> GroupMembership {
        let r = self;
        let campaigns = campaigns.remove(&r.email_norm).unwrap_or_default();
        let user = r.user_id.map(|id| User {
            id,
            name: r.name.unwrap_or_default(),
            email: r.user_email.clone().unwrap_or_else(|| r.email.clone()),
            service_account: r.service_account.unwrap_or_default(),
            deployment_key_account: r.deployment_key_account.unwrap_or_default(),
            date_joined: r.date_joined.map(Timestamp::from_micros),
        });
        GroupMembership {
            id: r.id,
            email: r.user_email.unwrap_or(r.email),
            user,
            created_at: Timestamp::from_micros(r.created_at),
            campaigns,
            last_active_at: r.last_active_at.map(Timestamp::from_micros),
        }
    }
}

type Campaigns = HashMap<String, Vec<CampaignRef>>;

/// Fills in the campaigns of the team whose members include each email, with one query.
async fn with_campaigns<'e>(
    db: impl SqliteExecutor<'e>,
    rows: Vec<Row>,
) -> StoreResult<Vec<GroupMembership>> {
    let Some(org) = rows.first().map(|r| r.org_id) else {
        return Ok(Vec::new());
    };
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT cm.email_norm, c.id, c.name, c.created_at, c.updated_at \
         FROM campaign_members cm JOIN campaigns c ON c.id = cm.campaign_id \
         WHERE cm.org_id = ",
    );
    qb.push_bind(org).push(" AND cm.email_norm IN (");
    let mut list = qb.separated(", ");
    for r in &rows {
        list.push_bind(r.email_norm.clone());
    }
    qb.push(") ORDER BY c.name, c.id");
    let found: Vec<(String, Uuid, String, i64, i64)> =
        qb.build_query_as().fetch_all(db).await.map_err(other)?;
    let mut campaigns = Campaigns::new();
    for (email_norm, id, name, created_at, updated_at) in found {
        campaigns.entry(email_norm).or_default().push(CampaignRef {
            id,
            name,
            created_at: Timestamp::from_micros(created_at),
            updated_at: Timestamp::from_micros(updated_at),
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| r.into_membership(&mut campaigns))
        .collect())
}

/// Loads the payload and checks it as every change does; the group's team.
async fn prepare(
    conn: &mut SqliteConnection,
    group: Uuid,
    items: &[MemberRef],
    require_campaign: bool,
) -> StoreResult<Uuid> {
    let org: Uuid = sqlx::query_scalar("SELECT org_id FROM groups WHERE id = $1")
        .bind(group)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?
        .ok_or(StoreError::NotFound)?;
    payload::load_members(&mut *conn, org, items).await?;
    if require_campaign {
        payload::keep_campaign_members(&mut *conn, org).await?;
    }
    payload::reject_rule_breakers(&mut *conn, org).await?;
    // Held memberships take their emails in: on an owned domain, their unproven keys go.
    users::revoke_unproven(&mut *conn, org, Taken::Table("payload")).await?;
    Ok(org)
}

/// The group's memberships that meet `condition`, in email order, their campaigns read a
/// bounded number of emails at a time.
async fn read(
    conn: &mut SqliteConnection,
    group: Uuid,
    condition: &str,
) -> StoreResult<Vec<GroupMembership>> {
    const AT_A_TIME: usize = 10_000;
    let mut rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE gm.group_id = $1 AND {condition} ORDER BY gm.email_norm"
    )))
    .bind(group)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    let mut out = Vec::with_capacity(rows.len());
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(AT_A_TIME));
        out.extend(with_campaigns(&mut *conn, rows).await?);
        rows = rest;
    }
    Ok(out)
}

/// The triggers a large change's statements would run once per row (`crate::bulk`).
const GROUP_TRIGGERS: &[&str] = &[
    "team_versions_group_member_in",
    "team_versions_group_member_up",
    "team_versions_group_member_out",
];

async fn apply(
    conn: &mut SqliteConnection,
    group: Uuid,
    change: MembersChange,
    now: Timestamp,
) -> StoreResult<()> {
    if change == MembersChange::Replace {
        execute(
            &mut *conn,
            "DELETE FROM group_memberships WHERE group_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM payload p WHERE p.email_norm = group_memberships.email_norm)",
            &[group],
        )
        .await?;
    }
    // A membership held by email whose owner is now a member attaches to them.
    execute(
        &mut *conn,
        "UPDATE group_memberships SET user_id = p.user_id FROM payload p \
         WHERE group_memberships.group_id = $1 AND group_memberships.user_id IS NULL \
           AND p.member = 1 AND p.email_norm = group_memberships.email_norm",
        &[group],
    )
    .await?;
    // People already in the group keep their membership; duplicates in the payload collapse
    // on the unique (group_id, email_norm).
    sqlx::query(
        "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
         SELECT new_id, $1, CASE WHEN member = 1 THEN user_id END, email, email_norm, $2 \
         FROM payload WHERE true ORDER BY pos \
         ON CONFLICT (group_id, email_norm) DO NOTHING",
    )
    .bind(group)
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// A group's members as the history names them, from `group_memberships gm`: the items of a
/// JSON array, comma-separated.
fn people(from: &str) -> String {
    json_items(&[("email", "gm.email")], from, "gm.email_norm")
}

/// Writes the change's event before the change, naming the people it is about to remove (the
/// condition of `preview::removed`); [`complete_event`] adds those it added. SQLite builds
/// both lists itself (it cannot aggregate what a statement returns, as PostgreSQL does), so a
/// 100,000-person change's lists never pass through the server's memory.
async fn begin_event(
    conn: &mut Conn,
    origin: &Origin,
    org: Uuid,
    group: Uuid,
    change: MembersChange,
) -> StoreResult<i64> {
    let replace = change == MembersChange::Replace;
    // Until `complete_event`, inside the change's transaction, the data holds only the items
    // of the removed list.
    let seq = audit::record_group_change(conn, origin, org, group, replace, String::new()).await?;
    if replace {
        let from = format!(
            "group_memberships gm WHERE gm.group_id = $1 AND {}",
            preview::removed("gm")
        );
        let sql = format!(
            "UPDATE audit_events SET data = {} WHERE seq = $2",
            people(&from)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(group)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    Ok(seq)
}

/// Completes the event of [`begin_event`] with the people the change added: the rows that took
/// the payload's new ids (those `preview::added` finds), read from the payload to each row by
/// its key (`JOIN_IN_ORDER`: the planner, left free, walked the group and scanned the payload
/// for each row). A change that changed nobody keeps no event.
async fn complete_event(conn: &mut Conn, group: Uuid, seq: i64) -> StoreResult<()> {
    let from = format!(
        "payload p {JOIN_IN_ORDER} group_memberships gm ON gm.id = p.new_id \
         WHERE gm.group_id = $1"
    );
    // One concatenation: each list is copied once into the event's text.
    let sql = format!(
        "UPDATE audit_events \
         SET data = concat('{{\"added\":[', {}, '],\"removed\":[', data, ']}}') WHERE seq = $2",
        people(&from)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(group)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    sqlx::query(r#"DELETE FROM audit_events WHERE seq = $1 AND data = '{"added":[],"removed":[]}'"#)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(other)
}

async fn execute<'e>(
    db: impl SqliteExecutor<'e>,
    sql: &'static str,
    ids: &[Uuid],
) -> StoreResult<()> {
    let mut query = sqlx::query(sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.execute(db).await.map(|_| ()).map_err(other)
}

#[async_trait]
impl GroupMembers for SqliteStore {
    async fn list_group_memberships(
        &self,
        group: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<GroupMembership>> {
        // Emails are unique within a group, so (group_id, email_norm) orders the list; the page is
        // chosen on that index alone, then joined.
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "{SELECT} JOIN (SELECT rowid AS page_rowid FROM group_memberships WHERE group_id = "
        ));
        qb.push_bind(group);
        push_window(&mut qb, window, "email_norm", |qb, EmailCursor(after)| {
            qb.push(" AND email_norm > ").push_bind(after);
        });
        qb.push(") page ON page.page_rowid = gm.rowid ORDER BY gm.email_norm");
        let rows: Vec<Row> = qb
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(other)?;
        with_campaigns(&self.reader, rows).await
    }

    async fn count_group_memberships(&self, group: Uuid) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM group_memberships WHERE group_id = $1")
                .bind(group)
                .fetch_one(&self.reader)
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
        let event = begin_event(&mut tx, origin, org, group, change).await?;
        let paused = if count >= crate::bulk::ROWS {
            Some(crate::bulk::pause(&mut tx, org, GROUP_TRIGGERS).await?)
        } else {
            None
        };
        apply(&mut tx, group, change, now).await?;
        if let Some(paused) = paused {
            paused.resume(&mut tx).await?;
        }
        complete_event(&mut tx, group, event).await?;
        let result = match change {
            MembersChange::Add => {
                let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE gm.group_id = $1 \
                     AND gm.email_norm IN (SELECT email_norm FROM payload) \
                     ORDER BY gm.email_norm"
                )))
                .bind(group)
                .fetch_all(&mut *tx)
                .await
                .map_err(other)?;
                with_campaigns(&mut *tx, rows).await?
            }
            MembersChange::Replace => Vec::new(),
        };
        payload::clear(&mut tx).await?;
        crate::provisioning::touch_group(&mut tx, group).await?;
        tx.commit().await.map_err(other)?;
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
        prepare(&mut tx, group, items, require_campaign).await?;
        let removed = match change {
            MembersChange::Replace => read(&mut tx, group, &preview::removed("gm")).await?,
            MembersChange::Add => Vec::new(),
        };
        preview::note(&mut tx, "group_memberships", "group_id", group).await?;
        apply(&mut tx, group, change, now).await?;
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
