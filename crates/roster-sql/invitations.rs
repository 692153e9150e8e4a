//! Invitations: one pending invitation per email and team. Someone who holds no proven key
//! accepts with the one-time token and receives a key; a person who holds one accepts by id,
//! signed in. Each acceptance checks again that the inviter may still grant the role.
//! Compiled into each backend against its `dialect` module (see README.md).

use crate::audit::{self, Event, Object};
use crate::dialect::{Backend, Conn, Db, Stamp, at, locks, ts};
use crate::rows::{USER_COLUMNS, UserRow, push_window, role};
use crate::tx::{TeamLock, lock_team};
use crate::users::{self, Taken};
use crate::{email_domains, memberships, other};
use async_trait::async_trait;
use roster_core::keys::{KeyHash, KeyScope};
use roster_core::rules::{TokenInvitee, TokenKey};
use roster_core::store::Invitations;
use roster_core::store::{Accepted, NewInvitation, TimeCursor, Window};
use roster_core::{
    Invitation, OrganizationRef, Origin, Role, StoreError, StoreResult, Timestamp, User, email,
    rules,
};
use serde_json::json;
use sqlx::{FromRow, QueryBuilder};
use uuid::Uuid;

#[derive(FromRow)]
struct InvitationRow {
    id: Uuid,
    org_id: Uuid,
    org_name: String,
    email: String,
    role: i64,
    created_at: Stamp,
    expires_at: Stamp,
    inviter_id: Option<Uuid>,
    inviter_name: Option<String>,
    inviter_email: Option<String>,
    inviter_service_account: Option<bool>,
    inviter_deployment_key_account: Option<bool>,
    inviter_date_joined: Option<Stamp>,
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
            organization: OrganizationRef {
                id: r.org_id,
                name: r.org_name,
            },
            created_at: at(r.created_at),
            expires_at: at(r.expires_at),
        })
    }
}

const SELECT: &str = "SELECT i.id, i.org_id, o.name AS org_name, i.email, i.role, \
     i.created_at, i.expires_at, \
     u.id AS inviter_id, u.name AS inviter_name, u.email AS inviter_email, \
     u.service_account AS inviter_service_account, \
     u.deployment_key_account AS inviter_deployment_key_account, \
     u.date_joined AS inviter_date_joined \
     FROM invitations i JOIN organizations o ON o.id = i.org_id \
     LEFT JOIN users u ON u.id = i.inviter_id";

async fn get<'e>(db: impl sqlx::Executor<'e, Database = Db>, id: Uuid) -> StoreResult<Invitation> {
    let row: Option<InvitationRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE i.id = $1")))
            .bind(id)
            .fetch_optional(db)
            .await
            .map_err(other)?;
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Whether `new` may be made (the errors of `Invitations::create_invitation`), and the role of
/// the pending invitation of the same email it would replace, if any.
async fn admissible(
    conn: &mut Conn,
    org: Uuid,
    new: &NewInvitation,
    email_norm: &str,
) -> StoreResult<Option<i64>> {
    if !rules::may_invite(new.by, new.role) {
        return Err(StoreError::Forbidden(
            "Only admins may invite with the admin role.".into(),
        ));
    }
    // Whom the address belongs to: accounts and operators are never invited, members need not.
    let known: Option<(bool, bool)> = sqlx::query_as(
        "SELECT u.service_account OR u.deployment_key_account OR u.is_operator, \
             EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = $1 AND m.user_id = u.id) \
         FROM users u WHERE u.email_norm = $2",
    )
    .bind(org)
    .bind(email_norm)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    match known {
        Some((true, _)) => return Err(StoreError::not_invitable()),
        Some((_, true)) => return Err(StoreError::Conflict { field: "email" }),
        _ => {}
    }
    // The address is another member's SCIM userName here: the invitee could never join.
    let clash: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships \
         WHERE org_id = $1 AND coalesce(user_name_norm, email_norm) = $2 \
           AND user_name_norm IS NOT NULL)",
    )
    .bind(org)
    .bind(email_norm)
    .fetch_one(&mut *conn)
    .await
    .map_err(other)?;
    if clash {
        return Err(StoreError::user_name_taken());
    }
    // The pending one is replaced only if the inviter could have made it.
    let pending: Option<i64> =
        sqlx::query_scalar("SELECT role FROM invitations WHERE org_id = $1 AND email_norm = $2")
            .bind(org)
            .bind(email_norm)
            .fetch_optional(&mut *conn)
            .await
            .map_err(other)?;
    if let Some(r) = pending
        && !rules::may_invite(new.by, role(r)?)
    {
        return Err(StoreError::Forbidden(
            "A pending invitation with the admin role can only be replaced by an admin.".into(),
        ));
    }
    Ok(pending)
}

