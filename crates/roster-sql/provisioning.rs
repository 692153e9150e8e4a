//! SCIM provisioning: a team's people and groups as identity providers see them, with the
//! lookups SCIM filters narrow to, versions for ETags, and member changes by user id that
//! cost O(ids named). Compiled into each backend against its `dialect` module (see
//! README.md); the writes whose cost grows with a request's size are each backend's own
//! (`provisioning_writes.rs`).

use crate::audit::{self, Event, Object};
use crate::dialect::{
    Backend, Conn, Db, NOW, Stamp, at, in_texts, in_uuids, later_of, locks, texts, ts, uuids,
};
use crate::memberships::{leave, target};
use crate::provisioning_writes as writes;
use crate::rows::role;
use crate::tx::{TeamLock, conflict_on, lock_team};
use crate::users::{self, Taken};
use crate::{email_domains, other};
use async_trait::async_trait;
use roster_core::changes::Adding;
use roster_core::email;
use roster_core::provisioning::{
    self, GroupKey, GroupWrite, MemberChange, ProvisionedGroup, ProvisionedUser, UserKey, UserWrite,
};
use roster_core::store::Provisioning;
use roster_core::{Origin, StoreError, StoreResult, Timestamp, rules};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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
    created_at: Stamp,
    updated_at: Stamp,
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
            created: at(self.created_at),
            modified: at(self.updated_at),
            version: self.version,
        })
    }
}

fn push_user_key(qb: &mut QueryBuilder<Db>, key: Option<&UserKey>) {
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
        Some(UserKey::Email(e)) => super::member_emails::narrow(qb, e),
    }
}

async fn user_in(conn: &mut Conn, org: Uuid, id: Uuid) -> StoreResult<ProvisionedUser> {
    let mut qb = QueryBuilder::<Db>::new(USER_SELECT);
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
    conn: &mut Conn,
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

/// Writes the membership's SCIM attributes. Re-sending them unchanged (identity providers send
/// the whole user every cycle) is no change: the row, its version and the team's (whose
/// trigger would drop every node's cached pages of the team) stay, unless the person's own
/// email or name changed (`person_changed`), which the resource shows too.
async fn write_membership(
    conn: &mut Conn,
    org: Uuid,
    user: Uuid,
    write: &UserWrite,
    person_changed: bool,
    now: Timestamp,
) -> StoreResult<()> {
    // The person's row first, then the membership (whose trigger bumps the team version):
    // the order every writer of both keeps (the activity update does users, then the
    // version), so two transactions never wait on each other in a circle.
    if let Some(name) = write.name.as_deref().map(str::trim) {
        sqlx::query("UPDATE users SET name = $2, name_lower = $3 WHERE id = $1 AND name IS DISTINCT FROM $2")
            .bind(user)
            .bind(name)
            .bind(name.to_lowercase())
            .execute(&mut *conn)
            .await
            .map_err(other)?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE memberships SET user_name = $3, user_name_norm = $4, external_id = $5, \
             active = $6, role = coalesce($7, role), scim = $8, display_name_norm = $9, \
             updated_at = {}, version = version + 1 \
         WHERE org_id = $1 AND user_id = $2 AND ($11 OR user_name IS DISTINCT FROM $3 \
             OR external_id IS DISTINCT FROM $5 OR active IS DISTINCT FROM $6 \
             OR role IS DISTINCT FROM coalesce($7, role) OR scim IS DISTINCT FROM $8)",
        later_of("$10", "coalesce(updated_at, created_at)")
    )))
    .bind(org)
    .bind(user)
    .bind(&write.user_name)
    .bind(write.user_name.to_lowercase())
    .bind(&write.external_id)
    .bind(write.active)
    .bind(write.role.map(|r| r.as_i64()))
    .bind(&write.attributes)
    .bind(display_name_norm(&write.attributes))
    .bind(ts(now))
    .bind(person_changed)
    .execute(&mut *conn)
    .await
    .map_err(conflict_on("userName"))?;
    super::member_emails::replace(conn, org, user, &write.attributes).await
}

