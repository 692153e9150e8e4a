//! What this node remembers of the database between requests: the holder of each key, each
//! caller's role in each team, and each team's data version. A read that is remembered costs
//! no round trip, which is most of what serving a kept page costs otherwise.
//!
//! Everything here is filed under the store's count of changes ([`roster_core::changes`])
//! taken before the database was read, and answered only while the count has not moved: the
//! store moves it when any of its writes finishes, and when it sees a change made elsewhere.
//! Keys' holders and roles are filed under the count of access changes, which writes that
//! only add (SCIM creates, new members) leave alone; team versions under the count of all.
//! So a revoked key, a removed member or a new team version is seen by the next request, as if
//! nothing were remembered (changes from other processes or nodes: once the store sees them).

use roster_core::changes::Changes;
use roster_core::keys::KeyHash;
use roster_core::{Principal, Role, StoreResult};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The most entries one memory holds; when full it starts again (entries are small and
/// cheap to read back).
const MAX_ENTRIES: usize = 100_000;

/// A key's holder is read again at least this often even when nothing changed, so that the
/// store goes on noting when the holder was last active (it does so at most once a minute).
const PRINCIPAL_FOR: Duration = Duration::from_secs(30);

pub struct Recall {
    changes: Arc<Changes>,
    principals: Memory<[u8; 32], Principal>,
    roles: Memory<(Uuid, Uuid), Role>,
    /// The team a SCIM key's service account is the admin of, by the account's id.
    scim_teams: Memory<Uuid, Uuid>,
    versions: Memory<Uuid, i64>,
    /// The team of each group: it never changes (ids are never reused), so an answer stays
    /// good whatever is written after it.
    group_teams: Memory<Uuid, Uuid>,
}

impl Recall {
    pub fn new(changes: Arc<Changes>) -> Self {
        Recall {
            changes,
            principals: Memory::new(Some(PRINCIPAL_FOR)),
            roles: Memory::new(None),
            scim_teams: Memory::new(None),
            versions: Memory::new(None),
            group_teams: Memory::new(None),
        }
    }

    /// The holder of `key`; `read` asks the store. Unknown keys are never remembered.
    pub async fn principal(
        &self,
        key: &KeyHash,
        read: impl Future<Output = StoreResult<Option<Principal>>>,
    ) -> StoreResult<Option<Principal>> {
        let count = self.changes.current_access();
        self.principals.recall(count, key.0, read).await
    }

    /// `user`'s role in `org` (for operators, `Admin` once the team is known to exist).
    pub async fn role(
        &self,
        org: Uuid,
        user: Uuid,
        read: impl Future<Output = StoreResult<Option<Role>>>,
    ) -> StoreResult<Option<Role>> {
        let count = self.changes.current_access();
        self.roles.recall(count, (org, user), read).await
    }

    /// The team whose admin the service account `account` is; `read` asks the store.
    pub async fn scim_team(
        &self,
        account: Uuid,
        read: impl Future<Output = StoreResult<Option<Uuid>>>,
    ) -> StoreResult<Option<Uuid>> {
        let count = self.changes.current_access();
        self.scim_teams.recall(count, account, read).await
    }

    /// The team of group `group`, or `None` for no such group; `read` asks the store.
    pub async fn group_team(
        &self,
        group: Uuid,
        read: impl Future<Output = StoreResult<Option<Uuid>>>,
    ) -> StoreResult<Option<Uuid>> {
        self.group_teams.recall(Some(0), group, read).await
    }

    /// The data version of `org`.
    pub async fn team_version(
        &self,
        org: Uuid,
        read: impl Future<Output = StoreResult<i64>>,
    ) -> StoreResult<i64> {
        let found = self
            .versions
            .recall(self.changes.current(), org, async { read.await.map(Some) })
            .await?;
        Ok(found.unwrap_or_default())
    }
}

/// One kind of remembered answer, each filed with the count of changes it was read under.
struct Memory<K, V> {
    fresh_for: Option<Duration>,
    entries: Mutex<HashMap<K, Filed<V>>>,
}

struct Filed<V> {
    count: u64,
    at: Instant,
    value: V,
}

impl<K: Hash + Eq, V: Clone> Memory<K, V> {
    fn new(fresh_for: Option<Duration>) -> Self {
        Memory {
            fresh_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<K, Filed<V>>> {
        // Every update is one insert or clear, so a map seen after a panic is still whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value filed under `key` at `count`, else `read`'s (filed when found). `count` is
    /// taken by the caller before anything is read.
    async fn recall(
        &self,
        count: Option<u64>,
        key: K,
        read: impl Future<Output = StoreResult<Option<V>>>,
    ) -> StoreResult<Option<V>> {
        if let Some(count) = count {
            let entries = self.entries();
            if let Some(filed) = entries.get(&key)
                && filed.count == count
                && self.fresh_for.is_none_or(|d| filed.at.elapsed() < d)
            {
                return Ok(Some(filed.value.clone()));
            }
        }
        let found = read.await?;
        if let (Some(count), Some(value)) = (count, &found) {
            let mut entries = self.entries();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            let filed = Filed {
                count,
                at: Instant::now(),
                value: value.clone(),
            };
            entries.insert(key, filed);
        }
        Ok(found)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_from_memory_only_while_nothing_changed() {
        let changes = Arc::new(Changes::new(Duration::from_secs(60)));
        let recall = Recall::new(changes.clone());
        let org = Uuid::new_v4();
        let read = |v: i64| async move { Ok(v) };
        // Unproven: every answer is read.
        assert_eq!(recall.team_version(org, read(1)).await.unwrap(), 1);
        assert_eq!(recall.team_version(org, read(2)).await.unwrap(), 2);
        changes.proven(Instant::now());
        assert_eq!(recall.team_version(org, read(3)).await.unwrap(), 3);
        assert_eq!(recall.team_version(org, read(4)).await.unwrap(), 3);
        changes.bump();
        assert_eq!(recall.team_version(org, read(5)).await.unwrap(), 5);
        changes.lost();
        assert_eq!(recall.team_version(org, read(6)).await.unwrap(), 6);
    }

    #[tokio::test]
    async fn roles_outlive_writes_that_only_add() {
        let changes = Arc::new(Changes::new(Duration::from_secs(60)));
        changes.proven(Instant::now());
        let recall = Recall::new(changes.clone());
        let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
        let role = |r: Role| async move { Ok(Some(r)) };
        let version = |v: i64| async move { Ok(v) };
        assert_eq!(
            recall.role(org, user, role(Role::Member)).await.unwrap(),
            Some(Role::Member)
        );
        assert_eq!(recall.team_version(org, version(1)).await.unwrap(), 1);
        changes.bump_data();
        assert_eq!(
            recall.role(org, user, role(Role::Admin)).await.unwrap(),
            Some(Role::Member)
        );
        assert_eq!(recall.team_version(org, version(2)).await.unwrap(), 2);
        changes.bump();
        assert_eq!(
            recall.role(org, user, role(Role::Admin)).await.unwrap(),
            Some(Role::Admin)
        );
    }
}
