//! Organizations: create, list, retrieve, update, delete, with the section 2 permissions.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use roster_core::store::AccountKind;
use serde_json::json;

#[tokio::test]
async fn creating_a_team_makes_the_creator_its_admin() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!({"name": "  Acme  ", "scope": "@acme", "id": "ignored", "unknown": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let org = res.json();
    assert_eq!(org["name"], "Acme", "names are trimmed");
    assert_eq!(org["scope"], "@acme");
    assert_eq!(org["default_role"], 4);
    assert_ne!(org["id"], "ignored");
    let members = org["members"].as_array().expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["role"], 2);
    assert_eq!(members[0]["user"]["email"], "ann@example.com");
    assert!(
        members[0]["user"]["date_joined"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn invalid_organization_fields_are_field_errors() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    let long = "x".repeat(129);
    let cases = [
        (json!({}), json!({"name": ["This field is required."]})),
        (
            json!({"name": "   "}),
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            json!({"name": long}),
            json!({"name": ["Ensure this field has no more than 128 characters."]}),
        ),
        (json!({"name": 5}), json!({"name": ["Not a valid string."]})),
        (
            json!({"name": null}),
            json!({"name": ["This field may not be null."]}),
        ),
        (
            json!({"name": "a\u{0}b"}),
            json!({"name": ["Null characters are not allowed."]}),
        ),
        (
            json!({"name": "A", "default_role": 6}),
            json!({"default_role": ["\"6\" is not a valid choice."]}),
        ),
    ];
    for (body, errors) in cases {
        let res = app
            .post("/api/organizations/")
            .key(&key)
            .json(&body)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.json(), errors, "{body}");
    }
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!({"name": "A", "scope": "Acme"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.json()["scope"].is_array());
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!(["name"]))
        .send()
        .await;
    assert_eq!(
        res.json(),
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
    let res = app.get("/api/organizations/").key(&key).send().await;
    assert_eq!(res.json(), json!([]), "nothing was created");
}

#[tokio::test]
async fn a_scope_belongs_to_one_team() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    let first = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!({"name": "A", "scope": "@acme"}))
        .send()
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!({"name": "B", "scope": "@acme"}))
        .send()
        .await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        second.json(),
        json!({"scope": ["This scope is already taken."]})
    );
}

#[tokio::test]
async fn service_accounts_cannot_create_teams() {
    let app = TestApp::new().await;
    let (_, key) = app
        .account("robot@example.com", AccountKind::ServiceAccount)
        .await;
    let res = app
        .post("/api/organizations/")
        .key(&key)
        .json(&json!({"name": "Bots"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_list_holds_the_callers_teams_by_name_and_operators_see_all() {
    let app = TestApp::new().await;
    let (_, key) = app.user("ann@example.com").await;
    for name in ["Zeta", "alpha", "Mid"] {
        let res = app
            .post("/api/organizations/")
            .key(&key)
            .json(&json!({"name": name}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    app.team("Other").await;
    let res = app.get("/api/organizations/").key(&key).send().await;
    let names: Vec<_> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Mid", "Zeta", "alpha"]);
    assert!(
        res.json()[0].get("members").is_none(),
        "members are left out of the list"
    );
    let ops = app.operator().await;
    let res = app.get("/api/organizations/").key(&ops).v2().send().await;
    assert_eq!(res.header("x-total-count"), Some("4"));
}

#[tokio::test]
async fn retrieve_embeds_members_by_role() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let (_, member) = app.member(org, "member@example.com", Role::Member).await;
    let path = format!("/api/organizations/{org}/");
    for (key, count) in [(&admin, 3), (&manager, 3), (&member, 1)] {
        let res = app.get(&path).key(key).send().await;
        assert_eq!(res.status, StatusCode::OK);
        let body = res.json();
        assert_eq!(body["name"], "Acme");
        assert_eq!(body["members"].as_array().unwrap().len(), count);
    }
    let res = app.get(&path).key(&member).send().await;
    assert_eq!(
        res.json()["members"][0]["user"]["email"],
        "member@example.com"
    );
    let ops = app.operator().await;
    assert_eq!(app.get(&path).key(&ops).send().await.status, StatusCode::OK);
}

#[tokio::test]
async fn another_teams_organization_is_404_never_403() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (_, outsider) = app.team("Other").await;
    let path = format!("/api/organizations/{org}/");
    assert_eq!(
        app.get(&path).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    let res = app
        .patch(&path)
        .key(&outsider)
        .json(&json!({"name": "Mine"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    let missing = format!("/api/organizations/{}/", uuid::Uuid::new_v4());
    assert_eq!(
        app.get(&missing).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_admins_update_and_delete() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let (_, member) = app.member(org, "member@example.com", Role::Member).await;
    let path = format!("/api/organizations/{org}/");
    for key in [&manager, &member] {
        let res = app
            .patch(&path)
            .key(key)
            .json(&json!({"name": "Hijacked"}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.delete(&path).key(key).send().await.status,
            StatusCode::FORBIDDEN
        );
    }
    let res = app
        .patch(&path)
        .key(&admin)
        .json(&json!({"scope": "@acme", "default_role": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(
        (
            body["name"].as_str(),
            body["scope"].as_str(),
            body["default_role"].as_i64()
        ),
        (Some("Acme"), Some("@acme"), Some(1))
    );
    let res = app
        .put(&path)
        .key(&admin)
        .json(&json!({"scope": null}))
        .send()
        .await;
    assert_eq!(
        res.json(),
        json!({"name": ["This field is required."]}),
        "PUT needs the name"
    );
    let res = app
        .put(&path)
        .key(&admin)
        .json(&json!({"name": "Acme Corp", "scope": null}))
        .send()
        .await;
    assert_eq!(
        (res.json()["name"].as_str(), res.json()["scope"].is_null()),
        (Some("Acme Corp"), true)
    );
    assert_eq!(
        app.delete(&path).key(&admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
    let me = app.get("/api/me/").key(&member).send().await.json();
    assert_eq!(
        me["organization_memberships"],
        json!([]),
        "memberships went with the team"
    );
}
