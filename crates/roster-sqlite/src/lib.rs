//! Roster's embedded storage: SQLite through sqlx, the default backend (zero set-up).
//!
//! One writer connection and a pool of readers share a WAL-mode database file. Every write
//! goes through the single writer inside `BEGIN IMMEDIATE`, so writers queue in the pool
//! instead of spinning on SQLite's busy lock, while readers never wait for writers. Other
//! processes on the same file (the `roster` operator commands while `serve` runs) wait on the
//! busy timeout.
//!
//! SQLite's automatic WAL checkpoint runs inside the transaction that commits, so a large
//! replace would also pay for copying the log back into the database. It is off; a background
//! task checkpoints once a second on its own connection instead, and empties the log when it
//! grows past its limit ([`checkpoint`]).
//!
//! Temporary tables and statement journals go to temporary files, not memory: a 100,000-item
//! replace kept about 50 MB of them on the heap (its payload table and the pages its
//! statements might have to roll back), for no measurable gain in time.
//!
//! The use cases are written once in `crates/roster-sql/`, compiled here against
//! `dialect`; what is SQLite's own are its bulk writes through JSON arrays (`payload`,
//! `import`, `provisioning_writes`) and page reads tuned to its indexes.

mod bulk;
mod dialect;
mod group_memberships;
mod import;
mod membership_pages;
mod payload;
mod provisioning_writes;
#[path = "../../roster-sql/mod.rs"]
mod sql;

use sql::{
    audit, campaign_members, campaigns, email_domains, group_names, memberships, preview,
    provisioning, rows, tx, users,
};

use roster_core::changes::Changes;
use roster_core::store::StoreOptions;
use roster_core::{StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    changes: Arc<Changes>,
    group_names: roster_core::group_names::GroupNames,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str, tuning: &StoreOptions) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite URL {url:?}: {e}")))?;
        let file = options.get_filename();
        // `sqlite://` alone would quietly serve a database that is gone at exit.
        if file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") {
            return Err(StoreError::Invalid {
                field: None,
                message: format!("{url:?} names no database file: use sqlite://path/to/roster.db"),
            });
        }
        if !tuning.initialize && !file.exists() {
            return Err(StoreError::Invalid {
                field: None,
                message: format!(
                    "no database at {}: `roster init` (or `roster serve`) creates one; or name \
                     another with --database",
                    file.display()
                ),
            });
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Another process's write (an operator's import) is waited for as long as a
            // pooled connection is: then the request is answered 503.
            .busy_timeout(tuning.acquire_timeout)
            .pragma("temp_store", "file")
            .pragma("wal_autocheckpoint", "0")
            .pragma(
                "journal_size_limit",
                tuning.wal_limit.min(64 << 20).to_string(),
            )
            .optimize_on_close(true, 1000);
        create_private(options.get_filename())?;
        let wal = wal_path(options.get_filename());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(tuning.acquire_timeout)
            .after_release(settled)
            .connect_with(options.clone())
            .await
            .map_err(other)?;
        if tuning.initialize {
            tx::migrate(&writer).await?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(tuning.acquire_timeout)
            .after_release(settled)
            // 1 MiB of pages each, not SQLite's 2: eight readers' caches were a fifth of the
            // server's memory, and what falls out is still in the system's file cache.
            // Room for a page's rows between the driver's thread and the request's: with
            // sqlx's 50, a page of 100 stopped the driver's thread halfway, and a page read
            // cold cost 16 thread switches and 0.69 ms of CPU; with 256, 6.5 and 0.62 ms.
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-1024")
                    .row_buffer_size(READ_AHEAD_ROWS),
            )
            .await
            .map_err(other)?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            // Each checkpoint sets how long it may wait (`wal_checkpoint`).
            .connect_with(options.clone())
            .await
            .map_err(other)?;
        let changes = Arc::new(Changes::new(tuning.watch_bound));
        tokio::spawn(checkpoint(
            checkpointer,
            wal,
            tuning.wal_limit,
            Arc::downgrade(&changes),
        ));
        // One connection for life: `data_version` compares commits seen by one connection.
        let watcher = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(other)?;
        tokio::spawn(watch_changes(watcher, Arc::downgrade(&changes)));
        Ok(Self {
            reader,
            writer,
            changes,
            group_names: Default::default(),
        })
    }
}

