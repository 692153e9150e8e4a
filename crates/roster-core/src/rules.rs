//! The rules about people, keys and roles that decide who may do what, written once as pure
//! functions so that every face (team API, SCIM, command line) and both backends apply the
//! same ones. A backend reads the facts a rule needs inside its transaction and asks here.
//!
//! docs/SECURITY.md explains the model these rules implement: which keys are *proven*, which
//! team may link a person or rewrite their email and name, and who may grant which role.

use crate::{Role, StoreError, StoreResult, domain};

/// Whether someone with `granter`'s role may invite with `role`, or replace or revoke an
/// invitation for it: admins any role, managers any but admin, others none.
pub fn may_invite(granter: Role, role: Role) -> bool {
    match granter {
        Role::Admin => true,
        Role::Manager => role != Role::Admin,
        Role::Member | Role::Developer | Role::Restricted => false,
    }
}

/// The IDNA form of an email's domain, or `None` for an address without one.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    domain::normalize(domain).ok()
}

/// Whether a team whose verified domains are `verified` owns this email: its domain is one of
/// them. Such a team speaks for the address: it may link its owner, rewrite their email and
/// name, and its invitations issue proven keys.
pub fn owns_email(email: &str, verified: &[String]) -> bool {
    email_domain(email).is_some_and(|d| verified.contains(&d))
}

/// Of these people (id, email), those whose address a team with these verified domains owns:
/// the people whose unproven keys its taking their emails in ends. Each once.
pub fn owned_people(found: Vec<(uuid::Uuid, String)>, verified: &[String]) -> Vec<uuid::Uuid> {
    let mut people: Vec<uuid::Uuid> = found
        .into_iter()
        .filter(|(_, email)| owns_email(email, verified))
        .map(|(id, _)| id)
        .collect();
    people.sort_unstable();
    people.dedup();
    people
}

/// Addresses Roster keeps for itself: its accounts (`*.roster.invalid`, RFC 2606) and the
/// first operator (`roster.localhost`). No invitation, SCIM user or email change may take one.
pub fn is_reserved_address(email: &str) -> bool {
    email_domain(email).is_some_and(|d| is_reserved_domain(&d))
}

/// A service account's or deployment key's address (`*.roster.invalid`): an account belongs
/// to the team that made it and never joins another as a person. (The first operator's
/// `roster.localhost` address is a person's: it may be in teams, and in their exports.)
pub fn is_account_address(email: &str) -> bool {
    email_domain(email).is_some_and(|d| d == "roster.invalid" || d.ends_with(".roster.invalid"))
}

/// The domains of [`is_reserved_address`] (lower-case): no team may verify one, which would
/// let it hold group memberships for other teams' accounts by email.
pub fn is_reserved_domain(domain: &str) -> bool {
    domain == "roster.invalid"
        || domain.ends_with(".roster.invalid")
        || domain == "roster.localhost"
        || domain.ends_with(".roster.localhost")
}

/// Facts about a person whom a team wants to take in (link) by email, read in the transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Known {
    /// A service account or a deployment key: never a person of a team.
    pub account: bool,
    /// Already a member of this team.
    pub member: bool,
    /// The team owns the address's domain.
    pub owned: bool,
}

/// Whether a team may link an existing person to itself by email (SCIM `POST /Users`): the
/// same rule as group memberships, for someone not yet in the team, only when the team owns
/// the email's domain. Anyone else is another team's business, and the answer must not say
/// whose: the caller hears only that the address is not available.
pub fn may_link(known: Known) -> bool {
    !known.account && !known.member && known.owned
}

/// Whether a team may change a person's global attributes (email, name), which every team
/// they belong to sees: when it is the only team they are in, or it owns their email's domain;
/// never an operator's (a new address would confine their keys to the team, taking the
/// server's operator rights away from them).
pub fn may_rewrite_person(teams: u64, owns_current_email: bool, operator: bool) -> bool {
    !operator && (teams <= 1 || owns_current_email)
}

/// Whether a team may give someone an address whose domain is verified for `holder` (if for
/// any team): an owned domain's addresses are only that team's to hand out, so that no other
/// team can plant a person there for the owner to link later.
pub fn may_use_address(team: uuid::Uuid, holder: Option<uuid::Uuid>) -> bool {
    holder.is_none_or(|h| h == team)
}

/// The admins who count for the last-admin rule: active people. A service account or a
/// deployment key cannot sign in to recover a team, and a suspended person cannot act.
pub fn counts_as_admin(role: Role, active: bool, account: bool) -> bool {
    role == Role::Admin && active && !account
}

/// Whether a change leaves the team with no admin who counts, when it had one: `before` and
/// `after` are the counting admins (`counts_as_admin`). A team that had none (only an admin
/// service account, say) is left to its operator and does not block unrelated changes.
pub fn leaves_without_admin(before: u64, after: u64) -> bool {
    before > 0 && after == 0
}

