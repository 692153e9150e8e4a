//! Turns at rewriting one person on this node: a SCIM PUT or PATCH reads the user, applies
//! its change and writes under the version it read, so two at once on one person would make
//! one of them read again. An identity provider sends bursts of PATCHes to the same user
//! (one per changed attribute); taking turns here makes them one after another on a node,
//! so none is ever refused for the others (docs/API.md: without `If-Match` a write is made
//! again of the new state, never lost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// A person's turn in a team: (team, user id). Keyed by team as well, so that one team's
/// requests never queue another team's writes of a person they share (those meet in the
/// store's version check and are made again).
type Key = (Uuid, Uuid);

#[derive(Default)]
pub struct Turns(Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>);

/// Past this many entries, those no one holds or waits for are swept when a turn is taken (a
/// waiter that gave up leaves its entry behind).
const SWEEP_PAST: usize = 256;

/// A person's turn, held until dropped.
pub struct Turn {
    turns: Arc<Turns>,
    person: Key,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for the turn of `person` (a user id) in `team`.
    pub async fn take(self: &Arc<Self>, team: Uuid, person: Uuid) -> Turn {
        let person = (team, person);
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() > SWEEP_PAST {
                map.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            map.entry(person).or_default().clone()
        };
        Turn {
            turns: self.clone(),
            person,
            guard: Some(lock.lock_owned().await),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.turns.0.lock().unwrap_or_else(|e| e.into_inner());
        // Gone once no one holds or waits for it (the map's own reference is the last).
        if map
            .get(&self.person)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.person);
        }
    }
}