/// Adds people to the team in one transaction: the admission check (`provisioning::admit`)
/// on two reads, then set-based writes for those admitted, driven from arrays of them.
pub(crate) async fn create_users(
    store: &Backend,
    org: Uuid,
    writes: &[UserWrite],
    now: Timestamp,
    origins: &[Origin],
    adding: &Adding<'_>,
) -> StoreResult<Vec<StoreResult<ProvisionedUser>>> {
    let mut tx = store.write().await?;
    lock_team(&mut tx, org, TeamLock::Members).await?;
    let names: Vec<String> = writes.iter().map(|w| w.user_name.to_lowercase()).collect();
    let emails: Vec<String> = writes.iter().map(|w| email::normalize(&w.email)).collect();
    let taken: HashSet<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(user_name_norm, email_norm) FROM memberships \
         WHERE org_id = $1 AND coalesce(user_name_norm, email_norm) {}",
        in_texts("$2")
    )))
    .bind(org)
    .bind(texts(&names)?)
    .fetch_all(&mut *tx)
    .await
    .map_err(other)?
    .into_iter()
    .collect();
    // The people already known by these emails: their names, and what the linking rule needs.
    let known: Vec<(String, String, bool, bool, bool)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT u.email_norm, u.name, u.service_account OR u.deployment_key_account, EXISTS \
                    (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = u.id), \
                    u.is_operator \
             FROM users u WHERE u.email_norm {}",
            in_texts("$2")
        )))
        .bind(org)
        .bind(texts(&emails)?)
        .fetch_all(&mut *tx)
        .await
        .map_err(other)?;
    // An operator may be linked, never renamed (`rules::may_rewrite_person`).
    let operators: HashSet<String> = known.iter().filter(|k| k.4).map(|k| k.0.clone()).collect();
    let known: Vec<_> = known.into_iter().map(|k| (k.0, k.1, k.2, k.3)).collect();
    let verified = email_domains::verified(&mut tx, org).await?;
    let holders = email_domains::holders(&mut tx, &emails).await?;
    let (barred, linked) = provisioning::linking(org, &emails, &known, &verified, &holders);
    let names_now: HashMap<&str, &str> = known.iter().map(|k| (&*k.0, &*k.1)).collect();
    let admitted = provisioning::admit(writes, taken, barred);
    let rows: Vec<NewMember> = writes
        .iter()
        .zip(&admitted)
        .zip(names.iter().zip(&emails))
        .filter(|((_, ok), _)| ok.is_ok())
        .map(|((w, _), (name_norm, email_norm))| {
            NewMember::new(w, name_norm, email_norm, linked.contains(email_norm))
        })
        .collect();
    // The people first (see `users::revoke_unproven`), then their names and memberships.
    let linked: Vec<String> = rows
        .iter()
        .filter(|r| r.linked)
        .map(|r| r.email_norm.to_owned())
        .collect();
    if users::revoke_unproven(&mut tx, org, Taken::Emails(&linked)).await? {
        adding.changed_access();
    }
    // People who were known already take the name the identity provider gives: that changes
    // what their keys' holder reads as, so it counts as an access change.
    let renamed: Vec<&NewMember> = rows
        .iter()
        .filter(|r| {
            r.name
                .is_some_and(|n| names_now.get(r.email_norm).is_some_and(|&o| o != n))
                && rules::may_rewrite_person(1, true, operators.contains(r.email_norm))
        })
        .collect();
    if !renamed.is_empty() {
        writes::rename_people(&mut tx, &renamed).await?;
        adding.changed_access();
    }
    let mut made = Vec::new();
    if !rows.is_empty() {
        writes::write_new_members(&mut tx, org, &rows, now).await?;
        let attributes = rows.iter().map(|r| (r.email_norm, r.attributes));
        super::member_emails::keep_new(&mut tx, org, attributes).await?;
        let made_emails: Vec<String> = rows.iter().map(|r| r.email_norm.to_owned()).collect();
        let sql = format!("{USER_SELECT} $1 AND m.email_norm {}", in_texts("$2"));
        let found: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(org)
            .bind(texts(&made_emails)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(other)?;
        made = found
            .into_iter()
            .map(UserRow::into_user)
            .collect::<StoreResult<_>>()?;
    }
    let answers = provisioning::answers(writes, admitted, made);
    let events = answers
        .iter()
        .zip(origins)
        .filter_map(|(answer, origin)| {
            let user = answer.as_ref().ok()?;
            let event = user_event(org, user, "membership.created").with(json!({
                "user": user.id,
                "email": user.email,
                "user_name": user.user_name,
                "role": user.role.as_i64(),
                "active": user.active,
            }));
            Some((origin, event))
        })
        .collect();
    audit::record_all(&mut tx, events).await?;
    tx.commit().await.map_err(other)?;
    Ok(answers)
}

