//! Users, their keys, and the operator flag. Compiled into each backend against its `dialect`
//! module (see README.md).

use crate::dialect::{
    Backend, Conn, Db, JOIN_IN_ORDER, Stamp, at, in_texts, in_uuids, locks, texts, ts, uuids,
};
use crate::other;
use crate::rows::{USER_COLUMNS, UserRow, role};
use async_trait::async_trait;
use roster_core::keys::{KeyHash, KeyScope};
use roster_core::store::People;
use roster_core::store::{AccountKind, HeldKeys, KeyName, KeyRef, NewUser};
use roster_core::{
    GroupRef, MembershipSummary, Principal, StoreError, StoreResult, Timestamp, User, email, rules,
};
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

/// A user with one of their keys (none: `prefix` and `key_created_at` are null).
#[derive(FromRow)]
struct KeyRow {
    #[sqlx(flatten)]
    user: UserRow,
    prefix: Option<String>,
    key_created_at: Option<Stamp>,
}

/// Rows ordered by user, gathered into one entry per user.
fn held_keys(rows: Vec<KeyRow>) -> Vec<HeldKeys> {
    let mut held: Vec<HeldKeys> = Vec::new();
    for row in rows {
        let key = row.key_created_at.map(|created| KeyName {
            prefix: row.prefix,
            created_at: at(created),
        });
        match held.last_mut() {
            Some(last) if last.user.id == row.user.user_id => last.keys.extend(key),
            _ => held.push(HeldKeys {
                user: row.user.into_user(),
                keys: key.into_iter().collect(),
            }),
        }
    }
    held
}

/// `last_active_at` is refreshed at most this often, so authentication stays a read.
const ACTIVITY_RESOLUTION_MICROS: i64 = 60_000_000;

#[derive(FromRow)]
struct PrincipalRow {
    key_hash: Vec<u8>,
    is_operator: bool,
    /// The team an unproven key is confined to.
    key_org_id: Option<Uuid>,
    email_proven: bool,
    #[sqlx(flatten)]
    user: UserRow,
}

pub(crate) async fn ensure(conn: &mut Conn, user: &NewUser, now: Timestamp) -> StoreResult<User> {
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
        .bind(ts(now))
        .bind(user.kind == AccountKind::ServiceAccount)
        .bind(user.kind == AccountKind::DeploymentKey)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    Ok(row.into_user())
}

/// Deletes `old` (or every key of the user) and returns the team the deleted key was confined
/// to (`None`: proven; every key of a user is replaced by a proven one). `NotFound` when there
/// was none to delete.
pub(crate) async fn drop_keys(
    conn: &mut Conn,
    user: Uuid,
    old: Option<&KeyHash>,
) -> StoreResult<Option<Uuid>> {
    // The person first (as `revoke_unproven` does): a rotation never slips a key past a
    // revocation running beside it. NO KEY UPDATE: memberships' foreign keys (a key share)
    // go on, so this never waits on a transaction that already holds team rows.
    let sql = format!(
        "SELECT 1 FROM users WHERE id = $1{}",
        locks(" FOR NO KEY UPDATE")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    match old {
        Some(old) => {
            let confined: Option<Option<Uuid>> = sqlx::query_scalar(
                "DELETE FROM api_keys WHERE user_id = $1 AND key_hash = $2 RETURNING org_id",
            )
            .bind(user)
            .bind(old.0.as_slice())
            .fetch_optional(&mut *conn)
            .await
            .map_err(other)?;
            confined.ok_or(StoreError::NotFound)
        }
        None => {
            let done = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
                .bind(user)
                .execute(&mut *conn)
                .await
                .map_err(other)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(None)
        }
    }
}

/// Stores a key acting where `scope` says; a key that vouches makes the holder's present address
/// their proven one.
pub(crate) async fn add_key(
    conn: &mut Conn,
    user: Uuid,
    key: &KeyHash,
    scope: KeyScope,
    now: Timestamp,
) -> StoreResult<()> {
    let now = ts(now);
    sqlx::query(
        "INSERT INTO api_keys (key_hash, user_id, created_at, org_id, prefix) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(key.0.as_slice())
    .bind(user)
    .bind(now)
    .bind(scope.confined_to)
    .bind(key.prefix())
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => other(e),
    })?;
    let joined = sqlx::query(
        "UPDATE users SET date_joined = coalesce(date_joined, $1), last_login_at = $1, \
             proven_email = CASE WHEN $3 THEN email_norm ELSE proven_email END \
         WHERE id = $2",
    )
    .bind(now)
    .bind(user)
    .bind(scope.vouches)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    if joined.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Creates a person who joins now under `email`, unless someone has that email already
/// (`None`: then nothing is changed, not even their name).
pub(crate) async fn create_person(
    conn: &mut Conn,
    address: &str,
    name: Option<&str>,
    now: Timestamp,
) -> StoreResult<Option<Uuid>> {
    let name = name.map(str::trim).unwrap_or_default();
    sqlx::query_scalar(
        "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email_norm) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(name.to_lowercase())
    .bind(address.trim())
    .bind(email::normalize(address))
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)
}

/// Where the emails a team takes in come from: a list, or the `email_norm` column of a
/// working table of this transaction (`payload`, `import_rows`).
pub(crate) enum Taken<'a> {
    Emails(&'a [String]),
    Table(&'static str),
}

/// A team that owns an email's domain takes the email in (links, imports, holds or invites
/// its owner): every unproven key of that person stops working, everywhere. Driven from the
/// unproven keys (a partial index), which are few, so that a large payload costs nothing when
/// there are none. The people are locked (in id order, so two of these never wait on each
/// other in a circle), and their keys deleted by person in a statement of its own, so that a
/// key issued or rotated meanwhile (which locks the person too) goes as well. Callers run it
/// before they write memberships, whose triggers take team rows: a person is never locked
/// after a team row. Returns whether any key went.
pub(crate) async fn revoke_unproven(
    conn: &mut Conn,
    org: Uuid,
    taken: Taken<'_>,
) -> StoreResult<bool> {
    let select = format!(
        "SELECT u.id, u.email_norm FROM api_keys k {JOIN_IN_ORDER} users u ON u.id = k.user_id \
         WHERE k.org_id IS NOT NULL AND u.email_norm"
    );
    let lock = locks(" FOR NO KEY UPDATE OF u");
    let found: Vec<(Uuid, String)> = match taken {
        Taken::Emails([]) => return Ok(false),
        Taken::Emails(emails) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{select} {} ORDER BY u.id{lock}",
                in_texts("$1")
            )))
            .bind(texts(emails)?)
            .fetch_all(&mut *conn)
            .await
        }
        Taken::Table(table) => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{select} IN (SELECT email_norm FROM {table}) ORDER BY u.id{lock}"
            )))
            .fetch_all(&mut *conn)
            .await
        }
    }
    .map_err(other)?;
    if found.is_empty() {
        return Ok(false);
    }
    let verified = crate::email_domains::verified(&mut *conn, org).await?;
    let people = rules::owned_people(found, &verified);
    if people.is_empty() {
        return Ok(false);
    }
    let sql = format!(
        "DELETE FROM api_keys WHERE org_id IS NOT NULL AND user_id {}",
        in_uuids("$1")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uuids(&people)?)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    Ok(true)
}

