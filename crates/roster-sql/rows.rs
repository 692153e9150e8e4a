//! Row shapes shared by the resource modules, their conversion to domain types, and the list
//! window. Compiled into each backend against its `dialect` module (see README.md).

use crate::dialect::{Db, Stamp, at};
use roster_core::store::Window;
use roster_core::{Organization, Role, StoreError, StoreResult, Timestamp, User};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

/// The user columns, prefixed for a join on `users u`.
pub(crate) const USER_COLUMNS: &str = "u.id AS user_id, u.name, u.email, u.service_account, \
     u.deployment_key_account, u.date_joined, u.last_active_at, u.last_login_at";

#[derive(FromRow)]
pub(crate) struct UserRow {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub service_account: bool,
    pub deployment_key_account: bool,
    pub date_joined: Option<Stamp>,
    pub last_active_at: Option<Stamp>,
    pub last_login_at: Option<Stamp>,
}

impl UserRow {
    pub fn into_user(self) -> User {
        User {
            id: self.user_id,
            name: self.name,
            email: self.email,
            service_account: self.service_account,
            deployment_key_account: self.deployment_key_account,
            date_joined: self.date_joined.map(at),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct OrganizationRow {
    pub id: Uuid,
    pub name: String,
    pub scope: Option<String>,
    pub default_role: i64,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = StoreError;

    fn try_from(row: OrganizationRow) -> Result<Self, StoreError> {
        Ok(Organization {
            id: row.id,
            name: row.name,
            scope: row.scope,
            default_role: role(row.default_role)?,
        })
    }
}

/// A role number read from the database; the schema's CHECK makes a bad one a corruption.
pub(crate) fn role(n: i64) -> Result<Role, StoreError> {
    Role::from_i64(n).ok_or_else(|| StoreError::Other(format!("stored role {n} is invalid")))
}

/// Appends a list window to a query that ends in its WHERE clause: for a keyset window the
/// condition `after` writes (rows past the cursor) and `ORDER BY order LIMIT n`; for a page,
/// `ORDER BY order LIMIT n OFFSET $k`.
///
/// The limit is written into the text, not bound, and a keyset window has no offset: SQLite
/// plans with a bound limit's value, so rebinding it re-prepared the statement on every run;
/// PostgreSQL's generic plan for a bound limit could not know it reads a hundred rows, so it
/// planned every run afresh. Limits are page sizes, a handful of texts; offsets stay bound.
pub(crate) fn push_window<C>(
    qb: &mut QueryBuilder<Db>,
    window: Window<C>,
    order: &str,
    after: impl FnOnce(&mut QueryBuilder<Db>, C),
) {
    let (offset, limit) = match window {
        Window::Page { offset, limit } => (Some(offset), limit),
        Window::After { cursor, limit } => {
            if let Some(c) = cursor {
                after(qb, c);
            }
            (None, limit)
        }
    };
    qb.push(" ORDER BY ")
        .push(order)
        .push(format_args!(" LIMIT {limit}"));
    if let Some(offset) = offset {
        qb.push(" OFFSET ")
            .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    }
}

/// Forgets at most `limit` rows of `table` whose time (`at`) is before `before`, among its
/// oldest `limit` by `key`: a read of `limit` rows of the primary key, never a scan for rows
/// to forget (history and delivery logs are written in time order). How many it forgot.
pub(crate) async fn prune_oldest(
    pool: &sqlx::Pool<Db>,
    table: &'static str,
    key: &'static str,
    before: Timestamp,
    limit: u32,
) -> StoreResult<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM \
         (SELECT {key}, at FROM {table} ORDER BY {key} LIMIT {limit}) oldest WHERE at < $1)"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(crate::dialect::ts(before))
        .execute(pool)
        .await
        .map_err(crate::other)?;
    Ok(done.rows_affected())
}
