//! Row shapes shared by the resource modules, and their conversion to domain types.

use roster_core::store::Window;
use roster_core::{Organization, Role, StoreError, Timestamp, User};
use sqlx::{FromRow, QueryBuilder, Sqlite};
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
    pub date_joined: Option<i64>,
    pub last_active_at: Option<i64>,
    pub last_login_at: Option<i64>,
}

impl UserRow {
    pub fn into_user(self) -> User {
        User {
            id: self.user_id,
            name: self.name,
            email: self.email,
            service_account: self.service_account,
            deployment_key_account: self.deployment_key_account,
            date_joined: self.date_joined.map(Timestamp::from_micros),
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
/// condition `after` writes (rows past the cursor), then `ORDER BY order LIMIT .. OFFSET ..`.
///
/// The limit is written into the text, not bound: SQLite plans with a bound LIMIT's value,
/// so rebinding it re-prepares the statement on every run (a twentieth of a cold page's
/// time). Limits are page sizes, a handful of texts; offsets stay bound.
pub(crate) fn push_window<C>(
    qb: &mut QueryBuilder<Sqlite>,
    window: Window<C>,
    order: &str,
    after: impl FnOnce(&mut QueryBuilder<Sqlite>, C),
) {
    let (offset, limit) = match window {
        Window::Page { offset, limit } => (offset, limit),
        Window::After { cursor, limit } => {
            if let Some(c) = cursor {
                after(qb, c);
            }
            (0, limit)
        }
    };
    qb.push(" ORDER BY ")
        .push(order)
        .push(format_args!(" LIMIT {limit}"))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
}
