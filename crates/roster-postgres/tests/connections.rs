//! Pooled connections that the database server dropped while they sat idle (a restart, an
//! administrator, a firewall) are found and replaced before a request uses them. Runs when
//! ROSTER_TEST_DATABASE_URL names a PostgreSQL server, as CI does.

use roster_core::Store;
use roster_postgres::PostgresStore;
use sqlx::Connection;
use std::time::Duration;

#[tokio::test]
async fn connections_dropped_while_idle_are_replaced() {
    let Some(server) = std::env::var("ROSTER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return;
    };
    let url = roster_postgres::testing::fresh_database(&server)
        .await
        .expect("a test database");
    let store = PostgresStore::connect(&url).await.expect("connect");
    // Several connections in the pool, all idle afterwards.
    let pings = tokio::join!(store.ping(), store.ping(), store.ping(), store.ping());
    for ping in [pings.0, pings.1, pings.2, pings.3] {
        ping.expect("a ping before the connections are dropped");
    }
    let mut admin = sqlx::PgConnection::connect(&server).await.expect("admin");
    let name = url
        .rsplit('/')
        .next()
        .and_then(|last| last.split('?').next())
        .expect("a database name");
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(name)
    .fetch_all(&mut admin)
    .await
    .expect("terminate the store's connections");
    // The pool's connections and the store's listener.
    assert!(
        dropped.len() >= 3,
        "{} connections were dropped",
        dropped.len()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..8 {
        store
            .ping()
            .await
            .expect("every request after the drop is served");
    }
}
