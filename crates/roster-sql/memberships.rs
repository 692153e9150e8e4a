//! Team memberships: joining, role changes and removal, under the role rules of
//! [`roster_core::rules`]. Compiled into each backend against its `dialect` module (see
//! README.md); the list and its filters are each backend's own (`membership_pages.rs`).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, NOW, ts};
use crate::rows::role;
use crate::tx::{TeamLock, expect_team_version, lock_team};
use crate::{other, users};
use async_trait::async_trait;
use roster_core::rules::{self, Standing};
use roster_core::store::{MembershipPages, Memberships, NewUser};
use roster_core::{Membership, Origin, Role, StoreError, StoreResult, Timestamp, email};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

/// `add`, under the role rules, with the change recorded: the use case of `add_member` and
/// `add_person`. The caller holds the team lock.
async fn add_in(
    conn: &mut Conn,
    org: Uuid,
    user: Uuid,
    role: Option<Role>,
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<i64> {
    let present = target_of(conn, org, user).await?;
    if let (Some(role), Some(present)) = (role, &present) {
        present.standing()?.check_role_change(role)?;
    }
    // The person first (see `users::revoke_unproven`), then the membership.
    let email: Option<String> = sqlx::query_scalar("SELECT email_norm FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    let email = email.ok_or(StoreError::NotFound)?;
    users::revoke_unproven(conn, org, users::Taken::Emails(&[email])).await?;
    let id = add(conn, org, user, role, now).await?;
    let after = target(conn, id).await?;
    let event = match present {
        None => Some(after.event(id, "membership.created").with(json!({
            "user": after.user_id,
            "email": after.email,
            "role": after.role,
        }))),
        Some(before) if before.role != after.role => Some(
            after
                .event(id, "membership.updated")
                .with(json!({ "role": { "from": before.role, "to": after.role } })),
        ),
        Some(_) => None,
    };
    if let Some(event) = event {
        audit::record(conn, origin, event).await?;
    }
    Ok(id)
}

/// Adds the user to the team (or changes the role of a present member when one is given) and
/// attaches the group memberships held for their email. The caller holds the team lock.
pub(crate) async fn add(
    conn: &mut Conn,
    org: Uuid,
    user: Uuid,
    role: Option<Role>,
    now: Timestamp,
) -> StoreResult<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
         SELECT o.id, u.id, u.email_norm, coalesce($3, o.default_role), $4 \
         FROM organizations o, users u WHERE o.id = $1 AND u.id = $2 \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = coalesce($3, memberships.role), \
             version = memberships.version + CASE \
                 WHEN memberships.role IS DISTINCT FROM coalesce($3, memberships.role) \
                 THEN 1 ELSE 0 END \
         RETURNING id",
    )
    .bind(org)
    .bind(user)
    .bind(role.map(Role::as_i64))
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await
    .map_err(crate::tx::user_name_taken)?;
    let id = id.ok_or(StoreError::NotFound)?;
    sqlx::query(
        "UPDATE group_memberships SET user_id = $2 \
         WHERE group_id IN (SELECT id FROM groups WHERE org_id = $1) \
           AND email_norm = (SELECT email_norm FROM users WHERE id = $2) AND user_id IS NULL",
    )
    .bind(org)
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(id)
}

#[derive(FromRow)]
pub(crate) struct Target {
    org_id: Uuid,
    user_id: Uuid,
    email: String,
    role: i64,
    active: bool,
    fixed_role: bool,
    /// The team's other admins who count for the last-admin rule (`rules::counts_as_admin`).
    other_admins: i64,
}

/// The team's admins who count for the last-admin rule (`rules::counts_as_admin`: active
/// people, not accounts), as SQL ending in the team it counts in. Written once here, for the
/// role rules below and for the import.
macro_rules! counting_admins {
    () => {
        "SELECT count(*) FROM memberships o JOIN users ou ON ou.id = o.user_id \
         WHERE o.role = 2 AND o.active AND NOT ou.service_account \
           AND NOT ou.deployment_key_account AND o.org_id = "
    };
}

/// What the role rules need about a membership; the caller appends which membership (`m.`).
const TARGET: &str = concat!(
    "SELECT m.org_id, m.user_id, u.email, m.role, m.active, \
         (u.service_account OR u.deployment_key_account) AS fixed_role, (",
    counting_admins!(),
    "m.org_id AND o.id != m.id) AS other_admins \
     FROM memberships m JOIN users u ON u.id = m.user_id WHERE "
);

/// How many admins the team has who count (`rules::counts_as_admin`).
pub(crate) async fn counting_admins(conn: &mut Conn, org: Uuid) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(concat!(counting_admins!(), "$1"))
        .bind(org)
        .fetch_one(&mut *conn)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Locks the membership's team, then reads what the role rules need.
pub(crate) async fn target(conn: &mut Conn, id: i64) -> StoreResult<Target> {
    let org: Uuid = sqlx::query_scalar("SELECT org_id FROM memberships WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?
        .ok_or(StoreError::NotFound)?;
    lock_team(conn, org, TeamLock::Members).await?;
    let t: Option<Target> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{TARGET} m.id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    t.ok_or(StoreError::NotFound)
}

/// The person's membership of the team, if they have one; the caller has locked the team.
pub(crate) async fn target_of(
    conn: &mut Conn,
    org: Uuid,
    user: Uuid,
) -> StoreResult<Option<Target>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TARGET} m.org_id = $1 AND m.user_id = $2"
    )))
    .bind(org)
    .bind(user)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)
}

