//! Conditional reads: a weak `ETag` on single resources and 2.0 pages that follows what they
//! show, and `If-None-Match` answered 304 with no body.

use crate::support::TestApp;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn reads_carry_tags_and_unchanged_ones_are_304() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/");
    let first = app.get(&path).key(&admin).send().await;
    let tag = first.header("etag").expect("a tag").to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", &tag)
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.bytes.is_empty());
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    // Another tag, or a change, and the answer is whole again.
    let other = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", "W/\"x\"")
        .send()
        .await;
    assert_eq!(other.status, StatusCode::OK);
    let res = app
        .patch(&path)
        .key(&admin)
        .json(&json!({"name": "H"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let changed = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", &tag)
        .send()
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
    assert_eq!(changed.json()["name"], "H");

    // A 2.0 page is tagged, with its page headers on the 304 too.
    let list = format!("/api/organizations/{org}/memberships/");
    let page = app.get(&list).key(&admin).v2().send().await;
    let tag = page.header("etag").expect("a page tag").to_owned();
    let again = app
        .get(&list)
        .key(&admin)
        .v2()
        .header("if-none-match", &tag)
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("x-total-count"), Some("1"));
    // Someone joins: the page changes, and so does its tag.
    app.member(org, "bob@acme.example.com", roster_core::Role::Member)
        .await;
    let after = app
        .get(&list)
        .key(&admin)
        .v2()
        .header("if-none-match", &tag)
        .send()
        .await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.json().as_array().unwrap().len(), 2);
    // Errors and streamed whole lists carry none.
    let missing = app
        .get("/api/groups/00000000-0000-0000-0000-000000000000/")
        .key(&admin)
        .send()
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("etag"), None);
    let whole = app.get(&list).key(&admin).send().await;
    assert_eq!(whole.header("etag"), None);
}