/// Whether a connection coming back to its pool is fit to go on. SQLite rolls a transaction
/// back by itself on some errors (a full disk, an I/O error), and sqlx then still counts it
/// open: every later `BEGIN` on that connection was refused (the writer's) or became a
/// savepoint inside a transaction that never ends (a reader's, pinned to an old snapshot).
/// Such a connection is dropped (an error: sqlx closes it without the `PRAGMA optimize` a
/// graceful close runs, which could wait on the disk or a lock) and the pool opens a fresh
/// one.
fn settled(
    conn: &mut sqlx::SqliteConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if !sqlx::Connection::is_in_transaction(conn) {
            return Ok(true);
        }
        // The rollback of a dropped transaction may still be queued: let it run first.
        sqlx::Connection::ping(conn).await?;
        if sqlx::Connection::is_in_transaction(conn) {
            return Err(sqlx::Error::Protocol(
                "a transaction SQLite already ended is still open in sqlx: connection dropped"
                    .into(),
            ));
        }
        Ok(true)
    })
}

/// Creates the database file, readable and writable by its owner only, if it does not exist:
/// it holds deployment keys' secrets. SQLite gives its journal files the database's mode.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    match new_private(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Invalid {
            field: None,
            message: format!("cannot create the database file {}: {e}", path.display()),
        }),
    }
}

/// Creates a file that must not exist yet, readable and writable by its owner only.
fn new_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Copies the database into a new file, consistently, while writers go on: `VACUUM INTO` reads
/// one snapshot (on a reader connection, which never waits for the writer) and writes a
/// compacted copy. It writes a hidden file beside the target, created first and readable by
/// its owner only (the database holds deployment keys), flushes it to disk (`VACUUM INTO`
/// does not), and only then gives it the target's name, which must be free: a copy cut short
/// never stands under that name. The path is made absolute, so that SQLite never reads it
/// as a `file:` URI.
pub(crate) async fn backup(store: &SqliteStore, to: &std::path::Path) -> StoreResult<()> {
    let refuse = |message: String| StoreError::Invalid {
        field: None,
        message,
    };
    let target = std::path::absolute(to)
        .map_err(|e| refuse(format!("the backup path {}: {e}", to.display())))?;
    if target.symlink_metadata().is_ok() {
        return Err(refuse(format!("{} exists already", target.display())));
    }
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Err(refuse(format!("{} names no file", target.display())));
    };
    let mut partial = name.to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = dir.join(format!(".{}", partial.to_string_lossy()));
    let path = partial
        .to_str()
        .ok_or_else(|| refuse(format!("the backup path {} is not UTF-8", target.display())))?;
    new_private(&partial)
        .map_err(|e| refuse(format!("cannot create {}: {e}", partial.display())))?;
    let copied = async {
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&store.reader)
            .await
            .map_err(|e| StoreError::Other(format!("backup failed: {e}")))?;
        let durable = std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::hard_link(&partial, &target))
            .and_then(|()| std::fs::File::open(dir)?.sync_all());
        durable.map_err(|e| refuse(format!("cannot write {}: {e}", target.display())))
    };
    let done = copied.await;
    let _ = std::fs::remove_file(&partial);
    done
}

/// The rows a reader's statement may run ahead of the request reading them: more than a
/// page of 100 and its end, few enough that eight readers hold little.
const READ_AHEAD_ROWS: usize = 256;

/// The longest a truncating checkpoint waits for readers, holding writers back meanwhile;
/// when readers are not done by then it gives up and tries again a second later.
const TRUNCATE_WAIT: Duration = Duration::from_millis(250);