pub(crate) async fn create(
    store: &Backend,
    org: Uuid,
    new: NewInvitation,
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<Invitation> {
    let email_norm = email::normalize(&new.email);
    let mut tx = store.write().await?;
    lock_team(&mut tx, org, TeamLock::Members).await?;
    let pending = admissible(&mut tx, org, &new, &email_norm).await?;
    // A new invitation of the same email replaces the pending one (and its token).
    if pending.is_some() {
        sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND email_norm = $2")
            .bind(org)
            .bind(&email_norm)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
    }
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO invitations (id, org_id, email, email_norm, role, inviter_id, token_hash, \
             mailed, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(org)
    .bind(new.email.trim())
    .bind(&email_norm)
    .bind(new.role.as_i64())
    .bind(new.inviter)
    .bind(new.token.0.as_slice())
    .bind(new.mailed)
    .bind(ts(now))
    .bind(ts(new.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => other(e),
    })?;
    let invitation = get(&mut *tx, id).await?;
    let object = Object::new("invitation", id, &invitation.email);
    let event = Event::on_team(org, "invitation.created", object).with(json!({
        "email": invitation.email,
        "role": new.role.as_i64(),
        "mailed": new.mailed,
        "replaced": pending.is_some(),
    }));
    audit::record(&mut tx, origin, event).await?;
    tx.commit().await.map_err(other)?;
    Ok(invitation)
}

pub(crate) async fn pending(
    store: &Backend,
    address: &str,
    now: Timestamp,
) -> StoreResult<Vec<Invitation>> {
    let rows: Vec<InvitationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE i.email_norm = $1 AND i.expires_at > $2 ORDER BY i.created_at, i.id"
    )))
    .bind(email::normalize(address))
    .bind(ts(now))
    .fetch_all(store.reads())
    .await
    .map_err(other)?;
    rows.into_iter().map(Invitation::try_from).collect()
}

/// A pending invitation as acceptance reads it.
#[derive(FromRow)]
struct Pending {
    id: Uuid,
    org_id: Uuid,
    org_name: String,
    email: String,
    email_norm: String,
    role: i64,
    inviter_id: Option<Uuid>,
    mailed: bool,
}

const PENDING: &str = "SELECT i.id, i.org_id, o.name AS org_name, i.email, i.email_norm, \
     i.role, i.inviter_id, i.mailed \
     FROM invitations i JOIN organizations o ON o.id = i.org_id";

/// The inviter's role in the team (an operator's is admin), if they may still grant the
/// invitation's role there (`rules::may_invite`); an inviter who is gone grants nothing.
async fn granter(conn: &mut Conn, p: &Pending) -> StoreResult<Option<Role>> {
    let Some(inviter) = p.inviter_id else {
        return Ok(None);
    };
    let found: Option<(bool, Option<i64>)> = sqlx::query_as(
        "SELECT u.is_operator, \
             (SELECT m.role FROM memberships m \
              WHERE m.org_id = $1 AND m.user_id = u.id AND m.active) \
         FROM users u WHERE u.id = $2",
    )
    .bind(p.org_id)
    .bind(inviter)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    let granter = match found {
        Some((true, _)) => Some(Role::Admin),
        Some((false, Some(r))) => Some(role(r)?),
        _ => None,
    };
    let invited = role(p.role)?;
    Ok(granter.filter(|&g| rules::may_invite(g, invited)))
}

