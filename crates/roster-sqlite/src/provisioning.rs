//! SCIM provisioning: a team's people and groups as identity providers see them, with the
//! lookups SCIM filters narrow to, versions for ETags, and member changes by user id that
//! cost O(ids named).

use crate::import::to_json;
use crate::memberships::{leave, target};
use crate::rows::role;
use crate::users::{self, Taken};
use crate::{SqliteStore, conflict_on, email_domains, other};
use roster_core::changes::Adding;
use roster_core::email;
use roster_core::provisioning::{
    self, GroupKey, GroupWrite, MemberChange, ProvisionedGroup, ProvisionedUser, UserKey, UserWrite,
};
use roster_core::{StoreError, StoreResult, Timestamp};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The database clock in the microseconds timestamps are kept in, for changes made without a
/// caller's clock at hand (version bumps from the team API).
pub(crate) use crate::dialect::NOW;

const USER_SELECT: &str = "SELECT u.id, m.id AS seq, u.email, \
     coalesce(m.user_name, u.email) AS user_name, u.name, m.external_id, m.active, m.role, \
     m.scim, m.created_at, coalesce(m.updated_at, m.created_at) AS updated_at, m.version \
     FROM memberships m JOIN users u ON u.id = m.user_id \
     WHERE NOT u.service_account AND NOT u.deployment_key_account AND m.org_id = ";

#[derive(FromRow)]
struct UserRow {
    id: Uuid,
    seq: i64,
    email: String,
    user_name: String,
    name: String,
    external_id: Option<String>,
    active: bool,
    role: i64,
    scim: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl UserRow {
    fn into_user(self) -> StoreResult<ProvisionedUser> {
        Ok(ProvisionedUser {
            id: self.id,
            seq: self.seq,
            email: self.email,
            user_name: self.user_name,
            name: self.name,
            external_id: self.external_id,
            active: self.active,
            role: role(self.role)?,
            attributes: self.scim,
            created: Timestamp::from_micros(self.created_at),
            modified: Timestamp::from_micros(self.updated_at),
            version: self.version,
        })
    }
}

fn push_user_key(qb: &mut QueryBuilder<Sqlite>, key: Option<&UserKey>) {
    match key {
        None => {}
        Some(UserKey::Id(id)) => {
            qb.push(" AND m.user_id = ").push_bind(*id);
        }
        // The expression of the unique index memberships_user_name.
        Some(UserKey::UserName(n)) => {
            qb.push(" AND coalesce(m.user_name_norm, m.email_norm) = ")
                .push_bind(n.clone());
        }
        Some(UserKey::ExternalId(x)) => {
            qb.push(" AND m.external_id = ").push_bind(x.clone());
        }
        Some(UserKey::DisplayName(n)) => {
            qb.push(" AND coalesce(m.display_name_norm, u.name_lower) = ")
                .push_bind(n.clone());
        }
        Some(UserKey::Email(e)) => {
            qb.push(" AND m.email_norm = ").push_bind(e.clone());
        }
    }
}

pub(crate) async fn users(
    store: &SqliteStore,
    org: Uuid,
    key: Option<&UserKey>,
    after: Option<i64>,
    offset: u64,
    limit: u64,
) -> StoreResult<Vec<ProvisionedUser>> {
    let mut qb = QueryBuilder::<Sqlite>::new(USER_SELECT);
    qb.push_bind(org);
    push_user_key(&mut qb, key);
    if let Some(after) = after {
        qb.push(" AND m.id > ").push_bind(after);
    }
    // A literal limit, as in `push_window`: a bound one re-prepares the statement each run.
    qb.push(format_args!(
        " ORDER BY m.id LIMIT {}",
        limit.min(i64::MAX as u64)
    ))
    .push(" OFFSET ")
    .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    let rows: Vec<UserRow> = qb
        .build_query_as()
        .fetch_all(&store.reader)
        .await
        .map_err(other)?;
    rows.into_iter().map(UserRow::into_user).collect()
}

pub(crate) async fn count_users(
    store: &SqliteStore,
    org: Uuid,
    key: Option<&UserKey>,
) -> StoreResult<u64> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE NOT u.service_account AND NOT u.deployment_key_account AND m.org_id = ",
    );
    qb.push_bind(org);
    push_user_key(&mut qb, key);
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(&store.reader)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn user_in(conn: &mut SqliteConnection, org: Uuid, id: Uuid) -> StoreResult<ProvisionedUser> {
    let mut qb = QueryBuilder::<Sqlite>::new(USER_SELECT);
    qb.push_bind(org).push(" AND m.user_id = ").push_bind(id);
    let row: Option<UserRow> = qb
        .build_query_as()
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    row.ok_or(StoreError::NotFound)?.into_user()
}

