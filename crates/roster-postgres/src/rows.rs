//! Row shapes shared by the resource modules, their conversion to domain types, and the list
//! window.

use crate::at;
use roster_core::store::Window;
use roster_core::{Organization, Role, StoreError, User};
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::OffsetDateTime;
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
    pub date_joined: Option<OffsetDateTime>,
    pub last_active_at: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
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
/// The limit is written into the text, not bound, and a keyset window has no offset: with a
/// bound limit the statement's generic plan could not know it reads a hundred rows, so it was
/// the plan for a tenth of the table, and PostgreSQL planned every run afresh instead (a
/// quarter of the database's time for a page). Limits are page sizes, a handful of texts.
pub(crate) fn push_window<C>(
    qb: &mut QueryBuilder<Postgres>,
    window: Window<C>,
    order: &str,
    after: impl FnOnce(&mut QueryBuilder<Postgres>, C),
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