/// The pending invitation is used: its invitee joins the team (a present member keeps their
/// role: an invitation never demotes) and it is deleted. When the team owns the address, it
/// takes the email in (the person's unproven keys go). Returns the role they have.
/// The event of a change to a pending invitation.
fn event(p: &Pending, action: &'static str) -> Event {
    Event::on_team(p.org_id, action, Object::new("invitation", p.id, &p.email))
}

/// Joins `user` to the team by the invitation, which goes; recorded as `user`'s own change.
async fn join(
    conn: &mut Conn,
    p: &Pending,
    user: Uuid,
    now: Timestamp,
    origin: &Origin,
) -> StoreResult<Role> {
    let present: Option<i64> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(p.org_id)
            .bind(user)
            .fetch_optional(&mut *conn)
            .await
            .map_err(other)?;
    // The person first (see `users::revoke_unproven`), then the membership.
    users::revoke_unproven(
        conn,
        p.org_id,
        Taken::Emails(std::slice::from_ref(&p.email_norm)),
    )
    .await?;
    let joined = match present {
        Some(r) => role(r)?,
        None => {
            let invited = role(p.role)?;
            memberships::add(conn, p.org_id, user, Some(invited), now).await?;
            invited
        }
    };
    sqlx::query("DELETE FROM invitations WHERE id = $1")
        .bind(p.id)
        .execute(&mut *conn)
        .await
        .map_err(other)?;
    let by = Origin {
        actor: Some(user),
        ..origin.clone()
    };
    let data = json!({ "email": p.email, "role": joined.as_i64(), "user": user });
    audit::record(conn, &by, event(p, "invitation.accepted").with(data)).await?;
    Ok(joined)
}

/// Commits an acceptance and says what it did.
async fn accepted(
    mut tx: sqlx::Transaction<'static, Db>,
    p: Pending,
    user: Uuid,
    role: Role,
    proven: bool,
) -> StoreResult<Accepted> {
    let user = read_user(&mut tx, user).await?;
    tx.commit().await.map_err(other)?;
    let organization = OrganizationRef {
        id: p.org_id,
        name: p.org_name,
    };
    Ok(Accepted {
        user,
        organization,
        role,
        proven,
    })
}

/// Revokes an invitation whose inviter may no longer grant its role, and answers as for an
/// unknown one.
async fn revoked<T>(
    mut tx: sqlx::Transaction<'static, Db>,
    p: &Pending,
    origin: &Origin,
) -> StoreResult<T> {
    let data = json!({
        "email": p.email,
        "role": p.role,
        "reason": "The inviter may no longer grant this role.",
    });
    // The rule revoked it, not the person who tried to accept it.
    let by = Origin {
        actor: None,
        ..origin.clone()
    };
    audit::record(&mut tx, &by, event(p, "invitation.revoked").with(data)).await?;
    sqlx::query("DELETE FROM invitations WHERE id = $1")
        .bind(p.id)
        .execute(&mut *tx)
        .await
        .map_err(other)?;
    tx.commit().await.map_err(other)?;
    Err(StoreError::NotFound)
}

async fn read_user(conn: &mut Conn, id: Uuid) -> StoreResult<User> {
    let user: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .map_err(other)?;
    Ok(user.into_user())
}