/// The lower-cased displayName the attributes hold, which the displayName lookup reads.
fn display_name_norm(attributes: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(attributes).ok()?;
    Some(value.get("displayName")?.as_str()?.to_lowercase())
}

/// Fails with `Conflict` on `userName` when another member of the team has it.
async fn check_user_name(
    conn: &mut SqliteConnection,
    org: Uuid,
    user_name_norm: &str,
    except: Option<Uuid>,
) -> StoreResult<()> {
    let taken: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM memberships \
         WHERE org_id = $1 AND coalesce(user_name_norm, email_norm) = $2",
    )
    .bind(org)
    .bind(user_name_norm)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    match taken {
        Some(holder) if Some(holder) != except => Err(StoreError::Conflict { field: "userName" }),
        _ => Ok(()),
    }
}

async fn write_membership(
    conn: &mut SqliteConnection,
    org: Uuid,
    user: Uuid,
    write: &UserWrite,
    now: Timestamp,
) -> StoreResult<()> {
    // The person's row first, then the membership (whose trigger bumps the team version):
    // the order every writer of both keeps (the activity update does users, then the
    // version), so two transactions never wait on each other in a circle.
    if let Some(name) = write.name.as_deref().map(str::trim) {
        sqlx::query("UPDATE users SET name = $2, name_lower = $3 WHERE id = $1 AND name IS NOT $2")
            .bind(user)
            .bind(name)
            .bind(name.to_lowercase())
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    sqlx::query(
        "UPDATE memberships SET user_name = $3, user_name_norm = $4, external_id = $5, \
             active = $6, role = coalesce($7, role), scim = $8, display_name_norm = $9, \
             updated_at = max($10, coalesce(updated_at, created_at) + 1), version = version + 1 \
         WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org)
    .bind(user)
    .bind(&write.user_name)
    .bind(write.user_name.to_lowercase())
    .bind(&write.external_id)
    .bind(write.active)
    .bind(write.role.map(|r| r.as_i64()))
    .bind(&write.attributes)
    .bind(display_name_norm(&write.attributes))
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("userName"))?;
    Ok(())
}

/// Adds people to the team in one transaction: the admission check (`provisioning::admit`)
/// on two reads, then set-based writes for those admitted, driven from a JSON array of them.
pub(crate) async fn create_users(
    store: &SqliteStore,
    org: Uuid,
    writes: &[UserWrite],
    now: Timestamp,
    adding: &Adding<'_>,
) -> StoreResult<Vec<StoreResult<ProvisionedUser>>> {
    let mut tx = store.write().await?;
    let names: Vec<String> = writes.iter().map(|w| w.user_name.to_lowercase()).collect();
    let emails: Vec<String> = writes.iter().map(|w| email::normalize(&w.email)).collect();
    let taken: HashSet<String> = sqlx::query_scalar(
        "SELECT coalesce(user_name_norm, email_norm) FROM memberships \
         WHERE org_id = $1 AND coalesce(user_name_norm, email_norm) IN \
             (SELECT value FROM json_each($2))",
    )
    .bind(org)
    .bind(to_json(&names)?)
    .fetch_all(&mut *tx)
    .await
    .map_err(other)?
    .into_iter()
    .collect();
    // The people already known by these emails: their names, and what the linking rule needs.
    let known: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "SELECT u.email_norm, u.name, u.service_account OR u.deployment_key_account, EXISTS \
                (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = u.id) \
         FROM users u WHERE u.email_norm IN (SELECT value FROM json_each($2))",
    )
    .bind(org)
    .bind(to_json(&emails)?)
    .fetch_all(&mut *tx)
    .await
    .map_err(other)?;
    let verified = email_domains::verified(&mut tx, org).await?;
    let holders = email_domains::holders(&mut tx, &emails).await?;
    let (barred, linked) = provisioning::linking(org, &emails, &known, &verified, &holders);
    let names_now: HashMap<&str, &str> = known.iter().map(|k| (&*k.0, &*k.1)).collect();
    let admitted = provisioning::admit(writes, taken, barred);
    let rows: Vec<_> = writes
        .iter()
        .zip(&admitted)
        .zip(names.iter().zip(&emails))
        .filter(|((_, ok), _)| ok.is_ok())
        .map(|((w, _), (name_norm, email_norm))| {
            let name = w.name.as_deref().map(str::trim);
            (
                Uuid::now_v7().simple().to_string(),
                w.email.trim(),
                email_norm,
                name,
                name.map(str::to_lowercase),
                w.role.map(|r| r.as_i64()),
                &w.user_name,
                name_norm,
                &w.external_id,
                w.active,
                &w.attributes,
                display_name_norm(&w.attributes),
            )
        })
        .collect();
    // The people first (see `users::revoke_unproven`), then their names and memberships.
    let linked: Vec<String> = rows
        .iter()
        .filter(|r| linked.contains(r.2.as_str()))
        .map(|r| r.2.clone())
        .collect();
    if users::revoke_unproven(&mut tx, org, Taken::Emails(&linked)).await? {
        adding.changed_access();
    }
    // People who were known already take the name the identity provider gives: that changes
    // what their keys' holder reads as, so it counts as an access change.
    let renamed: Vec<_> = rows
        .iter()
        .filter(|r| {
            r.3.is_some_and(|n| names_now.get(r.2.as_str()).is_some_and(|&o| o != n))
        })
        .map(|r| (r.2, r.3, &r.4))
        .collect();
    if !renamed.is_empty() {
        sqlx::query(
            "UPDATE users SET name = j.value ->> 1, name_lower = j.value ->> 2 \
             FROM json_each($1) j WHERE users.email_norm = j.value ->> 0",
        )
        .bind(to_json(&renamed)?)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
        adding.changed_access();
    }
    let mut made = Vec::new();
    if !rows.is_empty() {
        let rows = to_json(&rows)?;
        write_new_members(&mut tx, org, &rows, now).await?;
        let mut qb = QueryBuilder::<Sqlite>::new(USER_SELECT);
        qb.push_bind(org)
            .push(" AND m.email_norm IN (SELECT value ->> 2 FROM json_each(")
            .push_bind(rows)
            .push("))");
        let found: Vec<UserRow> = qb
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(other)?;
        made = found
            .into_iter()
            .map(UserRow::into_user)
            .collect::<StoreResult<_>>()?;
    }
    tx.commit().await.map_err(other)?;
    Ok(provisioning::answers(writes, admitted, made))
}

