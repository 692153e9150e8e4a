//! A count of changes to the data, so that a node may answer from what it read before (a
//! key's holder, a caller's role, a team's version) without asking the database again, for
//! as long as nothing has changed since.
//!
//! The count moves on two signals: each backend's write methods move it when they finish
//! (after the commit, before the caller hears back, so a client always reads its own writes),
//! and each backend watches the database for changes made elsewhere (other processes on a
//! SQLite file, other nodes on PostgreSQL) and moves it when it sees one. While a backend
//! cannot watch (its listener is down), [`Changes::current`] is `None` and nothing may be
//! answered from memory.
//!
//! A reader takes the count *before* it reads the database and files what it read under that
//! count; an entry is good only while the count has not moved. A change that lands between
//! the read and the filing has moved the count already, so a stale entry is never served.
//!
//! A second count, of *access* changes, moves with the first except on writes that only add
//! (new people, new memberships, new keys): those cannot change a key's holder or a role
//! anyone already has, which is all that is filed under it. So an identity provider creating
//! thousands of users a second does not make every one of its requests read its own key and
//! team again. Writes choose [`Changes::writing`] (both counts) or [`Changes::adding`]; the
//! watchers tell access changes made elsewhere apart in the database itself (triggers).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub struct Changes {
    count: AtomicU64,
    access: AtomicU64,
    watched: AtomicBool,
}

impl Changes {
    /// A count that nothing watches yet: [`Changes::current`] is `None` until a watcher says
    /// it sees the database.
    pub fn unwatched() -> Self {
        Changes {
            count: AtomicU64::new(0),
            access: AtomicU64::new(0),
            watched: AtomicBool::new(false),
        }
    }

    /// The count now, or `None` while changes made elsewhere could go unseen.
    pub fn current(&self) -> Option<u64> {
        if self.watched.load(Ordering::SeqCst) {
            Some(self.count.load(Ordering::SeqCst))
        } else {
            None
        }
    }

    /// The count of access changes now (keys, people, roles), or `None` as for `current`.
    pub fn current_access(&self) -> Option<u64> {
        if self.watched.load(Ordering::SeqCst) {
            Some(self.access.load(Ordering::SeqCst))
        } else {
            None
        }
    }

    /// Something may have changed: everything filed before is stale.
    pub fn bump(&self) {
        self.access.fetch_add(1, Ordering::SeqCst);
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Data changed, but no key's holder and no role anyone has.
    pub fn bump_data(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// A guard for one write: when dropped (the write has committed, failed or been
    /// abandoned) the count moves. Each backend's write methods hold one, so that a change
    /// made in this process is seen by the next read whoever made it.
    pub fn writing(&self) -> Writing<'_> {
        Writing(self)
    }

    /// The guard for a write that only adds rows: when dropped it moves the count of data
    /// changes, and the count of access changes only if [`Adding::changed_access`] was said.
    pub fn adding(&self) -> Adding<'_> {
        Adding(self, AtomicBool::new(false))
    }

    /// Whether the backend sees changes made elsewhere. Either way the count moves, so
    /// nothing filed before a gap in watching is trusted after it.
    pub fn set_watched(&self, watched: bool) {
        self.bump();
        self.watched.store(watched, Ordering::SeqCst);
    }
}

pub struct Writing<'a>(&'a Changes);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
}

pub struct Adding<'a>(&'a Changes, AtomicBool);

impl Adding<'_> {
    /// The write changed something a key's holder or a role is read from after all (a known
    /// person's name, say).
    pub fn changed_access(&self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

impl Drop for Adding<'_> {
    fn drop(&mut self) {
        if self.1.load(Ordering::SeqCst) {
            self.0.bump();
        } else {
            self.0.bump_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_current_until_watched_and_every_gap_moves_the_count() {
        let changes = Changes::unwatched();
        assert_eq!(changes.current(), None);
        changes.set_watched(true);
        let first = changes.current().expect("watched");
        changes.bump();
        assert_ne!(changes.current(), Some(first));
        let second = changes.current();
        changes.set_watched(false);
        assert_eq!(changes.current(), None);
        changes.set_watched(true);
        assert_ne!(changes.current(), second);
    }

    #[test]
    fn adding_moves_the_access_count_only_when_told() {
        let changes = Changes::unwatched();
        changes.set_watched(true);
        let (data, access) = (changes.current(), changes.current_access());
        drop(changes.adding());
        assert_ne!(changes.current(), data);
        assert_eq!(changes.current_access(), access);
        let adding = changes.adding();
        adding.changed_access();
        drop(adding);
        assert_ne!(changes.current_access(), access);
        let access = changes.current_access();
        drop(changes.writing());
        assert_ne!(changes.current_access(), access);
    }
}
