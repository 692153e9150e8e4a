//! Conditional requests on groups and campaigns: a weak ETag of the resource's version,
//! `If-None-Match` answered 304, `If-Match` on changes answered 412 when stale, checked under
//! the row's lock so that of two changes made from one read exactly one wins.

use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::{Value, json};
use uuid::Uuid;

async fn team() -> (TestApp, Uuid, String) {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    for who in ["ann", "bob", "cy"] {
        app.member(org, &format!("{who}@acme.test"), Role::Member)
            .await;
    }
    (app, org, admin)
}

fn tag(res: &Response) -> String {
    res.header("etag").expect("an ETag").to_owned()
}

async fn send(
    app: &TestApp,
    key: &str,
    method: &str,
    path: &str,
    if_match: &str,
    body: Value,
) -> Response {
    app.request(method.parse().unwrap(), path)
        .key(key)
        .header("if-match", if_match)
        .json(&body)
        .send()
        .await
}

#[tokio::test]
async fn a_group_read_is_tagged_answers_304_while_unchanged_and_scim_shows_the_same_tag() {
    let (app, org, admin) = team().await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/");
    let first = app.get(&path).key(&admin).send().await;
    assert_eq!(first.status, StatusCode::OK);
    let t1 = tag(&first);
    assert!(t1.starts_with("W/\""), "{t1}");
    let same = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", &t1)
        .send()
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.bytes.is_empty());
    assert_eq!(tag(&same), t1);

    // A change to its members changes its tag.
    let members = format!("/api/groups/{group}/memberships/");
    let put = app
        .put(&members)
        .key(&admin)
        .json(&json!([{"email": "ann@acme.test"}]))
        .send()
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let after = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", &t1)
        .send()
        .await;
    assert_eq!(after.status, StatusCode::OK);
    let t2 = tag(&after);
    assert_ne!(t1, t2);

    // SCIM's meta.version of the group is the same tag.
    let token = app.service_account(org, &admin, 2).await;
    let scim = app
        .scim(&token, "GET", &format!("/Groups/{group}"), None)
        .await;
    assert_eq!(scim.status, StatusCode::OK);
    assert_eq!(scim.json()["meta"]["version"], t2.as_str());
}

/// How many events the group's history holds.
async fn events(app: &TestApp, group: &str, admin: &str) -> usize {
    let res = app
        .get(&format!("/api/audit/groups/{group}/"))
        .key(admin)
        .send()
        .await;
    res.json().as_array().unwrap().len()
}

#[tokio::test]
async fn two_admins_replacing_one_group_from_one_read_leave_one_winner_and_one_412() {
    let (app, org, admin) = team().await;
    let (_, other_admin) = app.member(org, "boss@acme.test", Role::Admin).await;
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "G"}),
        )
        .await;
    let path = format!("/api/groups/{group}/");
    let members = format!("/api/groups/{group}/memberships/");
    let read = tag(&app.get(&path).key(&admin).send().await);
    let before = events(&app, &group, &admin).await;
    let (one, two) = tokio::join!(
        send(
            &app,
            &admin,
            "PUT",
            &members,
            &read,
            json!([{"email": "ann@acme.test"}])
        ),
        send(
            &app,
            &other_admin,
            "PUT",
            &members,
            &read,
            json!([{"email": "bob@acme.test"}])
        ),
    );
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "{} / {}",
        one.detail(),
        two.detail()
    );
    let (winner, loser) = if one.status == StatusCode::OK {
        ("ann@acme.test", &two)
    } else {
        ("bob@acme.test", &one)
    };
    assert!(loser.detail().contains("If-Match"), "{}", loser.detail());
    let listed = app.get(&members).key(&admin).send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["email"], winner);
    assert_eq!(
        events(&app, &group, &admin).await,
        before + 1,
        "the loser recorded nothing"
    );

    // Stale tags refuse renames, deletes and dry runs alike, and change nothing.
    let rename = send(&app, &admin, "PATCH", &path, &read, json!({"name": "H"})).await;
    assert_eq!(rename.status, StatusCode::PRECONDITION_FAILED);
    let dry = send(
        &app,
        &admin,
        "PUT",
        &format!("{members}?dry_run=true"),
        &read,
        json!([]),
    )
    .await;
    assert_eq!(dry.status, StatusCode::PRECONDITION_FAILED);
    let delete = app
        .delete(&path)
        .key(&admin)
        .header("if-match", &read)
        .send()
        .await;
    assert_eq!(delete.status, StatusCode::PRECONDITION_FAILED);
    let now = app.get(&path).key(&admin).send().await;
    assert_eq!(now.json()["name"], "G");

    // The present tag passes, and the answer carries the next one; `*` passes too.
    let current = tag(&now);
    let renamed = send(&app, &admin, "PATCH", &path, &current, json!({"name": "H"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.detail());
    assert_ne!(tag(&renamed), current);
    let any = send(&app, &admin, "PUT", &path, "*", json!({"name": "I"})).await;
    assert_eq!(any.status, StatusCode::OK);
    let gone = app
        .delete(&path)
        .key(&admin)
        .header("if-match", &tag(&any))
        .send()
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn campaign_changes_check_if_match_against_the_campaigns_tag() {
    let (app, org, admin) = team().await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            &admin,
            json!({"name": "C"}),
        )
        .await;
    let path = format!("/api/organizations/{org}/campaigns/{campaign}/");
    let members = format!("{path}members/");
    let t1 = tag(&app.get(&path).key(&admin).send().await);
    let not_modified = app
        .get(&path)
        .key(&admin)
        .header("if-none-match", &t1)
        .send()
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    let put = send(
        &app,
        &admin,
        "PUT",
        &members,
        &t1,
        json!([{"email": "ann@acme.test", "data": {"n": 1}}]),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.detail());
    // The list changed, so the campaign's tag did: the old one is stale now.
    let again = send(
        &app,
        &admin,
        "POST",
        &members,
        &t1,
        json!([{"email": "bob@acme.test", "data": {}}]),
    )
    .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    let renamed = send(&app, &admin, "PATCH", &path, &t1, json!({"name": "D"})).await;
    assert_eq!(renamed.status, StatusCode::PRECONDITION_FAILED);
    let t2 = tag(&app.get(&path).key(&admin).send().await);
    assert_ne!(t1, t2);
    let renamed = send(&app, &admin, "PATCH", &path, &t2, json!({"name": "D"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.detail());
    assert_eq!(renamed.json()["name"], "D");
    let listed = app.get(&members).key(&admin).send().await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the stale POST added nobody"
    );
    let stale_delete = app
        .delete(&path)
        .key(&admin)
        .header("if-match", &t2)
        .send()
        .await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
}
