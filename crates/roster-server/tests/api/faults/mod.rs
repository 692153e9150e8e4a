//! Faults: what a node does when the network or the database fails under it
//! (docs/ARCHITECTURE.md, "Faults"). Each test makes the fault for real: a TCP proxy between
//! a node and PostgreSQL that freezes or cuts connections, a full tmpfs under a SQLite file,
//! another connection holding SQLite's write lock, sustained load on the write-ahead log.
//! The PostgreSQL cases run when ROSTER_TEST_DATABASE_URL names a server, the SQLite ones
//! when it does not (as CI runs the suite once for each).

mod proxy;
mod sqlite;

use crate::support::TestApp;
use axum::http::StatusCode;
use proxy::Proxy;
use roster_core::Role;
use roster_core::store::StoreOptions;
use serde_json::json;
use sqlx::Connection;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The PostgreSQL server the suite runs on, or `None` (said) when it runs on SQLite.
fn postgres(test: &str) -> Option<String> {
    crate::support::postgres_server(test)
}

/// The host and port of a PostgreSQL URL.
fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    host.to_socket_addrs().unwrap().next().unwrap()
}

/// Two nodes on one new database: `a` connected directly, `b` through a proxy, with `b`'s
/// options.
async fn two_nodes(options: StoreOptions) -> (TestApp, TestApp, Proxy, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = TestApp::fresh_url(&dir).await;
    let proxy = Proxy::start(upstream(&url)).await;
    let a = TestApp::on(&url, &StoreOptions::default()).await;
    let b = TestApp::on(&proxy.url(&url), &options).await;
    (a, b, proxy, url)
}