/// The writes of `create_users` for the admitted rows (JSON arrays of: new id, email,
/// email_norm, name, name_lower, role, userName, its lower case, externalId, active,
/// attributes, displayName lower case).
async fn write_new_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    rows: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let now = now.as_micros();
    // People first, then memberships (whose trigger bumps the team version): the order every
    // writer keeps, so that two transactions never wait on each other in a circle.
    sqlx::query(
        "INSERT INTO users (id, name, name_lower, email, email_norm, created_at) \
         SELECT unhex(value ->> 0), coalesce(value ->> 3, ''), coalesce(value ->> 4, ''), \
                value ->> 1, value ->> 2, $1 \
         FROM json_each($2) WHERE true ORDER BY key \
         ON CONFLICT (email_norm) DO NOTHING",
    )
    .bind(now)
    .bind(rows)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at, updated_at, \
             user_name, user_name_norm, external_id, active, scim, display_name_norm, version) \
         SELECT o.id, u.id, u.email_norm, coalesce(j.value ->> 5, o.default_role), $2, $2, \
                j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, j.value ->> 10, \
                j.value ->> 11, 1 \
         FROM json_each($3) j JOIN users u ON u.email_norm = j.value ->> 2 \
         JOIN organizations o ON o.id = $1 ORDER BY j.key",
    )
    .bind(org)
    .bind(now)
    .bind(rows)
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("userName"))?;
    // Group memberships held by email attach to the people now in the team. CROSS JOIN fixes
    // the order: from the rows through the email index. Left to itself the planner starts
    // from every membership held by email (50,000 after a large group replace) and scans the
    // rows for each, which made a batch of creates take two seconds.
    sqlx::query(
        "UPDATE group_memberships SET user_id = \
             (SELECT u.id FROM users u WHERE u.email_norm = group_memberships.email_norm) \
         WHERE rowid IN (SELECT gm.rowid FROM json_each($2) j \
             CROSS JOIN group_memberships gm ON gm.email_norm = j.value ->> 2 \
             CROSS JOIN groups g ON g.id = gm.group_id AND g.org_id = $1 \
             WHERE gm.user_id IS NULL)",
    )
    .bind(org)
    .bind(rows)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

