//! Campaigns of a team. Compiled into each backend against its `dialect` module (see
//! README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, Stamp, at, ts};
use crate::rows::push_window;
use crate::tx::{TeamLock, conflict_on, expect_version, lock_own, lock_team};
use crate::{campaign_members, other};
use async_trait::async_trait;
use roster_core::store::Campaigns;
use roster_core::store::{NameCursor, NewCampaignMember, Window};
use roster_core::{Campaign, Origin, StoreError, StoreResult, Timestamp};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

const SELECT: &str = "SELECT id, org_id, name, created_at, updated_at, version FROM campaigns";

#[derive(FromRow)]
struct CampaignRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    created_at: Stamp,
    updated_at: Stamp,
    version: i64,
}

impl From<CampaignRow> for Campaign {
    fn from(r: CampaignRow) -> Self {
        Campaign {
            id: r.id,
            organization: r.org_id,
            name: r.name,
            created_at: at(r.created_at),
            updated_at: at(r.updated_at),
            version: r.version,
        }
    }
}

pub(crate) async fn get<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    id: Uuid,
) -> StoreResult<Campaign> {
    let row: Option<CampaignRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(db)
            .await
            .map_err(other)?;
    row.map(Campaign::from).ok_or(StoreError::NotFound)
}

/// Locks the campaign's team for sharing, then the campaign, and checks `If-Match`'s version
/// (`expect`); returns the campaign as it stands under the lock.
pub(crate) async fn lock(conn: &mut Conn, id: Uuid, expect: Option<i64>) -> StoreResult<Campaign> {
    let campaign = get(&mut *conn, id).await?;
    lock_team(conn, campaign.organization, TeamLock::Share).await?;
    lock_own(conn, "campaigns", id).await?;
    expect_version(conn, "campaigns", id, expect).await?;
    get(&mut *conn, id).await
}

#[async_trait]
impl Campaigns for Backend {
    async fn list_campaigns(
        &self,
        org: Uuid,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Campaign>> {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        qb.push(" WHERE org_id = ").push_bind(org);
        push_window(&mut qb, window, "name, id", |qb, c| {
            qb.push(" AND (name, id) > (")
                .push_bind(c.name)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        });
        let rows: Vec<CampaignRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(Campaign::from).collect())
    }

    async fn count_campaigns(&self, org: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM campaigns WHERE org_id = $1")
            .bind(org)
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn create_campaign(
        &self,
        org: Uuid,
        name: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Campaign> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO campaigns (id, org_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(id)
            .bind(org)
            .bind(name)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("name"))?;
        let event = Event::on_team(org, "campaign.created", Object::new("campaign", id, name))
            .with(json!({ "name": name }));
        audit::record(&mut tx, origin, event).await?;
        let campaign = get(&mut *tx, id).await?;
        tx.commit().await.map_err(other)?;
        Ok(campaign)
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Campaign> {
        get(self.reads(), id).await
    }

    async fn update_campaign(
        &self,
        id: Uuid,
        name: Option<&str>,
        members: Option<&[NewCampaignMember<'_>]>,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Campaign> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let campaign = lock(&mut tx, id, expect).await?;
        if let Some(name) = name.filter(|n| *n != campaign.name) {
            sqlx::query(
                "UPDATE campaigns SET name = $2, updated_at = $3, version = version + 1 WHERE id = $1",
            )
                .bind(id)
                .bind(name)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(other)?;
            let object = Object::new("campaign", id, name);
            let event = Event::on_team(campaign.organization, "campaign.updated", object)
                .with(json!({ "name": { "from": campaign.name, "to": name } }));
            audit::record(&mut tx, origin, event).await?;
        }
        if let Some(members) = members {
            campaign_members::replace_in(&mut tx, &campaign, members, now, origin).await?;
        }
        let campaign = get(&mut *tx, id).await?;
        tx.commit().await.map_err(other)?;
        Ok(campaign)
    }

    async fn delete_campaign(
        &self,
        id: Uuid,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let gone = lock(&mut tx, id, expect).await?;
        sqlx::query("DELETE FROM campaigns WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let object = Object::new("campaign", id, &gone.name);
        let event = Event::on_team(gone.organization, "campaign.deleted", object)
            .with(json!({ "name": gone.name }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }
}
