//! The storage conformance suite (roster-core) on SQLite, each check on a new database file.

use roster_core::Store;
use roster_sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_storage_conformance_suite() {
    roster_core::conformance::run(|| async {
        // Each check's directory lives as long as the test process.
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
        let url = format!("sqlite://{}", dir.path().join("roster.db").display());
        Arc::new(
            SqliteStore::connect(&url, &Default::default())
                .await
                .expect("open"),
        ) as Arc<dyn Store>
    })
    .await;
}

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