#[async_trait]
impl Invitations for Backend {
    async fn create_invitation(
        &self,
        org: Uuid,
        invitation: NewInvitation,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Invitation> {
        let _writing = self.changes.writing();
        create(self, org, invitation, now, origin).await
    }

    async fn check_invitation(&self, org: Uuid, invitation: &NewInvitation) -> StoreResult<()> {
        let mut conn = self.reads().acquire().await.map_err(other)?;
        let email_norm = email::normalize(&invitation.email);
        admissible(&mut conn, org, invitation, &email_norm)
            .await
            .map(|_| ())
    }

    async fn list_invitations(
        &self,
        org: Uuid,
        window: Window<TimeCursor>,
    ) -> StoreResult<Vec<Invitation>> {
        let mut qb = QueryBuilder::<Db>::new(SELECT);
        qb.push(" WHERE i.org_id = ").push_bind(org);
        push_window(&mut qb, window, "i.created_at, i.id", |qb, c| {
            qb.push(" AND (i.created_at, i.id) > (")
                .push_bind(ts(c.at))
                .push(", ")
                .push_bind(c.id)
                .push(")");
        });
        let rows: Vec<InvitationRow> = qb
            .build_query_as()
            .fetch_all(self.reads())
            .await
            .map_err(other)?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    async fn count_invitations(&self, org: Uuid) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invitations WHERE org_id = $1")
            .bind(org)
            .fetch_one(self.reads())
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn revoke_invitation(
        &self,
        org: Uuid,
        id: Uuid,
        by: Role,
        origin: &Origin,
    ) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        let found: Option<(i64, String)> =
            sqlx::query_as("SELECT role, email FROM invitations WHERE id = $1 AND org_id = $2")
                .bind(id)
                .bind(org)
                .fetch_optional(&mut *tx)
                .await
                .map_err(other)?;
        let (invited, email) = found.ok_or(StoreError::NotFound)?;
        if !rules::may_invite(by, role(invited)?) {
            return Err(StoreError::Forbidden(
                "Only admins may revoke an invitation with the admin role.".into(),
            ));
        }
        sqlx::query("DELETE FROM invitations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(other)?;
        let object = Object::new("invitation", id, &email);
        let event = Event::on_team(org, "invitation.revoked", object)
            .with(json!({ "email": email, "role": invited }));
        audit::record(&mut tx, origin, event).await?;
        tx.commit().await.map_err(other)
    }

    async fn accept_invitation(
        &self,
        token: &KeyHash,
        name: Option<&str>,
        key: &KeyHash,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Accepted> {
        // Looked up with a read first: anyone may send a token, and an unknown or expired one
        // must cost a lookup, not a write transaction (nor the access count that a write moves, which
        // every node's cache of keys and roles follows).
        let team: Option<Uuid> = sqlx::query_scalar(
            "SELECT org_id FROM invitations WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token.0.as_slice())
        .bind(ts(now))
        .fetch_optional(self.reads())
        .await
        .map_err(other)?;
        let team = team.ok_or(StoreError::NotFound)?;
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        // The team first, then the invitation (the order of every writer): the inviter's role and
        // the members are settled, and a concurrent acceptance of the same token waits and then
        // finds it gone (or revoked since the read above), so a token is used once.
        lock_team(&mut tx, team, TeamLock::Members).await?;
        let found: Option<Pending> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PENDING} WHERE i.token_hash = $1 AND i.expires_at > $2{}",
            locks(" FOR UPDATE OF i")
        )))
        .bind(token.0.as_slice())
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        let p = found.ok_or(StoreError::NotFound)?;
        let Some(granter) = granter(&mut tx, &p).await? else {
            return revoked(tx, &p, origin).await;
        };
        // What the token may do for the address's person (`rules::token_key`).
        // Locked (against key rotation and revocation, which lock the person alike; memberships'
        // foreign keys need only a key share, which this does not block): a key issued or
        // revoked meanwhile must not slip past the check.
        let person: Option<(Uuid, bool, bool, Option<i64>, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT u.id, u.service_account OR u.deployment_key_account OR u.is_operator, \
                 EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id AND k.org_id IS NULL), \
                 (SELECT m.role FROM memberships m WHERE m.org_id = $2 AND m.user_id = u.id), \
                 EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.org_id <> $2) \
             FROM users u WHERE u.email_norm = $1{}",
                locks(" FOR NO KEY UPDATE OF u")
            )))
            .bind(&p.email_norm)
            .bind(p.org_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(other)?;
        let invitee = TokenInvitee {
            exists: person.is_some(),
            barred: person.is_some_and(|p| p.1),
            proven_key: person.is_some_and(|p| p.2),
            member: person.and_then(|p| p.3).map(role).transpose()?,
            elsewhere: person.is_some_and(|p| p.4),
        };
        let holders = email_domains::holders(&mut tx, std::slice::from_ref(&p.email_norm)).await?;
        let owner = rules::email_domain(&p.email).and_then(|d| holders.get(&d).copied());
        let scope = match rules::token_key(invitee, granter, p.org_id, owner, p.mailed) {
            None => return Err(StoreError::NotFound),
            Some(TokenKey::Proven) => KeyScope::PROVEN,
            Some(TokenKey::Confined) => KeyScope::confined(p.org_id),
        };
        let user = match person {
            Some((id, ..)) => id,
            None => users::create_person(&mut tx, &p.email, name, now)
                .await?
                .ok_or(StoreError::NotFound)?,
        };
        // A token that cannot be used is the same 404 whatever the reason (docs/SECURITY.md),
        // this one too: the address became another member's userName since it was sent.
        let joined = join(&mut tx, &p, user, now, origin)
            .await
            .map_err(|e| match e {
                StoreError::Invalid { .. } => StoreError::NotFound,
                e => e,
            })?;
        users::add_key(&mut tx, user, key, scope, now).await?;
        accepted(tx, p, user, joined, scope.confined_to.is_none()).await
    }

    async fn pending_invitations(
        &self,
        email: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Invitation>> {
        pending(self, email, now).await
    }

    async fn accept_invitation_as(
        &self,
        id: Uuid,
        user: Uuid,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Accepted> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let team: Option<Uuid> = sqlx::query_scalar("SELECT org_id FROM invitations WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(other)?;
        // The team, then the invitation, as in `accept`.
        lock_team(
            &mut tx,
            team.ok_or(StoreError::NotFound)?,
            TeamLock::Members,
        )
        .await?;
        let found: Option<Pending> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PENDING} JOIN users u ON u.email_norm = i.email_norm \
             WHERE i.id = $1 AND u.id = $2 AND i.expires_at > $3 \
               AND NOT u.service_account AND NOT u.deployment_key_account \
               AND u.proven_email = u.email_norm{}",
            locks(" FOR UPDATE OF i")
        )))
        .bind(id)
        .bind(user)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        let p = found.ok_or(StoreError::NotFound)?;
        if granter(&mut tx, &p).await?.is_none() {
            return revoked(tx, &p, origin).await;
        }
        let joined = join(&mut tx, &p, user, now, origin).await?;
        accepted(tx, p, user, joined, true).await
    }

    async fn reject_invitation(&self, id: Uuid, user: Uuid, origin: &Origin) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let gone: Option<(Uuid, String, i64)> = sqlx::query_as(
            "DELETE FROM invitations WHERE id = $1 \
             AND email_norm = \
                 (SELECT email_norm FROM users WHERE id = $2 AND proven_email = email_norm) \
             RETURNING org_id, email, role",
        )
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await
        .map_err(other)?;
        let (org, email, invited) = gone.ok_or(StoreError::NotFound)?;
        let object = Object::new("invitation", id, &email);
        let event = Event::on_team(org, "invitation.rejected", object)
            .with(json!({ "email": email, "role": invited }));
        // The invitee is no member: the team learns that the invitation was declined, not who
        // they are beyond the address it invited.
        let by = Origin {
            actor: None,
            ..origin.clone()
        };
        audit::record(&mut tx, &by, event).await?;
        tx.commit().await.map_err(other)
    }
}
