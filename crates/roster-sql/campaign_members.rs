//! Campaign members: people by email with their reporting data. Adding and replacing are
//! set-based through `crate::payload`, under the campaign's row lock. Compiled into each
//! backend against its `dialect` module (see README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{
    Backend, Conn, Db, JOIN_IN_ORDER, Stamp, analyze_if_large, at, in_texts, json_rows, page_of,
    texts, ts,
};
use crate::rows::push_window;
use crate::{campaigns, other};
use crate::{payload, preview};
use async_trait::async_trait;
use roster_core::store::CampaignMembers;
use roster_core::store::{EmailCursor, MembersChange, NewCampaignMember, Window};
use roster_core::{
    Campaign, CampaignMember, MembersPreview, Origin, StoreError, StoreResult, Timestamp, User,
};
use serde_json::value::RawValue;
use sqlx::{FromRow, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

/// `account` is the team member with the member's email, if any.
const SELECT: &str = "SELECT cm.id, cm.org_id, cm.email, cm.email_norm, cm.data, cm.created_at, \
     cm.updated_at, u.id AS user_id, u.name, u.email AS user_email, u.service_account, \
     u.deployment_key_account, u.date_joined, u.last_active_at \
     FROM campaign_members cm \
     LEFT JOIN memberships m ON m.org_id = cm.org_id AND m.email_norm = cm.email_norm \
     LEFT JOIN users u ON u.id = m.user_id";

#[derive(FromRow)]
struct Row {
    id: Uuid,
    org_id: Uuid,
    email: String,
    email_norm: String,
    data: String,
    created_at: Stamp,
    updated_at: Stamp,
    user_id: Option<Uuid>,
    name: Option<String>,
    user_email: Option<String>,
    service_account: Option<bool>,
    deployment_key_account: Option<bool>,
    date_joined: Option<Stamp>,
    last_active_at: Option<Stamp>,
}

impl Row {
    fn into_member(self, groups: &mut HashMap<String, Vec<Uuid>>) -> StoreResult<CampaignMember> {
        let data = RawValue::from_string(self.data)
            .map_err(|e| StoreError::Other(format!("stored campaign data is not JSON: {e}")))?;
        let account = self.user_id.map(|id| User {
            id,
            name: self.name.unwrap_or_default(),
            email: self.user_email.unwrap_or_else(|| self.email.clone()),
            service_account: self.service_account.unwrap_or_default(),
            deployment_key_account: self.deployment_key_account.unwrap_or_default(),
            date_joined: self.date_joined.map(at),
        });
        Ok(CampaignMember {
            id: self.id,
            groups: groups.remove(&self.email_norm).unwrap_or_default(),
            email: self.email,
            data,
            account,
            created_at: at(self.created_at),
            updated_at: at(self.updated_at),
            last_active_at: self.last_active_at.map(at),
        })
    }
}

/// Fills in each member's groups (the team's groups holding that email) with one query.
async fn with_groups<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    rows: Vec<Row>,
) -> StoreResult<Vec<CampaignMember>> {
    let Some(org) = rows.first().map(|r| r.org_id) else {
        return Ok(Vec::new());
    };
    let emails: Vec<String> = rows.iter().map(|r| r.email_norm.clone()).collect();
    // From the page's emails (index on email_norm) to their groups, not from every group of
    // the team to a probe per email (10x slower on a page of 500 on SQLite).
    let found: Vec<(String, Uuid)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT gm.email_norm, g.id FROM group_memberships gm \
         {JOIN_IN_ORDER} groups g ON g.id = gm.group_id \
         WHERE g.org_id = $1 AND gm.email_norm {} ORDER BY g.name, g.id",
        in_texts("$2")
    )))
    .bind(org)
    .bind(texts(&emails)?)
    .fetch_all(db)
    .await
    .map_err(other)?;
    let mut groups: HashMap<String, Vec<Uuid>> = HashMap::new();
    for (email_norm, group) in found {
        groups.entry(email_norm).or_default().push(group);
    }
    rows.into_iter()
        .map(|r| r.into_member(&mut groups))
        .collect()
}

