//! Idempotent retries: a write sent again with its `Idempotency-Key` gets the first answer
//! back byte for byte and changes nothing more; another request with the same key is a 422;
//! concurrent requests with one key make one change; answers with credentials are never kept.

use crate::support::{Response, TestApp};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

async fn send(
    app: &TestApp,
    key: &str,
    idem: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> Response {
    app.request(method, path)
        .key(key)
        .header("idempotency-key", idem)
        .json(body)
        .send()
        .await
}

async fn group_count(app: &TestApp, key: &str, org: uuid::Uuid) -> usize {
    let res = app
        .get(&format!("/api/organizations/{org}/groups/"))
        .key(key)
        .send()
        .await;
    res.json().as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_and_changes_nothing() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/groups/");
    let body = json!({"name": "Night shift"});
    let first = send(&app, &admin, "retry-1", Method::POST, &path, &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = send(&app, &admin, "retry-1", Method::POST, &path, &body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.bytes, first.bytes, "byte for byte");
    assert_eq!(again.header("content-type"), first.header("content-type"));
    assert_eq!(group_count(&app, &admin, org).await, 1);
    // A refusal changes nothing and keeps nothing: its retry runs again, and the key may
    // then carry the mended request.
    let bad = json!({"name": ""});
    let refused = send(&app, &admin, "retry-2", Method::POST, &path, &bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let again = send(&app, &admin, "retry-2", Method::POST, &path, &bad).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.bytes, refused.bytes);
    assert_eq!(again.header("idempotent-replayed"), None);
    let mended = json!({"name": "Late shift"});
    let made = send(&app, &admin, "retry-2", Method::POST, &path, &mended).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.detail());
    let again = send(&app, &admin, "retry-2", Method::POST, &path, &mended).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(group_count(&app, &admin, org).await, 2);
    // A key that may write nothing (a deployment key's) is refused as without the header,
    // and nothing is kept for it.
    let (_, kiosk) = app.deployment_key(org, &admin).await;
    for _ in 0..2 {
        let res = send(&app, &kiosk, "kiosk-1", Method::POST, &path, &body).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(res.header("idempotent-replayed"), None);
    }
    // Without the header, every request runs.
    let plain = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Day"}))
        .send()
        .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert_eq!(group_count(&app, &admin, org).await, 3);
}

#[tokio::test]
async fn one_key_with_another_request_is_a_422() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/groups/");
    let res = send(
        &app,
        &admin,
        "k",
        Method::POST,
        &path,
        &json!({"name": "A"}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let group = res.json()["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (Method::POST, path.clone(), json!({"name": "B"})),
        (
            Method::PATCH,
            format!("/api/groups/{group}/"),
            json!({"name": "A"}),
        ),
        (Method::POST, format!("{path}?x=1"), json!({"name": "A"})),
    ] {
        let res = send(&app, &admin, "k", method.clone(), &path, &body).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}"
        );
        assert!(
            res.json()["detail"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key")
        );
    }
    assert_eq!(group_count(&app, &admin, org).await, 1);
    // Keys are the caller's own: another admin's "k" is another request.
    let (_, other) = app
        .member(org, "second@acme.example.com", roster_core::Role::Admin)
        .await;
    let res = send(
        &app,
        &other,
        "k",
        Method::POST,
        &path,
        &json!({"name": "B"}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("idempotent-replayed"), None);
    // A malformed key is refused before anything runs.
    let long = "x".repeat(256);
    for bad in [long.as_str(), "with space"] {
        let res = send(
            &app,
            &admin,
            bad,
            Method::POST,
            &path,
            &json!({"name": "C"}),
        )
        .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(group_count(&app, &admin, org).await, 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_change() {
    let app = Arc::new(TestApp::new().await);
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/groups/");
    let mut running = Vec::new();
    for _ in 0..8 {
        let (app, admin, path) = (app.clone(), admin.clone(), path.clone());
        running.push(tokio::spawn(async move {
            send(
                &app,
                &admin,
                "same",
                Method::POST,
                &path,
                &json!({"name": "Once"}),
            )
            .await
        }));
    }
    let mut bodies = Vec::new();
    for done in futures_util::future::join_all(running).await {
        let res = done.unwrap();
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
        bodies.push(res.bytes);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for all"
    );
    assert_eq!(group_count(&app, &admin, org).await, 1);
}

#[tokio::test]
async fn answers_with_credentials_are_never_kept() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/serviceaccounts/");
    let body = json!({"name": "Sync"});
    let first = send(&app, &admin, "sa", Method::POST, &path, &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let token = first.json()["token"].as_str().unwrap().to_owned();
    let again = send(&app, &admin, "sa", Method::POST, &path, &body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(!String::from_utf8_lossy(&again.bytes).contains(&token));
    let res = app.get(&path).key(&admin).send().await;
    assert_eq!(res.json().as_array().unwrap().len(), 1, "one account made");
}

/// A request with a key counts once against the key's rate, and a replay counts too: retries
/// cannot go round the limit.
#[tokio::test]
async fn keyed_requests_count_once_against_the_rate() {
    let app = TestApp::with_config(roster_server::state::HttpConfig {
        rate_limit: 1,
        rate_burst: 3,
        ..roster_server::state::HttpConfig::default()
    })
    .await;
    let (org, admin) = app.team("Acme").await; // the first of three
    let path = format!("/api/organizations/{org}/groups/");
    let body = json!({"name": "G"});
    let first = send(&app, &admin, "r", Method::POST, &path, &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.detail());
    let replay = send(&app, &admin, "r", Method::POST, &path, &body).await;
    assert_eq!(
        replay.status,
        StatusCode::CREATED,
        "counted once each, not twice"
    );
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let third = send(&app, &admin, "r", Method::POST, &path, &body).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
}
