//! A count of changes to the data, so that a node may answer from what it read before (a
//! key's holder, a caller's role, a team's version) without asking the database again, for
//! as long as nothing has changed since.
//!
//! The count moves on two signals: each backend's write methods move it when they finish
//! (after the commit, before the caller hears back, so a client always reads its own writes),
//! and each backend watches the database for changes made elsewhere (other processes on a
//! SQLite file, other nodes on PostgreSQL) and moves it when it sees one.
//!
//! Watching is proven, not assumed: the watcher says, again and again, "at this instant I had
//! seen every change committed before it" ([`Changes::proven`]). While the newest proof is
//! older than the bound (a listener connection silently dropped by the network, a watcher
//! stuck behind a busy database), or once the watcher says it lost the database
//! ([`Changes::lost`]), [`Changes::current`] is `None` and nothing may be answered from
//! memory. The first proof after such a gap moves the count, so nothing filed before the gap
//! is trusted after it.
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
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Changes {
    count: AtomicU64,
    access: AtomicU64,
    /// The newest proof, in microseconds after `origin` (plus one, so that 0 means none).
    proven: AtomicU64,
    origin: Instant,
    bound: u64,
}

impl Changes {
    /// A count that nothing has proven yet: [`Changes::current`] is `None` until a watcher
    /// proves that it sees the database, and again whenever its newest proof is older than
    /// `bound`.
    pub fn new(bound: Duration) -> Self {
        Changes {
            count: AtomicU64::new(0),
            access: AtomicU64::new(0),
            proven: AtomicU64::new(0),
            origin: Instant::now(),
            bound: micros(bound),
        }
    }

    /// The count now, or `None` while changes made elsewhere could go unseen.
    pub fn current(&self) -> Option<u64> {
        self.fresh().then(|| self.count.load(Ordering::SeqCst))
    }

    /// The count of access changes now (keys, people, roles), or `None` as for `current`.
    pub fn current_access(&self) -> Option<u64> {
        self.fresh().then(|| self.access.load(Ordering::SeqCst))
    }

    fn fresh(&self) -> bool {
        let proven = self.proven.load(Ordering::SeqCst);
        proven != 0 && self.since_origin(Instant::now()) <= proven.saturating_add(self.bound)
    }

    fn since_origin(&self, at: Instant) -> u64 {
        micros(at.saturating_duration_since(self.origin)) + 1
    }

    /// The watcher had seen, at `at`, every change committed before that instant. After a
    /// gap (no proof within the bound, or the watcher lost), the count moves first.
    pub fn proven(&self, at: Instant) {
        if !self.fresh() {
            self.bump();
        }
        self.proven
            .fetch_max(self.since_origin(at), Ordering::SeqCst);
    }

    /// The watcher lost the database (its connection failed): nothing is current until it
    /// proves itself again.
    pub fn lost(&self) {
        self.proven.store(0, Ordering::SeqCst);
        self.bump();
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
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
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

    fn proven(bound: Duration) -> Changes {
        let changes = Changes::new(bound);
        changes.proven(Instant::now());
        changes
    }

    #[test]
    fn nothing_is_current_until_proven_and_every_gap_moves_the_count() {
        let changes = Changes::new(Duration::from_secs(60));
        assert_eq!(changes.current(), None);
        changes.proven(Instant::now());
        let first = changes.current().expect("proven");
        changes.bump();
        assert_ne!(changes.current(), Some(first));
        let second = changes.current();
        changes.lost();
        assert_eq!(changes.current(), None);
        changes.proven(Instant::now());
        assert_ne!(changes.current(), second);
    }

    #[test]
    fn a_proof_older_than_the_bound_is_no_proof_and_the_next_one_moves_the_count() {
        let changes = proven(Duration::from_millis(30));
        let before = changes.current().expect("proven");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(changes.current(), None, "the proof has lapsed");
        changes.proven(Instant::now());
        let after = changes.current().expect("proven again");
        assert_ne!(after, before, "what was filed before the gap is stale");
        changes.proven(Instant::now());
        assert_eq!(
            changes.current(),
            Some(after),
            "a proof in time moves nothing"
        );
    }

    #[test]
    fn a_proof_counts_from_when_it_was_asked_for() {
        let changes = Changes::new(Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(80));
        changes.proven(Instant::now() - Duration::from_millis(60));
        assert_eq!(
            changes.current(),
            None,
            "asked 60 ms ago: older than the bound"
        );
        changes.proven(Instant::now() - Duration::from_millis(10));
        assert!(changes.current().is_some());
    }

    #[test]
    fn adding_moves_the_access_count_only_when_told() {
        let changes = proven(Duration::from_secs(60));
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
