//! The names of each team's groups, kept in memory by the team's group-names version: a
//! counter in the database that moves whenever a group is made, renamed, moved or removed.
//!
//! A member list shows each person's groups by id and name. Looking the names up in the
//! statement that reads the rows cost three group lookups per person, a third of a cold
//! page. A backend reads rows with their groups' ids and the version instead, takes the
//! names from here when the version matches, and otherwise reads rows and names again in
//! one snapshot, so a list never pairs rows with names of another moment.

use crate::GroupRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// How many names are kept for all teams together (a few tens of bytes each); past it the
/// memory starts again empty, and each team reloads its names on its next read.
const MAX_NAMES: usize = 200_000;

#[derive(Default)]
pub struct GroupNames {
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    teams: HashMap<Uuid, Arc<TeamNames>>,
    names: usize,
}

/// One team's group names at one version.
pub struct TeamNames {
    team: Uuid,
    version: i64,
    names: HashMap<Uuid, String>,
}

/// A row read with the group-names version of its team, in the same statement.
pub trait Versioned {
    fn team(&self) -> Uuid;
    fn names_version(&self) -> i64;
}

impl GroupNames {
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic elsewhere while holding the lock leaves a map that is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether anything is kept for team `org`, at whatever version.
    pub fn holds(&self, org: Uuid) -> bool {
        self.kept().teams.contains_key(&org)
    }

    /// The names kept for the team of `rows`, if they are of the version the rows were read
    /// at (and the rows all of one team, one version).
    pub fn fitting<R: Versioned>(&self, rows: &[R]) -> Option<Arc<TeamNames>> {
        let names = self.kept().teams.get(&rows.first()?.team())?.clone();
        names.fits(rows).then_some(names)
    }

    pub fn keep(&self, names: Arc<TeamNames>) {
        let mut kept = self.kept();
        if kept.names + names.names.len() > MAX_NAMES {
            kept.teams.clear();
            kept.names = 0;
        }
        kept.names += names.names.len();
        if let Some(old) = kept.teams.insert(names.team, names) {
            kept.names -= old.names.len();
        }
    }
}

impl TeamNames {
    pub fn new(team: Uuid, version: i64, names: HashMap<Uuid, String>) -> Self {
        TeamNames {
            team,
            version,
            names,
        }
    }

    /// Whether all `rows` are of this team at this version.
    pub fn fits<R: Versioned>(&self, rows: &[R]) -> bool {
        rows.iter()
            .all(|r| r.team() == self.team && r.names_version() == self.version)
    }

    /// The team's groups among `ids` (ids of other teams' groups are passed over), ordered
    /// by name, then id.
    pub fn groups(&self, ids: impl IntoIterator<Item = Uuid>) -> Vec<GroupRef> {
        let mut groups: Vec<GroupRef> = ids
            .into_iter()
            .filter_map(|id| {
                let name = self.names.get(&id)?.clone();
                Some(GroupRef { id, name })
            })
            .collect();
        groups.sort_unstable_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn groups_are_this_teams_by_name_then_id() {
        let names = TeamNames::new(
            id(7),
            3,
            HashMap::from([
                (id(2), "B".into()),
                (id(3), "A".into()),
                (id(1), "B".into()),
            ]),
        );
        let groups = names.groups([id(2), id(9), id(1), id(3)]);
        let seen: Vec<(Uuid, &str)> = groups.iter().map(|g| (g.id, g.name.as_str())).collect();
        assert_eq!(seen, [(id(3), "A"), (id(1), "B"), (id(2), "B")]);
    }

    #[test]
    fn past_the_limit_memory_starts_again() {
        let kept = GroupNames::default();
        let many = |team: u128, from: u128, n: u128| {
            Arc::new(TeamNames::new(
                id(team),
                1,
                (from..from + n).map(|i| (id(i), String::new())).collect(),
            ))
        };
        kept.keep(many(1, 0, MAX_NAMES as u128 - 10));
        kept.keep(many(2, 1 << 64, 10));
        assert!(kept.holds(id(1)) && kept.holds(id(2)));
        kept.keep(many(3, 1 << 65, 1));
        assert!(!kept.holds(id(1)) && !kept.holds(id(2)));
        assert!(kept.holds(id(3)));
        kept.keep(many(3, 1 << 66, 5));
        assert_eq!(
            kept.kept().names,
            5,
            "a team's new names replace its old ones"
        );
    }

    struct Row(u128, i64);

    impl Versioned for Row {
        fn team(&self) -> Uuid {
            id(self.0)
        }

        fn names_version(&self) -> i64 {
            self.1
        }
    }

    #[test]
    fn names_fit_rows_of_their_team_and_version_only() {
        let kept = GroupNames::default();
        kept.keep(Arc::new(TeamNames::new(id(1), 4, HashMap::new())));
        assert!(kept.fitting(&[Row(1, 4), Row(1, 4)]).is_some());
        assert!(kept.fitting(&[Row(1, 4), Row(1, 5)]).is_none());
        assert!(kept.fitting(&[Row(1, 4), Row(2, 4)]).is_none());
        assert!(kept.fitting(&[Row(2, 4)]).is_none());
        assert!(kept.fitting::<Row>(&[]).is_none());
    }
}
