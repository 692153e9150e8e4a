//! The records Roster serves. Their serde form is the wire form of the API contract.

use crate::Timestamp;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

/// A team role. The numbers are the contract's and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Member = 1,
    Admin = 2,
    Developer = 3,
    Restricted = 4,
    Manager = 5,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Member,
        Role::Admin,
        Role::Developer,
        Role::Restricted,
        Role::Manager,
    ];

    pub fn from_i64(n: i64) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_i64() == n)
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The role's name, as import files, SCIM and the command line write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Restricted => "restricted",
            Role::Manager => "manager",
        }
    }

    /// A role by its number (`1`..`5`) or its name, in any case (`Manager`).
    pub fn parse(text: &str) -> Option<Role> {
        let text = text.trim();
        match text.parse::<i64>() {
            Ok(n) => Role::from_i64(n),
            Err(_) => Self::ALL
                .into_iter()
                .find(|r| r.name().eq_ignore_ascii_case(text)),
        }
    }

    /// What [`Role::parse`] takes, for messages.
    pub const EXPECTED: &'static str = "1-5 or member, admin, developer, restricted, manager";

    /// Admins and managers administer the team's people, groups and campaigns.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.as_i64())
    }
}

impl utoipa::PartialSchema for Role {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some(Role::ALL.map(Role::as_i64)))
            .description(Some(
                "1 member, 2 admin, 3 developer, 4 restricted (the default), 5 manager",
            ))
            .into()
    }
}

impl ToSchema for Role {}

/// A person or an account. A person known only by email has not joined: `date_joined` is null.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub service_account: bool,
    pub deployment_key_account: bool,
    pub date_joined: Option<Timestamp>,
}

/// The caller of a request, resolved from their key.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    /// Only ever true for a proven key: an unproven one never acts as an operator.
    pub is_operator: bool,
    /// `Some(team)` for an *unproven* key (docs/SECURITY.md): one issued by accepting an
    /// invitation token of a team that does not own the email's domain. It acts in that team
    /// alone, as if its holder were in no other.
    pub confined_to: Option<Uuid>,
    /// The key's holder proved (with a proven key, or through the team that owns its domain)
    /// the address they have now: only then may they answer invitations sent to it.
    pub email_proven: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub scope: Option<String>,
    pub default_role: Role,
}

/// A team named in another record (an invitation's `organization`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrganizationRef {
    pub id: Uuid,
    pub name: String,
}

/// One of a person's group memberships, as the member detail shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberGroup {
    /// The group membership's id.
    pub id: Uuid,
    pub group_id: Uuid,
    pub group_name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupRef {
    pub id: Uuid,
    pub name: String,
}

/// A person's membership of a team.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Membership {
    pub id: i64,
    #[serde(skip)]
    pub organization: Uuid,
    pub user: User,
    pub role: Role,
    pub groups: Vec<GroupRef>,
    /// The last authenticated request by this person (to the minute).
    pub last_active_at: Option<Timestamp>,
    /// The last time this person was issued a key (joined, accepted an invitation, got a key).
    pub last_login_at: Option<Timestamp>,
}

/// One line of `/api/me/`'s `organization_memberships`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MembershipSummary {
    pub organization: Uuid,
    pub organization_name: String,
    /// The team's scope (`@acme`), as the team detail shows it.
    pub scope: Option<String>,
    pub role: Role,
    /// When the person joined the team: the first they joined is their primary team.
    #[serde(skip)]
    pub joined: Timestamp,
}

/// A permission group of a team.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Group {
    pub id: Uuid,
    #[serde(skip)]
    pub organization: Uuid,
    pub name: String,
    /// Memberships, held ones included.
    pub num_members: u64,
    pub created_at: Timestamp,
    /// Grows with every change to the group or its members: its weak ETag (and SCIM's).
    #[serde(skip)]
    pub version: i64,
}

/// A campaign as listed on a group membership.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignRef {
    pub id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Someone in a group: a team member (`user`), or an email of a verified domain whose owner
/// has not joined the team yet (`user: null`, a held membership).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupMembership {
    pub id: Uuid,
    pub user: Option<User>,
    pub email: String,
    pub created_at: Timestamp,
    /// The team's campaigns whose members include this email.
    pub campaigns: Vec<CampaignRef>,
    pub last_active_at: Option<Timestamp>,
}

/// An email domain verified for a team: its addresses may be put in the team's groups before
/// their owners join.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EmailDomain {
    pub id: Uuid,
    pub domain: String,
    pub verified: bool,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
}

/// A campaign of a team: a roster of people by email, each with reporting data.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Campaign {
    pub id: Uuid,
    #[serde(skip)]
    pub organization: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Grows with every change to the campaign or its members: its weak ETag.
    #[serde(skip)]
    pub version: i64,
}

/// What a change of a member list would do, found by making it and rolling it back: the items
/// it would add and remove, those whose data it would change (campaigns), and how many of the
/// people it names it would leave as they are. Each item has the list's shape.
#[derive(Clone, Debug, Serialize)]
pub struct MembersPreview<T> {
    pub added: Vec<T>,
    pub removed: Vec<T>,
    pub updated: Vec<T>,
    pub unchanged: u64,
}

/// Someone in a campaign, by email, with their free-form reporting `data`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CampaignMember {
    pub id: Uuid,
    pub email: String,
    /// The JSON object exactly as the client sent it (key order and number precision kept).
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
    /// The team member with this email, if any.
    pub account: Option<User>,
    /// The ids of the team's groups this email is in.
    pub groups: Vec<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
}

/// A service account or a deployment key: an account made for one team, with a fixed role.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: Uuid,
    pub organization: Uuid,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_active_at: Option<Timestamp>,
    /// Deployment keys only: their key, which the contract shows on every read.
    pub token: Option<String>,
}

/// A pending invitation to join a team, in PixieBrix's PendingInvitation shape.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// Who invited (null if that account is gone).
    pub inviter: Option<User>,
    pub organization: OrganizationRef,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_their_numbers() {
        for r in Role::ALL {
            assert_eq!(Role::from_i64(r.as_i64()), Some(r));
        }
        assert_eq!(Role::from_i64(0), None);
        assert_eq!(Role::from_i64(6), None);
        assert!(Role::Manager.can_manage() && Role::Admin.can_manage());
        assert!(!Role::Member.can_manage() && !Role::Restricted.can_manage());
    }
}
