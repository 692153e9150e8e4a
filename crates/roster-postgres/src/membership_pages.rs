//! A page of a team's memberships, with its filters: the read that every sync makes, tuned to
//! this database (its covering index, how a person's groups come with the row), so it is
//! this backend's own. Joining, role changes and removal are written once, in
//! `memberships.rs`.

use crate::rows::{USER_COLUMNS, UserRow, push_window, role};
use crate::{PostgresStore, at, other};
use async_trait::async_trait;
use roster_core::group_names::{TeamNames, Versioned};
use roster_core::store::MembershipPages;
use roster_core::store::{MembershipCursor, MembershipFilter, Window};
use roster_core::{Membership, StoreError, StoreResult};
use sqlx::{FromRow, Postgres, QueryBuilder};
use uuid::Uuid;

#[derive(FromRow)]
struct MembershipRow {
    id: i64,
    org_id: Uuid,
    role: i64,
    #[sqlx(flatten)]
    user: UserRow,
    /// The ids of the person's groups, in any team (`GROUP_IDS`).
    groups: Vec<Uuid>,
    /// The team's group-names version in the same snapshot (`roster_core::group_names`).
    names_version: i64,
}

/// The ids of person `u`'s groups, read with the row: the names come from
/// `roster_core::group_names`, so a page is one statement, not a second one for groups.
const GROUP_IDS: &str =
    "ARRAY(SELECT gm.group_id FROM group_memberships gm WHERE gm.user_id = u.id) AS groups";

/// The group-names version of the team that comes between the two halves.
const NAMES_VERSION: (&str, &str) = (
    "coalesce((SELECT group_names_version FROM team_versions WHERE org_id = ",
    "), 0) AS names_version",
);

fn push_filter(qb: &mut QueryBuilder<Postgres>, org: Uuid, f: &MembershipFilter) {
    qb.push(" WHERE m.org_id = ").push_bind(org);
    if f.exclude_service_accounts {
        qb.push(" AND NOT u.service_account");
    }
    if f.exclude_deployment_keys {
        qb.push(" AND NOT u.deployment_key_account");
    }
    if let Some(roles) = &f.roles {
        qb.push(" AND m.role = ANY(")
            .push_bind(roles.iter().map(|r| r.as_i64()).collect::<Vec<_>>())
            .push(")");
    }
    if let Some(user) = f.user_id {
        qb.push(" AND m.user_id = ").push_bind(user);
    }
    if let Some(groups) = &f.groups {
        qb.push(" AND EXISTS (SELECT 1 FROM group_memberships gm WHERE gm.user_id = m.user_id AND gm.group_id = ANY(")
            .push_bind(groups.clone())
            .push("))");
    }
    if let Some(q) = &f.q {
        qb.push(" AND (strpos(u.name_lower, ")
            .push_bind(q.clone())
            .push(") > 0 OR strpos(m.email_norm, ")
            .push_bind(q.clone())
            .push(") > 0)");
    }
}

fn needs_users(f: &MembershipFilter) -> bool {
    f.exclude_service_accounts || f.exclude_deployment_keys || f.q.is_some()
}

fn from_filtered(qb: &mut QueryBuilder<Postgres>, f: &MembershipFilter) {
    qb.push(" FROM memberships m");
    if needs_users(f) {
        qb.push(" JOIN users u ON u.id = m.user_id");
    }
}

/// Reads the rows of `query` (all of one team) and names their groups: from `group_names`
/// when it holds the rows' version, else from a second read of rows and names in one
/// snapshot. `org`, when known, skips the first read if nothing is kept for the team.
async fn named(
    store: &PostgresStore,
    org: Option<Uuid>,
    query: impl Fn() -> QueryBuilder<Postgres>,
) -> StoreResult<Vec<Membership>> {
    if org.is_none_or(|org| store.group_names.holds(org)) {
        let rows: Vec<MembershipRow> = query()
            .build_query_as()
            .fetch_all(&store.pool)
            .await
            .map_err(other)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(names) = store.group_names.fitting(&rows) {
            return with_names(rows, &names);
        }
    }
    // Nothing kept for the team, or a group changed since: rows and names in one snapshot.
    let mut tx = store.pool.begin().await.map_err(other)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(other)?;
    let rows: Vec<MembershipRow> = query()
        .build_query_as()
        .fetch_all(&mut *tx)
        .await
        .map_err(other)?;
    let Some(org) = rows.first().map(|r| r.org_id) else {
        return Ok(Vec::new());
    };
    let names = crate::group_names::load(&mut tx, org).await?;
    tx.commit().await.map_err(other)?;
    if !names.fits(&rows) {
        return Err(StoreError::Other(
            "a membership read saw two teams or two versions in one snapshot".into(),
        ));
    }
    store.group_names.keep(names.clone());
    with_names(rows, &names)
}

