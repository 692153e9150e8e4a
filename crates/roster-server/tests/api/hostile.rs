//! Hostile input: every request here answers 4xx with a JSON body, and nothing changes.

use crate::support::{Response, TestApp};
use axum::http::{Method, StatusCode};
use roster_core::Role;
use serde_json::{Value, json};

async fn snapshot(app: &TestApp, org: uuid::Uuid, key: &str) -> (Value, Value) {
    let org_detail = app
        .get(&format!("/api/organizations/{org}/"))
        .key(key)
        .send()
        .await
        .json();
    let orgs = app.get("/api/organizations/").key(key).send().await.json();
    (org_detail, orgs)
}

fn assert_client_error(res: &Response, what: &str) {
    assert!(res.status.is_client_error(), "{what}: got {}", res.status);
    let body: Value = serde_json::from_slice(&res.bytes)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {}", String::from_utf8_lossy(&res.bytes)));
    assert!(body.is_object(), "{what}: {body}");
}

#[tokio::test]
async fn hostile_requests_are_4xx_json_and_change_nothing() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (mid, _) = app.member(org, "member@example.com", Role::Member).await;
    let before = snapshot(&app, org, &admin).await;
    let org_path = format!("/api/organizations/{org}/");
    let m_path = format!("/api/memberships/{mid}/");

    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<(&str, Method, &str, Vec<u8>)> = vec![
        (
            "malformed JSON",
            Method::PATCH,
            &org_path,
            b"{\"name\": ".to_vec(),
        ),
        (
            "trailing garbage",
            Method::PATCH,
            &org_path,
            b"{\"name\": \"x\"} {}".to_vec(),
        ),
        (
            "invalid UTF-8",
            Method::PATCH,
            &org_path,
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            "deep nesting",
            Method::PATCH,
            &org_path,
            nested.into_bytes(),
        ),
        (
            "a list for an object",
            Method::PATCH,
            &org_path,
            b"[1, 2]".to_vec(),
        ),
        (
            "a string for an object",
            Method::PATCH,
            &org_path,
            b"\"name\"".to_vec(),
        ),
        ("empty body", Method::PATCH, &org_path, Vec::new()),
        (
            "wrong type",
            Method::PATCH,
            &org_path,
            br#"{"name": {"$ne": 1}}"#.to_vec(),
        ),
        (
            "empty name",
            Method::PATCH,
            &org_path,
            br#"{"name": ""}"#.to_vec(),
        ),
        (
            "10,000-character name",
            Method::PATCH,
            &org_path,
            json!({"name": "n".repeat(10_000)}).to_string().into_bytes(),
        ),
        (
            "NUL byte",
            Method::PATCH,
            &org_path,
            br#"{"name": "a\u0000b"}"#.to_vec(),
        ),
        (
            "bad scope",
            Method::PATCH,
            &org_path,
            br#"{"scope": "@x; DROP TABLE users"}"#.to_vec(),
        ),
        ("role 0", Method::PATCH, &m_path, br#"{"role": 0}"#.to_vec()),
        ("role 6", Method::PATCH, &m_path, br#"{"role": 6}"#.to_vec()),
        (
            "role null",
            Method::PATCH,
            &m_path,
            br#"{"role": null}"#.to_vec(),
        ),
        (
            "role name",
            Method::PATCH,
            &m_path,
            br#"{"role": "admin"}"#.to_vec(),
        ),
        (
            "role overflow",
            Method::PATCH,
            &m_path,
            br#"{"role": 18446744073709551617}"#.to_vec(),
        ),
        (
            "duplicate keys, last one bad",
            Method::PATCH,
            &m_path,
            br#"{"role": 2, "role": 9}"#.to_vec(),
        ),
        (
            "20 MB body",
            Method::PATCH,
            &org_path,
            json!({"name": "x".repeat(20 * 1024 * 1024)})
                .to_string()
                .into_bytes(),
        ),
    ];
    for (what, method, path, body) in bodies {
        let res = app
            .request(method, path)
            .key(&admin)
            .raw("application/json", body)
            .send()
            .await;
        assert_client_error(&res, what);
        if what == "20 MB body" {
            assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
    let paths = [
        "/api/organizations/not-a-uuid/",
        "/api/organizations/00000000-0000-0000-0000-00000000000g/",
        "/api/organizations/..%2F..%2Fetc%2Fpasswd/",
        "/api/organizations/%00/",
        "/api/memberships/1%20OR%201=1/",
        "/api/memberships/1.0/",
        "/api/memberships/99999999999999999999999/",
        "/api/memberships/%27%3B--/",
    ];
    for path in paths {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let res = app
                .request(method.clone(), path)
                .key(&admin)
                .json(&json!({"role": 1, "name": "x"}))
                .send()
                .await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_client_error(&res, path);
        }
    }
    let queries = [
        "page=1&page=1",
        "page_size=1&page_size=2",
        "user__service_account=maybe",
        "role=1%27%20OR%201=1",
        "user__id=%27%3B%20DROP%20TABLE%20users%3B--",
        "groups=,,,",
    ];
    for query in queries {
        let res = app
            .get(&format!("/api/organizations/{org}/memberships/?{query}"))
            .key(&admin)
            .v2()
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
    }
    let res = app
        .get("/api/me/")
        .header("authorization", "Token \u{e9}\u{e9}")
        .send()
        .await;
    assert_client_error(&res, "non-ASCII bytes in the key");

    assert_eq!(snapshot(&app, org, &admin).await, before, "nothing changed");
}

#[tokio::test]
async fn sql_metacharacters_and_unicode_are_stored_literally() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    for name in [
        "Robert'); DROP TABLE organizations;--",
        "100% _real_ \"quotes\" \\ back",
        "Ünïcødé 🦀 名前",
    ] {
        let res = app
            .post("/api/organizations/")
            .key(&key)
            .json(&json!({"name": name}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{name}");
        assert_eq!(res.json()["name"], name);
    }
    let res = app.get("/api/organizations/").key(&key).v2().send().await;
    assert_eq!(res.header("x-total-count"), Some("3"));
}

/// Campaign data that one backend could not store (PostgreSQL's jsonb refuses a lone
/// surrogate, a NUL escape and numbers past its range) is a 400 naming the item on every
/// backend alike (issue 17, point 6).
#[tokio::test]
async fn campaign_data_every_backend_cannot_store_is_refused_alike() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.member(org, "ann@acme.test", Role::Member).await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            json!({"name": "Spring"}),
        )
        .await;
    let path = format!("/api/organizations/{org}/campaigns/{campaign}/members/");
    for data in [
        r#"{"a": "\ud800"}"#,
        r#"{"\ud800": 1}"#,
        r#"{"a": "\udc00"}"#,
        r#"{"a": "x\u0000"}"#,
        r#"{"a": 1e999999}"#,
        r#"{"a": -1e-99999}"#,
        r#"{"a": [0e-99999]}"#,
    ] {
        let body = format!(
            r#"[{{"email": "ann@acme.test"}}, {{"email": "ann@acme.test", "data": {data}}}]"#
        );
        for method in [Method::POST, Method::PUT] {
            let res = app
                .request(method.clone(), &path)
                .key(&admin)
                .raw("application/json", body.clone())
                .send()
                .await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{method} {data}");
            let items = res.json();
            assert!(items[1]["data"][0].is_string(), "{data}: {items}");
        }
    }
    let members = app.get(&path).key(&admin).send().await.json();
    assert_eq!(members, json!([]), "nothing was stored");
    let ok = r#"[{"email": "ann@acme.test", "data": {"n": 1.7e308, "e": "\ud83d\ude00"}}]"#;
    let res = app
        .put(&path)
        .key(&admin)
        .raw("application/json", ok)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        app.get(&path).key(&admin).send().await.json()[0]["data"],
        json!({"n": 1.7e308, "e": "😀"})
    );
}

/// A page whose Link header would not fit 8 KiB is refused, not served with links no client
/// can read (issue 17, point 7).
#[tokio::test]
async fn a_page_whose_links_would_not_fit_is_refused() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.member(org, "ann@acme.test", Role::Member).await;
    let roles = vec!["1"; 15_000].join(",");
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=1&role__in={roles}"
        ))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "one page: no links to build");
    let roles = vec!["1,2"; 5_000].join(",");
    let res = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?page_size=1&role__in={roles}"
        ))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.header("link").is_none());
    assert!(
        res.json()["non_field_errors"][0]
            .as_str()
            .unwrap()
            .contains("Link header")
    );
}
