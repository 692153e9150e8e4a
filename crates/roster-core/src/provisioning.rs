//! The records the SCIM face reads and writes through the store: a SCIM User is a person and
//! their membership in one team, a SCIM Group is a team group. The protocol itself (filters,
//! PATCH, the JSON shapes) lives in `roster-scim`; this is only what the database keeps.

use crate::{Role, Timestamp};
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
            made.remove(&crate::email::normalize(&w.email))
                .ok_or(crate::StoreError::NotFound)
        })
        .collect()
}
