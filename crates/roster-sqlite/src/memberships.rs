//! Team memberships: the list with its filters, role changes and removal.

use crate::provisioning::NOW;
use crate::rows::{USER_COLUMNS, UserRow, push_window, role};
use crate::{SqliteStore, other};
use roster_core::store::{MembershipCursor, MembershipFilter, Window};
use roster_core::{GroupRef, Membership, Role, StoreError, StoreResult, Timestamp};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

#[derive(FromRow)]
struct MembershipRow {
    id: i64,
    org_id: Uuid,
    role: i64,
    #[sqlx(flatten)]
    user: UserRow,
    /// The person's groups in the team (`GROUPS`).
    groups: String,
}

/// The groups of person `u` in team `{org}` as one JSON array of `[hex id, name]`, read in
/// the same statement as the rows: the driver hands rows over one at a time between threads,
/// and a separate query's 300-odd (person, group) rows cost four times a page's own query
/// under load. Its `{org}` is the column naming the team.
const GROUPS: &str = "(SELECT json_group_array(json_array(hex(g.id), g.name)) \
     FROM group_memberships gm CROSS JOIN groups g ON g.id = gm.group_id \
     WHERE gm.user_id = u.id AND g.org_id = {org}) AS groups";

fn select_from() -> String {
    format!(
        "SELECT m.id, m.org_id, m.role, {USER_COLUMNS}, {} \
         FROM memberships m JOIN users u ON u.id = m.user_id",
        GROUPS.replace("{org}", "m.org_id")
    )
}

pub(crate) async fn role_in(
    store: &SqliteStore,
    org: Uuid,
    user: Uuid,
) -> StoreResult<Option<Role>> {
    let r: Option<i64> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2 AND active",
    )
    .bind(org)
    .bind(user)
    .fetch_optional(&store.reader)
    .await
    .map_err(other)?;
    r.map(role).transpose()
}

/// Adds the user to the team (or changes the role of a present member when one is given) and
/// attaches the group memberships held for their email. Returns the membership id.
pub(crate) async fn add(
    conn: &mut SqliteConnection,
    org: Uuid,
    user: Uuid,
    role: Option<Role>,
    now: Timestamp,
) -> StoreResult<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO memberships (org_id, user_id, email_norm, role, created_at) \
         SELECT o.id, u.id, u.email_norm, coalesce($3, o.default_role), $4 \
         FROM organizations o, users u WHERE o.id = $1 AND u.id = $2 \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = coalesce($3, role), \
             version = version + (role IS NOT coalesce($3, role)) \
         RETURNING id",
    )
    .bind(org)
    .bind(user)
    .bind(role.map(Role::as_i64))
    .bind(now.as_micros())
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    let id = id.ok_or(StoreError::NotFound)?;
    sqlx::query(
        "UPDATE group_memberships SET user_id = $2 \
         WHERE group_id IN (SELECT id FROM groups WHERE org_id = $1) \
           AND email_norm = (SELECT email_norm FROM users WHERE id = $2) \
           AND user_id IS NULL",
    )
    .bind(org)
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(other)?;
    Ok(id)
}

/// Appends the WHERE clause of a filtered list. The user columns are reachable as `u.`.
fn push_filter(qb: &mut QueryBuilder<Sqlite>, org: Uuid, f: &MembershipFilter) {
    qb.push(" WHERE m.org_id = ").push_bind(org);
    if f.exclude_service_accounts {
        qb.push(" AND u.service_account = 0");
    }
    if f.exclude_deployment_keys {
        qb.push(" AND u.deployment_key_account = 0");
    }
    match f.roles.as_deref() {
        None => {}
        Some([]) => {
            qb.push(" AND 0");
        }
        Some(roles) => {
            qb.push(" AND m.role IN (");
            let mut list = qb.separated(", ");
            for r in roles {
                list.push_bind(r.as_i64());
            }
            qb.push(")");
        }
    }
    if let Some(user) = f.user_id {
        qb.push(" AND m.user_id = ").push_bind(user);
    }
    if let Some(groups) = &f.groups {
        if groups.is_empty() {
            qb.push(" AND 0");
        } else {
            // The groups' people first, then their memberships by (org_id, user_id): a probe
            // per person in the groups, not an EXISTS per member of the team (7x faster at
            // 100,000 members).
            qb.push(
                " AND m.user_id IN (SELECT gm.user_id FROM group_memberships gm \
                 WHERE gm.user_id IS NOT NULL AND gm.group_id IN (",
            );
            let mut list = qb.separated(", ");
            for g in groups {
                list.push_bind(*g);
            }
            qb.push("))");
        }
    }
    if let Some(q) = &f.q {
        qb.push(" AND (instr(u.name_lower, ")
            .push_bind(q.clone())
            .push(") > 0 OR instr(m.email_norm, ")
            .push_bind(q.clone())
            .push(") > 0)");
    }
}

/// Filters on user columns need the users join; the others run on the memberships index alone.
fn needs_users(f: &MembershipFilter) -> bool {
    f.exclude_service_accounts || f.exclude_deployment_keys || f.q.is_some()
}

fn from_filtered(qb: &mut QueryBuilder<Sqlite>, f: &MembershipFilter) {
    qb.push(" FROM memberships m");
    if needs_users(f) {
        qb.push(" JOIN users u ON u.id = m.user_id");
    }
}