impl Versioned for MembershipRow {
    fn team(&self) -> Uuid {
        self.org_id
    }

    fn names_version(&self) -> i64 {
        self.names_version
    }
}

fn with_names(rows: Vec<MembershipRow>, names: &TeamNames) -> StoreResult<Vec<Membership>> {
    rows.into_iter()
        .map(|r| {
            Ok(Membership {
                id: r.id,
                organization: r.org_id,
                role: role(r.role)?,
                groups: names.groups(r.groups),
                last_active_at: r.user.last_active_at.map(at),
                last_login_at: r.user.last_login_at.map(at),
                user: r.user.into_user(),
            })
        })
        .collect()
}

#[async_trait]
impl MembershipPages for PostgresStore {
    async fn list_memberships(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        window: Window<MembershipCursor>,
    ) -> StoreResult<Vec<Membership>> {
        // The page is read from the (org_id, email_norm, id) INCLUDE (role, user_id) index alone,
        // then only its rows are joined with users.
        let query = || {
            let mut qb = QueryBuilder::<Postgres>::new(format!(
                "SELECT page.id, page.org_id, page.role, {USER_COLUMNS}, {GROUP_IDS}, "
            ));
            qb.push(NAMES_VERSION.0)
                .push_bind(org)
                .push(NAMES_VERSION.1);
            qb.push(" FROM (SELECT m.id, m.org_id, m.role, m.user_id, m.email_norm");
            from_filtered(&mut qb, filter);
            push_filter(&mut qb, org, filter);
            push_window(&mut qb, window.clone(), "m.email_norm, m.id", |qb, c| {
                qb.push(" AND (m.email_norm, m.id) > (")
                    .push_bind(c.email_norm)
                    .push(", ")
                    .push_bind(c.id)
                    .push(")");
            });
            qb.push(") page JOIN users u ON u.id = page.user_id ORDER BY page.email_norm, page.id");
            qb
        };
        named(self, Some(org), query).await
    }

    async fn count_memberships(&self, org: Uuid, filter: &MembershipFilter) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*)");
        from_filtered(&mut qb, filter);
        push_filter(&mut qb, org, filter);
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(other)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn membership_page_ends(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        page_size: u32,
    ) -> StoreResult<(u64, Vec<MembershipCursor>)> {
        // The list's order numbered in one pass; kept: the end of each full page, and the last
        // row (which carries the length).
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT email_norm, id, rn, total FROM (SELECT m.email_norm, m.id, \
             row_number() OVER (ORDER BY m.email_norm, m.id) AS rn, count(*) OVER () AS total",
        );
        from_filtered(&mut qb, filter);
        push_filter(&mut qb, org, filter);
        qb.push(") numbered WHERE rn % ")
            .push_bind(i64::from(page_size.max(1)))
            .push(" = 0 OR rn = total ORDER BY rn");
        let rows: Vec<(String, i64, i64, i64)> = qb
            .build_query_as()
            .fetch_all(&self.pool)
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

    async fn get_membership(&self, id: i64) -> StoreResult<Membership> {
        let query = || {
            let mut qb = QueryBuilder::<Postgres>::new(format!(
                "SELECT m.id, m.org_id, m.role, {USER_COLUMNS}, {GROUP_IDS}, {}m.org_id{} \
                 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.id = ",
                NAMES_VERSION.0, NAMES_VERSION.1
            ));
            qb.push_bind(id);
            qb
        };
        named(self, None, query)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }
}
