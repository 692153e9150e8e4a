//! Service accounts and deployment keys: users made for one team, with a membership whose role
//! never changes and a key. Deleting one deletes its user, so its key stops working at once.
//! Compiled into each backend against its `dialect` module (see README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, Stamp, at, ts};
use crate::rows::{push_window, role};
use crate::tx::{TeamLock, lock_team};
use crate::{other, users};
use async_trait::async_trait;
use roster_core::keys::{KeyHash, KeyScope};
use roster_core::store::Accounts;
use roster_core::store::{AccountKind, NameCursor, Window};
use roster_core::{Account, Origin, Role, StoreError, StoreResult, Timestamp};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

const SELECT: &str = "SELECT a.user_id, a.org_id, u.name, m.role, a.created_at, \
     u.last_active_at, a.token FROM accounts a JOIN users u ON u.id = a.user_id \
     JOIN memberships m ON m.user_id = a.user_id AND m.org_id = a.org_id";

#[derive(FromRow)]
struct AccountRow {
    user_id: Uuid,
    org_id: Uuid,
    name: String,
    role: i64,
    created_at: Stamp,
    last_active_at: Option<Stamp>,
    token: Option<String>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> StoreResult<Account> {
        Ok(Account {
            id: r.user_id,
            organization: r.org_id,
            name: r.name,
            role: role(r.role)?,
            created_at: at(r.created_at),
            last_active_at: r.last_active_at.map(at),
            token: r.token,
        })
    }
}

#[allow(clippy::too_many_arguments)]
#[async_trait]
impl Accounts for Backend {
    async fn create_account(
        &self,
        org: Uuid,
        kind: AccountKind,
        name: &str,
        role: Role,
        key: &KeyHash,
        token: Option<&str>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Account> {
        let _writing = self.changes.writing();
        let code = kind.code()?;
        let id = Uuid::new_v4();
        // Accounts have no mailbox: a unique address under a reserved name (RFC 2606) keeps the
        // email column's rules.
        let email = format!(
            "{}@{}.roster.invalid",
            id.simple(),
            if code == 1 {
                "service-account"
            } else {
                "deployment-key"
            }
        );
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        sqlx::query(
            "INSERT INTO users (id, name, name_lower, email, email_norm, service_account, \
                 deployment_key_account, created_at) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(&email)
        .bind(code == 1)
        .bind(code == 2)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(org)
        .bind(id)
        .bind(&email)
        .bind(role.as_i64())
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        sqlx::query("INSERT INTO accounts (user_id, org_id, kind, token, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(org)
            .bind(code)
            .bind(token.filter(|_| code == 2))
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        users::add_key(&mut tx, id, key, KeyScope::PROVEN, now).await?;
        let row: AccountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.user_id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(other)?;
        let object = Object::new(content_type(kind), id, name);
        let event = Event::on_team(org, created(kind), object)
            .with(json!({ "name": name, "role": role.as_i64() }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)?;
        row.try_into()
    }

    async fn list_accounts(
        &self,
        org: Uuid,
        kind: AccountKind,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Account>> {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        qb.push(" WHERE a.org_id = ")
            .push_bind(org)
            .push(" AND a.kind = ")
            .push_bind(kind.code()?);
        push_window(&mut qb, window, "u.name, a.user_id", |qb, c| {
            qb.push(" AND (u.name, a.user_id) > (")
                .push_bind(c.name)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        });
        let rows: Vec<AccountRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        rows.into_iter().map(Account::try_from).collect()
    }

    async fn count_accounts(&self, org: Uuid, kind: AccountKind) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM accounts WHERE org_id = $1 AND kind = $2")
                .bind(org)
                .bind(kind.code()?)
                .fetch_one(self.reads())
                .await
                .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn get_account(&self, org: Uuid, kind: AccountKind, id: Uuid) -> StoreResult<Account> {
        let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.org_id = $1 AND a.kind = $2 AND a.user_id = $3"
        )))
        .bind(org)
        .bind(kind.code()?)
        .bind(id)
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    async fn rotate_service_account_key(
        &self,
        org: Uuid,
        id: Uuid,
        key: &KeyHash,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let kind = AccountKind::ServiceAccount;
        let name = account_name(&mut tx, org, kind, id).await?;
        users::drop_keys(&mut tx, id, None).await?;
        users::add_key(&mut tx, id, key, KeyScope::rotated(None), now).await?;
        // Who rotated it, never the key: a rotation hands the account to whoever holds the
        // new key, so the history must show it.
        let object = Object::new(content_type(kind), id, &name);
        let event =
            Event::on_team(org, "service_account.rotated", object).with(json!({ "name": name }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }

    async fn delete_account(
        &self,
        org: Uuid,
        kind: AccountKind,
        id: Uuid,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let name = account_name(&mut tx, org, kind, id).await?;
        // Recorded first: an account that deletes itself is still its event's actor.
        let object = Object::new(content_type(kind), id, &name);
        let event = Event::on_team(org, deleted(kind), object).with(json!({ "name": name }));
        audit::record(&mut tx, origin, event).await?;
        // The user's keys, memberships and group memberships go by ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
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

/// The name of the team's account `id` of `kind`; `NotFound` when the team has none.
async fn account_name(
    conn: &mut Conn,
    org: Uuid,
    kind: AccountKind,
    id: Uuid,
) -> StoreResult<String> {
    let name: Option<String> = sqlx::query_scalar(
        "SELECT u.name FROM users u JOIN accounts a ON a.user_id = u.id \
         WHERE a.org_id = $1 AND a.kind = $2 AND u.id = $3",
    )
    .bind(org)
    .bind(kind.code()?)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    name.ok_or(StoreError::NotFound)
}

/// The content type of an account kind in the change history.
fn content_type(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::DeploymentKey => "deployment_key",
        _ => "service_account",
    }
}

fn created(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::DeploymentKey => "deployment_key.created",
        _ => "service_account.created",
    }
}

fn deleted(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::DeploymentKey => "deployment_key.deleted",
        _ => "service_account.deleted",
    }
}
