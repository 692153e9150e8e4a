//! Organizations: create, list, retrieve, update, delete, with the section 2 permissions.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::store::AccountKind;
use roster_core::{Clock, Role, SystemClock};
use serde_json::{Value, json};
use uuid::Uuid;

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
    let ops = app.operator().await;
    let res = app.get("/api/organizations/").key(&ops).v2().send().await;
    assert_eq!(res.header("x-total-count"), Some("4"));
}

/// Each team in the list carries `members`, as the browser extension reads them to tell
/// whether the caller is a team admin: whole for admins, managers and operators, else only
/// the caller's own membership; 2.0 pages carry them too.
#[tokio::test]
async fn the_list_embeds_members_by_role_in_each_team() {
    let app = TestApp::new().await;
    let (acme, admin) = app.team("Acme").await;
    let (_, manager) = app.member(acme, "manager@example.com", Role::Manager).await;
    let (beta, beta_admin) = app.team("Beta").await;
    let (person, member) = app.user("member@example.com").await;
    for (team, role) in [(acme, Role::Member), (beta, Role::Admin)] {
        let now = SystemClock.now();
        app.store
            .add_member(team, person, Some(role), now, &Origin::cli())
            .await
            .unwrap();
    }
    let group = app
        .created(
            &format!("/api/organizations/{acme}/groups/"),
            &admin,
            json!({"name": "Floor"}),
        )
        .await;
    let res = app
        .post(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!([{"email": "member@example.com"}]))
        .send()
        .await;
    assert!(res.status.is_success(), "{}", res.detail());

    let emails = |team: &Value| -> Vec<String> {
        let members = team["members"].as_array().expect("members");
        let mut emails: Vec<String> = members
            .iter()
            .map(|m| m["user"]["email"].as_str().unwrap().to_owned())
            .collect();
        emails.sort();
        emails
    };
    let listed = |key: &str| {
        let key = key.to_owned();
        let app = &app;
        async move {
            let res = app.get("/api/organizations/").key(&key).send().await;
            assert_eq!(res.status, StatusCode::OK);
            res.json().as_array().unwrap().clone()
        }
    };
    // A member sees their own membership in Acme and everyone in Beta, where they are admin.
    let teams = listed(&member).await;
    assert_eq!(teams.len(), 2);
    assert_eq!(teams[0]["name"], "Acme");
    assert_eq!(emails(&teams[0]), ["member@example.com"]);
    assert_eq!(
        emails(&teams[1]),
        ["admin@beta.example.com", "member@example.com"]
    );
    let own = &teams[0]["members"][0];
    assert_eq!(own["role"], Role::Member.as_i64());
    assert_eq!(
        own["groups"],
        json!([{"id": group.parse::<Uuid>().unwrap(), "name": "Floor"}])
    );
    for field in ["id", "user", "role", "groups", "last_active_at"] {
        assert!(own.get(field).is_some(), "{field}");
    }
    // A manager sees all of Acme; Beta's admin sees nothing of Acme.
    let teams = listed(&manager).await;
    assert_eq!(teams.len(), 1);
    assert_eq!(emails(&teams[0]).len(), 3);
    let teams = listed(&beta_admin).await;
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0]["name"], "Beta");
    assert_eq!(emails(&teams[0]).len(), 2);
    // An operator sees every team whole; a 2.0 page of one team carries its members.
    let ops = app.operator().await;
    let teams = listed(&ops).await;
    assert_eq!(
        teams.iter().map(|t| emails(t).len()).collect::<Vec<_>>(),
        [3, 2]
    );
    let res = app
        .get("/api/organizations/?page=2&page_size=1")
        .key(&ops)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("x-total-count"), Some("2"));
    assert!(res.header("link").unwrap().contains("rel=\"prev\""));
    let page = res.json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["name"], "Beta");
    assert_eq!(emails(&page[0]).len(), 2);
    let res = app
        .get("/api/organizations/?page=3&page_size=1")
        .key(&ops)
        .v2()
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json(), json!({"detail": "Invalid page."}));
}

/// A team bigger than one keyset read is streamed whole into the list, each member once.
#[tokio::test]
async fn the_list_streams_a_team_past_one_read() {
    let app = TestApp::new().await;
    let (acme, admin) = app.team("Acme").await;
    app.bulk_members(acme, "bulk", 2_100, Role::Member).await;
    app.team("Zulu").await;
    let res = app.get("/api/organizations/").key(&admin).send().await;
    assert_eq!(res.status, StatusCode::OK);
    let teams = res.json();
    let members = teams[0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2_101);
    let ids: std::collections::HashSet<_> = members.iter().map(|m| m["id"].clone()).collect();
    assert_eq!(ids.len(), 2_101);
    assert_eq!(teams.as_array().unwrap().len(), 1);
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
