//! The change history: who changed what in a team, through which face, in PixieBrix's
//! `AuditEvent` shape. Every change writes its event in its own transaction, so the two commit
//! or roll back together; the storage use cases take an [`Origin`] to say who acts.

use crate::{Timestamp, User};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Through which of Roster's faces a change came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    Api,
    Scim,
    Cli,
    Console,
}

impl Face {
    pub const ALL: [Face; 4] = [Face::Api, Face::Scim, Face::Cli, Face::Console];

    pub fn as_str(self) -> &'static str {
        match self {
            Face::Api => "api",
            Face::Scim => "scim",
            Face::Cli => "cli",
            Face::Console => "console",
        }
    }

    pub fn parse(text: &str) -> Option<Face> {
        Face::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// Who makes a change and how: the acting user (none for the command line, whose operator is
/// whoever runs it on the server), the face, and the request that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub actor: Option<Uuid>,
    pub face: Face,
    pub request_id: Option<String>,
}

impl Origin {
    /// A change made with the `roster` command line.
    pub fn cli() -> Origin {
        Origin {
            actor: None,
            face: Face::Cli,
            request_id: None,
        }
    }
}

/// An object an event names: what it is (`organization`, `membership`, `group`, ...), its id,
/// and a label for people (a name or an email, as it was then).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditObject {
    pub id: String,
    pub content_type: String,
    pub label: String,
}

/// One change, as the history shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    /// Who acted, as they were then; null for the command line.
    pub actor: Option<User>,
    /// What the change was made to: the team, or a group for changes to its members.
    pub target_object: AuditObject,
    /// The thing changed, when the change is to one thing in the target.
    pub action_object: Option<AuditObject>,
    /// `<content type>.<verb>`, e.g. `group.created`, `group_membership.replaced`.
    pub action_type: String,
    /// What changed: new values, `{"from", "to"}` pairs, or the people added and removed.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
    pub timestamp: Timestamp,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
    pub face: Face,
    /// The event's position in the history (newer events have larger ones); not shown.
    #[serde(skip)]
    pub seq: i64,
}

impl AuditEvent {
    pub fn cursor(&self) -> AuditCursor {
        AuditCursor(self.seq)
    }
}

/// Whose history to read: a team's, or one group's (its own events and its members').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditScope {
    Organization(Uuid),
    Group(Uuid),
}

/// The history's filters, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<Uuid>,
    pub action_type: Option<String>,
    /// The target's or the action object's content type.
    pub content_type: Option<String>,
    /// The target's or the action object's id.
    pub object: Option<String>,
    /// Changes made through this face (the API, SCIM, the command line, the console).
    pub face: Option<Face>,
    /// From this time on (inclusive).
    pub since: Option<Timestamp>,
    /// Before this time (exclusive).
    pub until: Option<Timestamp>,
}

/// The position of an event in the history, which is read newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditCursor(pub i64);

/// The content types events name, for filters to check against.
pub const CONTENT_TYPES: [&str; 9] = [
    "organization",
    "membership",
    "group",
    "campaign",
    "service_account",
    "deployment_key",
    "invitation",
    "email_domain",
    "webhook",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_round_trip_their_names() {
        for face in Face::ALL {
            assert_eq!(Face::parse(face.as_str()), Some(face));
            assert_eq!(
                serde_json::to_string(&face).ok(),
                Some(format!("\"{}\"", face.as_str()))
            );
        }
        assert_eq!(Face::parse("API"), None);
    }
}