/// The event of a change to a provisioned member of `org`.
fn user_event(org: Uuid, user: &ProvisionedUser, action: &'static str) -> Event {
    Event::on_team(
        org,
        action,
        Object::new("membership", user.seq, &user.email),
    )
}

/// What a SCIM replace changed of a member, as `{"from", "to"}` pairs.
fn user_changes(before: &ProvisionedUser, after: &ProvisionedUser) -> serde_json::Value {
    let mut changed = serde_json::Map::new();
    let mut note = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changed.insert(field.into(), json!({ "from": from, "to": to }));
        }
    };
    note("email", json!(before.email), json!(after.email));
    note("name", json!(before.name), json!(after.name));
    note("user_name", json!(before.user_name), json!(after.user_name));
    note(
        "external_id",
        json!(before.external_id),
        json!(after.external_id),
    );
    note("active", json!(before.active), json!(after.active));
    note(
        "role",
        json!(before.role.as_i64()),
        json!(after.role.as_i64()),
    );
    changed.into()
}

/// A group's memberships, of the people `ids` or all: (id, email, user).
async fn group_rows(
    conn: &mut Conn,
    group: Uuid,
    ids: Option<&[Uuid]>,
) -> StoreResult<Vec<(Uuid, String, Option<Uuid>)>> {
    let sql = match ids {
        Some(_) => format!(
            "SELECT id, email, user_id FROM group_memberships WHERE group_id = $1 AND user_id {}",
            in_uuids("$2")
        ),
        None => "SELECT id, email, user_id FROM group_memberships WHERE group_id = $1".into(),
    };
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(group);
    if let Some(ids) = ids {
        query = query.bind(uuids(ids)?);
    }
    query.fetch_all(&mut *conn).await.map_err(other)
}

/// Applies SCIM's member changes to a group and records who they added and removed, read
/// before and after from the people they name (or the whole group, for `RemoveAll` and
/// `ReplaceAll`, which cost that anyway).
async fn change_members_by_id(
    conn: &mut Conn,
    org: Uuid,
    group: &ProvisionedGroup,
    changes: &[MemberChange],
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let whole = changes
        .iter()
        .any(|c| matches!(c, MemberChange::RemoveAll | MemberChange::ReplaceAll(_)));
    let named: Vec<Uuid> = changes
        .iter()
        .flat_map(|c| match c {
            MemberChange::Add(ids) | MemberChange::Remove(ids) => ids.as_slice(),
            _ => &[],
        })
        .copied()
        .collect();
    let ids = (!whole).then_some(named.as_slice());
    let before = group_rows(conn, group.id, ids).await?;
    for change in changes {
        writes::change_members(conn, org, group.id, change, now).await?;
    }
    let after = group_rows(conn, group.id, ids).await?;
    // By person (their address), not by row: one removed and added again in the same PATCH is
    // no change.
    let key = |r: &(Uuid, String, Option<Uuid>)| email::normalize(&r.1);
    let was: HashSet<String> = before.iter().map(key).collect();
    let is: HashSet<String> = after.iter().map(key).collect();
    let person = |r: &(Uuid, String, Option<Uuid>)| json!({ "email": r.1 });
    let mut added: Vec<_> = after.iter().filter(|r| !was.contains(&key(r))).collect();
    let mut removed: Vec<_> = before.iter().filter(|r| !is.contains(&key(r))).collect();
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    added.sort_by_key(|r| email::normalize(&r.1));
    removed.sort_by_key(|r| email::normalize(&r.1));
    let object = Object::new("group", group.id, &group.name);
    let event = Event::on_team(org, "group_membership.changed", object)
        .of_group(group.id)
        .with(json!({
            "added": added.into_iter().map(person).collect::<Vec<_>>(),
            "removed": removed.into_iter().map(person).collect::<Vec<_>>(),
        }));
    audit::record(conn, origin, event).await
}

