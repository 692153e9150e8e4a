//! Groups of a team. Compiled into each backend against its `dialect` module (see README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Db, NOW, Stamp, at, ts};
use crate::other;
use crate::rows::push_window;
use crate::tx::{TeamLock, conflict_on, expect_version, lock_own, lock_team};
use async_trait::async_trait;
use roster_core::store::Groups;
use roster_core::store::{NameCursor, Window};
use roster_core::{Group, GroupRef, MemberGroup, Origin, StoreError, StoreResult, Timestamp};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

const SELECT: &str = "SELECT g.id, g.org_id, g.name, g.created_at, g.version, \
     (SELECT count(*) FROM group_memberships gm WHERE gm.group_id = g.id) AS num_members \
     FROM groups g";

#[derive(FromRow)]
struct GroupRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    created_at: Stamp,
    version: i64,
    num_members: i64,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Self {
        Group {
            id: r.id,
            organization: r.org_id,
            name: r.name,
            num_members: u64::try_from(r.num_members).unwrap_or(0),
            created_at: at(r.created_at),
            version: r.version,
        }
    }
}

pub(crate) async fn get<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    id: Uuid,
) -> StoreResult<Group> {
    let row: Option<GroupRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE g.id = $1")))
            .bind(id)
            .fetch_optional(db)
            .await
            .map_err(other)?;
    row.map(Group::from).ok_or(StoreError::NotFound)
}

/// Removes one membership of the group (`NotFound` if it is not the group's), recorded as
/// `group_membership.removed`. The team is held for sharing, then the group, as for every
/// change to a group's members (`tx.rs`).
pub(crate) async fn remove_member(
    store: &Backend,
    group: Uuid,
    id: Uuid,
    origin: &Origin,
) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let org: Uuid = sqlx::query_scalar("SELECT org_id FROM groups WHERE id = $1")
        .bind(group)
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?
        .ok_or(StoreError::NotFound)?;
    lock_team(&mut tx, org, TeamLock::Share).await?;
    lock_own(&mut tx, "groups", group).await?;
    let gone: Option<String> = sqlx::query_scalar(
        "DELETE FROM group_memberships WHERE id = $1 AND group_id = $2 RETURNING email",
    )
    .bind(id)
    .bind(group)
    .fetch_optional(&mut *tx)
    .await
    .map_err(other)?;
    let email = gone.ok_or(StoreError::NotFound)?;
    let removed = json!([{ "email": email }]).to_string();
    let action = "group_membership.removed";
    audit::group_members_changed(&mut tx, origin, org, group, action, "[]", &removed).await?;
    crate::provisioning::touch_group(&mut tx, group).await?;
    tx.commit().await.map_err(other)
}

#[async_trait]
impl Groups for Backend {
    async fn list_groups(&self, org: Uuid, window: Window<NameCursor>) -> StoreResult<Vec<Group>> {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        qb.push(" WHERE g.org_id = ").push_bind(org);
        push_window(&mut qb, window, "g.name", |qb, c| {
            // Names are unique within a team, so the name alone orders the groups.
            qb.push(" AND g.name > ").push_bind(c.name);
        });
        let rows: Vec<GroupRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(Group::from).collect())
    }

    async fn group_refs(&self, org: Uuid, limit: u32) -> StoreResult<Vec<GroupRef>> {
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, name FROM groups WHERE org_id = $1 ORDER BY name LIMIT $2")
                .bind(org)
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(other)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| GroupRef { id, name })
            .collect())
    }

    async fn count_groups(&self, org: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM groups WHERE org_id = $1")
            .bind(org)
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn create_group(
        &self,
        org: Uuid,
        name: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Group> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO groups (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(org)
            .bind(name)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("name"))?;
        let event = Event::on_team(org, "group.created", Object::new("group", id, name))
            .of_group(id)
            .with(json!({ "name": name }));
        audit::record(&mut tx, origin, event).await?;
        let group = get(&mut *tx, id).await?;
        tx.commit().await.map_err(other)?;
        Ok(group)
    }

    async fn get_group(&self, id: Uuid) -> StoreResult<Group> {
        get(self.reads(), id).await
    }

    async fn rename_group(
        &self,
        id: Uuid,
        name: &str,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Group> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_own(&mut tx, "groups", id).await?;
        expect_version(&mut tx, "groups", id, expect).await?;
        let before = get(&mut *tx, id).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE groups SET name = $2, version = version + 1, updated_at = {NOW} WHERE id = $1"
        )))
        .bind(id)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(conflict_on("name"))?;
        let event = Event::on_team(
            before.organization,
            "group.updated",
            Object::new("group", id, name),
        )
        .of_group(id)
        .with(json!({ "name": { "from": before.name, "to": name } }));
        if before.name != name {
            audit::record(&mut tx, origin, event).await?;
        }
        let group = get(&mut *tx, id).await?;
        tx.commit().await.map_err(other)?;
        Ok(group)
    }

    async fn delete_group(
        &self,
        id: Uuid,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_own(&mut tx, "groups", id).await?;
        expect_version(&mut tx, "groups", id, expect).await?;
        let gone = get(&mut *tx, id).await?;
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let event = Event::on_team(
            gone.organization,
            "group.deleted",
            Object::new("group", id, &gone.name),
        )
        .of_group(id)
        .with(json!({ "name": gone.name, "num_members": gone.num_members }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }

    async fn member_groups(&self, org: Uuid, user: Uuid) -> StoreResult<Vec<MemberGroup>> {
        let rows: Vec<(Uuid, Uuid, String, Stamp)> = sqlx::query_as(
            "SELECT gm.id, g.id, g.name, gm.created_at FROM group_memberships gm \
             JOIN groups g ON g.id = gm.group_id \
             WHERE g.org_id = $1 AND gm.user_id = $2 ORDER BY g.name, g.id",
        )
        .bind(org)
        .bind(user)
        .fetch_all(self.reads())
        .await
        .map_err(other)?;
        Ok(rows
            .into_iter()
            .map(|(id, group_id, group_name, created)| MemberGroup {
                id,
                group_id,
                group_name,
                created_at: at(created),
            })
            .collect())
    }
}
