//! Groups: CRUD with the section 2 permissions, unique names, and membership counts.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::json;

#[tokio::test]
async fn admins_and_managers_manage_groups_ordered_by_name() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let path = format!("/api/organizations/{org}/groups/");
    for (key, name) in [(&admin, "Zeta"), (&manager, "Alpha"), (&admin, "mid")] {
        let res = app
            .post(&path)
            .key(key)
            .json(&json!({"name": name}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{name}");
        let g = res.json();
        assert_eq!(
            (g["name"].as_str(), g["num_members"].as_i64()),
            (Some(name), Some(0))
        );
        assert!(g["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let res = app.get(&path).key(&manager).send().await;
    let names: Vec<_> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Alpha", "Zeta", "mid"]);
    let paged = app
        .get(&format!("{path}?page_size=2"))
        .key(&admin)
        .v2()
        .send()
        .await;
    assert_eq!(paged.header("x-total-count"), Some("3"));
    assert_eq!(paged.json().as_array().unwrap().len(), 2);

    let id = res.json()[0]["id"].as_str().unwrap().to_owned();
    let one = format!("/api/groups/{id}/");
    assert_eq!(
        app.get(&one).key(&manager).send().await.json()["name"],
        "Alpha"
    );
    let res = app
        .patch(&one)
        .key(&manager)
        .json(&json!({"name": "Beta"}))
        .send()
        .await;
    assert_eq!(
        (res.status, res.json()["name"].as_str()),
        (StatusCode::OK, Some("Beta"))
    );
    let res = app.put(&one).key(&admin).json(&json!({})).send().await;
    assert_eq!(res.json(), json!({"name": ["This field is required."]}));
    let res = app
        .put(&one)
        .key(&admin)
        .json(&json!({"name": "Zeta"}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "names are unique within a team"
    );
    assert_eq!(
        app.delete(&one).key(&manager).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&one).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn group_names_are_validated_and_unique_per_team() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (other, other_admin) = app.team("Other").await;
    let path = format!("/api/organizations/{org}/groups/");
    assert_eq!(
        app.post(&path)
            .key(&admin)
            .json(&json!({"name": "Sales"}))
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Sales"}))
        .send()
        .await;
    assert_eq!(res.json(), json!({"name": ["This name is already taken."]}));
    let res = app
        .post(&format!("/api/organizations/{other}/groups/"))
        .key(&other_admin)
        .json(&json!({"name": "Sales"}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "another team may use the name"
    );
    for (body, status) in [
        (json!({"name": ""}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(257)}), StatusCode::BAD_REQUEST),
        (json!({"name": "x".repeat(256)}), StatusCode::CREATED),
        (json!({"name": 1}), StatusCode::BAD_REQUEST),
        (json!([]), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(
            app.post(&path).key(&admin).json(&body).send().await.status,
            status,
            "{body}"
        );
    }
}

#[tokio::test]
async fn members_get_403_and_other_teams_get_404() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, member) = app.member(org, "member@example.com", Role::Member).await;
    let (_, developer) = app.member(org, "dev@example.com", Role::Developer).await;
    let (_, outsider) = app.team("Other").await;
    let res = app
        .post(&format!("/api/organizations/{org}/groups/"))
        .key(&admin)
        .json(&json!({"name": "G"}))
        .send()
        .await;
    let gid = res.json()["id"].as_str().unwrap().to_owned();
    let paths = [
        format!("/api/organizations/{org}/groups/"),
        format!("/api/groups/{gid}/"),
        format!("/api/groups/{gid}/memberships/"),
    ];
    for path in &paths {
        for key in [&member, &developer] {
            assert_eq!(
                app.get(path).key(key).send().await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        assert_eq!(
            app.get(path).key(&outsider).send().await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let members = format!("/api/groups/{gid}/memberships/");
    assert_eq!(
        app.post(&members)
            .key(&member)
            .json(&json!([]))
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put(&members)
            .key(&outsider)
            .json(&json!([]))
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/api/groups/{gid}/"))
            .key(&outsider)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/groups/not-a-uuid/")
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
