//! The storage trait: one method per complete use case, each its own transaction, so that
//! handlers never hold a transaction and every rule that needs the database lives behind it.

use crate::audit::{AuditCursor, AuditEvent, AuditFilter, AuditScope, Origin};
use crate::changes::Changes;
use crate::keys::KeyHash;
use crate::provisioning::{
    GroupKey, GroupWrite, ProvisionedGroup, ProvisionedUser, UserKey, UserWrite,
};
use crate::webhooks::{
    Claimed, Delivery, NewDelivery, NewWebhook, Progress, Webhook, WebhookChange,
};
use crate::{
    Account, Campaign, CampaignMember, EmailDomain, Group, GroupMembership, GroupRef, Invitation,
    MemberGroup, MembersPreview, Membership, MembershipSummary, Organization, OrganizationRef,
    Principal, Role, Timestamp, User,
};
use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; `field` names the input that collided.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// A business rule refused the change; the message is meant for the API client.
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// The caller may not make this change (an authorization rule that needs the data: a
    /// manager replacing an admin's invitation, a team rewriting someone it does not own).
    #[error("{0}")]
    Forbidden(String),
    /// Items of a list payload that break a rule, by their position in the payload; nothing
    /// was changed.
    #[error("{} items were rejected", .0.len())]
    Rejected(Vec<Rejection>),
    /// The database cannot serve now: unreachable, restarting, out of connections (none free
    /// within the acquire timeout), locked past the busy timeout, or a deadlock. The request
    /// may be tried again; a change whose connection was lost at its commit may or may not
    /// have been made.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database's disk is full: the change was rolled back.
    #[error("storage full: {0}")]
    Full(String),
    #[error("storage failure: {0}")]
    Other(String),
}

/// How a store meets faults (docs/ARCHITECTURE.md, "Faults"): the bounds an operator may set.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The longest a request waits for a database connection before it is answered 503.
    pub acquire_timeout: std::time::Duration,
    /// The longest a node answers from memory without proof that it has seen every change
    /// made elsewhere ([`crate::changes`]).
    pub watch_bound: std::time::Duration,
    /// SQLite: the write-ahead log size, in bytes, past which it is checkpointed and
    /// truncated while the server runs.
    pub wal_limit: u64,
    /// Create the database (SQLite: its file, when missing) and bring its schema up to date.
    /// Only `serve` and `init` do: every other command works on a database as it finds it, so
    /// a newer `roster` run beside an older server neither leaves an empty file where nothing
    /// serves nor migrates the live schema under it (it checks `Store::ready` instead).
    pub initialize: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: std::time::Duration::from_secs(5),
            watch_bound: std::time::Duration::from_secs(3),
            wal_limit: 128 << 20,
            initialize: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub position: usize,
    pub field: &'static str,
    pub message: String,
}

pub const NOT_A_PERSON: &str = "This address is a service account's or a deployment key's: \
     an account belongs to the team that made it and is never added to a team as a person.";

pub const NOT_INVITABLE: &str = "Invitations are for people: this address belongs to a \
                                 service account, a deployment key or an operator.";

/// The refusals of the business rules that backends enforce inside their transactions, worded
/// once.
impl StoreError {
    pub fn fixed_role() -> Self {
        StoreError::Invalid {
            field: Some("role"),
            message: "The role of a service account or deployment key cannot be changed.".into(),
        }
    }

    pub fn last_admin_demoted() -> Self {
        StoreError::Invalid {
            field: Some("role"),
            message: "This is the organization's last admin: make someone else an admin first."
                .into(),
        }
    }

    pub fn last_admin_removed() -> Self {
        StoreError::Invalid {
            field: None,
            message: "The last admin of an organization cannot be removed: make someone else an \
                      admin first."
                .into(),
        }
    }

    pub fn account_membership() -> Self {
        StoreError::Invalid {
            field: None,
            message: "Service accounts and deployment keys are removed through their own \
                      endpoints, which also revoke their keys."
                .into(),
        }
    }

    pub fn last_admin_suspended() -> Self {
        StoreError::Invalid {
            field: Some("active"),
            message: "This is the organization's last admin: make someone else an admin before \
                      suspending them."
                .into(),
        }
    }

    /// An address the caller may not give to or take from anyone: taken by someone the team
    /// does not own, or on a domain another team owns. Worded alike for every cause, so that
    /// it says nothing of who holds the address.
    pub fn email_unavailable() -> Self {
        StoreError::Conflict { field: "emails" }
    }

    /// A team changing the email or name of a person that other teams share, without owning
    /// their email's domain.
    pub fn person_not_owned() -> Self {
        StoreError::Forbidden(
            "This person's email and name are not this organization's to change: they are a \
             server operator, or they belong to other organizations too and only one that owns \
             their email's verified domain may change them."
                .into(),
        )
    }

    /// An invitation addressed to someone who cannot be invited (an account, an operator, or
    /// one of Roster's own addresses).
    pub fn not_invitable() -> Self {
        StoreError::Invalid {
            field: Some("email"),
            message: NOT_INVITABLE.into(),
        }
    }

    /// An account's address named as a person to add to a team: accounts are made with their
    /// team, through their own endpoints.
    pub fn not_a_person() -> Self {
        StoreError::Invalid {
            field: Some("email"),
            message: NOT_A_PERSON.into(),
        }
    }

    /// A person joining a team whose address is already another member's SCIM `userName`
    /// there (the name under which the team's identity provider finds that member).
    pub fn user_name_taken() -> Self {
        StoreError::Invalid {
            field: Some("email"),
            message: "This email is another member's userName in this organization (set by its \
                      identity provider)."
                .into(),
        }
    }

