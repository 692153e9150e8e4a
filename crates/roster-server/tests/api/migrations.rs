//! Migrations: both backends keep the same numbered list, and a database made by an earlier
//! release opens, migrates and serves.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::store::StoreOptions;
use std::path::Path;

fn migrations(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(backend)
        .join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[test]
fn migrations_pair_up() {
    let sqlite = migrations("roster-sqlite");
    assert!(sqlite.len() >= 11, "{sqlite:?}");
    assert_eq!(
        sqlite,
        migrations("roster-postgres"),
        "each migration exists on both backends under one name (migrations/README.md)"
    );
}

/// A SQLite file made by `roster org create Fixture --admin-email admin@fixture.test` with
/// the release of 2026-12-03 (migrations 0001-0011 without 0006), and the key it printed.
const RELEASED: &str = "fixtures/release-2026-12-03.sqlite3";
const RELEASED_KEY: &str = include_str!("fixtures/release-2026-12-03.key");

#[tokio::test]
async fn databases_made_by_the_previous_release_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.db");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api")
        .join(RELEASED);
    std::fs::copy(fixture, &file).unwrap();
    let url = format!("sqlite://{}", file.display());
    let app = TestApp::on(&url, &StoreOptions::default()).await;
    let key = RELEASED_KEY.trim();
    let res = app.get("/api/organizations/").key(key).send().await;
    assert_eq!(res.status, StatusCode::OK);
    let teams = res.json();
    assert_eq!(teams[0]["name"], "Fixture", "{teams}");
    let org = teams[0]["id"].as_str().unwrap();
    let res = app
        .post(&format!("/api/organizations/{org}/groups/"))
        .key(key)
        .json(&serde_json::json!({"name": "After the upgrade"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}
