//! Team memberships: who may list them, every filter, role changes and removal.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::store::AccountKind;
use roster_core::{Role, Timestamp};
use serde_json::{Value, json};

fn emails(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|m| m["user"]["email"].as_str().expect("email").to_owned())
        .collect()
}

#[tokio::test]
async fn admins_and_managers_list_members_others_get_403_outsiders_404() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/memberships/");
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    for (key, status) in [(&admin, StatusCode::OK), (&manager, StatusCode::OK)] {
        assert_eq!(app.get(&path).key(key).send().await.status, status);
    }
    for (i, role) in [Role::Member, Role::Developer, Role::Restricted]
        .into_iter()
        .enumerate()
    {
        let (_, key) = app.member(org, &format!("m{i}@example.com"), role).await;
        let res = app.get(&path).key(&key).send().await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{role:?}");
    }
    let (_, outsider) = app.team("Other").await;
    assert_eq!(
        app.get(&path).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/organizations/not-a-uuid/memberships/")
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn members_are_ordered_by_email_case_insensitively() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for email in [
        "carol@example.com",
        "Bob@example.com",
        "alice@example.com",
        "BERT@example.com",
    ] {
        app.member(org, email, Role::Member).await;
    }
    let res = app
        .get(&format!("/api/organizations/{org}/memberships/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(
        emails(&res.json()),
        [
            "admin@acme.example.com",
            "alice@example.com",
            "BERT@example.com",
            "Bob@example.com",
            "carol@example.com"
        ]
    );
    let first = &res.json()[0];
    for field in [
        "id",
        "user",
        "role",
        "groups",
        "last_active_at",
        "last_login_at",
    ] {
        assert!(first.get(field).is_some(), "membership has {field}");
    }
    for field in [
        "id",
        "name",
        "email",
        "service_account",
        "deployment_key_account",
        "date_joined",
    ] {
        assert!(first["user"].get(field).is_some(), "user has {field}");
    }
}

#[tokio::test]
async fn every_filter_of_section_5() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    app.member(org, "ann.lee@example.com", Role::Member).await;
    app.member(org, "bo@example.com", Role::Restricted).await;
    app.member(org, "cy@example.com", Role::Manager).await;
    let (robot, _) = app
        .account("robot@example.com", AccountKind::ServiceAccount)
        .await;
    let (deploy, _) = app
        .account("deploy@example.com", AccountKind::DeploymentKey)
        .await;
    let t = Timestamp::from_micros(0);
    app.store
        .add_member(org, robot, Some(Role::Restricted), t, &Origin::cli())
        .await
        .unwrap();
    app.store
        .add_member(org, deploy, Some(Role::Restricted), t, &Origin::cli())
        .await
        .unwrap();
    let (bo, _) = app.user("bo@example.com").await;

    let all = [
        "admin@acme.example.com",
        "ann.lee@example.com",
        "bo@example.com",
        "cy@example.com",
        "deploy@example.com",
        "robot@example.com",
    ];
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("".into(), all.to_vec()),
        (
            "user__service_account=true".into(),
            vec![
                "admin@acme.example.com",
                "ann.lee@example.com",
                "bo@example.com",
                "cy@example.com",
                "deploy@example.com",
            ],
        ),
        ("user__service_account=false".into(), all.to_vec()),
        (
            "user__service_account=True".into(),
            vec![
                "admin@acme.example.com",
                "ann.lee@example.com",
                "bo@example.com",
                "cy@example.com",
                "deploy@example.com",
            ],
        ),
        (
            "user__deployment_key_account=true".into(),
            vec![
                "admin@acme.example.com",
                "ann.lee@example.com",
                "bo@example.com",
                "cy@example.com",
                "robot@example.com",
            ],
        ),
        (
            "user__service_account=true&user__deployment_key_account=true".into(),
            vec![
                "admin@acme.example.com",
                "ann.lee@example.com",
                "bo@example.com",
                "cy@example.com",
            ],
        ),
        (
            "role=4".into(),
            vec!["bo@example.com", "deploy@example.com", "robot@example.com"],
        ),
        (
            "role__in=1,5".into(),
            vec!["ann.lee@example.com", "cy@example.com"],
        ),
        (
            "role=4&role__in=1,4&user__service_account=true&user__deployment_key_account=true"
                .into(),
            vec!["bo@example.com"],
        ),
        ("role=2&role__in=1".into(), vec![]),
        (format!("user__id={bo}"), vec!["bo@example.com"]),
        ("q=LEE".into(), vec!["ann.lee@example.com"]),
        ("q=user%20robot".into(), vec!["robot@example.com"]),
        ("q=%25".into(), vec![]),
        ("q=_".into(), vec![]),
        ("q=".into(), all.to_vec()),
    ];
    for (query, expected) in cases {
        let res = app
            .get(&format!("/api/organizations/{org}/memberships/?{query}"))
            .key(&admin)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK, "{query}");
        assert_eq!(emails(&res.json()), expected, "{query}");
        let paged = app
            .get(&format!("/api/organizations/{org}/memberships/?{query}"))
            .key(&admin)
            .v2()
            .send()
            .await;
        assert_eq!(
            paged.header("x-total-count"),
            Some(expected.len().to_string().as_str()),
            "{query}"
        );
    }
}