/// One admitted create of `create_users`, as its writes bind it.
pub(crate) struct NewMember<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub email_norm: &'a str,
    pub name: Option<&'a str>,
    pub name_lower: Option<String>,
    pub role: Option<i64>,
    pub user_name: &'a str,
    pub user_name_norm: &'a str,
    pub external_id: Option<&'a str>,
    pub active: bool,
    pub attributes: &'a str,
    pub display_name_norm: Option<String>,
    /// Someone Roster knew, whom the team may link (`provisioning::linking`).
    pub linked: bool,
}

impl<'a> NewMember<'a> {
    fn new(w: &'a UserWrite, user_name_norm: &'a str, email_norm: &'a str, linked: bool) -> Self {
        NewMember {
            id: Uuid::now_v7(),
            email: w.email.trim(),
            email_norm,
            name: w.name.as_deref().map(str::trim),
            name_lower: w.name.as_deref().map(|n| n.trim().to_lowercase()),
            role: w.role.map(|r| r.as_i64()),
            user_name: &w.user_name,
            user_name_norm,
            external_id: w.external_id.as_deref(),
            active: w.active,
            attributes: &w.attributes,
            display_name_norm: display_name_norm(&w.attributes),
            linked,
        }
    }
}

/// The member's membership id, checked against the expected version.
async fn expected(
    conn: &mut Conn,
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
    store: &Backend,
    org: Uuid,
    id: Uuid,
    expect: Option<i64>,
    write: &UserWrite,
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<ProvisionedUser> {
    let mut tx = store.write().await?;
    lock_team(&mut tx, org, TeamLock::Members).await?;
    let present = expected(&mut tx, org, id, expect).await?;
    check_user_name(&mut tx, org, &write.user_name.to_lowercase(), Some(id)).await?;
    let email_norm = email::normalize(&write.email);
    let standing = target(&mut tx, present.seq).await?.standing()?;
    standing.check_provisioning(write.role.unwrap_or(present.role), write.active)?;
    let change = provisioning::PersonChange::of(&present, write);
    if change.any() {
        let person: (i64, bool) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM memberships WHERE user_id = $1), is_operator \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(other)?;
        let verified = email_domains::verified(&mut tx, org).await?;
        change.check(person, &present, &verified)?;
    }
    if change.email {
        let holders = email_domains::holders(&mut tx, std::slice::from_ref(&email_norm)).await?;
        let owned = provisioning::check_address(org, &write.email, &holders)?;
        change_email(&mut tx, org, id, &write.email, &email_norm, owned).await?;
        users::revoke_unproven(&mut tx, org, Taken::Emails(&[email_norm])).await?;
    }
    write_membership(&mut tx, org, id, write, change.any(), now).await?;
    let user = user_in(&mut tx, org, id).await?;
    let changed = user_changes(&present, &user);
    if changed.as_object().is_some_and(|c| !c.is_empty()) {
        let event = user_event(org, &user, "membership.updated").with(changed);
        audit::record(&mut tx, origin, event).await?;
    }
    tx.commit().await.map_err(other)?;
    Ok(user)
}

/// A person's email is theirs in every team: their memberships' and group memberships'
/// copies follow it. The new address is their proven one only if the team that gives it owns
/// it (`owned`): a team cannot make its only member the owner of any address it likes, and
/// their keys then act in this team alone.
///
/// It rewrites rows of other teams holding only this team's lock. A writer there that checks
/// for a row before inserting it (PostgreSQL's import, by email) cannot be misled: the new
/// address takes the person's row in `users` first, whose unique email makes an import of the
/// same address wait for this change and then find the person, rows and all.
async fn change_email(
    conn: &mut Conn,
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
    super::member_emails::keep_old_address(conn, id).await?;
    // Another member's userName equal to the new address, in any of the person's teams, keeps
    // it from them: read as any taken address, naming no team.
    sqlx::query("UPDATE memberships SET email_norm = $2 WHERE user_id = $1")
        .bind(id)
        .bind(norm)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on("emails"))?;
    sqlx::query("UPDATE group_memberships SET email = $2, email_norm = $3 WHERE user_id = $1")
        .bind(id)
        .bind(address)
        .bind(norm)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on("emails"))?;
    Ok(())
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
    created_at: Stamp,
    updated_at: Stamp,
    version: i64,
}