fn wal_path(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Copies the log back into the database once a second (PASSIVE: it never waits for, nor
/// blocks, readers and writers), and then starts the log over when it holds more than
/// [`RESTART_FRAMES`].
///
/// A passive checkpoint alone never shrinks the log: under steady writes new frames arrive
/// while it copies, so the log is never wholly copied when the next write begins, and SQLite
/// never starts it over (it grew past 600 MB in 40 s). Starting over takes a blocking
/// checkpoint (RESTART), which holds writers back while it copies what is left and waits for
/// readers of old snapshots; run right after the passive pass, it has only the last few
/// milliseconds of frames to copy. Once a blocking checkpoint emptied a log of a second's
/// writes in one go, holding writers for 80-120 ms every other second: the tail of every
/// write's latency. When the file itself is past `limit` (readers kept the log from being
/// started over), the blocking checkpoint is a TRUNCATE, which waits (at most
/// [`TRUNCATE_WAIT`]) for those readers and empties the file. Which pass runs is
/// [`blocking_pass`]'s decision.
async fn checkpoint(pool: SqlitePool, wal: std::path::PathBuf, limit: u64, alive: Weak<Changes>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The log as the last restart left it: until someone writes, there is nothing to restart.
    let mut restarted = None;
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 {
            return;
        }
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                continue;
            }
        };
        let Some((log, arrived)) = passive_passes(&mut conn).await else {
            continue;
        };
        let over = std::fs::metadata(&wal).is_ok_and(|m| m.len() > limit);
        let Some((mode, wait)) = blocking_pass(&log, arrived, over, restarted) else {
            continue;
        };
        match wal_checkpoint(&mut conn, mode, wait).await {
            Ok(Log { busy: true, .. }) => {
                tracing::debug!("readers held the log; it is started over later");
            }
            Ok(log) => restarted = Some(log.frames),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// A passive pass, then more while the last one found many frames committed during the one
/// before it (at most [`PASSIVE_PASSES`]): the log and how many frames arrived during the
/// last pass but one. A pass reports the log as it was when the pass began, so what arrives
/// while it copies is counted only by the next; each pass copies what arrived during the one
/// before, so each is shorter. `None` when a pass failed.
async fn passive_passes(conn: &mut sqlx::SqliteConnection) -> Option<(Log, i64)> {
    let mut passes = 0;
    let mut last: Option<Log> = None;
    loop {
        let log = match wal_checkpoint(&mut *conn, "PASSIVE", Duration::ZERO).await {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                return None;
            }
        };
        passes += 1;
        // A log started over by a writer meanwhile counts from zero: nothing to compare.
        let arrived = last.map_or(i64::MAX, |l| (log.frames - l.frames).max(0));
        if arrived <= BLOCKING_COPY_FRAMES || passes > PASSIVE_PASSES || log.busy {
            return Some((log, arrived));
        }
        last = Some(log);
    }
}

/// Passive passes after the first, at most, in one tick.
const PASSIVE_PASSES: u32 = 3;

/// The log as a checkpoint found and left it (the three columns of `PRAGMA wal_checkpoint`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Log {
    /// For a blocking pass: it gave up waiting for readers or writers. For a passive one: it
    /// did not run (another connection, perhaps of another process, was checkpointing).
    busy: bool,
    /// Frames in the log when the pass began (-1 when it did not run).
    frames: i64,
    /// Frames of those now in the database file (-1 when it did not run).
    copied: i64,
}

