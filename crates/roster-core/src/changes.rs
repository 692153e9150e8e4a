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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug)]
pub struct Changes {
    count: AtomicU64,
    watched: AtomicBool,
}

impl Changes {
    /// A count that nothing watches yet: [`Changes::current`] is `None` until a watcher says
    /// it sees the database.
    pub fn unwatched() -> Self {
        Changes {
            count: AtomicU64::new(0),
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

    /// Something may have changed: everything filed before is stale.
    pub fn bump(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// A guard for one write: when dropped (the write has committed, failed or been
    /// abandoned) the count moves. Each backend's write methods hold one, so that a change
    /// made in this process is seen by the next read whoever made it.
    pub fn writing(&self) -> Writing<'_> {
        Writing(self)
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
}