impl From<GroupRow> for ProvisionedGroup {
    fn from(r: GroupRow) -> Self {
        ProvisionedGroup {
            id: r.id,
            name: r.name,
            external_id: r.external_id,
            created: at(r.created_at),
            modified: at(r.updated_at),
            version: r.version,
        }
    }
}

fn push_group_key(qb: &mut QueryBuilder<Db>, key: Option<&GroupKey>) {
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

async fn group_in(conn: &mut Conn, org: Uuid, id: Uuid) -> StoreResult<ProvisionedGroup> {
    let row: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{GROUP_SELECT} $1 AND g.id = $2{}",
        locks(" FOR UPDATE")
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    row.map(ProvisionedGroup::from).ok_or(StoreError::NotFound)
}

/// Bumps the group's version: every change to it or its members calls this.
pub(crate) async fn touch_group(conn: &mut Conn, group: Uuid) -> StoreResult<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE groups SET version = version + 1, updated_at = {NOW} WHERE id = $1"
    )))
    .bind(group)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(())
}

#[async_trait]
impl Provisioning for Backend {
    async fn provisioned_users(
        &self,
        org: Uuid,
        key: Option<&UserKey>,
        after: Option<i64>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedUser>> {
        let mut qb = QueryBuilder::<Db>::new(USER_SELECT);
        qb.push_bind(org);
        push_user_key(&mut qb, key);
        if let Some(after) = after {
            qb.push(" AND m.id > ").push_bind(after);
        }
        // A literal limit, as in `push_window`, so that the generic plan knows it.
        qb.push(format_args!(
            " ORDER BY m.id LIMIT {}",
            limit.min(i64::MAX as u64)
        ))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows: Vec<UserRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn count_provisioned_users(&self, org: Uuid, key: Option<&UserKey>) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE NOT u.service_account AND NOT u.deployment_key_account AND m.org_id = ",
        );
        qb.push_bind(org);
        push_user_key(&mut qb, key);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn provision_users(
        &self,
        org: Uuid,
        users: &[UserWrite],
        now: Timestamp,
        origins: &[Origin],
    ) -> StoreResult<Vec<StoreResult<ProvisionedUser>>> {
        let adding = self.changes.adding();
        create_users(self, org, users, now, origins, &adding).await
    }

    async fn update_provisioned_user(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        user: &UserWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedUser> {
        let _writing = self.changes.writing();
        update_user(self, org, id, expect, user, now, origin).await
    }

    async fn deprovision_user(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        let present = expected(&mut tx, org, id, expect).await?;
        if target(&mut tx, present.seq)
            .await?
            .standing()?
            .removal_leaves_without_admin()
        {
            return Err(StoreError::last_admin_removed());
        }
        let groups = leave(&mut tx, org, id).await?;
        let event = user_event(org, &present, "membership.deleted").with(json!({
            "user": present.id,
            "email": present.email,
            "role": present.role.as_i64(),
            "groups": groups,
        }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }

    async fn provisioned_groups(
        &self,
        org: Uuid,
        key: Option<&GroupKey>,
        after: Option<Uuid>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedGroup>> {
        let mut qb = QueryBuilder::<Db>::new(GROUP_SELECT);
        qb.push_bind(org);
        push_group_key(&mut qb, key);
        if let Some(after) = after {
            qb.push(" AND g.id > ").push_bind(after);
        }
        // A literal limit, as in `push_window`, so that the generic plan knows it.
        qb.push(format_args!(
            " ORDER BY g.id LIMIT {}",
            limit.min(i64::MAX as u64)
        ))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows: Vec<GroupRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        Ok(rows.into_iter().map(ProvisionedGroup::from).collect())
    }

    async fn count_provisioned_groups(
        &self,
        org: Uuid,
        key: Option<&GroupKey>,
    ) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*) FROM groups g WHERE g.org_id = ");
        qb.push_bind(org);
        push_group_key(&mut qb, key);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn provisioned_group_members(&self, groups: &[Uuid]) -> StoreResult<Vec<(Uuid, Uuid)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT gm.group_id, gm.user_id FROM group_memberships gm \
             JOIN users u ON u.id = gm.user_id \
             WHERE gm.group_id {} \
               AND NOT u.service_account AND NOT u.deployment_key_account \
             ORDER BY gm.group_id, gm.email_norm",
            in_uuids("$1")
        )))
        .bind(uuids(groups)?)
        .fetch_all(self.reads())
        .await
        .map_err(other)
    }

