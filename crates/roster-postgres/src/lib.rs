//! Roster's PostgreSQL backend: many stateless `roster serve` nodes on one database.
//!
//! The same use cases as the SQLite backend, one file per resource, with native types (uuid,
//! timestamptz, bytea) and bulk writes through `UNNEST` of bound arrays.
//!
//! Concurrency across nodes: transactions run at READ COMMITTED and take row locks in one
//! order, the team's row first, so that the rules that read before they write hold:
//! - a change to a team's memberships (join, role change, removal, import) locks the team row
//!   `FOR NO KEY UPDATE`: last-admin checks and the email rule see a settled team;
//! - a change to a group's or campaign's members locks the team row `FOR SHARE` (many may run
//!   at once, but not beside a membership change) and then its own row `FOR UPDATE`, so
//!   replaces of one group apply one after another.
//!
//! A fixed order means no deadlock between these.

mod accounts;
mod campaign_members;
mod campaigns;
mod dialect;
#[path = "../../roster-sql/email_domains.rs"]
mod email_domains;
mod group_memberships;
#[path = "../../roster-sql/groups.rs"]
mod groups;
mod import;
mod invitations;
mod memberships;
#[path = "../../roster-sql/organizations.rs"]
mod organizations;
mod payload;
mod provisioning;
#[path = "../../roster-sql/rows.rs"]
mod rows;
mod users;
mod watch;

pub(crate) use dialect::{at, ts};

use async_trait::async_trait;
use roster_core::changes::Changes;
use roster_core::keys::{KeyHash, KeyScope};
use roster_core::provisioning::{
    GroupKey, GroupWrite, ProvisionedGroup, ProvisionedUser, UserKey, UserWrite,
};
use roster_core::store::{
    Accepted, AccountKind, EmailCursor, ImportRow, ImportSummary, MemberRef, MembersChange,
    MembershipCursor, MembershipFilter, NameCursor, NewCampaignMember, NewInvitation,
    NewOrganization, NewUser, OrganizationPatch, StoreOptions, Visibility, Window,
};
use roster_core::{
    Account, Campaign, CampaignMember, EmailDomain, Group, GroupMembership, Invitation, Membership,
    MembershipSummary, Organization, Principal, Role, Store, StoreError, StoreResult, Timestamp,
    User,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct PostgresStore {
    pool: PgPool,
    changes: Arc<Changes>,
    group_names: roster_core::group_names::GroupNames,
}

/// A pooled connection idle this long is checked with a round trip before it is used.
const IDLE_CHECK: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects to `url` (`postgres://...`) and brings the schema up to date (sqlx takes an
    /// advisory lock, so nodes starting together migrate once).
    pub async fn connect(url: &str, options: &StoreOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(options.acquire_timeout)
            // A connection in use moments ago is alive: sqlx's check before every acquire
            // was a round trip to the database for each statement. One idle for a while
            // (a restart or a firewall may have dropped it since) is still checked.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_CHECK {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect.clone())
            .await
            .map_err(other)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let changes = Arc::new(Changes::new(options.watch_bound));
        let bounds = watch::Bounds {
            watch: options.watch_bound,
            connect: options.acquire_timeout,
        };
        watch::spawn(connect, &changes, bounds);
        Ok(Self {
            pool,
            changes,
            group_names: Default::default(),
        })
    }

    async fn write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(other)
    }
}

