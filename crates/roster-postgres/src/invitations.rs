//! Invitations: one pending invitation per email and team, accepted once with its token.

use crate::rows::{USER_COLUMNS, UserRow, role};
use crate::{PostgresStore, TeamLock, at, lock_team, memberships, other, ts, users};
use roster_core::keys::KeyHash;
use roster_core::store::{Accepted, AccountKind, NewInvitation, NewUser};
use roster_core::{Invitation, StoreError, StoreResult, Timestamp, User, email};
use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(FromRow)]
struct InvitationRow {
    id: Uuid,
    org_id: Uuid,
    email: String,
    role: i64,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    inviter_id: Option<Uuid>,
    inviter_name: Option<String>,
    inviter_email: Option<String>,
    inviter_service_account: Option<bool>,
    inviter_deployment_key_account: Option<bool>,
    inviter_date_joined: Option<OffsetDateTime>,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;

    fn try_from(r: InvitationRow) -> StoreResult<Invitation> {
        Ok(Invitation {
            id: r.id,
            email: r.email,
            role: role(r.role)?,
            inviter: r.inviter_id.map(|id| User {
                id,
                name: r.inviter_name.unwrap_or_default(),
                email: r.inviter_email.unwrap_or_default(),
                service_account: r.inviter_service_account.unwrap_or_default(),
                deployment_key_account: r.inviter_deployment_key_account.unwrap_or_default(),
                date_joined: r.inviter_date_joined.map(at),
            }),
            organization: r.org_id,
            created_at: at(r.created_at),
            expires_at: at(r.expires_at),
        })
    }
}

const SELECT: &str = "SELECT i.id, i.org_id, i.email, i.role, i.created_at, i.expires_at, \
     u.id AS inviter_id, u.name AS inviter_name, u.email AS inviter_email, \
     u.service_account AS inviter_service_account, \
     u.deployment_key_account AS inviter_deployment_key_account, \
     u.date_joined AS inviter_date_joined \
     FROM invitations i LEFT JOIN users u ON u.id = i.inviter_id";

async fn get<'e>(db: impl PgExecutor<'e>, id: Uuid) -> StoreResult<Invitation> {
    let row: Option<InvitationRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1")))
            .bind(id)
            .fetch_optional(db)
            .await
            .map_err(other)?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

pub(crate) async fn create(
    store: &PostgresStore,
    org: Uuid,
    new: NewInvitation,
    now: Timestamp,
) -> StoreResult<Invitation> {
    let email_norm = email::normalize(&new.email);
    let mut tx = store.write().await?;
    lock_team(&mut tx, org, TeamLock::Members).await?;
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND email_norm = $2)",
    )
    .bind(org)
    .bind(&email_norm)
    .fetch_one(&mut *tx)
    .await
    .map_err(other)?;
    if member {
        return Err(StoreError::Conflict { field: "email" });
    }
    sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND email_norm = $2")
        .bind(org)
        .bind(&email_norm)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invitations (id, org_id, email, email_norm, role, inviter_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(org)
    .bind(new.email.trim())
    .bind(&email_norm)
    .bind(new.role.as_i64())
    .bind(new.inviter)
    .bind(new.token.0.as_slice())
    .bind(ts(now))
    .bind(ts(new.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(other)?;
    let invitation = get(&mut *tx, id).await?;
    tx.commit().await.map_err(other)?;
    Ok(invitation)
}

pub(crate) async fn list(store: &PostgresStore, org: Uuid) -> StoreResult<Vec<Invitation>> {
    let rows: Vec<InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE i.org_id = $1 ORDER BY i.created_at, i.id"
    )))
    .bind(org)
    .fetch_all(&store.pool)
    .await
    .map_err(other)?;
    rows.into_iter().map(Invitation::try_from).collect()
}

pub(crate) async fn revoke(store: &PostgresStore, org: Uuid, id: Uuid) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM invitations WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org)
        .execute(&store.pool)
        .await
        .map_err(other)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn accept(
    store: &PostgresStore,
    token: &KeyHash,
    name: Option<&str>,
    key: &KeyHash,
    now: Timestamp,
) -> StoreResult<Accepted> {
    let mut tx = store.write().await?;
    // Deleting the invitation first makes the token single-use under concurrent accepts.
    let found: Option<(Uuid, String, i64)> = sqlx::query_as(
        "DELETE FROM invitations WHERE token_hash = $1 AND expires_at > $2 RETURNING org_id, email, role",
    )
    .bind(token.0.as_slice())
    .bind(ts(now))
    .fetch_optional(&mut *tx)
    .await
    .map_err(other)?;
    let (org, address, invited_role) = found.ok_or(StoreError::NotFound)?;
    lock_team(&mut tx, org, TeamLock::Members).await?;
    let person = NewUser {
        email: address,
        name: None,
        kind: AccountKind::Person,
    };
    let user = users::ensure(&mut tx, &person, now).await?;
    if let Some(name) = name {
        sqlx::query("UPDATE users SET name = $2, name_lower = $3 WHERE id = $1 AND name = ''")
            .bind(user.id)
            .bind(name)
            .bind(name.to_lowercase())
            .execute(&mut *tx)
            .await
            .map_err(other)?;
    }
    let present: Option<i64> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org)
            .bind(user.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(other)?;
    let role = match present {
        // Someone already on the team keeps their role: an invitation never demotes.
        Some(r) => role(r)?,
        None => {
            let invited = role(invited_role)?;
            memberships::add(&mut tx, org, user.id, Some(invited), now).await?;
            invited
        }
    };
    users::add_key(&mut tx, user.id, key, now).await?;
    let user: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    )))
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(other)?;
    tx.commit().await.map_err(other)?;
    Ok(Accepted {
        user: user.into_user(),
        organization: org,
        role,
    })
}
