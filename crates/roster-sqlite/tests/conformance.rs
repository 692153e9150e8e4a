//! The storage conformance suite (roster-core) on SQLite, each check on a new database file.

use roster_core::Store;
use roster_sqlite::SqliteStore;
use std::sync::Arc;

/// A store on a new database file, for one check.
async fn open() -> Option<Arc<dyn Store>> {
    // Each check's directory lives as long as the test process.
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let store = SqliteStore::connect(&url, &Default::default())
        .await
        .expect("open");
    Some(Arc::new(store))
}

roster_core::conformance_tests!(sqlite, open);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sees_changes_made_by_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let here = Arc::new(
        SqliteStore::connect(&url, &Default::default())
            .await
            .expect("open"),
    );
    let elsewhere = Arc::new(
        SqliteStore::connect(&url, &Default::default())
            .await
            .expect("open"),
    );
    roster_core::conformance::changes_are_seen(here, elsewhere).await;
}