/// The member's membership id, checked against the expected version.
async fn expected(
    conn: &mut SqliteConnection,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
) -> StoreResult<ProvisionedUser> {
    let user = user_in(conn, org, id).await?;
    match expect {
        Some(v) if v != user.version => Err(StoreError::Conflict { field: "version" }),
        _ => Ok(user),
    }
}

pub(crate) async fn update_user(
    store: &SqliteStore,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
    write: &UserWrite,
    now: Timestamp,
) -> StoreResult<ProvisionedUser> {
    let mut tx = store.write().await?;
    let present = expected(&mut tx, org, id, expect).await?;
    check_user_name(&mut tx, org, &write.user_name.to_lowercase(), Some(id)).await?;
    let email_norm = email::normalize(&write.email);
    let standing = target(&mut tx, present.seq).await?.standing()?;
    standing.check_provisioning(write.role.unwrap_or(present.role), write.active)?;
    let change = provisioning::PersonChange::of(&present, write);
    if change.any() {
        let teams: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE user_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(other)?;
        let verified = email_domains::verified(&mut tx, org).await?;
        change.check(teams, &present, &verified)?;
    }
    if change.email {
        let holders = email_domains::holders(&mut tx, std::slice::from_ref(&email_norm)).await?;
        let owned = provisioning::check_address(org, &write.email, &holders)?;
        change_email(&mut tx, org, id, &write.email, &email_norm, owned).await?;
        users::revoke_unproven(&mut tx, org, Taken::Emails(&[email_norm])).await?;
    }
    write_membership(&mut tx, org, id, write, now).await?;
    let user = user_in(&mut tx, org, id).await?;
    tx.commit().await.map_err(other)?;
    Ok(user)
}

/// A person's email is theirs in every team: their memberships' and group memberships'
/// copies follow it. The new address is their proven one only if the team that gives it owns
/// it (`owned`): a team cannot make its only member the owner of any address it likes, and
/// their keys then act in this team alone.
async fn change_email(
    conn: &mut SqliteConnection,
    org: Uuid,
    id: Uuid,
    address: &str,
    norm: &str,
    owned: bool,
) -> StoreResult<()> {
    if !owned {
        // Nobody vouches for the new address, so no key of the person may carry it into
        // other teams: a team that owns its domain later would link a key this team's
        // rewrite made (its keys now act here alone, as unproven ones do).
        sqlx::query("UPDATE api_keys SET org_id = $2 WHERE user_id = $1 AND org_id IS NULL")
            .bind(id)
            .bind(org)
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    sqlx::query(
        "UPDATE users SET email = $2, email_norm = $3, \
             proven_email = CASE WHEN $4 THEN $3 ELSE proven_email END WHERE id = $1",
    )
    .bind(id)
    .bind(address)
    .bind(norm)
    .bind(owned)
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("emails"))?;
    sqlx::query("UPDATE memberships SET email_norm = $2 WHERE user_id = $1")
        .bind(id)
        .bind(norm)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on("userName"))?;
    sqlx::query("UPDATE group_memberships SET email = $2, email_norm = $3 WHERE user_id = $1")
        .bind(id)
        .bind(address)
        .bind(norm)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on("emails"))?;
    Ok(())
}

pub(crate) async fn delete_user(
    store: &SqliteStore,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let present = expected(&mut tx, org, id, expect).await?;
    if target(&mut tx, present.seq)
        .await?
        .standing()?
        .removal_leaves_without_admin()
    {
        return Err(StoreError::last_admin_removed());
    }
    leave(&mut tx, org, id).await?;
    tx.commit().await.map_err(other)
}

// --- groups ------------------------------------------------------------------------------

const GROUP_SELECT: &str = "SELECT g.id, g.name, g.external_id, g.created_at, \
     coalesce(g.updated_at, g.created_at) AS updated_at, g.version FROM groups g \
     WHERE g.org_id = ";

#[derive(FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    external_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl From<GroupRow> for ProvisionedGroup {
    fn from(r: GroupRow) -> Self {
        ProvisionedGroup {
            id: r.id,
            name: r.name,
            external_id: r.external_id,
            created: Timestamp::from_micros(r.created_at),
            modified: Timestamp::from_micros(r.updated_at),
            version: r.version,
        }
    }
}

