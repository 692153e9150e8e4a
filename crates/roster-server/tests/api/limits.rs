//! Abuse limits (issue 8): the most items one member payload may hold.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use roster_server::state::HttpConfig;
use serde_json::json;

/// Over `--max-items`, a group or campaign payload is refused whole with 400, before any item
/// is looked at, and nothing changes; at the limit it goes through.
#[tokio::test]
async fn member_payloads_over_the_item_limit_are_refused_whole() {
    let app = TestApp::with_config(HttpConfig {
        max_items: 2,
        ..HttpConfig::default()
    })
    .await;
    let (org, admin) = app.team("Acme").await;
    for who in ["ann", "bob", "cy"] {
        app.member(org, &format!("{who}@acme.test"), Role::Member)
            .await;
    }
    let body = json!({"name": "Agents"});
    let group = app
        .created(&format!("/api/organizations/{org}/groups/"), &admin, body)
        .await;
    let group = format!("/api/groups/{group}/memberships/");
    let body = json!({"name": "Spring"});
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            body,
        )
        .await;
    let campaign = format!("/api/organizations/{org}/campaigns/{campaign}/members/");
    let three = json!([
        {"email": "ann@acme.test"}, {"email": "bob@acme.test"}, {"email": "cy@acme.test"}
    ]);
    let expected =
        json!({"non_field_errors": ["Ensure this list has no more than 2 items (it has 3)."]});
    for path in [&group, &campaign] {
        for method in ["PUT", "POST"] {
            let request = if method == "PUT" {
                app.put(path)
            } else {
                app.post(path)
            };
            let res = request.key(&admin).json(&three).send().await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{method} {path}");
            assert_eq!(res.json(), expected, "{method} {path}");
        }
        let res = app.get(path).key(&admin).send().await;
        assert_eq!(res.json(), json!([]), "{path}: nothing changed");
        let two = json!([{"email": "ann@acme.test"}, {"email": "bob@acme.test"}]);
        let res = app.put(path).key(&admin).json(&two).send().await;
        assert_eq!(res.status, StatusCode::OK, "{path} at the limit");
        assert_eq!(res.json().as_array().unwrap().len(), 2);
    }
    // The campaign's `{"users": [...]}` shape and its PUT with users count the same way.
    let res = app
        .put(&campaign)
        .key(&admin)
        .json(&json!({"users": three}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let detail = campaign.trim_end_matches("members/");
    let res = app
        .put(detail)
        .key(&admin)
        .json(&json!({"name": "Spring", "users": three}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json(), expected);
}

/// Each key gets its burst, then 429 with `Retry-After` (DRF's body on the team API, SCIM's
/// on SCIM); other keys go on, and a refused key (401) is not counted at all.
#[tokio::test]
async fn each_key_is_held_to_its_rate() {
    let app = TestApp::with_config(HttpConfig {
        rate_limit: 1,
        rate_burst: 3,
        ..HttpConfig::default()
    })
    .await;
    let (org, admin) = app.team("Acme").await;
    let (_, other) = app.member(org, "other@acme.test", Role::Admin).await;
    // Two of the admin key's three went to making the team and the service account.
    let res = app
        .post(&format!("/api/organizations/{org}/serviceaccounts/"))
        .key(&admin)
        .json(&json!({"name": "idp", "role": 2}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let scim = res.json()["token"].as_str().unwrap().to_owned();
    let res = app.get("/api/me/").key(&admin).send().await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app.get("/api/me/").key(&admin).send().await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(
        res.json(),
        json!({"detail": "Request was throttled. Expected available in 1 seconds."})
    );
    // Another key, and an unknown one (401, not 429).
    assert_eq!(
        app.get("/api/me/").key(&other).send().await.status,
        StatusCode::OK
    );
    for _ in 0..5 {
        let res = app.get("/api/me/").key("not-a-key").send().await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // SCIM, with the service account's own allowance.
    let users = || {
        app.get("/scim/v2/Users")
            .header("authorization", &format!("Bearer {scim}"))
    };
    for _ in 0..3 {
        assert_eq!(users().send().await.status, StatusCode::OK);
    }
    let res = users().send().await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(res.header("content-type"), Some("application/scim+json"));
    assert_eq!(res.json()["status"], "429");
    // The rate refills: one request a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.get("/api/me/").key(&admin).send().await.status,
        StatusCode::OK
    );
}