pub(crate) async fn list(
    store: &SqliteStore,
    org: Uuid,
    f: &MembershipFilter,
    window: Window<MembershipCursor>,
) -> StoreResult<Vec<Membership>> {
    // The page is read from the covering (org_id, email_norm, id, role, user_id) index alone,
    // then only its rows are joined with users: a deep page skips index entries, not rows.
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT page.id, page.org_id, page.role, {USER_COLUMNS}, {} FROM \
         (SELECT m.id, m.org_id, m.role, m.user_id, m.email_norm",
        GROUPS.replace("{org}", "page.org_id")
    ));
    from_filtered(&mut qb, f);
    push_filter(&mut qb, org, f);
    push_window(&mut qb, window, "m.email_norm, m.id", |qb, c| {
        qb.push(" AND (m.email_norm, m.id) > (")
            .push_bind(c.email_norm)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    });
    qb.push(") page JOIN users u ON u.id = page.user_id ORDER BY page.email_norm, page.id");
    let rows: Vec<MembershipRow> = qb
        .build_query_as()
        .fetch_all(&store.reader)
        .await
        .map_err(other)?;
    rows.into_iter()
        .map(MembershipRow::into_membership)
        .collect()
}

pub(crate) async fn count(
    store: &SqliteStore,
    org: Uuid,
    f: &MembershipFilter,
) -> StoreResult<u64> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*)");
    from_filtered(&mut qb, f);
    push_filter(&mut qb, org, f);
    let n: i64 = qb
        .build_query_scalar()
        .fetch_one(&store.reader)
        .await
        .map_err(other)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn page_ends(
    store: &SqliteStore,
    org: Uuid,
    f: &MembershipFilter,
    page_size: u32,
) -> StoreResult<(u64, Vec<MembershipCursor>)> {
    // The list's order numbered in one pass; kept: the end of each full page, and the last
    // row (which carries the length).
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT email_norm, id, rn, total FROM (SELECT m.email_norm, m.id, \
         row_number() OVER (ORDER BY m.email_norm, m.id) AS rn, count(*) OVER () AS total",
    );
    from_filtered(&mut qb, f);
    push_filter(&mut qb, org, f);
    qb.push(") numbered WHERE rn % ")
        .push_bind(i64::from(page_size.max(1)))
        .push(" = 0 OR rn = total ORDER BY rn");
    let rows: Vec<(String, i64, i64, i64)> = qb
        .build_query_as()
        .fetch_all(&store.reader)
        .await
        .map_err(other)?;
    let total = rows.last().map_or(0, |r| r.3);
    let ends = rows
        .into_iter()
        .filter(|r| r.2 % i64::from(page_size.max(1)) == 0)
        .map(|(email_norm, id, _, _)| MembershipCursor { email_norm, id })
        .collect();
    Ok((u64::try_from(total).unwrap_or(0), ends))
}

pub(crate) async fn get(store: &SqliteStore, id: i64) -> StoreResult<Membership> {
    let row: Option<MembershipRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE m.id = $1",
        select_from()
    )))
    .bind(id)
    .fetch_optional(&store.reader)
    .await
    .map_err(other)?;
    row.ok_or(StoreError::NotFound)?.into_membership()
}

impl MembershipRow {
    fn into_membership(self) -> StoreResult<Membership> {
        let pairs: Vec<(String, String)> = serde_json::from_str(&self.groups)
            .map_err(|e| StoreError::Other(format!("group list: {e}")))?;
        let mut groups = pairs
            .into_iter()
            .map(|(id, name)| {
                let id = Uuid::try_parse(&id)
                    .map_err(|e| StoreError::Other(format!("group id: {e}")))?;
                Ok(GroupRef { id, name })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        groups.sort_unstable_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(Membership {
            id: self.id,
            organization: self.org_id,
            role: role(self.role)?,
            groups,
            last_active_at: self.user.last_active_at.map(Timestamp::from_micros),
            last_login_at: self.user.last_login_at.map(Timestamp::from_micros),
            user: self.user.into_user(),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct Target {
    org_id: Uuid,
    user_id: Uuid,
    role: i64,
    fixed_role: bool,
    other_admins: i64,
}

/// Reads what the role rules need about a membership, inside the write transaction.
pub(crate) async fn target(conn: &mut SqliteConnection, id: i64) -> StoreResult<Target> {
    let t: Option<Target> = sqlx::query_as(
        "SELECT m.org_id, m.user_id, m.role, \
             (u.service_account OR u.deployment_key_account) AS fixed_role, \
             (SELECT count(*) FROM memberships o \
              WHERE o.org_id = m.org_id AND o.role = 2 AND o.id != m.id) AS other_admins \
         FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(other)?;
    t.ok_or(StoreError::NotFound)
}

/// Takes the person out of the team and its groups (whose versions change).
pub(crate) async fn leave(conn: &mut SqliteConnection, org: Uuid, user: Uuid) -> StoreResult<()> {
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
    Ok(())
}

fn is_last_admin(t: &Target) -> bool {
    t.role == Role::Admin.as_i64() && t.other_admins == 0
}

impl Target {
    pub(crate) fn is_last_admin(&self) -> bool {
        is_last_admin(self)
    }
}

pub(crate) async fn set_role(store: &SqliteStore, id: i64, new: Role) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let t = target(&mut tx, id).await?;
    if t.role == new.as_i64() {
        return Ok(());
    }
    if t.fixed_role {
        return Err(StoreError::fixed_role());
    }
    if is_last_admin(&t) {
        return Err(StoreError::last_admin_demoted());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE memberships SET role = $1, version = version + 1, updated_at = {NOW} WHERE id = $2"
    )))
    .bind(new.as_i64())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(other)?;
    tx.commit().await.map_err(other)
}

pub(crate) async fn remove(store: &SqliteStore, id: i64) -> StoreResult<()> {
    let mut tx = store.write().await?;
    let t = target(&mut tx, id).await?;
    if t.fixed_role {
        return Err(StoreError::account_membership());
    }
    if is_last_admin(&t) {
        return Err(StoreError::last_admin_removed());
    }
    leave(&mut tx, t.org_id, t.user_id).await?;
    tx.commit().await.map_err(other)
}