/// Makes the campaign hold exactly `members`, inside the caller's transaction (which holds
/// the campaign's lock), and records who it added, updated and removed.
pub(crate) async fn replace_in(
    conn: &mut Conn,
    campaign: &Campaign,
    members: &[NewCampaignMember<'_>],
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<()> {
    apply(conn, campaign, members, MembersChange::Replace, now, origin).await?;
    payload::clear(conn).await
}

/// Adds or updates `members`, and with `Replace` removes everyone else, inside the caller's
/// transaction (which holds the campaign's lock); records the change as one event naming the
/// people it added, updated and removed (those a preview names).
async fn apply(
    conn: &mut Conn,
    campaign: &Campaign,
    members: &[NewCampaignMember<'_>],
    change: MembersChange,
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<()> {
    check(conn, campaign, members).await?;
    let replace = change == MembersChange::Replace;
    let removed = if replace {
        let from = format!(
            "campaign_members cm WHERE cm.campaign_id = $1 AND {}",
            preview::removed("cm")
        );
        audit::list(
            conn,
            &json_rows(&[("email", "cm.email")], &from, "cm.email_norm"),
            campaign.id,
        )
        .await?
    } else {
        "[]".into()
    };
    // Both lists are read from the payload to each row by its key (see `audit::group_added`).
    let updated = json_rows(
        &[("email", "p.email")],
        &format!(
            "payload p {JOIN_IN_ORDER} campaign_members cm \
             ON cm.campaign_id = $1 AND cm.email_norm = p.email_norm \
             WHERE cm.data IS DISTINCT FROM coalesce(p.data, '{{}}') \
             OR cm.email IS DISTINCT FROM p.email"
        ),
        "p.email_norm",
    );
    let updated = audit::list(conn, &updated, campaign.id).await?;
    write(conn, campaign, replace, now).await?;
    let added = json_rows(
        &[("email", "cm.email")],
        &format!(
            "payload p {JOIN_IN_ORDER} campaign_members cm ON cm.id = p.new_id \
             WHERE cm.campaign_id = $1"
        ),
        "cm.email_norm",
    );
    let added = audit::list(conn, &added, campaign.id).await?;
    if [&added, &updated, &removed]
        .iter()
        .all(|l| l.as_str() == "[]")
    {
        return Ok(());
    }
    let action = if replace {
        "campaign_member.replaced"
    } else {
        "campaign_member.added"
    };
    let mut event = Event::on_team(
        campaign.organization,
        action,
        Object::new("campaign", campaign.id, &campaign.name),
    );
    event.data = audit::people(&[
        ("added", &added),
        ("updated", &updated),
        ("removed", &removed),
    ]);
    audit::record(conn, origin, event).await
}

/// Loads the payload and checks it against the email rule.
async fn check(
    conn: &mut Conn,
    campaign: &Campaign,
    members: &[NewCampaignMember<'_>],
) -> StoreResult<()> {
    payload::load_campaign_members(conn, campaign.organization, members).await?;
    payload::reject_rule_breakers(conn, campaign.organization).await
}

/// Writes the checked payload: adds or updates, and with `replace` removes everyone else.
async fn write(
    conn: &mut Conn,
    campaign: &Campaign,
    replace: bool,
    now: Timestamp,
) -> StoreResult<()> {
    let now = ts(now);
    let mut changed = 0;
    if replace {
        changed += sqlx::query(
            "DELETE FROM campaign_members AS cm WHERE cm.campaign_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM payload p WHERE p.email_norm = cm.email_norm)",
        )
        .bind(campaign.id)
        .execute(&mut *conn)
        .await
        .map_err(other)?
        .rows_affected();
    }
    // A present member keeps its id and created_at; its data is replaced, and updated_at moves
    // only when something did change.
    changed += sqlx::query(
        "INSERT INTO campaign_members AS cm \
             (id, campaign_id, org_id, email, email_norm, data, created_at, updated_at) \
         SELECT new_id, $1, $2, email, email_norm, coalesce(data, '{}'), $3, $3 \
         FROM payload WHERE true ORDER BY pos \
         ON CONFLICT (campaign_id, email_norm) DO UPDATE \
             SET data = excluded.data, email = excluded.email, updated_at = excluded.updated_at \
             WHERE cm.data IS DISTINCT FROM excluded.data OR cm.email IS DISTINCT FROM excluded.email",
    )
    .bind(campaign.id)
    .bind(campaign.organization)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(other)?
    .rows_affected();
    if changed > 0 {
        sqlx::query("UPDATE campaigns SET updated_at = $2, version = version + 1 WHERE id = $1")
            .bind(campaign.id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    Ok(())
}

/// The campaign's members that meet `condition`, in email order.
async fn read(
    conn: &mut Conn,
    campaign: Uuid,
    condition: &str,
) -> StoreResult<Vec<CampaignMember>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE cm.campaign_id = $1 AND {condition} ORDER BY cm.email_norm"
    )))
    .bind(campaign)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    with_groups(&mut *conn, rows).await
}

#[async_trait]
impl CampaignMembers for Backend {
    async fn list_campaign_members(
        &self,
        campaign: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<CampaignMember>> {
        // Emails are unique within a campaign: (campaign_id, email_norm) orders the list, and
        // the page is chosen on that index alone, then only its rows are read.
        let (open, close) = page_of("campaign_members", "cm");
        let mut qb = QueryBuilder::<Db>::new(format!("{SELECT}{open}campaign_id = "));
        qb.push_bind(campaign);
        push_window(&mut qb, window, "email_norm", |qb, EmailCursor(after)| {
            qb.push(" AND email_norm > ").push_bind(after);
        });
        qb.push(close).push(" ORDER BY cm.email_norm");
        let rows: Vec<Row> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        with_groups(self.reads(), rows).await
    }

    async fn count_campaign_members(&self, campaign: Uuid) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM campaign_members WHERE campaign_id = $1")
                .bind(campaign)
                .fetch_one(self.reads())
                .await
                .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn change_campaign_members(
        &self,
        campaign: Uuid,
        members: &[NewCampaignMember<'_>],
        change: MembersChange,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Vec<CampaignMember>> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let found = campaigns::lock(&mut tx, campaign, expect).await?;
        apply(&mut tx, &found, members, change, now, origin).await?;
        let result = match change {
            MembersChange::Replace => Vec::new(),
            MembersChange::Add => {
                let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE cm.campaign_id = $1 \
                     AND cm.email_norm IN (SELECT email_norm FROM payload) ORDER BY cm.email_norm"
                )))
                .bind(campaign)
                .fetch_all(&mut *tx)
                .await
                .map_err(other)?;
                with_groups(&mut *tx, rows).await?
            }
        };
        payload::clear(&mut tx).await?;
        tx.commit().await.map_err(other)?;
        analyze_if_large(self, "campaign_members", members.len());
        Ok(result)
    }

    async fn preview_campaign_members(
        &self,
        campaign: Uuid,
        members: &[NewCampaignMember<'_>],
        change: MembersChange,
        now: Timestamp,
    ) -> StoreResult<MembersPreview<CampaignMember>> {
        let mut tx = self.write().await?;
        let found = campaigns::lock(&mut tx, campaign, None).await?;
        let replace = change == MembersChange::Replace;
        check(&mut tx, &found, members).await?;
        let removed = if replace {
            read(&mut tx, campaign, &preview::removed("cm")).await?
        } else {
            Vec::new()
        };
        preview::note(&mut tx, "campaign_members", "campaign_id", campaign).await?;
        write(&mut tx, &found, replace, now).await?;
        let added = read(&mut tx, campaign, &preview::added("cm")).await?;
        let updated = read(&mut tx, campaign, &preview::updated("cm")).await?;
        let unchanged =
            preview::unchanged(&mut tx, "campaign_members", "campaign_id", campaign).await?;
        tx.rollback().await.map_err(other)?;
        Ok(MembersPreview {
            added,
            removed,
            updated,
            unchanged,
        })
    }
}
