//! Organizations (teams). Compiled into each backend against its `dialect` module (see
//! README.md).

use crate::audit::{self, Event};
use crate::dialect::{Backend, Db, ts};
use crate::rows::{OrganizationRow, push_window};
use crate::tx::{TeamLock, conflict_on, expect_team_version, lock_team};
use crate::{memberships, other};
use async_trait::async_trait;
use roster_core::store::Organizations;
use roster_core::store::{NameCursor, NewOrganization, OrganizationPatch, Visibility, Window};
use roster_core::{Organization, Origin, Role, StoreError, StoreResult, Timestamp};
use serde_json::json;
use sqlx::QueryBuilder;
use uuid::Uuid;

const COLUMNS: &str = "o.id, o.name, o.scope, o.default_role";

fn push_visible(qb: &mut QueryBuilder<Db>, who: Visibility) {
    match who {
        Visibility::All => qb.push(" FROM organizations o WHERE true"),
        Visibility::MemberOf(user) => qb
            .push(" FROM organizations o JOIN memberships m ON m.org_id = o.id AND m.user_id = ")
            .push_bind(user)
            // A suspended member no longer sees the team, as its own endpoints answer 404.
            .push(" WHERE m.active"),
        Visibility::MemberOfOnly(user, org) => qb
            .push(" FROM organizations o JOIN memberships m ON m.org_id = o.id AND m.user_id = ")
            .push_bind(user)
            .push(" WHERE m.active AND o.id = ")
            .push_bind(org),
    };
}

pub(crate) async fn get<'e>(
    db: impl sqlx::Executor<'e, Database = Db>,
    id: Uuid,
) -> StoreResult<Organization> {
    let row: Option<OrganizationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM organizations o WHERE o.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map_err(other)?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

#[async_trait]
impl Organizations for Backend {
    async fn list_organizations(
        &self,
        who: Visibility,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Organization>> {
        let mut qb = QueryBuilder::<Db>::new(format!("SELECT {COLUMNS}"));
        push_visible(&mut qb, who);
        push_window(&mut qb, window, "o.name, o.id", |qb, c| {
            qb.push(" AND (o.name, o.id) > (")
                .push_bind(c.name)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        });
        let rows: Vec<OrganizationRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        rows.into_iter().map(Organization::try_from).collect()
    }

    async fn count_organizations(&self, who: Visibility) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*)");
        push_visible(&mut qb, who);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_organization(&self, id: Uuid) -> StoreResult<Organization> {
        get(self.reads(), id).await
    }

    async fn organizations_named(&self, name: &str) -> StoreResult<Vec<Organization>> {
        let rows: Vec<OrganizationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM organizations o WHERE o.name = $1 ORDER BY o.id LIMIT 20"
        )))
        .bind(name)
        .fetch_all(self.reads())
        .await
        .map_err(other)?;
        rows.into_iter().map(Organization::try_from).collect()
    }

    async fn create_organization(
        &self,
        org: NewOrganization,
        admin: Uuid,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Organization> {
        let _writing = self.changes.writing();
        let id = Uuid::new_v4();
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO organizations (id, name, scope, default_role, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&org.name)
            .bind(&org.scope)
            .bind(org.default_role.unwrap_or(Role::Restricted).as_i64())
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("scope"))?;
        memberships::add(&mut tx, id, admin, Some(Role::Admin), now).await?;
        let created = get(&mut *tx, id).await?;
        let event = Event::of_team(id, "organization.created").with(json!({
            "name": created.name,
            "scope": created.scope,
            "default_role": created.default_role.as_i64(),
            "admin": admin,
        }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)?;
        Ok(created)
    }

    async fn update_organization(
        &self,
        id: Uuid,
        patch: OrganizationPatch,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Organization> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, id, TeamLock::Members).await?;
        expect_team_version(&mut tx, id, expect).await?;
        let before = get(&mut *tx, id).await?;
        sqlx::query(
            "UPDATE organizations SET name = coalesce($2, name), \
                 scope = CASE WHEN $3 THEN $4 ELSE scope END, \
                 default_role = coalesce($5, default_role) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&patch.name)
        .bind(patch.scope.is_some())
        .bind(patch.scope.flatten())
        .bind(patch.default_role.map(Role::as_i64))
        .execute(&mut *tx)
        .await
        .map_err(conflict_on("scope"))?;
        let org = get(&mut *tx, id).await?;
        let mut changed = serde_json::Map::new();
        let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
            if from != to {
                changed.insert(field.into(), json!({ "from": from, "to": to }));
            }
        };
        note("name", json!(before.name), json!(org.name));
        note("scope", json!(before.scope), json!(org.scope));
        note(
            "default_role",
            json!(before.default_role.as_i64()),
            json!(org.default_role.as_i64()),
        );
        if !changed.is_empty() {
            let event = Event::of_team(id, "organization.updated").with(changed.into());
            audit::record(&mut tx, origin, event).await?;
        }
        tx.commit().await.map_err(other)?;
        Ok(org)
    }

    async fn delete_organization(
        &self,
        id: Uuid,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, id, TeamLock::Members).await?;
        expect_team_version(&mut tx, id, expect).await?;
        let gone = get(&mut *tx, id).await?;
        let event = Event::of_team(id, "organization.deleted")
            .with(json!({ "name": gone.name, "scope": gone.scope }));
        audit::record(&mut tx, origin, event).await?;
        // Memberships, groups, campaigns and everything under them go by ON DELETE CASCADE.
        // The team's service accounts and deployment keys exist only for it: their users go too.
        sqlx::query(
            "DELETE FROM users WHERE id IN (SELECT user_id FROM accounts WHERE org_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(other)
    }
}
