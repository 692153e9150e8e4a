//! Health, credentials, version negotiation and the conventions every endpoint shares.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::Role;
use roster_core::store::AccountKind;
use serde_json::{Value, json};

#[tokio::test]
async fn health_needs_no_credentials_and_works_without_trailing_slash() {
    let app = TestApp::new().await;
    for path in ["/api/health/", "/api/health"] {
        let res = app.get(path).send().await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json(), json!({"status": "ok"}));
        assert!(res.header("x-request-id").is_some_and(|id| !id.is_empty()));
    }
}

#[tokio::test]
async fn a_given_request_id_is_echoed() {
    let app = TestApp::new().await;
    let res = app
        .get("/api/health/")
        .header("x-request-id", "abc-123")
        .send()
        .await;
    assert_eq!(res.header("x-request-id"), Some("abc-123"));
    // One that is not a plain token, or is long, is replaced by Roster's own (a UUID): it goes
    // into logs and the change history.
    for given in ["a b", "<script>", &"x".repeat(129)] {
        let res = app
            .get("/api/health/")
            .header("x-request-id", given)
            .send()
            .await;
        let id = res.header("x-request-id").expect("an id");
        assert_ne!(id, given);
        uuid::Uuid::parse_str(id).expect("a uuid");
    }
}

#[tokio::test]
async fn missing_credentials_are_401_with_www_authenticate() {
    let app = TestApp::new().await;
    for path in ["/api/organizations/", "/api/me/key/"] {
        let res = app.post(path).send().await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.detail(),
            "Authentication credentials were not provided."
        );
        assert_eq!(res.header("www-authenticate"), Some("Token"));
    }
    // Another scheme is not ours: as if nothing were sent.
    let res = app
        .get("/api/organizations/")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "Authentication credentials were not provided."
    );
    // `/api/me/` answers anyone the feature flags, which the extension reads before sign-in,
    // and nothing else; a key that is sent is still checked.
    for auth in [None, Some("Basic dXNlcjpwYXNz")] {
        let mut req = app.get("/api/me/");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json(), serde_json::json!({"flags": []}));
    }
    let bad = app.get("/api/me/").key(&"0".repeat(64)).send().await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_or_malformed_keys_are_invalid_tokens() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    let mut wrong = key.clone();
    wrong.replace_range(0..1, if key.starts_with('0') { "1" } else { "0" });
    for header in [
        format!("Token {wrong}"),
        "Token abc".to_owned(),
        "Bearer ' OR 1=1 --".to_owned(),
    ] {
        let res = app
            .get("/api/me/")
            .header("authorization", &header)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(res.header("www-authenticate"), Some("Token"));
    }
    let res = app
        .get("/api/me/")
        .header("authorization", "Token")
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "Invalid token header. No credentials provided."
    );
    let res = app
        .get("/api/me/")
        .header("authorization", "Token a b")
        .send()
        .await;
    assert_eq!(
        res.detail(),
        "Invalid token header. Token string should not contain spaces."
    );
    let res = app
        .get("/api/me/")
        .header("authorization", &format!("Token {wrong}"))
        .send()
        .await;
    assert_eq!(res.detail(), "Invalid token.");
}

#[tokio::test]
async fn token_and_bearer_are_the_same_and_me_describes_the_caller() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (_, key) = app.member(org, "Bob@Example.com", Role::Manager).await;
    for scheme in ["Token", "Bearer", "token"] {
        let res = app
            .get("/api/me/")
            .header("authorization", &format!("{scheme} {key}"))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{scheme}");
        let me = res.json();
        assert_eq!(me["email"], "Bob@Example.com");
        assert_eq!(me["is_operator"], false);
        assert_eq!(me["service_account"], false);
        assert_eq!(
            me["organization_memberships"],
            json!([{"organization": org.to_string(), "organization_name": "Acme", "scope": null, "role": 5}])
        );
    }
}