#[tokio::test]
async fn invalid_filter_values_are_400_field_errors() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let cases = [
        (
            "user__service_account=maybe",
            json!({"user__service_account": ["Select a valid choice. maybe is not one of the available choices."]}),
        ),
        (
            "user__deployment_key_account=yes",
            json!({"user__deployment_key_account": ["Select a valid choice. yes is not one of the available choices."]}),
        ),
        (
            "user__service_account=2",
            json!({"user__service_account": ["Select a valid choice. 2 is not one of the available choices."]}),
        ),
        (
            "role=9",
            json!({"role": ["Select a valid choice. 9 is not one of the available choices."]}),
        ),
        (
            "role__in=1,x",
            json!({"role__in": ["Select a valid choice. 1,x is not one of the available choices."]}),
        ),
        (
            "user__id=nope",
            json!({"user__id": ["Enter a valid UUID."]}),
        ),
        ("groups=nope", json!({"groups": ["Enter a valid UUID."]})),
        (
            "role=1&role=2",
            json!({"role": ["Provide this parameter only once."]}),
        ),
    ];
    for (query, errors) in cases {
        let res = app
            .get(&format!("/api/organizations/{org}/memberships/?{query}"))
            .key(&admin)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(res.json(), errors, "{query}");
    }
}

#[tokio::test]
async fn membership_detail_follows_the_permission_table() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (mid, member) = app.member(org, "member@example.com", Role::Member).await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let (_, outsider) = app.team("Other").await;
    let path = format!("/api/memberships/{mid}/");
    let res = app.get(&path).key(&admin).send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        (res.json()["id"].as_i64(), res.json()["role"].as_i64()),
        (Some(mid), Some(1))
    );
    assert_eq!(
        app.get(&path).key(&manager).send().await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path).key(&member).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&path).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    let res = app
        .patch(&path)
        .key(&manager)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::FORBIDDEN,
        "managers do not change roles"
    );
    assert_eq!(
        app.delete(&path).key(&manager).send().await.status,
        StatusCode::FORBIDDEN
    );
    let res = app
        .patch(&path)
        .key(&outsider)
        .json(&json!({"role": 2}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    for bad in [
        "/api/memberships/abc/",
        "/api/memberships/-1/",
        "/api/memberships/0/",
        "/api/memberships/99999999999999999999/",
        "/api/memberships/999999/",
    ] {
        assert_eq!(
            app.get(bad).key(&admin).send().await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn roles_change_only_through_role() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (mid, _) = app.member(org, "member@example.com", Role::Member).await;
    let path = format!("/api/memberships/{mid}/");
    let res = app
        .patch(&path)
        .key(&admin)
        .json(&json!({"role": 5, "id": 1, "user": {"email": "evil@example.com"}, "groups": []}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!(
        (body["id"].as_i64(), body["role"].as_i64()),
        (Some(mid), Some(5))
    );
    assert_eq!(body["user"]["email"], "member@example.com");
    let res = app
        .put(&path)
        .key(&admin)
        .json(&json!({"role": "3"}))
        .send()
        .await;
    assert_eq!(
        res.json()["role"],
        3,
        "a numeric string is a valid choice, as in DRF"
    );
    let res = app.patch(&path).key(&admin).json(&json!({})).send().await;
    assert_eq!(
        (res.status, res.json()["role"].as_i64()),
        (StatusCode::OK, Some(3)),
        "PATCH without role changes nothing"
    );
    for bad in [
        json!({"role": 0}),
        json!({"role": 6}),
        json!({"role": null}),
        json!({"role": "admin"}),
        json!({"role": 2.5}),
        json!({"role": [2]}),
        json!({}),
    ] {
        let res = app.put(&path).key(&admin).json(&bad).send().await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(res.json()["role"].is_array(), "{bad}");
    }
    assert_eq!(
        app.get(&path).key(&admin).send().await.json()["role"],
        3,
        "unchanged by refused requests"
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_removed() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let me = app
        .get(&format!("/api/organizations/{org}/memberships/?role=2"))
        .key(&admin)
        .send()
        .await
        .json();
    let first = me[0]["id"].as_i64().unwrap();
    let path = format!("/api/memberships/{first}/");
    let res = app
        .patch(&path)
        .key(&admin)
        .json(&json!({"role": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.json()["role"][0]
            .as_str()
            .unwrap()
            .contains("last admin")
    );
    let res = app.delete(&path).key(&admin).send().await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.json()["non_field_errors"][0]
            .as_str()
            .unwrap()
            .contains("last admin")
    );
    // With a second admin, the first may step down, and then the second is the last.
    let (second, second_key) = app.member(org, "second@example.com", Role::Admin).await;
    let res = app
        .patch(&path)
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(
        (res.status, res.json()["role"].as_i64()),
        (StatusCode::OK, Some(5))
    );
    let res = app
        .delete(&format!("/api/memberships/{second}/"))
        .key(&second_key)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_account_roles_are_fixed() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (robot, _) = app
        .account("robot@example.com", AccountKind::ServiceAccount)
        .await;
    let m = app
        .store
        .add_member(
            org,
            robot,
            Some(Role::Restricted),
            Timestamp::from_micros(0),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let res = app
        .patch(&format!("/api/memberships/{}/", m.id))
        .key(&admin)
        .json(&json!({"role": 2}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json()["role"][0],
        "The role of a service account or deployment key cannot be changed."
    );
}

#[tokio::test]
async fn removing_a_member_takes_them_off_the_team() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (mid, member) = app.member(org, "member@example.com", Role::Member).await;
    let path = format!("/api/memberships/{mid}/");
    assert_eq!(
        app.delete(&path).key(&admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&path).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
    let me = app.get("/api/me/").key(&member).send().await.json();
    assert_eq!(me["organization_memberships"], json!([]));
    assert_eq!(
        app.get(&format!("/api/organizations/{org}/"))
            .key(&member)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Pages are served from a cache kept by the team's data version: every kind of change a page
/// shows must be seen by the next read, whichever path made it.
#[tokio::test]
async fn cached_pages_follow_every_change() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Cache").await;
    let page_path = format!("/api/organizations/{org}/memberships/?page_size=50");
    let page = || async {
        let res = app.get(&page_path).key(&admin).v2().send().await;
        assert_eq!(res.status, StatusCode::OK);
        let total = res.header("x-total-count").unwrap().to_owned();
        (res.json(), total)
    };
    let (first, total) = page().await;
    assert_eq!(total, "1");
    assert_eq!(page().await.0, first, "an unchanged team reads the same");

    // A member added (store path, as the CLI and invitations do).
    let (mid, _) = app.member(org, "ann@cache.test", Role::Member).await;
    let (after_add, total) = page().await;
    assert_eq!(total, "2");
    // A role change through the API.
    let res = app
        .patch(&format!("/api/memberships/{mid}/"))
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let (after_role, _) = page().await;
    assert_ne!(after_role, after_add);
    let ann = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["email"] == "ann@cache.test")
            .cloned()
            .unwrap()
    };
    assert_eq!(ann(&after_role)["role"], 5);
    // A group, its members, its name.
    let res = app
        .post(&format!("/api/organizations/{org}/groups/"))
        .key(&admin)
        .json(&json!({"name": "Night"}))
        .send()
        .await;
    let group = res.json()["id"].as_str().unwrap().to_owned();
    let res = app
        .put(&format!("/api/groups/{group}/memberships/"))
        .key(&admin)
        .json(&json!([{"email": "ann@cache.test"}]))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&res.bytes)
    );
    assert_eq!(ann(&page().await.0)["groups"][0]["name"], "Night");
    let res = app
        .patch(&format!("/api/groups/{group}/"))
        .key(&admin)
        .json(&json!({"name": "Day"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(ann(&page().await.0)["groups"][0]["name"], "Day");
    // The person's name changes (as `member add --name` does).
    app.store
        .ensure_user(
            roster_core::store::NewUser {
                email: "ann@cache.test".into(),
                name: Some("Ann Renamed".into()),
                kind: AccountKind::Person,
            },
            Timestamp::from_micros(1),
        )
        .await
        .unwrap();
    assert_eq!(ann(&page().await.0)["user"]["name"], "Ann Renamed");
    // The group goes, then the member.
    let res = app
        .delete(&format!("/api/groups/{group}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(ann(&page().await.0)["groups"], json!([]));
    let res = app
        .delete(&format!("/api/memberships/{mid}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let (last, total) = page().await;
    assert_eq!(total, "1");
    // The admin's activity is written in the background after their first request, so the
    // first read may or may not show it: everything else must read as it did.
    let without_activity = |mut v: Value| {
        for m in v.as_array_mut().unwrap() {
            m.as_object_mut().unwrap().remove("last_active_at");
        }
        v
    };
    assert_eq!(without_activity(last), without_activity(first));
}

/// A member by user id, in the shape PixieBrix's admin pages read: the person, their groups in
/// this team with their group-membership ids and when they joined, and their membership.
#[tokio::test]
async fn a_member_is_read_by_user_id_with_their_groups_here() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (other, other_admin) = app.team("Other").await;
    let (mid, _) = app.member(org, "ann@acme.test", Role::Developer).await;
    let (_, plain) = app.member(org, "pat@acme.test", Role::Member).await;
    let (_, manager) = app.member(org, "max@acme.test", Role::Manager).await;
    let ann = app
        .get(&format!("/api/memberships/{mid}/"))
        .key(&admin)
        .send()
        .await
        .json();
    let user = ann["user"]["id"].as_str().unwrap().to_owned();
    let leads = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Leads"}),
        )
        .await;
    let added = app
        .post(&format!("/api/groups/{leads}/memberships/"))
        .key(&admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await
        .made();
    // A group of another team that holds the same person does not show here.
    app.member(other, "ann@acme.test", Role::Member).await;
    let abroad = app
        .created(
            &format!("/api/organizations/{other}/groups/"),
            &other_admin,
            json!({"name": "Abroad"}),
        )
        .await;
    app.post(&format!("/api/groups/{abroad}/memberships/"))
        .key(&other_admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await
        .made();

    let path = format!("/api/organizations/{org}/members/{user}/");
    for key in [&admin, &manager] {
        let res = app.get(&path).key(key).send().await;
        assert_eq!(res.status, StatusCode::OK);
        let m = res.json();
        assert_eq!(
            (m["id"].as_str(), m["email"].as_str()),
            (Some(user.as_str()), Some("ann@acme.test"))
        );
        assert_eq!(m["membership"], json!({"id": mid, "role": 3}));
        let groups = m["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{m}");
        assert_eq!(groups[0]["group_id"], leads.as_str());
        assert_eq!(groups[0]["group_name"], "Leads");
        assert_eq!(groups[0]["id"], added[0]["id"]);
        assert!(groups[0]["created_at"].is_string());
        assert!(m.as_object().unwrap().contains_key("last_login"));
        assert!(m.as_object().unwrap().contains_key("date_joined"));
    }
    // Everyone else: a member without the right (403, as for the member list), another team
    // (404), someone not in the team (404).
    assert_eq!(
        app.get(&path).key(&plain).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&path).key(&other_admin).send().await.status,
        StatusCode::NOT_FOUND
    );
    let (stranger, _) = app.user("stranger@elsewhere.test").await;
    let nobody = format!("/api/organizations/{org}/members/{stranger}/");
    assert_eq!(
        app.get(&nobody).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
    let bad = format!("/api/organizations/{org}/members/not-a-uuid/");
    assert_eq!(
        app.get(&bad).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}
