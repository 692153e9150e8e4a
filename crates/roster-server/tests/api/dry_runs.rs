//! Dry runs (`?dry_run=true`) of group-membership and campaign-member POST and PUT: validated
//! exactly as the real request, answered with what it would do, changing nothing; the real
//! request that follows does what the dry run said.

use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::{Value, json};
use uuid::Uuid;

fn emails(items: &Value) -> Vec<String> {
    let mut out: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

async fn team() -> (TestApp, Uuid, String) {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for who in ["ann", "bob", "cy", "dee"] {
        app.member(org, &format!("{who}@acme.test"), Role::Member)
            .await;
    }
    (app, org, admin)
}

async fn send(app: &TestApp, key: &str, method: &str, path: &str, body: Value) -> Response {
    app.request(method.parse().unwrap(), path)
        .key(key)
        .json(&body)
        .send()
        .await
}

#[tokio::test]
async fn group_dry_runs_name_the_change_and_make_none() {
    let (app, org, admin) = team().await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/memberships/");
    let start = json!([{"email": "ann@acme.test"}, {"email": "bob@acme.test"}]);
    assert_eq!(
        send(&app, &admin, "PUT", &path, start).await.status,
        StatusCode::OK
    );
    let list = || async { app.get(&path).key(&admin).send().await.json() };
    let before = list().await;

    // PUT: bob stays, cy comes, ann goes.
    let payload = json!([{"email": "bob@acme.test"}, {"email": "cy@acme.test"}]);
    let dry = send(
        &app,
        &admin,
        "PUT",
        &format!("{path}?dry_run=true"),
        payload.clone(),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.detail());
    let preview = dry.json();
    assert_eq!(emails(&preview["added"]), ["cy@acme.test"]);
    assert_eq!(emails(&preview["removed"]), ["ann@acme.test"]);
    assert_eq!(preview["updated"], json!([]));
    assert_eq!(preview["unchanged"], 1);
    // Each item has the list's shape; the removed one is the membership as listed.
    let ann = before
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "ann@acme.test")
        .unwrap();
    assert_eq!(&preview["removed"][0], ann);
    for field in ["id", "email", "user", "created_at"] {
        assert!(preview["added"][0].get(field).is_some(), "{field}");
    }
    assert_eq!(list().await, before, "a dry run changes nothing");

    // POST: dee is new, bob is there.
    let payload_add = json!([{"email": "bob@acme.test"}, {"email": "dee@acme.test"}]);
    let dry = send(
        &app,
        &admin,
        "POST",
        &format!("{path}?dry_run=1"),
        payload_add,
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK);
    let preview_add = dry.json();
    assert_eq!(emails(&preview_add["added"]), ["dee@acme.test"]);
    assert_eq!(preview_add["removed"], json!([]));
    assert_eq!(preview_add["unchanged"], 1);
    assert_eq!(list().await, before);

    // The real PUT does what its dry run said.
    let real = send(&app, &admin, "PUT", &path, payload).await;
    assert_eq!(real.status, StatusCode::OK);
    assert_eq!(emails(&real.json()), ["bob@acme.test", "cy@acme.test"]);

    // Refused as the real request is, with the same answer, and nothing written.
    let bad = json!([{"email": "eve@elsewhere.test"}]);
    let refused = send(
        &app,
        &admin,
        "PUT",
        &format!("{path}?dry_run=true"),
        bad.clone(),
    )
    .await;
    let real_refusal = send(&app, &admin, "PUT", &path, bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.bytes, real_refusal.bytes);
    let res = send(
        &app,
        &admin,
        "PUT",
        &format!("{path}?dry_run=maybe"),
        json!([]),
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.json()["dry_run"].is_array());
    assert_eq!(emails(&list().await), ["bob@acme.test", "cy@acme.test"]);
}