/// Keeps the kind of a failure that is not the caller's: the database away, busy or full
/// (the client should try again; docs/ARCHITECTURE.md, "Faults") or a bug.
pub(crate) fn other(e: sqlx::Error) -> StoreError {
    let state = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    match (&e, state.as_deref()) {
        (
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed,
            _,
        ) => StoreError::Unavailable(e.to_string()),
        (_, Some("53100")) => StoreError::Full(e.to_string()),
        // Class 08: connection exceptions; 53: out of resources (connections, memory); 57:
        // the server shutting down, starting, or cancelling the statement; 58: the server's
        // own I/O; 40001, 40P01: serialization failure and deadlock (the transaction was
        // rolled back); 55P03: a lock not available.
        (_, Some(code))
            if code
                .get(..2)
                .is_some_and(|class| ["08", "53", "57", "58"].contains(&class))
                || matches!(code, "40001" | "40P01" | "55P03") =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Maps a unique-constraint violation to a conflict on `field`, anything else to `Other`.
pub(crate) fn conflict_on(field: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { field },
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => other(e),
    }
}

/// Payloads from this size on refresh the table's statistics after their change: the planner
/// must not go on believing that a group or campaign it has never analyzed is empty (it then
/// scans the whole group for each row it looks up), and autovacuum may take minutes. In the
/// background: the change is committed and its own statements are planned already, and the
/// request need not wait (a fifth of a second at 100,000 rows) for what only later requests'
/// plans need.
pub(crate) const ANALYZE_AFTER: usize = 10_000;

pub(crate) fn analyze_if_large(store: &PostgresStore, table: &'static str, items: usize) {
    if items >= ANALYZE_AFTER {
        let pool = store.pool.clone();
        tokio::spawn(async move {
            let sql = sqlx::AssertSqlSafe(format!("ANALYZE {table}"));
            if let Err(e) = sqlx::query(sql).execute(&pool).await {
                tracing::warn!(error = %e, table, "could not refresh statistics");
            }
        });
    }
}

/// How a transaction holds its team's row (see the crate documentation).
#[derive(Clone, Copy)]
pub(crate) enum TeamLock {
    /// Changes to the team's memberships.
    Members,
    /// Changes to one of its groups or campaigns.
    Share,
}

/// Locks the team's row; `NotFound` if there is no such team.
pub(crate) async fn lock_team(
    conn: &mut PgConnection,
    org: Uuid,
    lock: TeamLock,
) -> StoreResult<()> {
    let sql = match lock {
        TeamLock::Members => "SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE",
        TeamLock::Share => "SELECT id FROM organizations WHERE id = $1 FOR SHARE",
    };
    let found: Option<Uuid> = sqlx::query_scalar(sql)
        .bind(org)
        .fetch_optional(&mut *conn)
        .await
        .map_err(other)?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

#[async_trait]
impl Store for PostgresStore {
    fn changes(&self) -> Arc<Changes> {
        self.changes.clone()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(other)
    }

    async fn authenticate(&self, key: &KeyHash, now: Timestamp) -> StoreResult<Option<Principal>> {
        users::authenticate(self, key, now).await
    }

    async fn ensure_user(&self, user: NewUser, now: Timestamp) -> StoreResult<User> {
        let _writing = self.changes.writing();
        users::ensure(&mut *self.pool.acquire().await.map_err(other)?, &user, now).await
    }

    async fn set_operator(&self, user: Uuid, operator: bool) -> StoreResult<()> {
        let _writing = self.changes.writing();
        users::set_operator(self, user, operator).await
    }

    async fn add_key(&self, user: Uuid, key: &KeyHash, now: Timestamp) -> StoreResult<()> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        users::add_key(&mut tx, user, key, KeyScope::PROVEN, now).await?;
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
        let confined = users::drop_keys(&mut tx, user, old).await?;
        users::add_key(&mut tx, user, new, KeyScope::rotated(confined), now).await?;
        tx.commit().await.map_err(other)
    }

    async fn bootstrap_operator(
        &self,
        email: &str,
        key: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let _writing = self.changes.writing();
        users::bootstrap_operator(self, email, key, now).await
    }

    async fn has_operator(&self) -> StoreResult<bool> {
        users::has_operator(self).await
    }

    async fn memberships_of(&self, user: Uuid) -> StoreResult<Vec<MembershipSummary>> {
        users::memberships_of(self, user).await
    }

    async fn list_organizations(
        &self,
        who: Visibility,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Organization>> {
        organizations::list(self, who, window).await
    }

    async fn count_organizations(&self, who: Visibility) -> StoreResult<u64> {
        organizations::count(self, who).await
    }

    async fn get_organization(&self, id: Uuid) -> StoreResult<Organization> {
        organizations::get(&self.pool, id).await
    }

    async fn create_organization(
        &self,
        org: NewOrganization,
        admin: Uuid,
        now: Timestamp,
    ) -> StoreResult<Organization> {
        let _writing = self.changes.writing();
        organizations::create(self, org, admin, now).await
    }

    async fn update_organization(
        &self,
        id: Uuid,
        patch: OrganizationPatch,
    ) -> StoreResult<Organization> {
        let _writing = self.changes.writing();
        organizations::update(self, id, patch).await
    }

    async fn delete_organization(&self, id: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        organizations::delete(self, id).await
    }

    async fn team_version(&self, org: Uuid) -> StoreResult<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM team_versions WHERE org_id = $1")
                .bind(org)
                .fetch_optional(&self.pool)
                .await
                .map_err(other)?;
        version.ok_or(StoreError::NotFound)
    }

    async fn role_in(&self, org: Uuid, user: Uuid) -> StoreResult<Option<Role>> {
        memberships::role_in(self, org, user).await
    }

    async fn add_member(
        &self,
        org: Uuid,
        user: Uuid,
        role: Option<Role>,
        now: Timestamp,
    ) -> StoreResult<Membership> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        lock_team(&mut tx, org, TeamLock::Members).await?;
        if let Some(role) = role
            && let Some(present) = memberships::target_of(&mut tx, org, user).await?
        {
            present.standing()?.check_role_change(role)?;
        }
        // The person first (see `users::revoke_unproven`), then the membership.
        let email: Option<String> =
            sqlx::query_scalar("SELECT email_norm FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(other)?;
        let email = email.ok_or(StoreError::NotFound)?;
        users::revoke_unproven(&mut tx, org, users::Taken::Emails(&[email])).await?;
        let id = memberships::add(&mut tx, org, user, role, now).await?;
        tx.commit().await.map_err(other)?;
        self.get_membership(id).await
    }

    async fn list_memberships(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        window: Window<MembershipCursor>,
    ) -> StoreResult<Vec<Membership>> {
        memberships::list(self, org, filter, window).await
    }

    async fn count_memberships(&self, org: Uuid, filter: &MembershipFilter) -> StoreResult<u64> {
        memberships::count(self, org, filter).await
    }

    async fn membership_page_ends(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        page_size: u32,
    ) -> StoreResult<(u64, Vec<MembershipCursor>)> {
        memberships::page_ends(self, org, filter, page_size).await
    }

    async fn get_membership(&self, id: i64) -> StoreResult<Membership> {
        memberships::get(self, id).await
    }

    async fn set_role(&self, id: i64, role: Role) -> StoreResult<Membership> {
        let _writing = self.changes.writing();
        memberships::set_role(self, id, role).await?;
        self.get_membership(id).await
    }

    async fn remove_membership(&self, id: i64) -> StoreResult<()> {
        let _writing = self.changes.writing();
        memberships::remove(self, id).await
    }

    async fn list_groups(&self, org: Uuid, window: Window<NameCursor>) -> StoreResult<Vec<Group>> {
        groups::list(self, org, window).await
    }

    async fn count_groups(&self, org: Uuid) -> StoreResult<u64> {
        groups::count(self, org).await
    }

    async fn create_group(&self, org: Uuid, name: &str, now: Timestamp) -> StoreResult<Group> {
        let _writing = self.changes.writing();
        groups::create(self, org, name, now).await
    }

    async fn get_group(&self, id: Uuid) -> StoreResult<Group> {
        groups::get(&self.pool, id).await
    }

    async fn rename_group(&self, id: Uuid, name: &str) -> StoreResult<Group> {
        let _writing = self.changes.writing();
        groups::rename(self, id, name).await
    }

    async fn delete_group(&self, id: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        groups::delete(self, id).await
    }

    async fn list_group_memberships(
        &self,
        group: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<GroupMembership>> {
        group_memberships::list(self, group, window).await
    }

    async fn count_group_memberships(&self, group: Uuid) -> StoreResult<u64> {
        group_memberships::count(self, group).await
    }

    async fn change_group_members(
        &self,
        group: Uuid,
        items: &[MemberRef],
        change: MembersChange,
        require_campaign: bool,
        now: Timestamp,
    ) -> StoreResult<Vec<GroupMembership>> {
        let _writing = self.changes.writing();
        group_memberships::change(self, group, items, change, require_campaign, now).await
    }

    async fn remove_group_membership(&self, group: Uuid, membership: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        group_memberships::remove(self, group, membership).await
    }

    async fn list_email_domains(&self, org: Uuid) -> StoreResult<Vec<EmailDomain>> {
        email_domains::list(self, org).await
    }

    async fn add_email_domain(
        &self,
        org: Uuid,
        domain: &str,
        now: Timestamp,
    ) -> StoreResult<EmailDomain> {
        let _writing = self.changes.writing();
        email_domains::add(self, org, domain, now).await
    }

    async fn delete_email_domain(&self, org: Uuid, id: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        email_domains::delete(self, org, id).await
    }

    async fn list_campaigns(
        &self,
        org: Uuid,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Campaign>> {
        campaigns::list(self, org, window).await
    }

    async fn count_campaigns(&self, org: Uuid) -> StoreResult<u64> {
        campaigns::count(self, org).await
    }

    async fn create_campaign(
        &self,
        org: Uuid,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<Campaign> {
        let _writing = self.changes.writing();
        campaigns::create(self, org, name, now).await
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Campaign> {
        campaigns::get(&self.pool, id).await
    }

    async fn update_campaign(
        &self,
        id: Uuid,
        name: Option<&str>,
        members: Option<&[NewCampaignMember<'_>]>,
        now: Timestamp,
    ) -> StoreResult<Campaign> {
        let _writing = self.changes.writing();
        campaigns::update(self, id, name, members, now).await
    }

    async fn delete_campaign(&self, id: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        campaigns::delete(self, id).await
    }

    async fn list_campaign_members(
        &self,
        campaign: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<CampaignMember>> {
        campaign_members::list(self, campaign, window).await
    }

    async fn count_campaign_members(&self, campaign: Uuid) -> StoreResult<u64> {
        campaign_members::count(self, campaign).await
    }

    async fn change_campaign_members(
        &self,
        campaign: Uuid,
        members: &[NewCampaignMember<'_>],
        change: MembersChange,
        now: Timestamp,
    ) -> StoreResult<Vec<CampaignMember>> {
        let _writing = self.changes.writing();
        campaign_members::change(self, campaign, members, change, now).await
    }

    async fn create_account(
        &self,
        org: Uuid,
        kind: AccountKind,
        name: &str,
        role: Role,
        key: &KeyHash,
        token: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<Account> {
        let _writing = self.changes.writing();
        accounts::create(self, org, kind, name, role, key, token, now).await
    }

    async fn list_accounts(&self, org: Uuid, kind: AccountKind) -> StoreResult<Vec<Account>> {
        accounts::list(self, org, kind).await
    }

    async fn get_account(&self, org: Uuid, kind: AccountKind, id: Uuid) -> StoreResult<Account> {
        accounts::get(self, org, kind, id).await
    }

    async fn delete_account(&self, org: Uuid, kind: AccountKind, id: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        accounts::delete(self, org, kind, id).await
    }

    async fn create_invitation(
        &self,
        org: Uuid,
        invitation: NewInvitation,
        now: Timestamp,
    ) -> StoreResult<Invitation> {
        let _writing = self.changes.writing();
        invitations::create(self, org, invitation, now).await
    }

    async fn list_invitations(&self, org: Uuid) -> StoreResult<Vec<Invitation>> {
        invitations::list(self, org).await
    }

    async fn revoke_invitation(&self, org: Uuid, id: Uuid, by: Role) -> StoreResult<()> {
        let _writing = self.changes.writing();
        invitations::revoke(self, org, id, by).await
    }

    async fn pending_invitations(
        &self,
        email: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Invitation>> {
        invitations::pending(self, email, now).await
    }

    async fn accept_invitation_as(
        &self,
        id: Uuid,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<Accepted> {
        let _writing = self.changes.writing();
        invitations::accept_as(self, id, user, now).await
    }

    async fn reject_invitation(&self, id: Uuid, user: Uuid) -> StoreResult<()> {
        let _writing = self.changes.writing();
        invitations::reject(self, id, user).await
    }

    async fn accept_invitation(
        &self,
        token: &KeyHash,
        name: Option<&str>,
        key: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<Accepted> {
        let _writing = self.changes.writing();
        invitations::accept(self, token, name, key, now).await
    }

    async fn import_members(
        &self,
        org: Uuid,
        rows: &[ImportRow],
        dry_run: bool,
        now: Timestamp,
    ) -> StoreResult<ImportSummary> {
        let _writing = self.changes.writing();
        import::import(self, org, rows, dry_run, now).await
    }

    async fn provisioned_users(
        &self,
        org: Uuid,
        key: Option<&UserKey>,
        after: Option<i64>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedUser>> {
        provisioning::users(self, org, key, after, offset, limit).await
    }

    async fn count_provisioned_users(&self, org: Uuid, key: Option<&UserKey>) -> StoreResult<u64> {
        provisioning::count_users(self, org, key).await
    }

    async fn provision_users(
        &self,
        org: Uuid,
        users: &[UserWrite],
        now: Timestamp,
    ) -> StoreResult<Vec<StoreResult<ProvisionedUser>>> {
        let adding = self.changes.adding();
        provisioning::create_users(self, org, users, now, &adding).await
    }

    async fn update_provisioned_user(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        user: &UserWrite,
        now: Timestamp,
    ) -> StoreResult<ProvisionedUser> {
        let _writing = self.changes.writing();
        provisioning::update_user(self, org, id, expect, user, now).await
    }

    async fn deprovision_user(&self, org: Uuid, id: Uuid, expect: Option<i64>) -> StoreResult<()> {
        let _writing = self.changes.writing();
        provisioning::delete_user(self, org, id, expect).await
    }

    async fn provisioned_groups(
        &self,
        org: Uuid,
        key: Option<&GroupKey>,
        after: Option<Uuid>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedGroup>> {
        provisioning::groups(self, org, key, after, offset, limit).await
    }

    async fn count_provisioned_groups(
        &self,
        org: Uuid,
        key: Option<&GroupKey>,
    ) -> StoreResult<u64> {
        provisioning::count_groups(self, org, key).await
    }

    async fn provisioned_group_members(&self, groups: &[Uuid]) -> StoreResult<Vec<(Uuid, Uuid)>> {
        provisioning::group_members(self, groups).await
    }

    async fn provision_group(
        &self,
        org: Uuid,
        write: &GroupWrite,
        now: Timestamp,
    ) -> StoreResult<ProvisionedGroup> {
        let _writing = self.changes.writing();
        provisioning::create_group(self, org, write, now).await
    }

    async fn update_provisioned_group(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        write: &GroupWrite,
        now: Timestamp,
    ) -> StoreResult<ProvisionedGroup> {
        let _writing = self.changes.writing();
        provisioning::update_group(self, org, id, expect, write, now).await
    }

    async fn deprovision_group(&self, org: Uuid, id: Uuid, expect: Option<i64>) -> StoreResult<()> {
        let _writing = self.changes.writing();
        provisioning::delete_group(self, org, id, expect).await
    }
}

/// Helpers for tests that need an empty database of their own.
pub mod testing {
    use roster_core::{StoreError, StoreResult};
    use sqlx::Connection;
    use uuid::Uuid;

    /// Creates a new, empty database on the server of `url` and returns its URL.
    pub async fn fresh_database(url: &str) -> StoreResult<String> {
        let name = format!("roster_t_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(url)
            .await
            .map_err(crate::other)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(|e| StoreError::Other(format!("cannot create a test database: {e}")))?;
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Ok(match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        })
    }
}