#[async_trait]
impl People for Backend {
    async fn authenticate(&self, key: &KeyHash, now: Timestamp) -> StoreResult<Option<Principal>> {
        let sql = format!(
            "SELECT k.key_hash, u.is_operator, k.org_id AS key_org_id, \
                 coalesce(u.proven_email = u.email_norm, false) AS email_proven, {USER_COLUMNS} \
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1"
        );
        let row: Option<PrincipalRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(key.0.as_slice())
            .fetch_optional(self.reads())
            .await
            .map_err(other)?;
        let Some(row) = row.filter(|r| key.ct_eq(&r.key_hash)) else {
            return Ok(None);
        };
        let stale = Timestamp::from_micros(now.as_micros() - ACTIVITY_RESOLUTION_MICROS);
        if row.user.last_active_at.is_none_or(|t| at(t) <= stale) {
            // In the background: a request must not wait on a write just to note that its caller
            // was active.
            let (pool, user) = (self.writes().clone(), row.user.user_id);
            tokio::spawn(async move {
                // Only if no other request (a burst of them, or another node) got there first.
                let done = sqlx::query(
                    "UPDATE users SET last_active_at = $1 WHERE id = $2 \
                     AND (last_active_at IS NULL OR last_active_at <= $3)",
                )
                .bind(ts(now))
                .bind(user)
                .bind(ts(stale))
                .execute(&pool)
                .await;
                if let Err(e) = done {
                    tracing::warn!(error = %e, "could not record activity");
                }
            });
        }
        Ok(Some(Principal {
            // An unproven key never carries its holder's operator rights.
            is_operator: row.is_operator && row.key_org_id.is_none(),
            confined_to: row.key_org_id,
            email_proven: row.email_proven,
            user: row.user.into_user(),
        }))
    }