#[tokio::test]
async fn campaign_dry_runs_name_added_removed_and_updated() {
    let (app, org, admin) = team().await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            json!({"name": "C"}),
        )
        .await;
    let path = format!("/api/organizations/{org}/campaigns/{campaign}/members/");
    let start = json!([
        {"email": "ann@acme.test", "data": {"shift": "early"}},
        {"email": "bob@acme.test", "data": {"shift": "late"}},
        {"email": "cy@acme.test", "data": {"shift": "late"}}
    ]);
    assert_eq!(
        send(&app, &admin, "PUT", &path, start).await.status,
        StatusCode::OK
    );
    let list = || async { app.get(&path).key(&admin).send().await.json() };
    let before = list().await;

    let payload = json!([
        {"email": "bob@acme.test", "data": {"shift": "early"}},
        {"email": "cy@acme.test", "data": {"shift": "late"}},
        {"email": "dee@acme.test", "data": {}}
    ]);
    let dry = send(
        &app,
        &admin,
        "PUT",
        &format!("{path}?dry_run=true"),
        payload.clone(),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.detail());
    let preview = dry.json();
    assert_eq!(emails(&preview["added"]), ["dee@acme.test"]);
    assert_eq!(emails(&preview["removed"]), ["ann@acme.test"]);
    assert_eq!(emails(&preview["updated"]), ["bob@acme.test"]);
    assert_eq!(preview["updated"][0]["data"], json!({"shift": "early"}));
    assert_eq!(preview["unchanged"], 1);
    assert_eq!(list().await, before, "a dry run changes nothing");

    // POST of someone present with the same data is unchanged; one object works too.
    let dry = send(
        &app,
        &admin,
        "POST",
        &format!("{path}?dry_run=true"),
        json!({"email": "ann@acme.test", "data": {"shift": "early"}}),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.detail());
    let preview_add = dry.json();
    assert_eq!(preview_add["unchanged"], 1);
    assert_eq!(preview_add["added"], json!([]));
    assert_eq!(preview_add["updated"], json!([]));

    let real = send(&app, &admin, "PUT", &path, payload).await;
    assert_eq!(real.status, StatusCode::OK);
    assert_eq!(
        emails(&real.json()),
        ["bob@acme.test", "cy@acme.test", "dee@acme.test"]
    );
}

#[tokio::test]
async fn dry_runs_obey_the_same_permissions() {
    let (app, org, admin) = team().await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/memberships/?dry_run=true");
    let (_, member) = app.member(org, "mo@acme.test", Role::Member).await;
    let (_, stranger) = app.team("Other").await;
    let body = json!([{"email": "ann@acme.test"}]);
    assert_eq!(
        send(&app, &member, "PUT", &path, body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, &stranger, "PUT", &path, body).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_dry_run_asked_where_none_is_offered_changes_nothing() {
    let (app, org, admin) = team().await;
    let group = send(
        &app,
        &admin,
        "POST",
        &format!("/api/organizations/{org}/groups/"),
        json!({"name": "Ops"}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = format!("/api/groups/{group}/memberships/");
    for (method, path, body) in [
        (
            "DELETE",
            format!("/api/groups/{group}/?dry_run=true"),
            json!(null),
        ),
        (
            "PATCH",
            format!("/api/groups/{group}/?dry_run=1"),
            json!({"name": "Renamed"}),
        ),
        (
            "PUT",
            format!("{members}?dry-run=true"),
            json!(["ann@acme.test"]),
        ),
        (
            "POST",
            format!("{members}?DryRun=true"),
            json!(["ann@acme.test"]),
        ),
    ] {
        let res = send(&app, &admin, method, &path, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{method} {path}");
        let said = String::from_utf8_lossy(&res.bytes).into_owned();
        assert!(said.contains("Nothing was changed"), "{said}");
    }
    let after = send(
        &app,
        &admin,
        "GET",
        &format!("/api/groups/{group}/"),
        json!(null),
    )
    .await;
    assert_eq!(after.json()["name"], "Ops");
    let listed = send(&app, &admin, "GET", &members, json!(null)).await;
    assert_eq!(listed.json(), json!([]));
    // A client that always sends the flag, false, is not refused.
    let renamed = send(
        &app,
        &admin,
        "PATCH",
        &format!("/api/groups/{group}/?dry_run=false"),
        json!({"name": "Renamed"}),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.detail());
}