/// The blocking pass to run after the passive ones, if any. Only when the last passive pass
/// ran, left at most [`BLOCKING_COPY_FRAMES`] of its frames uncopied, and began after at most
/// as many `arrived`: a blocking pass copies the rest while every writer waits. After a large
/// write by another process (an import leaves a log of gigabytes) a reader can stop a passive
/// pass short of most of it, and a TRUNCATE right then copied for seconds, past a request's
/// wait for the writer (a 503 seen after a 1.7 GB import). The next passive passes copy the
/// rest without holding anyone back.
fn blocking_pass(
    log: &Log,
    arrived: i64,
    over_limit: bool,
    restarted: Option<i64>,
) -> Option<(&'static str, Duration)> {
    match () {
        _ if log.busy || log.frames < 0 || log.copied < 0 => None,
        _ if log.frames - log.copied > BLOCKING_COPY_FRAMES || arrived > BLOCKING_COPY_FRAMES => {
            None
        }
        _ if over_limit => Some(("TRUNCATE", TRUNCATE_WAIT)),
        _ if log.frames > RESTART_FRAMES && restarted != Some(log.frames) => {
            Some(("RESTART", RESTART_WAIT))
        }
        _ => None,
    }
}

/// The most frames a blocking checkpoint should have to copy: 128 MiB of 4 KiB pages, the
/// log's default limit (about 80 ms from the page cache, under a second from disk). Readers
/// that lag a busy log by less still let it be emptied.
const BLOCKING_COPY_FRAMES: i64 = 32_768;

/// Runs a checkpoint in `mode`, waiting at most `wait` for readers (and writers) it must wait
/// for, and says where it left the log.
async fn wal_checkpoint(
    conn: &mut sqlx::SqliteConnection,
    mode: &str,
    wait: Duration,
) -> sqlx::Result<Log> {
    let busy_timeout = format!("PRAGMA busy_timeout = {}", wait.as_millis());
    sqlx::query(sqlx::AssertSqlSafe(busy_timeout))
        .execute(&mut *conn)
        .await?;
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let (busy, frames, copied): (i64, i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await?;
    Ok(Log {
        busy: busy != 0,
        frames,
        copied,
    })
}

/// The longest a restarting checkpoint waits for readers of old snapshots, holding writers
/// back meanwhile: page reads take a few milliseconds, and a log not started over now is
/// started over a second later.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// A log of more frames than this (4 MiB of 4 KiB pages, SQLite's own automatic checkpoint
/// size) is started over after its passive checkpoint.
const RESTART_FRAMES: i64 = 1000;

/// How often the database file is asked whether anyone committed: the longest a change made
/// by another process (an operator command) goes unseen by what this one keeps in memory.
const WATCH_EVERY: Duration = Duration::from_millis(20);

/// Moves the count of changes whenever `PRAGMA data_version` does: it changes when any other
/// connection, in this process or another, has committed. The count of access changes moves
/// too when the commit moved `access_changes` (migration 0007). Each answer proves that every
/// commit before the question was seen.
async fn watch_changes(pool: SqlitePool, changes: Weak<Changes>) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = None;
    loop {
        tick.tick().await;
        let asked = Instant::now();
        let found = versions(&pool, seen.map(|(data, _)| data)).await;
        let Some(changes) = changes.upgrade() else {
            return;
        };
        match found {
            Ok(None) => {}
            Ok(Some(now)) => {
                match seen {
                    None => {}
                    Some((_, access)) if access != now.1 => changes.bump(),
                    Some(_) => changes.bump_data(),
                }
                seen = Some(now);
            }
            Err(e) => {
                if seen.take().is_some() {
                    changes.lost();
                    tracing::warn!(error = %e, "cannot watch the database for changes");
                }
                continue;
            }
        }
        changes.proven(asked);
    }
}

/// `(data_version, access_changes)` when the data version is not `seen`, else `None`.
async fn versions(pool: &SqlitePool, seen: Option<i64>) -> sqlx::Result<Option<(i64, i64)>> {
    let data: i64 = sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(pool)
        .await?;
    if seen == Some(data) {
        return Ok(None);
    }
    let access: i64 = sqlx::query_scalar("SELECT version FROM access_changes")
        .fetch_one(pool)
        .await?;
    Ok(Some((data, access)))
}