    async fn ensure_user(&self, user: NewUser, now: Timestamp) -> StoreResult<User> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let user = ensure(&mut tx, &user, now).await?;
        tx.commit().await.map_err(other)?;
        Ok(user)
    }

    async fn set_operator(&self, user: Uuid, operator: bool) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let done = sqlx::query("UPDATE users SET is_operator = $1 WHERE id = $2")
            .bind(operator)
            .bind(user)
            .execute(self.writes())
            .await
            .map_err(other)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn add_key(&self, user: Uuid, key: &KeyHash, now: Timestamp) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        add_key(&mut tx, user, key, KeyScope::PROVEN, now).await?;
        tx.commit().await.map_err(other)
    }

    async fn replace_key(
        &self,
        user: Uuid,
        old: Option<&KeyHash>,
        new: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let confined = drop_keys(&mut tx, user, old).await?;
        add_key(&mut tx, user, new, KeyScope::rotated(confined), now).await?;
        tx.commit().await.map_err(other)
    }

    async fn bootstrap_operator(
        &self,
        email: &str,
        key: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        // Nodes starting together on an empty database: one of them makes the operator.
        crate::dialect::one_at_a_time(&mut tx, "roster-bootstrap-operator").await?;
        let has_operator: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE is_operator)")
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
        sqlx::query("UPDATE users SET is_operator = true WHERE id = $1")
            .bind(user.id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        add_key(&mut tx, user.id, key, KeyScope::PROVEN, now).await?;
        tx.commit().await.map_err(other)?;
        Ok(true)
    }

    async fn has_operator(&self) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE is_operator)")
            .fetch_one(self.reads())
            .await
            .map_err(other)
    }

    async fn operators(&self) -> StoreResult<Vec<HeldKeys>> {
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, k.prefix, k.created_at AS key_created_at \
             FROM users u LEFT JOIN api_keys k ON k.user_id = u.id \
             WHERE u.is_operator ORDER BY u.email_norm, u.id, k.created_at, k.prefix"
        )))
        .fetch_all(self.reads())
        .await
        .map_err(other)?;
        Ok(held_keys(rows))
    }

    async fn revoke_keys(&self, which: KeyRef<'_>) -> StoreResult<HeldKeys> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        // One statement: what it reports is exactly what it deleted.
        let mut qb = QueryBuilder::<Db>::new(
            "DELETE FROM api_keys WHERE key_hash IN (SELECT k.key_hash FROM api_keys k \
             JOIN users u ON u.id = k.user_id WHERE ",
        );
        match which {
            KeyRef::Prefix(prefix) => qb.push("k.prefix = ").push_bind(prefix.to_owned()),
            KeyRef::Key(key) => qb.push("k.key_hash = ").push_bind(key.0.to_vec()),
            KeyRef::Holder(address) => qb
                .push("u.email_norm = ")
                .push_bind(email::normalize(address)),
        };
        qb.push(") RETURNING user_id, prefix, created_at");
        let mut gone: Vec<(Uuid, Option<String>, Stamp)> = qb
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(other)?;
        if let (KeyRef::Prefix(prefix), 2..) = (which, gone.len()) {
            // Dropping the transaction puts them back.
            return Err(StoreError::Invalid {
                field: None,
                message: format!(
                    "{} keys begin with {prefix}: name the key itself, or its holder's email",
                    gone.len()
                ),
            });
        }
        let Some(&(holder, ..)) = gone.first() else {
            return Err(StoreError::NotFound);
        };
        // A deployment key's token is shown on every read of it (the contract): once revoked
        // it shows no more, rather than a dead key that reads as a live one.
        sqlx::query("UPDATE accounts SET token = NULL WHERE user_id = $1")
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let user: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        )))
        .bind(holder)
        .fetch_one(&mut *tx)
        .await
        .map_err(other)?;
        tx.commit().await.map_err(other)?;
        gone.sort_by_key(|(_, _, created)| *created);
        let keys = gone
            .into_iter()
            .map(|(_, prefix, created)| KeyName {
                prefix,
                created_at: at(created),
            })
            .collect();
        Ok(HeldKeys {
            user: user.into_user(),
            keys,
        })
    }

    async fn memberships_of(&self, user: Uuid) -> StoreResult<Vec<MembershipSummary>> {
        let rows: Vec<(Uuid, String, Option<String>, i64, Stamp)> = sqlx::query_as(
            "SELECT o.id, o.name, o.scope, m.role, m.created_at \
             FROM memberships m JOIN organizations o ON o.id = m.org_id \
             WHERE m.user_id = $1 AND m.active ORDER BY o.name, o.id",
        )
        .bind(user)
        .fetch_all(self.reads())
        .await
        .map_err(other)?;
        rows.into_iter()
            .map(|(organization, organization_name, scope, r, joined)| {
                Ok(MembershipSummary {
                    organization,
                    organization_name,
                    scope,
                    role: role(r)?,
                    joined: at(joined),
                })
            })
            .collect()
    }

    async fn groups_of(&self, user: Uuid) -> StoreResult<Vec<(Uuid, GroupRef)>> {
        let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "SELECT g.org_id, g.id, g.name FROM group_memberships gm \
             JOIN groups g ON g.id = gm.group_id \
             JOIN memberships m ON m.org_id = g.org_id AND m.user_id = gm.user_id AND m.active \
             WHERE gm.user_id = $1 ORDER BY g.name, g.id",
        )
        .bind(user)
        .fetch_all(self.reads())
        .await
        .map_err(other)?;
        Ok(rows
            .into_iter()
            .map(|(org, id, name)| (org, GroupRef { id, name }))
            .collect())
    }
}
