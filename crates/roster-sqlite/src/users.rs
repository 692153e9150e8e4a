//! Users, their keys, and the operator flag.

use crate::rows::{USER_COLUMNS, UserRow, role};
use crate::{SqliteStore, other};
use roster_core::keys::KeyHash;
use roster_core::store::{AccountKind, NewUser};
use roster_core::{MembershipSummary, Principal, StoreError, StoreResult, Timestamp, User, email};
use sqlx::{FromRow, SqliteConnection};
use uuid::Uuid;

/// `last_active_at` is refreshed at most this often, so authentication stays a read.
const ACTIVITY_RESOLUTION_MICROS: i64 = 60_000_000;

#[derive(FromRow)]
struct PrincipalRow {
    key_hash: Vec<u8>,
    is_operator: bool,
    #[sqlx(flatten)]
    user: UserRow,
}

pub(crate) async fn authenticate(
    store: &SqliteStore,
    key: &KeyHash,
    now: Timestamp,
) -> StoreResult<Option<Principal>> {
    let sql = format!(
        "SELECT k.key_hash, u.is_operator, {USER_COLUMNS} \
         FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1"
    );
    let row: Option<PrincipalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(key.0.as_slice())
        .fetch_optional(&store.reader)
        .await
        .map_err(other)?;
    let Some(row) = row.filter(|r| key.ct_eq(&r.key_hash)) else {
        return Ok(None);
    };
    let stale = row
        .user
        .last_active_at
        .is_none_or(|t| now.as_micros() - t >= ACTIVITY_RESOLUTION_MICROS);
    if stale {
        // In the background: a request must not wait for the writer (which a large replace
        // may hold for a second) just to note that its caller was active.
        let (writer, user) = (store.writer.clone(), row.user.user_id);
        tokio::spawn(async move {
            // Only if no other request (a burst of them, or another process) got there first.
            let done = sqlx::query(
                "UPDATE users SET last_active_at = $1 WHERE id = $2 \
                 AND (last_active_at IS NULL OR last_active_at <= $1 - $3)",
            )
            .bind(now.as_micros())
            .bind(user)
            .bind(ACTIVITY_RESOLUTION_MICROS)
            .execute(&writer)
            .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "could not record activity");
            }
        });
    }
    Ok(Some(Principal {
        is_operator: row.is_operator,
        user: row.user.into_user(),
    }))
}

/// Finds the user by email or creates one who has not joined; a given name replaces the
/// stored one.
pub(crate) async fn ensure(
    conn: &mut SqliteConnection,
    user: &NewUser,
    now: Timestamp,
) -> StoreResult<User> {
    let name = user.name.as_deref().map(str::trim);
    let sql = format!(
        "INSERT INTO users AS u (id, name, name_lower, email, email_norm, created_at, \
             service_account, deployment_key_account) \
         VALUES ($1, coalesce($2, ''), coalesce($3, ''), $4, $5, $6, $7, $8) \
         ON CONFLICT (email_norm) DO UPDATE SET \
             name = coalesce($2, u.name), name_lower = coalesce($3, u.name_lower) \
         RETURNING {}",
        USER_COLUMNS.replace("u.", "")
    );
    let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::new_v4())
        .bind(name)
        .bind(name.map(str::to_lowercase))
        .bind(user.email.trim())
        .bind(email::normalize(&user.email))
        .bind(now.as_micros())
        .bind(user.kind == AccountKind::ServiceAccount)
        .bind(user.kind == AccountKind::DeploymentKey)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    Ok(row.into_user())
}

pub(crate) async fn set_operator(
    store: &SqliteStore,
    user: Uuid,
    operator: bool,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE users SET is_operator = $1 WHERE id = $2")
        .bind(operator)
        .bind(user)
        .execute(&store.writer)
        .await
        .map_err(other)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Deletes `old` (or every key of the user); `NotFound` when there was none to delete.
pub(crate) async fn drop_keys(
    conn: &mut SqliteConnection,
    user: Uuid,
    old: Option<&KeyHash>,
) -> StoreResult<()> {
    let done = match old {
        Some(old) => sqlx::query("DELETE FROM api_keys WHERE user_id = $1 AND key_hash = $2")
            .bind(user)
            .bind(old.0.as_slice())
            .execute(&mut *conn)
            .await
            .map_err(other)?,
        None => sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(other)?,
    };
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn add_key(
    conn: &mut SqliteConnection,
    user: Uuid,
    key: &KeyHash,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO api_keys (key_hash, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(key.0.as_slice())
        .bind(user)
        .bind(now.as_micros())
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
            _ => other(e),
        })?;
    let joined = sqlx::query(
        "UPDATE users SET date_joined = coalesce(date_joined, $1), last_login_at = $1 \
         WHERE id = $2",
    )
    .bind(now.as_micros())
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    if joined.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn bootstrap_operator(
    store: &SqliteStore,
    email: &str,
    key: &KeyHash,
    now: Timestamp,
) -> StoreResult<bool> {
    let mut tx = store.write().await?;
    let has_operator: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE is_operator = 1)")
            .fetch_one(&mut *tx)
            .await
            .map_err(other)?;
    if has_operator {
        return Ok(false);
    }
    let new = NewUser {
        email: email.to_owned(),
        name: Some("Operator".to_owned()),
        kind: AccountKind::Person,
    };
    let user = ensure(&mut tx, &new, now).await?;
    sqlx::query("UPDATE users SET is_operator = 1 WHERE id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
    add_key(&mut tx, user.id, key, now).await?;
    tx.commit().await.map_err(other)?;
    Ok(true)
}

pub(crate) async fn memberships_of(
    store: &SqliteStore,
    user: Uuid,
) -> StoreResult<Vec<MembershipSummary>> {
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT o.id, o.name, m.role FROM memberships m \
         JOIN organizations o ON o.id = m.org_id \
         WHERE m.user_id = $1 ORDER BY o.name, o.id",
    )
    .bind(user)
    .fetch_all(&store.reader)
    .await
    .map_err(other)?;
    rows.into_iter()
        .map(|(organization, organization_name, r)| {
            Ok(MembershipSummary {
                organization,
                organization_name,
                role: role(r)?,
            })
        })
        .collect()
}