/// Waits until `b` answers from memory (its listener has proven itself).
async fn proven(node: &TestApp) {
    let started = Instant::now();
    while node.store.changes().current().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the node never proved its listener"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_dropped_listener_stops_answers_from_memory_within_the_bound() {
    if postgres("a_silently_dropped_listener").is_none() {
        return;
    }
    let bound = Duration::from_millis(1500);
    let (a, b, proxy, _) = two_nodes(StoreOptions {
        watch_bound: bound,
        ..Default::default()
    })
    .await;
    let (org, owner) = a.team("Frozen").await;
    let (second, admin) = a.member(org, "second@frozen.test", Role::Admin).await;
    let members = format!("/api/organizations/{org}/memberships/");
    proven(&b).await;
    for _ in 0..3 {
        assert_eq!(
            b.get(&members).key(&admin).send().await.status,
            StatusCode::OK
        );
    }

    // The network forgets node B's listener: no FIN, no RST, nothing arrives.
    assert!(
        proxy.freeze_listeners() >= 1,
        "the listener went through the proxy"
    );
    let res = a
        .delete(&format!("/api/memberships/{second}/"))
        .key(&owner)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let removed = Instant::now();
    loop {
        let status = b.get(&members).key(&admin).send().await.status;
        if status != StatusCode::OK {
            assert!(status.is_client_error(), "{status}");
            break;
        }
        assert!(
            removed.elapsed() < bound + Duration::from_secs(2),
            "node B still served the removed admin {:?} after the removal",
            removed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = b
        .post(&format!("/api/organizations/{org}/groups/"))
        .key(&admin)
        .json(&json!({"name": "After removal"}))
        .send()
        .await;
    assert!(res.status.is_client_error(), "{}", res.status);

    // B opens a new listener and answers from memory again, with what is true now.
    proven(&b).await;
    assert!(
        b.get(&members)
            .key(&admin)
            .send()
            .await
            .status
            .is_client_error()
    );
    assert_eq!(
        b.get(&members).key(&owner).send().await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_is_noticed_at_once_even_while_the_pool_is_saturated() {
    let Some(server) = postgres("a_lost_listener") else {
        return;
    };
    // A bound long enough that only noticing the loss itself can pass the test; requests
    // queue for a pooled connection for as long as the test needs.
    let (a, b, proxy, url) = two_nodes(StoreOptions {
        acquire_timeout: Duration::from_secs(8),
        watch_bound: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let (busy, busy_admin) = a.team("Busy").await;
    let (org, owner) = a.team("Watched").await;
    let (member, key) = a.member(org, "member@watched.test", Role::Admin).await;
    // A 2.0 page: once kept, node B serves it from memory alone (key, role, version, page).
    let members = format!("/api/organizations/{org}/memberships/?page=1");
    proven(&b).await;
    for _ in 0..2 {
        let res = b.get(&members).key(&key).v2().send().await;
        assert_eq!(res.status, StatusCode::OK);
    }

    // Every pooled connection of node B waits on a row lock held elsewhere.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(busy)
        .execute(&mut holder)
        .await
        .unwrap();
    let b = std::sync::Arc::new(b);
    let mut waiting = Vec::new();
    for i in 0..20 {
        let (b, key) = (b.clone(), busy_admin.clone());
        waiting.push(tokio::spawn(async move {
            b.post(&format!("/api/organizations/{busy}/groups/"))
                .key(&key)
                .json(&json!({"name": format!("Waiting {i}")}))
                .send()
                .await
                .status
        }));
    }
    let mut watcher = sqlx::PgConnection::connect(&server).await.unwrap();
    let started = Instant::now();
    loop {
        let locked: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        )
        .bind(url.rsplit('/').next().unwrap())
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if locked >= 16 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the pool never filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // B's listener connection is closed: B stops answering from memory at once, and opens
    // a new listener and proves it while every pooled connection still waits.
    assert!(proxy.cut_listeners() >= 1);
    let cut = Instant::now();
    while b.store.changes().current().is_some() {
        assert!(
            cut.elapsed() < Duration::from_secs(1),
            "the loss went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proven(&b).await;
    assert!(
        cut.elapsed() < Duration::from_secs(4),
        "the listener came back through the busy pool ({:?})",
        cut.elapsed()
    );
    let res = a
        .delete(&format!("/api/memberships/{member}/"))
        .key(&owner)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let res = b.get(&members).key(&key).v2().send().await;
    assert_ne!(
        res.status,
        StatusCode::OK,
        "served from memory after the loss"
    );
    if res.status == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(
            res.header("retry-after"),
            Some("1"),
            "no pooled connection: 503"
        );
    } else {
        assert!(res.status.is_client_error(), "{}", res.status);
    }

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    for status in futures_util::future::join_all(waiting).await {
        let status = status.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
    }
    let res = b.get(&members).key(&key).v2().send().await;
    assert!(res.status.is_client_error(), "{}", res.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_away_for_two_seconds_is_503_with_retry_after_and_loses_no_acknowledged_write() {
    if postgres("a_database_away").is_none() {
        return;
    }
    let (a, b, proxy, _) = two_nodes(StoreOptions {
        acquire_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let (org, admin) = a.team("Restarting").await;
    let groups = format!("/api/organizations/{org}/groups/");
    let b = std::sync::Arc::new(b);
    let until = Instant::now() + Duration::from_secs(6);
    let mut load = Vec::new();
    for worker in 0..6 {
        let (b, admin, groups) = (b.clone(), admin.clone(), groups.clone());
        load.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut i = 0;
            while Instant::now() < until {
                let name = format!("Group {worker}-{i}");
                i += 1;
                let res = if worker % 3 == 0 {
                    b.get(&groups).key(&admin).send().await
                } else {
                    b.post(&groups)
                        .key(&admin)
                        .json(&json!({ "name": name }))
                        .send()
                        .await
                };
                let retry = res.header("retry-after").map(str::to_owned);
                answers.push((name, res.status, retry));
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut_all_for(Duration::from_secs(2)).await;
    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    for answers in futures_util::future::join_all(load).await {
        for (name, status, retry) in answers.unwrap() {
            match status {
                StatusCode::OK => {}
                StatusCode::CREATED => acknowledged.push(name),
                StatusCode::SERVICE_UNAVAILABLE => {
                    unavailable += 1;
                    assert_eq!(retry.as_deref(), Some("1"), "503 without Retry-After");
                }
                other => panic!("{other} for {name} while the database was away"),
            }
        }
    }
    assert!(unavailable > 0, "the outage was not seen");
    assert!(!acknowledged.is_empty());
    let listed = a.get(&groups).key(&admin).send().await.json();
    let names: std::collections::HashSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for name in &acknowledged {
        assert!(
            names.contains(name.as_str()),
            "acknowledged {name} was lost"
        );
    }
    // Node B serves again.
    let res = b
        .post(&groups)
        .key(&admin)
        .json(&json!({"name": "After"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}
