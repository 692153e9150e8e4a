//! The storage interface, [`roster_core::Store`], implemented once for each backend: each
//! method names the use case in its resource's module. A method that changes data holds
//! [`Changes::writing`] until it is done, so nothing read while it runs is kept as current.
//! Compiled into each backend against its `dialect` module (see README.md).

use crate::dialect::Backend;
use crate::tx::{TeamLock, lock_team};
use crate::{
    accounts, campaign_members, campaigns, email_domains, group_memberships, groups, import,
    invitations, membership_pages, memberships, organizations, other, provisioning, users,
};
use async_trait::async_trait;
use roster_core::changes::Changes;
use roster_core::keys::{KeyHash, KeyScope};
use roster_core::provisioning::{
    GroupKey, GroupWrite, ProvisionedGroup, ProvisionedUser, UserKey, UserWrite,
};
use roster_core::store::{
    Accepted, AccountKind, EmailCursor, ImportRow, ImportSummary, MemberRef, MembersChange,
    MembershipCursor, MembershipFilter, NameCursor, NewCampaignMember, NewInvitation,
    NewOrganization, NewUser, OrganizationPatch, Visibility, Window,
};
use roster_core::{
    Account, Campaign, CampaignMember, EmailDomain, Group, GroupMembership, Invitation, Membership,
    MembershipSummary, Organization, Principal, Role, Store, StoreError, StoreResult, Timestamp,
    User,
};
use std::sync::Arc;
use uuid::Uuid;

#[async_trait]
impl Store for Backend {
    fn changes(&self) -> Arc<Changes> {
        self.changes.clone()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.reads())
            .await
            .map(|_| ())
            .map_err(other)
    }

    async fn authenticate(&self, key: &KeyHash, now: Timestamp) -> StoreResult<Option<Principal>> {
        users::authenticate(self, key, now).await
    }

    async fn ensure_user(&self, user: NewUser, now: Timestamp) -> StoreResult<User> {
        let _writing = self.changes.writing();
        let mut tx = self.write().await?;
        let user = users::ensure(&mut tx, &user, now).await?;
        tx.commit().await.map_err(other)?;
        Ok(user)
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
        organizations::get(self.reads(), id).await
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
                .fetch_optional(self.reads())
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
        membership_pages::list(self, org, filter, window).await
    }

    async fn count_memberships(&self, org: Uuid, filter: &MembershipFilter) -> StoreResult<u64> {
        membership_pages::count(self, org, filter).await
    }

    async fn membership_page_ends(
        &self,
        org: Uuid,
        filter: &MembershipFilter,
        page_size: u32,
    ) -> StoreResult<(u64, Vec<MembershipCursor>)> {
        membership_pages::page_ends(self, org, filter, page_size).await
    }

    async fn get_membership(&self, id: i64) -> StoreResult<Membership> {
        membership_pages::get(self, id).await
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
        groups::get(self.reads(), id).await
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
        campaigns::get(self.reads(), id).await
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