/// What accepting an invitation by its token (no credentials) needs to know about the address's
/// person, read in the transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenInvitee {
    /// Someone has the address already.
    pub exists: bool,
    /// An account, or an operator: never invited.
    pub barred: bool,
    /// They hold a proven key: they accept signed in, by id.
    pub proven_key: bool,
    /// Their role in the inviting team, when they are in it already.
    pub member: Option<Role>,
    /// They are in another team.
    pub elsewhere: bool,
}

/// Which key an invitation token issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKey {
    /// Acts wherever its holder is a member.
    Proven,
    /// Acts in the inviting team alone.
    Confined,
}

/// Whether an invitation's token may issue a key, and which (docs/SECURITY.md). The token
/// went to the inviter, not necessarily to the address's owner, unless Roster `mailed` it, so:
/// - someone who holds a proven key, an account or an operator gets none (404);
/// - nor does an address on a domain another team owns (`owner`, of the address's verified
///   domain, is not `team`), unless mailed: that team's people are its to make;
/// - nor does someone in another team who is not in this one, unless mailed or the team owns
///   their domain;
/// - a member already in the team gets one only if the inviter (`granter`) could have given
///   them the role they have (else a manager's token would become an admin's key);
/// - the key is proven when mailed, or when the person is new and the team owns the domain;
///   otherwise it is confined to the inviting team.
pub fn token_key(
    invitee: TokenInvitee,
    granter: Role,
    team: uuid::Uuid,
    owner: Option<uuid::Uuid>,
    mailed: bool,
) -> Option<TokenKey> {
    let team_owns = owner == Some(team);
    let other_owner = owner.is_some_and(|o| o != team);
    if invitee.barred || invitee.proven_key || (other_owner && !mailed) {
        return None;
    }
    // Someone in another team and not in this one is that team's person: an unmailed token
    // takes them in only when the team owns their domain, as SCIM links them (`may_link`),
    // so that no token joins them without their mailbox or reads their profile.
    if invitee.elsewhere && invitee.member.is_none() && !mailed && !team_owns {
        return None;
    }
    if invitee
        .member
        .is_some_and(|role| !may_invite(granter, role))
    {
        return None;
    }
    Some(if mailed || (!invitee.exists && team_owns) {
        TokenKey::Proven
    } else {
        TokenKey::Confined
    })
}

/// A membership as the role rules see it, read inside the transaction that changes it.
#[derive(Clone, Copy, Debug)]
pub struct Standing {
    pub role: Role,
    pub active: bool,
    /// A service account or deployment key: its role never changes.
    pub account: bool,
    /// The team's other admins who count (`counts_as_admin`).
    pub other_admins: u64,
}

impl Standing {
    /// Whether giving the membership this role and state leaves the team without an admin
    /// who counts (`leaves_without_admin`).
    pub fn leaves_without_admin(&self, role: Role, active: bool) -> bool {
        let counts = |r, a| u64::from(counts_as_admin(r, a, self.account));
        let before = self.other_admins + counts(self.role, self.active);
        let after = self.other_admins + counts(role, active);
        leaves_without_admin(before, after)
    }

    /// Whether removing the membership leaves the team without an admin who counts.
    pub fn removal_leaves_without_admin(&self) -> bool {
        self.leaves_without_admin(Role::Member, false)
    }

    /// Refuses a role change the rules forbid: accounts keep theirs, and the last admin who
    /// counts stays one.
    pub fn check_role_change(&self, role: Role) -> StoreResult<()> {
        if self.role == role {
            Ok(())
        } else if self.account {
            Err(StoreError::fixed_role())
        } else if self.leaves_without_admin(role, self.active) {
            Err(StoreError::last_admin_demoted())
        } else {
            Ok(())
        }
    }