impl Target {
    /// The event of a change to this membership (`id`), in its team.
    fn event(&self, id: i64, action: &'static str) -> Event {
        Event::on_team(
            self.org_id,
            action,
            Object::new("membership", id, &self.email),
        )
    }

    /// The membership as the role rules see it.
    pub(crate) fn standing(&self) -> StoreResult<Standing> {
        Ok(Standing {
            role: role(self.role)?,
            active: self.active,
            account: self.fixed_role,
            other_admins: u64::try_from(self.other_admins).unwrap_or(0),
        })
    }
}

/// Takes the person out of the team and its groups (whose versions change); the names of
/// those groups, for the history.
pub(crate) async fn leave(conn: &mut Conn, org: Uuid, user: Uuid) -> StoreResult<Vec<String>> {
    let groups: Vec<String> = sqlx::query_scalar(
        "SELECT g.name FROM group_memberships gm JOIN groups g ON g.id = gm.group_id \
         WHERE gm.user_id = $1 AND g.org_id = $2 ORDER BY g.name",
    )
    .bind(user)
    .bind(org)
    .fetch_all(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE groups SET version = version + 1, updated_at = {NOW} \
         WHERE org_id = $2 AND id IN (SELECT group_id FROM group_memberships WHERE user_id = $1)"
    )))
    .bind(user)
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query(
        "DELETE FROM group_memberships WHERE user_id = $1 \
         AND group_id IN (SELECT id FROM groups WHERE org_id = $2)",
    )
    .bind(user)
    .bind(org)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    Ok(groups)
}

pub(crate) async fn set_role(
    store: &Backend,
    id: i64,
    new: Role,
    origin: &Origin,
    expect: Option<i64>,
) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let t = target(&mut tx, id).await?;
    expect_team_version(&mut tx, t.org_id, expect).await?;
    if t.role == new.as_i64() {
        return Ok(());
    }
    t.standing()?.check_role_change(new)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE memberships SET role = $1, version = version + 1, updated_at = {NOW} WHERE id = $2"
    )))
    .bind(new.as_i64())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(other)?;
    let event = t
        .event(id, "membership.updated")
        .with(json!({ "role": { "from": t.role, "to": new.as_i64() } }));
    audit::record(&mut tx, origin, event).await?;
    tx.commit().await.map_err(other)
}

#[async_trait]
impl Memberships for Backend {
    async fn team_version(&self, org: Uuid) -> StoreResult<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM team_versions WHERE org_id = $1")
                .bind(org)
                .fetch_optional(self.reads())
                .await
                .map_err(other)?;
        version.ok_or(StoreError::NotFound)
    }

    async fn role_in(&self, org: Uuid, user: Uuid) -> StoreResult<Option<Role>> {
        let r: Option<i64> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2 AND active",
        )
        .bind(org)
        .bind(user)
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        r.map(role).transpose()
    }

    async fn team_versions(&self, orgs: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
        if orgs.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb =
            QueryBuilder::<Db>::new("SELECT org_id, version FROM team_versions WHERE org_id IN (");
        let mut list = qb.separated(", ");
        for org in orgs {
            list.push_bind(*org);
        }
        qb.push(")");
        qb.build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)
    }

    async fn count_members_in(&self, orgs: &[Uuid]) -> StoreResult<u64> {
        if orgs.is_empty() {
            return Ok(0);
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT count(*) FROM memberships WHERE org_id IN (");
        let mut list = qb.separated(", ");
        for org in orgs {
            list.push_bind(*org);
        }
        qb.push(")");
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn add_member(
        &self,
        org: Uuid,
        user: Uuid,
        role: Option<Role>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Membership> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        let id = add_in(&mut tx, org, user, role, now, origin).await?;
        tx.commit().await.map_err(other)?;
        self.get_membership(id).await
    }

    async fn add_person(
        &self,
        org: Uuid,
        person: &NewUser,
        role: Option<Role>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Membership> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        let account: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM users WHERE email_norm = $1 \
             AND (service_account OR deployment_key_account)",
        )
        .bind(email::normalize(&person.email))
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        if let Some(account) = account {
            // Its own team's role rule answers first, as the API's would.
            if let (Some(role), Some(present)) = (role, target_of(&mut tx, org, account).await?) {
                present.standing()?.check_role_change(role)?;
            }
            return Err(StoreError::not_a_person());
        }
        if rules::is_account_address(&person.email) {
            return Err(StoreError::not_a_person());
        }
        let user = users::ensure(&mut tx, person, now).await?;
        let id = add_in(&mut tx, org, user.id, role, now, origin).await?;
        tx.commit().await.map_err(other)?;
        self.get_membership(id).await
    }

    async fn set_role(
        &self,
        id: i64,
        role: Role,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Membership> {
        let _writing = self.changes.writing();
        set_role(self, id, role, origin, expect).await?;
        self.get_membership(id).await
    }

    async fn remove_membership(
        &self,
        id: i64,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let t = target(&mut tx, id).await?;
        expect_team_version(&mut tx, t.org_id, expect).await?;
        if t.fixed_role {
            return Err(StoreError::account_membership());
        }
        if t.standing()?.removal_leaves_without_admin() {
            return Err(StoreError::last_admin_removed());
        }
        let groups = leave(&mut tx, t.org_id, t.user_id).await?;
        let event = t.event(id, "membership.deleted").with(json!({
            "user": t.user_id,
            "email": t.email,
            "role": t.role,
            "groups": groups,
        }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }
}