    async fn provision_group(
        &self,
        org: Uuid,
        write: &GroupWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedGroup> {
        let _writing = self.changes.writing();
        let name = write.name.as_deref().ok_or(StoreError::Invalid {
            field: Some("displayName"),
            message: "A group needs a displayName.".into(),
        })?;
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Share).await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO groups (id, org_id, name, external_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(org)
        .bind(name)
        .bind(write.external_id.clone().flatten())
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(conflict_on("displayName"))?;
        let created = group_in(&mut tx, org, id).await?;
        let object = Object::new("group", id, name);
        let event = Event::on_team(org, "group.created", object)
            .of_group(id)
            .with(json!({ "name": name, "external_id": created.external_id }));
        audit::record(&mut tx, origin, event).await?;
        change_members_by_id(&mut tx, org, &created, &write.members, now, origin).await?;
        let group = group_in(&mut tx, org, id).await?;
        tx.commit().await.map_err(other)?;
        Ok(group)
    }

    async fn update_provisioned_group(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        write: &GroupWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedGroup> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Share).await?;
        let before = group_in(&mut tx, org, id).await?;
        // One statement checks the version, locks the row and bumps it: a member PATCH is a
        // handful of statements whatever the group's size.
        let updated: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE groups SET name = coalesce($3, name), \
                 external_id = CASE WHEN $4 THEN $5 ELSE external_id END, \
                 updated_at = {}, version = version + 1 \
             WHERE id = $1 AND org_id = $2 AND (CAST($7 AS BIGINT) IS NULL OR version = $7) \
             RETURNING id, name, external_id, created_at, updated_at, version",
            later_of("$6", "coalesce(updated_at, created_at)")
        )))
        .bind(id)
        .bind(org)
        .bind(&write.name)
        .bind(write.external_id.is_some())
        .bind(write.external_id.clone().flatten())
        .bind(ts(now))
        .bind(expect)
        .fetch_optional(&mut *tx)
        .await
        .map_err(conflict_on("displayName"))?;
        let Some(updated) = updated else {
            return Err(StoreError::Conflict { field: "version" });
        };
        let updated = ProvisionedGroup::from(updated);
        let mut changed = serde_json::Map::new();
        if updated.name != before.name {
            changed.insert(
                "name".into(),
                json!({ "from": before.name, "to": updated.name }),
            );
        }
        if updated.external_id != before.external_id {
            let pair = json!({ "from": before.external_id, "to": updated.external_id });
            changed.insert("external_id".into(), pair);
        }
        if !changed.is_empty() {
            let object = Object::new("group", id, &updated.name);
            let event = Event::on_team(org, "group.updated", object)
                .of_group(id)
                .with(changed.into());
            audit::record(&mut tx, origin, event).await?;
        }
        change_members_by_id(&mut tx, org, &updated, &write.members, now, origin).await?;
        tx.commit().await.map_err(other)?;
        Ok(updated)
    }

    async fn deprovision_group(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Share).await?;
        let present = group_in(&mut tx, org, id).await?;
        if expect.is_some_and(|v| v != present.version) {
            return Err(StoreError::Conflict { field: "version" });
        }
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let object = Object::new("group", id, &present.name);
        let event = Event::on_team(org, "group.deleted", object)
            .of_group(id)
            .with(json!({ "name": present.name }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }
}