fn push_group_key(qb: &mut QueryBuilder<Sqlite>, key: Option<&GroupKey>) {
    match key {
        None => {}
        Some(GroupKey::Id(id)) => {
            qb.push(" AND g.id = ").push_bind(*id);
        }
        Some(GroupKey::DisplayName(n)) => {
            qb.push(" AND lower(g.name) = lower(")
                .push_bind(n.clone())
                .push(")");
        }
        Some(GroupKey::ExternalId(x)) => {
            qb.push(" AND g.external_id = ").push_bind(x.clone());
        }
        Some(GroupKey::Member(user)) => {
            qb.push(" AND g.id IN (SELECT group_id FROM group_memberships WHERE user_id = ")
                .push_bind(*user)
                .push(")");
        }
    }
}

pub(crate) async fn groups(
    store: &SqliteStore,
    org: Uuid,
    key: Option<&GroupKey>,
    after: Option<Uuid>,
    offset: u64,
    limit: u64,
) -> StoreResult<Vec<ProvisionedGroup>> {
    let mut qb = QueryBuilder::<Sqlite>::new(GROUP_SELECT);
    qb.push_bind(org);
    push_group_key(&mut qb, key);
    if let Some(after) = after {
        qb.push(" AND g.id > ").push_bind(after);
    }
    // A literal limit, as in `push_window`: a bound one re-prepares the statement each run.
    qb.push(format_args!(
        " ORDER BY g.id LIMIT {}",
        limit.min(i64::MAX as u64)
    ))
    .push(" OFFSET ")
    .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
    let rows: Vec<GroupRow> = qb
        .build_query_as()
        .fetch_all(&store.reader)
        .await
        .map_err(other)?;
    Ok(rows.into_iter().map(ProvisionedGroup::from).collect())
}

pub(crate) async fn count_groups(
    store: &SqliteStore,
    org: Uuid,
    key: Option<&GroupKey>,
) -> StoreResult<u64> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM groups g WHERE g.org_id = ");
    qb.push_bind(org);
    push_group_key(&mut qb, key);
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(&store.reader)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// A JSON array of ids, the form `json_each` reads a list from in one bound parameter.
fn id_list(ids: &[Uuid]) -> String {
    serde_json::Value::from(
        ids.iter()
            .map(|id| id.simple().to_string())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

pub(crate) async fn group_members(
    store: &SqliteStore,
    groups: &[Uuid],
) -> StoreResult<Vec<(Uuid, Uuid)>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT gm.group_id, gm.user_id FROM group_memberships gm \
         JOIN users u ON u.id = gm.user_id \
         WHERE gm.group_id IN (SELECT unhex(value) FROM json_each($1)) \
           AND NOT u.service_account AND NOT u.deployment_key_account \
         ORDER BY gm.group_id, gm.email_norm",
    )
    .bind(id_list(groups))
    .fetch_all(&store.reader)
    .await
    .map_err(other)
}

async fn group_in(
    conn: &mut SqliteConnection,
    org: Uuid,
    id: Uuid,
) -> StoreResult<ProvisionedGroup> {
    let row: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{GROUP_SELECT} $1 AND g.id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    row.map(ProvisionedGroup::from).ok_or(StoreError::NotFound)
}

/// Bumps the group's version: every change to it or its members calls this.
pub(crate) async fn touch_group(conn: &mut SqliteConnection, group: Uuid) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE groups SET version = version + 1, updated_at = {NOW} WHERE id = $1"
    )))
    .bind(group)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

