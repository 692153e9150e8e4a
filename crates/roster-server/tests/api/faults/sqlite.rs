//! The SQLite faults: a full disk, another process holding the write lock, and a write-ahead
//! log under sustained load.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use roster_core::store::StoreOptions;
use serde_json::json;
use sqlx::Connection;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether the suite runs on SQLite (said when it does not).
fn on_sqlite(test: &str) -> bool {
    let postgres = std::env::var("ROSTER_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if postgres {
        eprintln!("{test}: skipped (SQLite only; the suite runs on PostgreSQL)");
    }
    !postgres
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (said) where the machine does not let this process mount one, unless
    /// ROSTER_REQUIRE_TMPFS is set (as in CI): then the test fails.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("ROSTER_REQUIRE_TMPFS").is_none(),
                "cannot mount a tmpfs, and ROSTER_REQUIRE_TMPFS is set"
            );
            eprintln!("the full-disk test is skipped: this process cannot mount a tmpfs");
            return None;
        }
        Some(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Fills the file system of `path` with a file there; returns the file.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![7u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    filler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_and_the_first_write_after_space_returns_succeeds() {
    if !on_sqlite("a_full_disk") {
        return;
    }
    let Some(disk) = Tmpfs::mount("16m") else {
        return;
    };
    let url = format!("sqlite://{}", disk.path.join("roster.db").display());
    let app = TestApp::on(&url, &StoreOptions::default()).await;
    let (org, admin) = app.team("Full").await;
    let mut ids = Vec::new();
    for who in ["ann", "bob", "cy"] {
        ids.push(
            app.member(org, &format!("{who}@full.test"), Role::Member)
                .await
                .0,
        );
    }
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            json!({"name": "C"}),
        )
        .await;
    let campaign_members = format!("/api/organizations/{org}/campaigns/{campaign}/members/");
    let small = json!([{"email": "ann@full.test", "data": {"n": 1}}]);
    let put = || app.put(&campaign_members).key(&admin).json(&small).send();
    put().await.made();
    let before = app.get(&campaign_members).key(&admin).send().await.json();

    // 120 people with 60 kB of data each: more than the disk holds.
    app.bulk_members(org, "full", 120, Role::Member).await;
    let bulky: Vec<_> = (0..120)
        .map(|i| {
            let text: String = (0..60_000)
                .map(|j| char::from(b'a' + ((i * 7 + j) % 26) as u8))
                .collect();
            json!({"email": format!("full-{i:05}@bulk.example.com"), "data": {"text": text}})
        })
        .collect();
    let filler = fill(&disk.path);
    let res = app
        .put(&campaign_members)
        .key(&admin)
        .json(&json!(bulky))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    assert!(res.detail().contains("full"), "{}", res.detail());
    assert_eq!(
        app.get(&campaign_members).key(&admin).send().await.json(),
        before,
        "nothing was half-written"
    );

    // Space returns: every kind of write works at once, without a restart.
    std::fs::remove_file(filler).unwrap();
    put().await.made();
    let res = app
        .post(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!([{"email": "bob@full.test"}]))
        .send()
        .await;
    assert!(
        res.status.is_success(),
        "{} {}",
        res.status,
        String::from_utf8_lossy(&res.bytes)
    );
    let res = app
        .patch(&format!("/api/memberships/{}/", ids[2]))
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    drop(app);
}

/// A server on a new SQLite file in `dir` whose writes wait at most a second for the writer;
/// the file's URL.
async fn waiting_a_second(dir: &Path) -> (TestApp, String) {
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let options = StoreOptions {
        acquire_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    (TestApp::on(&url, &options).await, url)
}

/// Another connection to the file at `url` (an operator's import, say) holding the write lock
/// until it rolls back.
async fn holding_the_writer(url: &str) -> sqlx::SqliteConnection {
    let mut other = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_wait_is_503_with_retry_after() {
    if !on_sqlite("a_write_lock_held") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, url) = waiting_a_second(dir.path()).await;
    let (org, admin) = app.team("Locked").await;
    let groups = format!("/api/organizations/{org}/groups/");

    // Another process (an operator's import, say) holds the write lock.
    let mut other = holding_the_writer(&url).await;
    let create = || {
        let body = json!({"name": "Waiting"});
        app.post(&groups).key(&admin).json(&body).send()
    };
    let started = Instant::now();
    let res = create().await;
    assert_eq!(
        res.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    assert_eq!(
        create().await.made()["name"],
        "Waiting",
        "the write goes through now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_invitation_token_is_refused_without_a_write() {
    if !on_sqlite("an_unknown_invitation_token") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (app, url) = waiting_a_second(dir.path()).await;
    let (org, admin) = app.team("Inviting").await;
    let invited = app
        .post(&format!("/api/organizations/{org}/invitations/"))
        .key(&admin)
        .json(&json!({"email": "new@example.com", "role": 3}))
        .send()
        .await
        .made();
    let token = invited["accept_token"].as_str().unwrap().to_owned();

    // Anyone may send a token: while the writer is busy, a made-up one is still a quick 404
    // (a lookup), not a wait for the writer and then a 503.
    let mut other = holding_the_writer(&url).await;
    let accept = |token: String| {
        app.post("/api/invitations/accept/")
            .json(&json!({"accept_token": token}))
            .send()
    };
    let res = accept("ab".repeat(32)).await;
    assert_eq!(
        res.status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    // A real token needs the writer, and waits for it as every write does.
    assert_eq!(
        accept(token.clone()).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(accept(token).await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_under_its_limit_under_sustained_reads_and_writes() {
    if !on_sqlite("the_write_ahead_log") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("roster.db");
    let wal = dir.path().join("roster.db-wal");
    let limit = 1 << 20;
    let options = StoreOptions {
        wal_limit: limit,
        ..Default::default()
    };
    let app = Arc::new(TestApp::on(&format!("sqlite://{}", db.display()), &options).await);
    let (org, admin) = app.team("Busy log").await;
    let groups = format!("/api/organizations/{org}/groups/");
    let until = Instant::now() + Duration::from_secs(30);
    let mut load = Vec::new();
    for worker in 0..4 {
        let (app, admin, groups) = (app.clone(), admin.clone(), groups.clone());
        load.push(tokio::spawn(async move {
            let (mut i, mut slowest) = (0, Duration::ZERO);
            while Instant::now() < until {
                let started = Instant::now();
                let res = if worker % 2 == 0 {
                    let body = json!({"name": format!("Group {worker}-{i}"), "description": "x".repeat(2000)});
                    app.post(&groups).key(&admin).json(&body).send().await
                } else {
                    app.get(&groups).key(&admin).send().await
                };
                assert!(res.status.is_success(), "{}", res.status);
                if worker % 2 == 0 {
                    slowest = slowest.max(started.elapsed());
                }
                i += 1;
            }
            (i, slowest)
        }));
    }
    // The log may pass its limit between checkpoints, but never stays past it for 5 s.
    let (mut over_since, mut longest, mut largest) = (None::<Instant>, Duration::ZERO, 0);
    while Instant::now() < until {
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        largest = largest.max(size);
        match (size > limit, over_since) {
            (true, None) => over_since = Some(Instant::now()),
            (true, Some(since)) => longest = longest.max(since.elapsed()),
            (false, _) => over_since = None,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut requests, mut slowest) = (0, Duration::ZERO);
    for done in futures_util::future::join_all(load).await {
        let (n, slow) = done.unwrap();
        requests += n;
        slowest = slowest.max(slow);
    }
    eprintln!(
        "log: longest over its limit {longest:?}, largest {largest} bytes; {requests} requests, \
         slowest write {slowest:?}"
    );
    assert!(
        longest < Duration::from_secs(5),
        "the log stayed over its limit for {longest:?} (largest {largest} bytes, {requests} requests)"
    );
    // A truncating checkpoint holds writers back for at most a few hundred milliseconds (a
    // debug build, sharing the machine with the rest of the suite: a second of slack).
    assert!(
        slowest < Duration::from_millis(1500),
        "a write took {slowest:?}"
    );
    assert!(largest > 0, "the load wrote nothing");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert!(
        size <= limit,
        "{size} bytes of log 5 s after the last commit"
    );
}
