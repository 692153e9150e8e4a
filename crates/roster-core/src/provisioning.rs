//! The records the SCIM face reads and writes through the store: a SCIM User is a person and
//! their membership in one team, a SCIM Group is a team group. The protocol itself (filters,
//! PATCH, the JSON shapes) lives in `roster-scim`; this is only what the database keeps.

use crate::{Role, StoreError, StoreResult, Timestamp, rules};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A person as one team provisions them.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionedUser {
    pub id: Uuid,
    /// The membership's id: the stable order of SCIM lists.
    pub seq: i64,
    pub email: String,
    /// The userName as the identity provider sent it; the email for people added otherwise.
    pub user_name: String,
    /// The person's name as the team API shows it.
    pub name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub role: Role,
    /// The other stored SCIM attributes (name parts, displayName, emails, enterprise
    /// extension) as a JSON object, or `None` when no identity provider wrote any.
    pub attributes: Option<String>,
    pub created: Timestamp,
    pub modified: Timestamp,
    /// Grows by one on every change: the weak ETag.
    pub version: i64,
}

/// What a SCIM create or replace writes for a user.
#[derive(Clone, Debug, PartialEq)]
pub struct UserWrite {
    pub user_name: String,
    /// The account email (userName when it is an address, else the primary or first email).
    pub email: String,
    /// A new name for the person, or `None` to keep theirs.
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    /// `None`: the team's default role on create, the present role on replace.
    pub role: Option<Role>,
    pub attributes: String,
}

/// An exact lookup a SCIM filter can be narrowed to in SQL (values already lower-cased where
/// the attribute is compared case-insensitively).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserKey {
    Id(Uuid),
    UserName(String),
    ExternalId(String),
    DisplayName(String),
    Email(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionedGroup {
    pub id: Uuid,
    pub name: String,
    pub external_id: Option<String>,
    pub created: Timestamp,
    pub modified: Timestamp,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupKey {
    Id(Uuid),
    DisplayName(String),
    ExternalId(String),
    /// Groups holding this user.
    Member(Uuid),
}

/// A change to a group's members by user id; each costs O(ids named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<Uuid>),
    Remove(Vec<Uuid>),
    RemoveAll,
    ReplaceAll(Vec<Uuid>),
}

/// What a SCIM create, replace or PATCH writes for a group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupWrite {
    /// A new displayName, or `None` to keep it (create requires one).
    pub name: Option<String>,
    /// A new externalId (`Some(None)` clears it), or `None` to keep it.
    pub external_id: Option<Option<String>>,
    pub members: Vec<MemberChange>,
}

/// A person already known by one of a batch's emails: `(email_norm, name, account, member)`,
/// where `account` is a service account or deployment key and `member` is in this team.
pub type KnownPerson = (String, String, bool, bool);

/// Which emails of a batch of creates the team may not have (`barred`), and which name people
/// it links (`linked`): someone known may be linked only under `rules::may_link`; an address
/// nobody has yet may be given unless it is Roster's own or on a domain another team owns
/// (`holders`: the teams the batch's domains are verified for).
pub fn linking(
    team: Uuid,
    emails: &[String],
    known: &[KnownPerson],
    verified: &[String],
    holders: &HashMap<String, Uuid>,
) -> (HashSet<String>, HashSet<String>) {
    let (mut barred, mut linked) = (HashSet::new(), HashSet::new());
    for (email, _, account, member) in known {
        let known = rules::Known {
            account: *account,
            member: *member,
            owned: rules::owns_email(email, verified),
        };
        if rules::may_link(known) {
            linked.insert(email.clone());
        } else {
            barred.insert(email.clone());
        }
    }
    for email in emails {
        if !linked.contains(email) && address_refused(team, email, holders) {
            barred.insert(email.clone());
        }
    }
    (barred, linked)
}