/// Keeps the kind of a failure that is not the caller's: the database busy or full (the
/// client should try again; docs/ARCHITECTURE.md, "Faults") or a bug.
pub(crate) fn other(e: sqlx::Error) -> StoreError {
    // The primary result code is the low byte of an extended one.
    let code = match &e {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i32>().ok()),
        _ => None,
    };
    match (&e, code.map(|c| c & 0xff)) {
        (
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed,
            _,
        ) => StoreError::Unavailable(e.to_string()),
        // SQLITE_BUSY, SQLITE_LOCKED (past the busy timeout), SQLITE_IOERR (the disk failed
        // a read or write: the transaction was rolled back), SQLITE_PROTOCOL (a lock race
        // between processes).
        (_, Some(5 | 6 | 10 | 15)) => StoreError::Unavailable(e.to_string()),
        // SQLITE_FULL.
        (_, Some(13)) => StoreError::Full(e.to_string()),
        _ => StoreError::Other(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test failing
mod tests {
    use super::*;

    fn log(frames: i64, copied: i64) -> Log {
        Log {
            busy: false,
            frames,
            copied,
        }
    }

    /// A blocking checkpoint never has more than a bounded rest to copy while writers wait;
    /// the passive passes copy the rest first.
    #[test]
    fn a_blocking_checkpoint_waits_until_the_passive_ones_have_copied_nearly_all() {
        let gigabyte = 262_144; // frames of 4 KiB
        let most = BLOCKING_COPY_FRAMES;
        // A reader stopped the passive pass short of most of an import's log: no blocking
        // pass, though the file is far past its limit.
        assert_eq!(blocking_pass(&log(gigabyte, 1_000), 0, true, None), None);
        assert_eq!(blocking_pass(&log(gigabyte, 1_000), 0, false, None), None);
        // Once the passive passes have copied nearly all of it, the log is emptied.
        let truncate = Some(("TRUNCATE", TRUNCATE_WAIT));
        assert_eq!(
            blocking_pass(&log(gigabyte, gigabyte - 100), 0, true, None),
            truncate
        );
        assert_eq!(
            blocking_pass(&log(gigabyte, gigabyte - most), 0, true, None),
            truncate
        );
        assert_eq!(
            blocking_pass(&log(gigabyte, gigabyte - most - 1), 0, true, None),
            None
        );
        // All copied, but many frames came in while the last pass copied: they are not in
        // its count, and would be copied with writers waiting.
        assert_eq!(
            blocking_pass(&log(gigabyte, gigabyte), most + 1, true, None),
            None
        );
        assert_eq!(
            blocking_pass(&log(gigabyte, gigabyte), most, true, None),
            truncate
        );
        // A passive pass that did not run (another process was checkpointing) says nothing.
        let skipped = Log {
            busy: true,
            frames: -1,
            copied: -1,
        };
        assert_eq!(blocking_pass(&skipped, 0, true, None), None);
        // Under its limit, a log of a second's writes is started over, once.
        let restart = Some(("RESTART", RESTART_WAIT));
        assert_eq!(blocking_pass(&log(5_000, 4_990), 10, false, None), restart);
        assert_eq!(
            blocking_pass(&log(5_000, 4_990), 10, false, Some(5_000)),
            None
        );
        // A small log is left as it is.
        let small = log(RESTART_FRAMES, RESTART_FRAMES);
        assert_eq!(blocking_pass(&small, 0, false, None), None);
    }

    /// What a full disk does to a transaction, made on purpose: SQLite ends it, sqlx does not
    /// know. The next write must still begin.
    #[tokio::test]
    async fn a_transaction_sqlite_ended_by_itself_does_not_outlive_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        for pool in [&store.writer, &store.reader] {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
            drop(tx);
        }
        let mut tx = store.write().await.expect("a write begins after it");
        sqlx::query("CREATE TABLE t (x)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for _ in 0..8 {
            // Every reader is outside any transaction: it sees the new table.
            let mut tx = store.reader.begin().await.unwrap();
            sqlx::query("SELECT count(*) FROM t")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
}