pub(crate) async fn create_group(
    store: &SqliteStore,
    org: Uuid,
    write: &GroupWrite,
    now: Timestamp,
) -> StoreResult<ProvisionedGroup> {
    let name = write.name.as_deref().ok_or(StoreError::Invalid {
        field: Some("displayName"),
        message: "A group needs a displayName.".into(),
    })?;
    let mut tx = store.write().await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO groups (id, org_id, name, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(org)
    .bind(name)
    .bind(write.external_id.clone().flatten())
    .bind(now.as_micros())
    .execute(&mut *tx)
    .await
    .map_err(conflict_on("displayName"))?;
    for change in &write.members {
        change_members(&mut tx, org, id, change, now).await?;
    }
    let group = group_in(&mut tx, org, id).await?;
    tx.commit().await.map_err(other)?;
    Ok(group)
}

pub(crate) async fn update_group(
    store: &SqliteStore,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
    write: &GroupWrite,
    now: Timestamp,
) -> StoreResult<ProvisionedGroup> {
    let mut tx = store.write().await?;
    // One statement checks the version, locks the row and bumps it: a member PATCH is a
    // handful of statements whatever the group's size.
    let updated: Option<GroupRow> = sqlx::query_as(
        "UPDATE groups SET name = coalesce($3, name), \
             external_id = CASE WHEN $4 THEN $5 ELSE external_id END, \
             updated_at = max($6, coalesce(updated_at, created_at) + 1), version = version + 1 \
         WHERE id = $1 AND org_id = $2 AND ($7 IS NULL OR version = $7) \
         RETURNING id, name, external_id, created_at, updated_at, version",
    )
    .bind(id)
    .bind(org)
    .bind(&write.name)
    .bind(write.external_id.is_some())
    .bind(write.external_id.clone().flatten())
    .bind(now.as_micros())
    .bind(expect)
    .fetch_optional(&mut *tx)
    .await
    .map_err(conflict_on("displayName"))?;
    let Some(updated) = updated else {
        group_in(&mut tx, org, id).await?;
        return Err(StoreError::Conflict { field: "version" });
    };
    for change in &write.members {
        change_members(&mut tx, org, id, change, now).await?;
    }
    tx.commit().await.map_err(other)?;
    Ok(updated.into())
}

/// One member change, in statements whose number does not depend on the ids named.
async fn change_members(
    conn: &mut SqliteConnection,
    org: Uuid,
    group: Uuid,
    change: &MemberChange,
    now: Timestamp,
) -> StoreResult<()> {
    let (ids, replace) = match change {
        MemberChange::RemoveAll => (None, true),
        MemberChange::ReplaceAll(ids) => (Some(ids), true),
        MemberChange::Add(ids) => (Some(ids), false),
        MemberChange::Remove(ids) => {
            // Driven from the ids named (CROSS JOIN fixes the order), so the cost is O(ids)
            // whatever the group's size and the planner's statistics.
            sqlx::query(
                "DELETE FROM group_memberships WHERE id IN (SELECT gm.id FROM json_each($2) j \
                 CROSS JOIN group_memberships gm \
                 WHERE gm.user_id = unhex(j.value) AND gm.group_id = $1)",
            )
            .bind(group)
            .bind(id_list(ids))
            .execute(&mut *conn)
            .await
            .map_err(other)?;
            return Ok(());
        }
    };
    if replace {
        // Memberships held by email for people not yet in the team are not SCIM members,
        // so a SCIM replace leaves them.
        sqlx::query(
            "DELETE FROM group_memberships WHERE group_id = $1 AND user_id IS NOT NULL \
             AND user_id NOT IN (SELECT unhex(value) FROM json_each($2))",
        )
        .bind(group)
        .bind(id_list(ids.map(Vec::as_slice).unwrap_or_default()))
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    }
    let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
        return Ok(());
    };
    let ids: Vec<Uuid> = ids
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let pairs: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!([id.simple().to_string(), Uuid::new_v4().simple().to_string()]))
        .collect();
    // CROSS JOIN keeps the ids named as the outer loop: without statistics the planner may
    // otherwise walk the whole team and parse the list for each member.
    sqlx::query(
        "INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at) \
         SELECT unhex(j.value ->> 1), $2, u.id, u.email, u.email_norm, $4 \
         FROM json_each($3) j \
         CROSS JOIN memberships m ON m.org_id = $1 AND m.user_id = unhex(j.value ->> 0) \
         CROSS JOIN users u ON u.id = m.user_id \
         WHERE NOT u.service_account AND NOT u.deployment_key_account \
         ON CONFLICT (group_id, email_norm) DO UPDATE SET user_id = excluded.user_id",
    )
    .bind(org)
    .bind(group)
    .bind(serde_json::Value::from(pairs).to_string())
    .bind(now.as_micros())
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

pub(crate) async fn delete_group(
    store: &SqliteStore,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let present = group_in(&mut tx, org, id).await?;
    if expect.is_some_and(|v| v != present.version) {
        return Err(StoreError::Conflict { field: "version" });
    }
    sqlx::query("DELETE FROM groups WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
    tx.commit().await.map_err(other)
}