    pub fn import_without_admin() -> Self {
        StoreError::Invalid {
            field: None,
            message: "The import would leave the organization without an admin.".into(),
        }
    }
}

impl Rejection {
    /// An item of the email rule's payload that breaks it: a user id of no team member, or an
    /// email of neither a member nor a verified domain.
    pub fn email_rule(position: usize, by_id: bool, email: Option<String>) -> Self {
        if by_id {
            Rejection {
                position,
                field: "user_id",
                message: "No member of this organization has this id.".into(),
            }
        } else {
            Rejection {
                position,
                field: "email",
                message: format!(
                    "{} is not a member of this organization, and its domain is not verified \
                     for it.",
                    email.unwrap_or_default()
                ),
            }
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Someone to create or find by email.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    /// Set when the user is created; an existing user keeps their kind.
    pub kind: AccountKind,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountKind {
    #[default]
    Person,
    /// An account for a program, acting with its own role.
    ServiceAccount,
    /// An account that may only read `/api/me/` (deployment keys).
    DeploymentKey,
}

impl AccountKind {
    /// How backends store the kind of an account (`accounts.kind`); a person is no account.
    pub fn code(self) -> StoreResult<i64> {
        match self {
            AccountKind::ServiceAccount => Ok(1),
            AccountKind::DeploymentKey => Ok(2),
            AccountKind::Person => Err(StoreError::Other("a person is not an account".into())),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewOrganization {
    pub name: String,
    pub scope: Option<String>,
    pub default_role: Option<Role>,
}

/// A partial update: `None` leaves a field as it is; `scope: Some(None)` clears the scope.
#[derive(Clone, Debug, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub scope: Option<Option<String>>,
    pub default_role: Option<Role>,
}

/// Which organizations a caller may see.
#[derive(Clone, Copy, Debug)]
pub enum Visibility {
    All,
    /// The teams the user is an active member of.
    MemberOf(Uuid),
    /// Of those, only this one (an unproven key acts in its own team alone).
    MemberOfOnly(Uuid, Uuid),
}

/// The memberships list filters of the contract (section 5), combined with AND.
#[derive(Clone, Debug, Default)]
pub struct MembershipFilter {
    pub exclude_service_accounts: bool,
    pub exclude_deployment_keys: bool,
    /// Any of these roles (`Some(vec![])` matches nobody); `None` means any role.
    pub roles: Option<Vec<Role>>,
    pub user_id: Option<Uuid>,
    /// Members of any of these groups; `None` means no group filter.
    pub groups: Option<Vec<Uuid>>,
    /// Lower-cased substring of the name or the email.
    pub q: Option<String>,
}

/// The position of a membership in the documented order (email, then id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipCursor {
    pub email_norm: String,
    pub id: i64,
}

impl Membership {
    pub fn cursor(&self) -> MembershipCursor {
        MembershipCursor {
            email_norm: crate::email::normalize(&self.user.email),
            id: self.id,
        }
    }
}

/// One item of a group-membership payload, already well-formed.
#[derive(Clone, Debug)]
pub enum MemberRef {
    /// Someone by email.
    Email(EmailRef),
    /// A team member by user id.
    UserId(Uuid),
}

/// A well-formed email of a payload: as given, lower-cased, and its domain's IDNA form. A
/// group replace can hold a million of these while it runs, so each is one allocation: the
/// lower-cased form is kept apart only when it differs, and the domain is shared with the
/// payload's other addresses of that domain (`Arc`): about 80 bytes an item, where three
/// `String`s took about 170.
#[derive(Clone, Debug)]
pub struct EmailRef {
    email: Box<str>,
    norm: Option<Box<str>>,
    domain: Arc<str>,
}

impl EmailRef {
    /// `email_norm` is `crate::email::normalize(email)`; `domain` its domain's IDNA form.
    pub fn new(email: &str, email_norm: String, domain: Arc<str>) -> Self {
        let norm = (email_norm != email).then(|| email_norm.into_boxed_str());
        EmailRef {
            email: email.into(),
            norm,
            domain,
        }
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    pub fn email_norm(&self) -> &str {
        self.norm.as_deref().unwrap_or(&self.email)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembersChange {
    /// Adds the people who are not in the group yet.
    Add,
    /// Makes the group hold exactly these people; those who stay keep their membership.
    Replace,
}

/// A campaign member to add or update: the email and the member's data as JSON object text,
/// stored as is. The data is borrowed from the request: 50,000 members' copies would be
/// megabytes more at the peak of a replace.
#[derive(Clone, Debug)]
pub struct NewCampaignMember<'a> {
    pub email: EmailRef,
    pub data: &'a str,
}

impl CampaignMember {
    pub fn cursor(&self) -> EmailCursor {
        EmailCursor(crate::email::normalize(&self.email))
    }
}

impl Campaign {
    pub fn cursor(&self) -> NameCursor {
        NameCursor {
            name: self.name.clone(),
            id: self.id,
        }
    }
}

/// A new invitation: who, with which role, by whom, and the digest of its one-time token.
#[derive(Clone, Debug)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    pub inviter: Uuid,
    /// The inviter's role in the team (admin for an operator): it must be allowed to grant
    /// `role`, and to replace a pending invitation of the same email.
    pub by: Role,
    pub token: KeyHash,
    /// Roster mailed the token to the address itself (the inviter never saw it), so whoever
    /// accepts it has shown they read that mailbox: the key it issues is proven.
    pub mailed: bool,
    pub expires_at: Timestamp,
}

/// What accepting an invitation did.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub user: User,
    pub organization: OrganizationRef,
    pub role: Role,
    /// The key issued with it (token acceptance only) is proven: it works in every team of the
    /// person, not only this one.
    pub proven: bool,
}

/// One row of a member import, validated.
#[derive(Clone, Debug)]
pub struct ImportRow {
    pub email: String,
    pub email_norm: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub groups: Vec<String>,
}

/// The rows of an import, handed to the store a chunk at a time: a file of a million rows is
/// read, checked and written in one transaction without ever being in memory whole. Each
/// email (normalized) comes once among all the rows, as the file's reader refuses a repeat,
/// and a row names each of its groups once (the reader drops a repeated name); a store may
/// rely on both (a repeat then fails the import, and nothing is written).
pub trait ImportRows: Send {
    /// Up to `max` more rows, or none when all have been read. An error (a bad line, named)
    /// stops the import, and nothing of it is kept.
    fn next_rows(&mut self, max: usize) -> Result<Vec<ImportRow>, String>;
}

/// How many rows a store asks an [`ImportRows`] for at a time: a million rows in memory at
/// once, each list sent as one text or array, took 1.9 GB on SQLite and 855 MB on PostgreSQL.
pub const IMPORT_CHUNK: usize = 50_000;

/// Adds the group names of `rows` to `names` (an import makes the missing ones once, after
/// reading every chunk).
pub fn import_group_names(rows: &[ImportRow], names: &mut std::collections::BTreeSet<String>) {
    for group in rows.iter().flat_map(|r| &r.groups) {
        if !names.contains(group) {
            names.insert(group.clone());
        }
    }
}

/// Rows already in memory, or made as they are asked for.
impl<I: Iterator<Item = ImportRow> + Send> ImportRows for I {
    fn next_rows(&mut self, max: usize) -> Result<Vec<ImportRow>, String> {
        Ok(self.by_ref().take(max).collect())
    }
}

/// The error of an import whose rows could not be read: the store's refusal, with the
/// reader's message.
pub fn unreadable_import(message: String) -> StoreError {
    StoreError::Invalid {
        field: None,
        message,
    }
}

/// What an import changed (or, in a dry run, would change).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub users_created: u64,
    pub members_added: u64,
    pub roles_changed: u64,
    pub groups_created: u64,
    pub group_memberships_added: u64,
}

/// The position of a group membership in its list: emails are unique within a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailCursor(pub String);

impl GroupMembership {
    pub fn cursor(&self) -> EmailCursor {
        EmailCursor(crate::email::normalize(&self.email))
    }
}

impl Group {
    pub fn cursor(&self) -> NameCursor {
        NameCursor {
            name: self.name.clone(),
            id: self.id,
        }
    }
}

/// The position of a record in a list ordered by name, then id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameCursor {
    pub name: String,
    pub id: Uuid,
}

impl Organization {
    pub fn cursor(&self) -> NameCursor {
        NameCursor {
            name: self.name.clone(),
            id: self.id,
        }
    }
}

impl EmailDomain {
    pub fn cursor(&self) -> NameCursor {
        NameCursor {
            name: self.domain.clone(),
            id: self.id,
        }
    }
}

impl Account {
    pub fn cursor(&self) -> NameCursor {
        NameCursor {
            name: self.name.clone(),
            id: self.id,
        }
    }
}

/// The position of an item in a list ordered by creation time, then id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeCursor {
    pub at: Timestamp,
    pub id: Uuid,
}

impl Invitation {
    pub fn cursor(&self) -> TimeCursor {
        TimeCursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

/// Which slice of an ordered list to read: a numbered page, or the rows after a cursor (for
/// streaming a whole list in chunks without deep offsets).
#[derive(Clone, Debug)]
pub enum Window<C> {
    Page { offset: u64, limit: u32 },
    After { cursor: Option<C>, limit: u32 },
}

/// A connection pool: its name (`reader`, `writer`, `main`), connections open, idle, and the
/// most it opens.
#[derive(Clone, Copy, Debug)]
pub struct PoolState {
    pub name: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// Which keys [`People::revoke_keys`] ends.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    /// The key whose first characters these are ([`crate::keys::PREFIX_LEN`] of them).
    Prefix(&'a str),
    /// The key itself (whenever it was issued).
    Key(&'a KeyHash),
    /// Every key of the account with this email.
    Holder(&'a str),
}

/// An account and some of its keys, named by their prefixes (`None`: issued before prefixes
/// were kept).
#[derive(Clone, Debug, serde::Serialize)]
pub struct HeldKeys {
    pub user: User,
    pub keys: Vec<KeyName>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct KeyName {
    pub prefix: Option<String>,
    pub created_at: Timestamp,
}

/// The whole storage interface, one trait per resource, each method a complete use case in
/// its own transaction. A backend implements each part in that resource's module; a
/// `dyn Store` answers every part's methods.
#[async_trait]
pub trait Store:
    People
    + Organizations
    + Memberships
    + MembershipPages
    + Groups
    + GroupMembers
    + EmailDomains
    + Campaigns
    + CampaignMembers
    + Accounts
    + Invitations
    + Imports
    + Provisioning
    + Idempotency
    + AuditLog
    + Webhooks
    + ConsoleSessions
    + Send
    + Sync
    + 'static
{
    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pools as they are now (`/metrics`).
    fn pools(&self) -> Vec<PoolState>;

    /// Whether the database answers with every migration of this build applied.
    async fn ready(&self) -> StoreResult<bool>;

    /// Writes a consistent copy of the live database to the file `to`, which must not exist
    /// (SQLite); `Invalid` on a database that is backed up with its own tools (PostgreSQL).
    async fn backup(&self, to: &std::path::Path) -> StoreResult<()>;

    /// The count of changes this backend watches (see [`crate::changes`]): it moves when the
    /// database changes from outside this process.
    fn changes(&self) -> Arc<Changes>;
}

/// People and their keys: authentication, the operator flag, key rotation.
#[async_trait]
pub trait People: Send + Sync {
    /// The holder of a key, or `None` for an unknown or revoked key. Marks the holder active.
    async fn authenticate(&self, key: &KeyHash, now: Timestamp) -> StoreResult<Option<Principal>>;

    /// Finds the user with this email (case-insensitively) or creates one who has not joined.
    /// A given name replaces the stored one.
    async fn ensure_user(&self, user: NewUser, now: Timestamp) -> StoreResult<User>;

    async fn set_operator(&self, user: Uuid, operator: bool) -> StoreResult<()>;

    /// Stores a new proven key for the user (an operator issues it); the user counts as joined
    /// from then on.
    async fn add_key(&self, user: Uuid, key: &KeyHash, now: Timestamp) -> StoreResult<()>;

    /// Rotates keys in one transaction: `old` (or, when `None`, every key of the user) stops
    /// working as `new` starts; `new` acts where `old` did (an unproven key stays confined to
    /// its team). `NotFound` when `old` is not one of the user's keys.
    async fn replace_key(
        &self,
        user: Uuid,
        old: Option<&KeyHash>,
        new: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// On an empty database (no operator yet), creates the operator with this email and key
    /// and returns true; otherwise changes nothing and returns false. Atomic.
    async fn bootstrap_operator(
        &self,
        email: &str,
        key: &KeyHash,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Whether any operator exists yet (the first start creates one).
    async fn has_operator(&self) -> StoreResult<bool>;

    /// The operators, by email, each with the keys they hold.
    async fn operators(&self) -> StoreResult<Vec<HeldKeys>>;

    /// Revokes keys in one transaction: the one key named by its prefix (`Invalid` when more
    /// than one has it), or every key of the account with that email; a person, a service
    /// account, a deployment key or an operator alike. `NotFound` when nothing matched. Every
    /// node stops taking the keys as it hears of the change.
    async fn revoke_keys(&self, which: KeyRef<'_>) -> StoreResult<HeldKeys>;

    /// The teams the user is an active member of (a suspended membership does not show).
    async fn memberships_of(&self, user: Uuid) -> StoreResult<Vec<MembershipSummary>>;

    /// The groups the user is in, in the teams they are an active member of: (team, group),
    /// by group name.
    async fn groups_of(&self, user: Uuid) -> StoreResult<Vec<(Uuid, GroupRef)>>;
}

/// Teams.
#[async_trait]
pub trait Organizations: Send + Sync {
    async fn list_organizations(
        &self,
        who: Visibility,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Organization>>;

    async fn count_organizations(&self, who: Visibility) -> StoreResult<u64>;

    async fn get_organization(&self, id: Uuid) -> StoreResult<Organization>;

    /// The teams with exactly this name (the command line names a team by it), at most 20.
    async fn organizations_named(&self, name: &str) -> StoreResult<Vec<Organization>>;

    /// Creates the team with `admin` as its first admin.
    async fn create_organization(
        &self,
        org: NewOrganization,
        admin: Uuid,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Organization>;

    /// Changes the team's fields. With `expect` (an `If-Match`), the team's data version must
    /// still be that under the team's lock, else `Conflict` on `version`.
    async fn update_organization(
        &self,
        id: Uuid,
        patch: OrganizationPatch,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Organization>;

    /// Deletes the team and everything that hangs from it (memberships, groups, ...);
    /// `expect` as for [`Organizations::update_organization`].
    async fn delete_organization(
        &self,
        id: Uuid,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()>;
}

/// Joining a team, role changes and removal, under the role rules of [`crate::rules`].
#[async_trait]
pub trait Memberships: Send + Sync {
    /// The team's data version: it grows with every change to what its member lists show
    /// (memberships, their people, groups, group memberships), so a page read at one version
    /// may be served again while the version stays.
    async fn team_version(&self, org: Uuid) -> StoreResult<i64>;

    /// The data versions of these teams, in one read (teams that are gone are left out).
    async fn team_versions(&self, orgs: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>>;

    /// The user's role in the team, or `None` when they are not in it.
    async fn role_in(&self, org: Uuid, user: Uuid) -> StoreResult<Option<Role>>;

    /// How many memberships these teams hold together: the size of their member lists, read
    /// before they are streamed.
    async fn count_members_in(&self, orgs: &[Uuid]) -> StoreResult<u64>;

    /// Adds the user to the team (with the team's default role unless one is given) and
    /// attaches any membership held for their email; a present member keeps their membership,
    /// and takes the role if one is given.
    async fn add_member(
        &self,
        org: Uuid,
        user: Uuid,
        role: Option<Role>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Membership>;

    /// Finds or makes the person with `person.email` (taking `person.name` when one is given)
    /// and adds them as `add_member` does, in one transaction: a refused change leaves nobody
    /// made or renamed. Accounts and their addresses are refused (`not_a_person`): an account
    /// belongs to the team that made it.
    async fn add_person(
        &self,
        org: Uuid,
        person: &NewUser,
        role: Option<Role>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Membership>;

    /// Changes a role; refuses to leave the team without an admin, and refuses accounts whose
    /// role is fixed (service accounts, deployment keys). With `expect` (an `If-Match`), the
    /// team's data version must still be that under the team's lock, else `Conflict` on
    /// `version`.
    async fn set_role(
        &self,
        id: i64,
        role: Role,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Membership>;

    /// Removes the person from the team and from its groups; refuses to remove the last admin.
    /// `expect` as for [`Memberships::set_role`].
    async fn remove_membership(
        &self,
        id: i64,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()>;
}

/// The member list: pages, filters and their counts.
#[async_trait]
pub trait MembershipPages: Send + Sync {
    async fn list_memberships(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        window: Window<MembershipCursor>,
    ) -> StoreResult<Vec<Membership>>;

    async fn count_memberships(&self, org: Uuid, filter: &MembershipFilter) -> StoreResult<u64>;

    /// In one pass over the filtered list: its length, and the position of the last
    /// membership of each full page of `page_size`, so that any page can then be read by
    /// keyset (after the previous page's end) instead of skipping `OFFSET` rows.
    async fn membership_page_ends(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        page_size: u32,
    ) -> StoreResult<(u64, Vec<MembershipCursor>)>;

    async fn get_membership(&self, id: i64) -> StoreResult<Membership>;
}

/// Groups of a team.
#[async_trait]
pub trait Groups: Send + Sync {
    async fn list_groups(&self, org: Uuid, window: Window<NameCursor>) -> StoreResult<Vec<Group>>;

    async fn count_groups(&self, org: Uuid) -> StoreResult<u64>;

    /// The first `limit` of the team's groups by name, without their member counts (what a
    /// picker needs: one index read, however large the groups).
    async fn group_refs(&self, org: Uuid, limit: u32) -> StoreResult<Vec<GroupRef>>;

    /// Creates a group; its name must be free in the team (`Conflict` on `name`).
    async fn create_group(
        &self,
        org: Uuid,
        name: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Group>;

    async fn get_group(&self, id: Uuid) -> StoreResult<Group>;

    async fn rename_group(
        &self,
        id: Uuid,
        name: &str,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Group>;

    /// Deletes the group and its memberships.
    async fn delete_group(&self, id: Uuid, origin: &Origin, expect: Option<i64>)
    -> StoreResult<()>;

    /// The person's memberships of the team's groups, by group name.
    async fn member_groups(&self, org: Uuid, user: Uuid) -> StoreResult<Vec<MemberGroup>>;
}

/// The members of a group: by person or by email.
#[async_trait]
pub trait GroupMembers: Send + Sync {
    /// A group's memberships ordered by email.
    async fn list_group_memberships(
        &self,
        group: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<GroupMembership>>;

    async fn count_group_memberships(&self, group: Uuid) -> StoreResult<u64>;

    /// Adds to or replaces a group's members in one transaction, with set-based statements
    /// whose number does not depend on the payload's size.
    ///
    /// The email rule: an email is accepted when a member of the team has it or its domain is
    /// verified for the team (then the membership is held by email until that person joins);
    /// a user id must be a team member. Any item breaking it rejects the whole change
    /// (`Rejected`, in payload order). With `require_campaign`, items whose email belongs to
    /// no campaign member of the team are skipped instead. Duplicates collapse.
    ///
    /// Returns the group's memberships for the payload's people (`Add`), or nothing
    /// (`Replace`: read the list afterwards). With `expect` (`If-Match`), `Conflict` on
    /// `version` unless the group's version, under its lock, is that one; so for every change
    /// below that takes `expect`.
    ///
    /// Takes the items by value: a backend lets them go once they are in its working table,
    /// before the writes and the history, which a million-item replace would otherwise hold
    /// on top of them.
    #[allow(clippy::too_many_arguments)]
    async fn change_group_members(
        &self,
        group: Uuid,
        items: Vec<MemberRef>,
        change: MembersChange,
        require_campaign: bool,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Vec<GroupMembership>>;

    /// What `change_group_members` would do with the same arguments, refused exactly as it
    /// would be, changing nothing.
    async fn preview_group_members(
        &self,
        group: Uuid,
        items: &[MemberRef],
        change: MembersChange,
        require_campaign: bool,
        now: Timestamp,
    ) -> StoreResult<MembersPreview<GroupMembership>>;

    /// Removes one membership of the group (`NotFound` if it is not the group's).
    async fn remove_group_membership(
        &self,
        group: Uuid,
        membership: Uuid,
        origin: &Origin,
    ) -> StoreResult<()>;
}

/// Verified email domains of a team.
#[async_trait]
pub trait EmailDomains: Send + Sync {
    /// The team's domains by name.
    async fn list_email_domains(
        &self,
        org: Uuid,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<EmailDomain>>;

    async fn count_email_domains(&self, org: Uuid) -> StoreResult<u64>;

    /// Adds a verified domain (already normalised); a domain belongs to at most one team
    /// (`Conflict` on `domain`).
    async fn add_email_domain(
        &self,
        org: Uuid,
        domain: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<EmailDomain>;

    async fn delete_email_domain(&self, org: Uuid, id: Uuid, origin: &Origin) -> StoreResult<()>;
}

/// Campaigns of a team.
#[async_trait]
pub trait Campaigns: Send + Sync {
    async fn list_campaigns(
        &self,
        org: Uuid,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Campaign>>;

    async fn count_campaigns(&self, org: Uuid) -> StoreResult<u64>;

    async fn create_campaign(
        &self,
        org: Uuid,
        name: &str,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Campaign>;

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Campaign>;

    /// Renames the campaign and/or replaces its members, in one transaction.
    async fn update_campaign(
        &self,
        id: Uuid,
        name: Option<&str>,
        members: Option<&[NewCampaignMember<'_>]>,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Campaign>;

    async fn delete_campaign(
        &self,
        id: Uuid,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<()>;
}

/// The members of a campaign, with their reporting data.
#[async_trait]
pub trait CampaignMembers: Send + Sync {
    async fn list_campaign_members(
        &self,
        campaign: Uuid,
        window: Window<EmailCursor>,
    ) -> StoreResult<Vec<CampaignMember>>;

    async fn count_campaign_members(&self, campaign: Uuid) -> StoreResult<u64>;

    /// Adds members or updates their data (`Add`), or makes the campaign hold exactly these
    /// (`Replace`), set-based in one transaction. Emails obey the email rule (`Rejected`).
    /// Returns the payload's members for `Add`, nothing for `Replace`.
    async fn change_campaign_members(
        &self,
        campaign: Uuid,
        members: &[NewCampaignMember<'_>],
        change: MembersChange,
        now: Timestamp,
        origin: &Origin,
        expect: Option<i64>,
    ) -> StoreResult<Vec<CampaignMember>>;

    /// What `change_campaign_members` would do with the same arguments, refused exactly as it
    /// would be, changing nothing.
    async fn preview_campaign_members(
        &self,
        campaign: Uuid,
        members: &[NewCampaignMember<'_>],
        change: MembersChange,
        now: Timestamp,
    ) -> StoreResult<MembersPreview<CampaignMember>>;
}

/// Service accounts and deployment keys.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates the account's user (of `kind`), its membership of the team with a role that
    /// never changes, and its key, in one transaction. `token` is kept only for deployment
    /// keys.
    #[allow(clippy::too_many_arguments)]
    async fn create_account(
        &self,
        org: Uuid,
        kind: AccountKind,
        name: &str,
        role: Role,
        key: &KeyHash,
        token: Option<&str>,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Account>;

    /// The team's accounts of one kind, by name.
    async fn list_accounts(
        &self,
        org: Uuid,
        kind: AccountKind,
        window: Window<NameCursor>,
    ) -> StoreResult<Vec<Account>>;

    async fn count_accounts(&self, org: Uuid, kind: AccountKind) -> StoreResult<u64>;

    async fn get_account(&self, org: Uuid, kind: AccountKind, id: Uuid) -> StoreResult<Account>;

    /// Gives the team's service account `id` key `key` in place of every key it had, and
    /// records it (`service_account.rotated`) in the same transaction. `NotFound` when the team
    /// has no such account. (A deployment key is rotated by making a new one: its token is
    /// shown on every read.)
    async fn rotate_service_account_key(
        &self,
        org: Uuid,
        id: Uuid,
        key: &KeyHash,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<()>;

    /// Deletes the account: its user, keys and memberships go with it at once.
    async fn delete_account(
        &self,
        org: Uuid,
        kind: AccountKind,
        id: Uuid,
        origin: &Origin,
    ) -> StoreResult<()>;
}

/// Invitations to a team and their acceptance.
#[async_trait]
pub trait Invitations: Send + Sync {
    /// Invites an email to the team (replacing a pending invitation of the same email).
    /// `Conflict` on `email` when that person is already a member; `Invalid` for an account's
    /// or an operator's address; `Forbidden` when the pending invitation it would replace has a
    /// role `invitation.by` may not grant.
    async fn create_invitation(
        &self,
        org: Uuid,
        invitation: NewInvitation,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Invitation>;

    /// Whether `create_invitation` would make `invitation` now (its errors), changing nothing:
    /// checked before an invitation is mailed, so that a mail that cannot be sent leaves the
    /// pending invitation it would have replaced.
    async fn check_invitation(&self, org: Uuid, invitation: &NewInvitation) -> StoreResult<()>;

    /// The team's pending invitations, oldest first.
    async fn list_invitations(
        &self,
        org: Uuid,
        window: Window<TimeCursor>,
    ) -> StoreResult<Vec<Invitation>>;

    async fn count_invitations(&self, org: Uuid) -> StoreResult<u64>;

    /// Revokes an invitation of the team; `Forbidden` when its role is one `by` may not grant.
    async fn revoke_invitation(
        &self,
        org: Uuid,
        id: Uuid,
        by: Role,
        origin: &Origin,
    ) -> StoreResult<()>;

    /// Accepts a pending, unexpired invitation by its token, for someone who holds no proven
    /// key (a new person, or one known only by email): creates or finds the person, adds them
    /// to the team with the invitation's role (a present member keeps theirs), attaches their
    /// held group memberships, stores their new key and deletes the invitation, in one
    /// transaction. The key is proven when the team owns the email's domain or Roster mailed
    /// the token; otherwise it is confined to this team. `NotFound` for an unknown, used or
    /// expired token, for a person who holds a proven key (they accept with it), and when the
    /// inviter may no longer grant the role (the invitation is then revoked).
    async fn accept_invitation(
        &self,
        token: &KeyHash,
        name: Option<&str>,
        key: &KeyHash,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Accepted>;

    /// The pending, unexpired invitations addressed to this email, in every team.
    async fn pending_invitations(
        &self,
        email: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<Invitation>>;

    /// Accepts invitation `id` for `user`, who must be the person it is addressed to:
    /// joins them to the team as `accept_invitation` does, without issuing a key. `NotFound`
    /// for anyone else, and when the inviter may no longer grant the role (then revoked).
    async fn accept_invitation_as(
        &self,
        id: Uuid,
        user: Uuid,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Accepted>;

    /// Declines invitation `id` addressed to `user`: it is deleted. `NotFound` for anyone else.
    async fn reject_invitation(&self, id: Uuid, user: Uuid, origin: &Origin) -> StoreResult<()>;
}

/// Bulk imports of a team's members.
#[async_trait]
pub trait Imports: Send + Sync {
    /// Adds the rows' people to the team (creating unknown people, who have not joined) and to
    /// the named groups (creating missing groups), set-based in one transaction; a role, when
    /// given, is set. With `dry_run` nothing is kept.
    async fn import_members(
        &self,
        org: Uuid,
        rows: &mut dyn ImportRows,
        dry_run: bool,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ImportSummary>;
}

/// Where an `Idempotency-Key` stands for its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is this request's now: run it, then keep or release its answer.
    Claimed,
    /// A request with this key (and `fingerprint`) is running.
    Running { fingerprint: Vec<u8> },
    /// A request with this key (and `fingerprint`) was carried out; its answer, when kept.
    Done {
        fingerprint: Vec<u8>,
        answer: Option<KeptAnswer>,
    },
}

/// The first answer to a write, as it was sent: replayed to every retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptAnswer {
    pub status: u16,
    /// The response headers, as a JSON array of `[name, value]` pairs.
    pub headers: String,
    pub body: Vec<u8>,
}

/// Idempotent retries: the first answer to a write, kept per API key (`holder`: the key's
/// hash) and `Idempotency-Key`.
#[async_trait]
pub trait Idempotency: Send + Sync {
    /// Claims `key` for `holder`'s request with `fingerprint`, unless a request holds it: a
    /// key claimed before `expired` is free again, and so is one whose request has been running
    /// since before `abandoned` (its server went away). `user` is the key's holder.
    #[allow(clippy::too_many_arguments)]
    async fn claim_idempotency_key(
        &self,
        holder: &[u8],
        user: Uuid,
        key: &str,
        fingerprint: &[u8],
        now: Timestamp,
        expired: Timestamp,
        abandoned: Timestamp,
    ) -> StoreResult<KeyClaim>;

    /// Records that the claimed request was carried out, with its answer when it is kept:
    /// given, and within the `budget` of bytes that the user's kept answers may take together.
    /// Whether the answer was kept.
    async fn finish_idempotency_key(
        &self,
        holder: &[u8],
        key: &str,
        answer: Option<&KeptAnswer>,
        budget: u64,
    ) -> StoreResult<bool>;

    /// Frees a claimed key whose request changed nothing, so that a retry runs again.
    async fn release_idempotency_key(&self, holder: &[u8], key: &str) -> StoreResult<()>;

    /// Forgets at most `limit` keys claimed before `before`; how many it forgot.
    async fn prune_idempotency_keys(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// A console session: the browser's sign-in, which stands for the API key it was opened with
/// (so that revoking the key ends it too).
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub key: KeyHash,
    pub opened_at: Timestamp,
    pub seen_at: Timestamp,
}

/// Console sessions, kept in the database so that every node of a deployment knows them and
/// signing out (or an operator's revocation of the key) ends them everywhere. A session is
/// named by the digest of its cookie's secret; the secret itself is never stored.
#[async_trait]
pub trait ConsoleSessions: Send + Sync {
    async fn open_session(
        &self,
        session: &KeyHash,
        key: &KeyHash,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// The session, unless it was opened before `opened_after` or last seen before
    /// `seen_after`. Its last use is moved to `now` (in the background, and at most once a
    /// minute: a page view must not wait on a write).
    async fn session(
        &self,
        session: &KeyHash,
        now: Timestamp,
        opened_after: Timestamp,
        seen_after: Timestamp,
    ) -> StoreResult<Option<ConsoleSession>>;

    async fn close_session(&self, session: &KeyHash) -> StoreResult<()>;

    /// Forgets at most `limit` sessions last seen before `before`; how many it forgot.
    async fn prune_sessions(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// The change history (see [`crate::audit`]): each change's event is written by the use case
/// that makes the change, in its transaction.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// The scope's events that pass `filter`, newest first.
    async fn list_audit_events(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        window: Window<AuditCursor>,
    ) -> StoreResult<Vec<AuditEvent>>;

    async fn count_audit_events(&self, scope: AuditScope, filter: &AuditFilter)
    -> StoreResult<u64>;

    /// Forgets at most `limit` of the oldest events recorded before `before`; how many.
    async fn prune_audit_events(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// Webhook endpoints, their delivery log, and the work of delivering (see
/// [`crate::webhooks`]). An endpoint reads the team's change history after its own position;
/// a node that delivers to it holds it for `lease` (a claim), so that several nodes share the
/// endpoints and each message is sent by one.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Adds an endpoint that receives the team's events from now on.
    async fn create_webhook(
        &self,
        org: Uuid,
        hook: &NewWebhook,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook>;

    /// The team's endpoints, oldest first.
    async fn list_webhooks(&self, org: Uuid, window: Window<Uuid>) -> StoreResult<Vec<Webhook>>;

    async fn count_webhooks(&self, org: Uuid) -> StoreResult<u64>;

    async fn get_webhook(&self, org: Uuid, id: Uuid) -> StoreResult<Webhook>;

    /// Changes an endpoint; setting `active` to true also ends its failing state.
    async fn update_webhook(
        &self,
        org: Uuid,
        id: Uuid,
        change: &WebhookChange,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook>;

    /// Gives the endpoint the signing secret `secret`; the old one signs beside it until
    /// `old_until`.
    async fn rotate_webhook_secret(
        &self,
        org: Uuid,
        id: Uuid,
        secret: &str,
        old_until: Timestamp,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<Webhook>;

    async fn delete_webhook(&self, org: Uuid, id: Uuid, origin: &Origin) -> StoreResult<()>;

    /// The endpoint with what signs for it at `now`, to send it one message by hand.
    async fn webhook_target(&self, org: Uuid, id: Uuid, now: Timestamp) -> StoreResult<Claimed>;

    /// The endpoint's delivery log, newest first.
    async fn list_deliveries(
        &self,
        org: Uuid,
        webhook: Uuid,
        window: Window<i64>,
    ) -> StoreResult<Vec<Delivery>>;

    async fn count_deliveries(&self, org: Uuid, webhook: Uuid) -> StoreResult<u64>;

    async fn get_delivery(&self, org: Uuid, webhook: Uuid, id: i64) -> StoreResult<Delivery>;

    /// Logs a delivery an admin asked for; one that succeeded ends the endpoint's failing
    /// state.
    async fn log_delivery(&self, delivery: &NewDelivery) -> StoreResult<Delivery>;

    /// Claims up to `limit` endpoints that have events to send and are due, for `lease`: those
    /// that answered slowly lately (`webhooks::SLOW`) when `slow`, else the others.
    async fn claim_webhooks(
        &self,
        node: Uuid,
        now: Timestamp,
        lease: std::time::Duration,
        limit: u32,
        slow: bool,
    ) -> StoreResult<Vec<Claimed>>;

    /// The team's events after position `after`, oldest first.
    async fn webhook_events(
        &self,
        org: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>>;

    /// The team's event at position `seq`, if it is still kept.
    async fn webhook_event(&self, org: Uuid, seq: i64) -> StoreResult<Option<AuditEvent>>;

    /// Stores what became of a claimed endpoint's next message (and its delivery, if one was
    /// tried), renewing the claim for `lease` while it moves on, releasing it otherwise.
    /// `false` when `node` no longer holds it (its claim ran out): stop sending to it.
    async fn advance_webhook(
        &self,
        node: Uuid,
        id: Uuid,
        progress: &Progress,
        delivery: Option<&NewDelivery>,
        now: Timestamp,
        lease: std::time::Duration,
    ) -> StoreResult<bool>;

    /// Lets go of a claimed endpoint.
    async fn release_webhook(&self, node: Uuid, id: Uuid) -> StoreResult<()>;

    /// Events waiting for active endpoints, over all teams.
    async fn webhook_backlog(&self) -> StoreResult<u64>;

    /// Forgets at most `limit` deliveries logged before `before`; how many.
    async fn prune_webhook_deliveries(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}

/// SCIM provisioning (see `crate::provisioning`).
#[async_trait]
pub trait Provisioning: Send + Sync {
    /// The team's people (service accounts and deployment keys are not SCIM users), narrowed
    /// by `key`, in `seq` order after `after`, skipping `offset`.
    async fn provisioned_users(
        &self,
        org: Uuid,
        key: Option<&UserKey>,
        after: Option<i64>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedUser>>;

    async fn count_provisioned_users(&self, org: Uuid, key: Option<&UserKey>) -> StoreResult<u64>;

    /// Adds a person to the team: an existing person with the email is linked, anyone else is
    /// created. `Conflict` on `userName` when a member of the team has that userName (in any
    /// case), on `emails` when the person with that email is already a member.
    async fn provision_user(
        &self,
        org: Uuid,
        user: &UserWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedUser> {
        let mut done = self
            .provision_users(
                org,
                std::slice::from_ref(user),
                now,
                std::slice::from_ref(origin),
            )
            .await?;
        done.pop()
            .unwrap_or(Err(StoreError::Other("no result for the create".into())))
    }

    /// `provision_user` for many people in one transaction with a handful of statements:
    /// each gets its own answer, as if they were made one after another in order (see
    /// `provisioning::admit`). Concurrent SCIM creates are gathered into these batches.
    /// `origins[i]` is who creates `users[i]`.
    async fn provision_users(
        &self,
        org: Uuid,
        users: &[UserWrite],
        now: Timestamp,
        origins: &[Origin],
    ) -> StoreResult<Vec<StoreResult<ProvisionedUser>>>;

    /// Replaces what SCIM keeps of a member; with `expect`, `Conflict` on `version` unless the
    /// member's version is that one.
    async fn update_provisioned_user(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        user: &UserWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedUser>;

    /// Removes the person from the team and its groups (the rules of `remove_membership`).
    async fn deprovision_user(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        origin: &Origin,
    ) -> StoreResult<()>;

    /// The team's groups narrowed by `key`, in id order after `after`, skipping `offset`.
    async fn provisioned_groups(
        &self,
        org: Uuid,
        key: Option<&GroupKey>,
        after: Option<Uuid>,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<ProvisionedGroup>>;

    async fn count_provisioned_groups(&self, org: Uuid, key: Option<&GroupKey>)
    -> StoreResult<u64>;

    /// The member user ids of these groups as (group, user) pairs; memberships held by email
    /// for someone not yet in the team have no user and are left out.
    async fn provisioned_group_members(&self, groups: &[Uuid]) -> StoreResult<Vec<(Uuid, Uuid)>>;

    /// Creates a group with `write.name`; `Conflict` on `displayName` when the team has one.
    /// Member ids that name none of the team's people are skipped.
    async fn provision_group(
        &self,
        org: Uuid,
        write: &GroupWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedGroup>;

    /// Applies `write` in one transaction; member changes cost O(ids named) except
    /// `ReplaceAll`. `expect` as for users.
    async fn update_provisioned_group(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        write: &GroupWrite,
        now: Timestamp,
        origin: &Origin,
    ) -> StoreResult<ProvisionedGroup>;

    async fn deprovision_group(
        &self,
        org: Uuid,
        id: Uuid,
        expect: Option<i64>,
        origin: &Origin,
    ) -> StoreResult<()>;
}