/// `/api/me/` as PixieBrix's clients read it: the primary team (the first joined), each team's
/// scope, the groups across teams, and the feature flags.
#[tokio::test]
async fn me_names_the_primary_team_the_groups_and_the_flags() {
    let app = TestApp::new().await;
    let (beta, beta_admin) = app.team("Beta").await;
    let (acme, acme_admin) = app.team("Acme").await;
    let (_, key) = app.member(acme, "bob@example.com", Role::Member).await;
    app.member(beta, "bob@example.com", Role::Manager).await;
    let group = |org: uuid::Uuid, admin: String, name: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/organizations/{org}/groups/");
            let id = app.created(&path, &admin, json!({"name": name})).await;
            let members = format!("/api/groups/{id}/memberships/");
            let res = app
                .post(&members)
                .key(&admin)
                .json(&json!(["bob@example.com"]))
                .send()
                .await;
            assert!(res.status.is_success(), "{}", res.detail());
            id
        }
    };
    let ops = group(beta, beta_admin.clone(), "Ops").await;
    let leads = group(acme, acme_admin.clone(), "Leads").await;
    app.patch(&format!("/api/organizations/{beta}/"))
        .key(&beta_admin)
        .json(&json!({"scope": "@beta"}))
        .send()
        .await
        .made();

    let me = app.get("/api/me/").key(&key).send().await.json();
    assert_eq!(
        me["organization"]["id"],
        acme.to_string(),
        "joined Acme first: {me}"
    );
    assert_eq!(me["organization"]["name"], "Acme");
    let scopes: Vec<&Value> = me["organization_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["scope"])
        .collect();
    assert_eq!(scopes, [&Value::Null, &json!("@beta")], "{me}");
    assert_eq!(
        me["group_memberships"],
        json!([{"id": leads, "name": "Leads"}, {"id": ops, "name": "Ops"}])
    );
    assert_eq!(me["flags"], json!([]));

    // Someone in no team: no primary team, no groups.
    let (_, loner) = app.user("loner@example.com").await;
    let me = app.get("/api/me/").key(&loner).send().await.json();
    assert_eq!(
        (me["organization"].clone(), me["group_memberships"].clone()),
        (Value::Null, json!([]))
    );
}

#[tokio::test]
async fn deployment_key_accounts_may_only_read_me() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (user, key) = app
        .account("deploy@example.com", AccountKind::DeploymentKey)
        .await;
    app.store
        .add_member(
            org,
            user,
            Some(Role::Admin),
            roster_core::Timestamp::from_micros(0),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let res = app.get("/api/me/").key(&key).send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["deployment_key_account"], true);
    for path in [
        "/api/organizations/".to_owned(),
        format!("/api/organizations/{org}/"),
        format!("/api/organizations/{org}/memberships/"),
    ] {
        let res = app.get(&path).key(&key).send().await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            res.detail(),
            "You do not have permission to perform this action."
        );
    }
}

#[tokio::test]
async fn versions_are_negotiated_by_accept() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    for accept in [
        "application/json; version=3.0",
        "application/json; version=2",
        "application/vnd.pixiebrix.api+json; version=0.9",
    ] {
        let res = app
            .get("/api/organizations/")
            .key(&key)
            .header("accept", accept)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::NOT_ACCEPTABLE, "{accept}");
        assert_eq!(res.detail(), "Invalid version in \"Accept\" header.");
    }
    // Every endpoint checks it, not only lists.
    let res = app
        .get("/api/me/")
        .key(&key)
        .header("accept", "application/json; version=3.0")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_ACCEPTABLE);
    for accept in [
        "application/json; version=1.0",
        "application/json; version=1.1",
        "*/*",
        "application/vnd.pixiebrix.api+json; version=2.0",
    ] {
        let res = app
            .get("/api/organizations/")
            .key(&key)
            .header("accept", accept)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{accept}");
        assert!(
            res.json().is_array(),
            "{accept}: a bare array, never an envelope"
        );
    }
    let v2 = app.get("/api/organizations/").key(&key).v2().send().await;
    assert_eq!(v2.header("x-total-count"), Some("1"));
    let v1 = app.get("/api/organizations/").key(&key).send().await;
    assert_eq!(v1.header("x-total-count"), None);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    let res = app.get("/api/nothing-here/").key(&key).send().await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.detail(), "Not found.");
    let res = app
        .put("/api/organizations/")
        .key(&key)
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.detail(), "Method \"PUT\" not allowed.");
}

#[tokio::test]
async fn bodies_must_be_json() {
    let app = TestApp::new().await;
    let (_, key) = app.team("Acme").await;
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .raw("text/plain", "name=x")
        .send()
        .await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        res.detail(),
        "Unsupported media type \"text/plain\" in request."
    );
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .raw("application/json; version=2.0", r#"{"name": "Versioned"}"#)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
}