    /// Refuses a SCIM replace that demotes or suspends the last admin who counts.
    pub fn check_provisioning(&self, role: Role, active: bool) -> StoreResult<()> {
        if !self.leaves_without_admin(role, active) {
            Ok(())
        } else if self.active && !active {
            Err(StoreError::last_admin_suspended())
        } else {
            Err(StoreError::last_admin_demoted())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_grant_every_role_and_managers_all_but_admin() {
        for role in Role::ALL {
            assert!(may_invite(Role::Admin, role));
            assert_eq!(may_invite(Role::Manager, role), role != Role::Admin);
            for other in [Role::Member, Role::Developer, Role::Restricted] {
                assert!(!may_invite(other, role));
            }
        }
    }

    #[test]
    fn a_team_owns_the_addresses_of_its_domains_in_any_spelling() {
        let verified = vec!["acme.test".to_owned(), "xn--bcher-kva.de".to_owned()];
        assert!(owns_email("Ann@ACME.test", &verified));
        assert!(owns_email("ü@bücher.de", &verified));
        assert!(!owns_email("ann@sub.acme.test", &verified));
        assert!(!owns_email("ann@acme.test.evil", &verified));
        assert!(!owns_email("no-at-sign", &verified));
        assert!(!owns_email("ann@acme.test", &[]));
    }

    #[test]
    fn reserved_addresses_are_roster_s_own() {
        assert!(is_reserved_address("0f3a@service-account.roster.invalid"));
        assert!(is_reserved_address("operator@roster.localhost"));
        assert!(is_reserved_address("x@ROSTER.invalid"));
        assert!(!is_reserved_address("ann@roster.example"));
        assert!(!is_reserved_address("ann@notroster.invalid"));
        assert!(is_reserved_domain("service-account.roster.invalid"));
        assert!(is_account_address("0f3a@deployment-key.roster.invalid"));
        assert!(!is_account_address("operator@roster.localhost"));
        assert!(!is_reserved_domain("roster.example"));
    }

    #[test]
    fn only_an_owning_team_links_someone_it_does_not_have() {
        let owned = Known {
            owned: true,
            ..Known::default()
        };
        assert!(may_link(owned));
        assert!(!may_link(Known::default()));
        assert!(!may_link(Known {
            member: true,
            ..owned
        }));
        assert!(!may_link(Known {
            account: true,
            ..owned
        }));
    }

    #[test]
    fn a_person_is_rewritten_by_their_only_team_or_their_domain_s_owner() {
        assert!(may_rewrite_person(1, false, false));
        assert!(may_rewrite_person(3, true, false));
        assert!(!may_rewrite_person(2, false, false));
        // An operator's address and name are no team's to change, even their only team's.
        assert!(!may_rewrite_person(1, false, true));
        assert!(!may_rewrite_person(1, true, true));
    }

    #[test]
    fn addresses_of_a_verified_domain_belong_to_its_team() {
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        assert!(may_use_address(a, None));
        assert!(may_use_address(a, Some(a)));
        assert!(!may_use_address(a, Some(b)));
    }

    #[test]
    fn only_active_people_count_as_admins() {
        assert!(counts_as_admin(Role::Admin, true, false));
        assert!(!counts_as_admin(Role::Admin, false, false));
        assert!(!counts_as_admin(Role::Admin, true, true));
        assert!(!counts_as_admin(Role::Manager, true, false));
        assert!(leaves_without_admin(1, 0));
        assert!(!leaves_without_admin(0, 0));
        assert!(!leaves_without_admin(2, 1));
    }

    #[test]
    fn a_token_gives_a_key_only_to_who_it_cannot_harm() {
        let (team, other) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let (none, ours, theirs) = (None, Some(team), Some(other));
        let new = TokenInvitee::default();
        let known = TokenInvitee {
            exists: true,
            ..new
        };
        let key =
            |invitee, granter, owner, mailed| token_key(invitee, granter, team, owner, mailed);
        assert_eq!(
            key(new, Role::Manager, none, false),
            Some(TokenKey::Confined)
        );
        assert_eq!(key(new, Role::Manager, ours, false), Some(TokenKey::Proven));
        assert_eq!(key(new, Role::Manager, none, true), Some(TokenKey::Proven));
        assert_eq!(
            key(known, Role::Admin, ours, false),
            Some(TokenKey::Confined)
        );
        assert_eq!(key(known, Role::Admin, none, true), Some(TokenKey::Proven));
        let elsewhere = TokenInvitee {
            elsewhere: true,
            ..known
        };
        assert_eq!(
            key(elsewhere, Role::Admin, none, false),
            None,
            "another team's"
        );
        assert_eq!(
            key(elsewhere, Role::Admin, ours, false),
            Some(TokenKey::Confined)
        );
        assert_eq!(
            key(known, Role::Admin, none, false),
            Some(TokenKey::Confined),
            "in no team: a former member invited back"
        );
        assert_eq!(
            key(new, Role::Admin, theirs, false),
            None,
            "another's domain"
        );
        assert_eq!(key(new, Role::Admin, theirs, true), Some(TokenKey::Proven));
        for refused in [
            TokenInvitee {
                proven_key: true,
                ..known
            },
            TokenInvitee {
                barred: true,
                ..known
            },
        ] {
            assert_eq!(key(refused, Role::Admin, ours, true), None);
        }
        let admin_member = TokenInvitee {
            member: Some(Role::Admin),
            ..known
        };
        assert_eq!(key(admin_member, Role::Manager, none, false), None);
        assert_eq!(
            key(admin_member, Role::Admin, none, false),
            Some(TokenKey::Confined)
        );
    }

    #[test]
    fn the_last_active_admin_person_stays_one() {
        let last = Standing {
            role: Role::Admin,
            active: true,
            account: false,
            other_admins: 0,
        };
        assert!(last.check_role_change(Role::Member).is_err());
        assert!(last.check_role_change(Role::Admin).is_ok());
        assert!(last.check_provisioning(Role::Admin, false).is_err());
        assert!(last.removal_leaves_without_admin());
        // A suspended admin, an admin account, or one of two admins may go.
        for other in [
            Standing {
                active: false,
                ..last
            },
            Standing {
                account: true,
                ..last
            },
            Standing {
                other_admins: 1,
                ..last
            },
        ] {
            assert!(!other.removal_leaves_without_admin(), "{other:?}");
        }
        let account = Standing {
            account: true,
            ..last
        };
        assert!(
            account.check_role_change(Role::Member).is_err(),
            "fixed role"
        );
    }
}