fn address_refused(team: Uuid, email: &str, holders: &HashMap<String, Uuid>) -> bool {
    let holder = rules::email_domain(email).and_then(|d| holders.get(&d).copied());
    rules::is_reserved_address(email) || !rules::may_use_address(team, holder)
}

/// An address a team wants to give one of its people (SCIM): refused, alike for every cause,
/// when it is Roster's own or on a domain another team owns. `Ok(true)` when the team owns it:
/// then the address is the person's proven one, as the domain's owner says so.
pub fn check_address(
    team: Uuid,
    email: &str,
    holders: &HashMap<String, Uuid>,
) -> StoreResult<bool> {
    if address_refused(team, email, holders) {
        return Err(StoreError::email_unavailable());
    }
    let holder = rules::email_domain(email).and_then(|d| holders.get(&d).copied());
    Ok(holder == Some(team))
}

/// Which of a person's global attributes (those every team of theirs sees) a SCIM replace
/// changes. Sending them unchanged (identity providers send the whole user every cycle), or
/// the email in another case, is no change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersonChange {
    pub email: bool,
    pub name: bool,
}

impl PersonChange {
    pub fn of(present: &ProvisionedUser, write: &UserWrite) -> Self {
        PersonChange {
            email: crate::email::normalize(&write.email) != crate::email::normalize(&present.email),
            name: write
                .name
                .as_deref()
                .is_some_and(|n| n.trim() != present.name),
        }
    }

    pub fn any(self) -> bool {
        self.email || self.name
    }

    /// The team may make the change (`rules::may_rewrite_person`): `teams` is how many teams
    /// the person is in, `operator` whether they are an operator, `verified` the team's
    /// verified domains.
    pub fn check(
        self,
        (teams, operator): (i64, bool),
        present: &ProvisionedUser,
        verified: &[String],
    ) -> StoreResult<()> {
        let teams = u64::try_from(teams).unwrap_or(u64::MAX);
        let owned = rules::owns_email(&present.email, verified);
        if !self.any() || rules::may_rewrite_person(teams, owned, operator) {
            Ok(())
        } else {
            Err(StoreError::person_not_owned())
        }
    }
}

/// Which of a batch of creates may go ahead, as if they ran one after another in order: a
/// create is refused on `userName` when the team (or an earlier create of the batch) has that
/// userName, and on `emails` when the person with the email may not join (already a member,
/// or an account rather than a person) or an earlier create of the batch took them. Both
/// backends read `taken` (the team's userName keys among those asked) and `barred` (the
/// emails among those asked that cannot join) in one query each, then apply this.
pub fn admit(
    writes: &[UserWrite],
    mut taken: std::collections::HashSet<String>,
    mut barred: std::collections::HashSet<String>,
) -> Vec<Result<(), crate::StoreError>> {
    writes
        .iter()
        .map(|w| {
            let name = w.user_name.to_lowercase();
            let email = crate::email::normalize(&w.email);
            if taken.contains(&name) {
                return Err(crate::StoreError::Conflict { field: "userName" });
            }
            if barred.contains(&email) {
                return Err(crate::StoreError::Conflict { field: "emails" });
            }
            taken.insert(name);
            barred.insert(email);
            Ok(())
        })
        .collect()
}

/// Each create's answer from `admit`'s verdicts and the people the batch made (found again by
/// their email).
pub fn answers(
    writes: &[UserWrite],
    admitted: Vec<Result<(), crate::StoreError>>,
    made: Vec<ProvisionedUser>,
) -> Vec<crate::StoreResult<ProvisionedUser>> {
    let mut made: std::collections::HashMap<String, ProvisionedUser> = made
        .into_iter()
        .map(|u| (crate::email::normalize(&u.email), u))
        .collect();
    writes
        .iter()
        .zip(admitted)
        .map(|(w, ok)| {
            ok?;
            // Not made: someone took the address between the check and the write.
            made.remove(&crate::email::normalize(&w.email))
                .ok_or_else(StoreError::email_unavailable)
        })
        .collect()
}
