//! Tags on every read: each single resource and each 2.0 list page carries a weak ETag that
//! moves when what it shows moves (and not when someone's activity does), `If-None-Match`
//! answers 304; `If-Match` on a team's and a membership's changes answers 412 when stale and
//! changes nothing, without letting anyone past the role and team rules.

use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn tag(res: &Response, path: &str) -> String {
    let tag = res
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on {path}: {}", res.status))
        .to_owned();
    assert!(
        tag.starts_with("W/\"") && tag.ends_with('"'),
        "{path}: {tag}"
    );
    tag
}

/// The reads of a team with a group and a campaign, each with someone in it.
async fn reads(app: &TestApp, org: Uuid, admin: &str, ann: i64) -> Vec<String> {
    let group = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            admin,
            json!({"name": "Night shift"}),
        )
        .await;
    let campaign = app
        .created(
            &format!("/api/organizations/{org}/campaigns/"),
            admin,
            json!({"name": "Spring"}),
        )
        .await;
    for path in [
        format!("/api/groups/{group}/memberships/"),
        format!("/api/organizations/{org}/campaigns/{campaign}/members/"),
    ] {
        let body = json!([{"email": "ann@acme.test", "data": {"calls": 3}}]);
        app.post(&path).key(admin).json(&body).send().await.made();
    }
    vec![
        "/api/organizations/".to_owned(),
        format!("/api/organizations/{org}/"),
        format!("/api/organizations/{org}/memberships/"),
        format!("/api/memberships/{ann}/"),
        format!("/api/organizations/{org}/groups/"),
        format!("/api/groups/{group}/"),
        format!("/api/groups/{group}/memberships/"),
        format!("/api/organizations/{org}/campaigns/"),
        format!("/api/organizations/{org}/campaigns/{campaign}/"),
        format!("/api/organizations/{org}/campaigns/{campaign}/members/"),
        format!("/api/organizations/{org}/serviceaccounts/"),
        format!("/api/organizations/{org}/invitations/"),
        format!("/api/organizations/{org}/email-domains/"),
        format!("/api/audit/organizations/{org}/"),
        "/api/me/".to_owned(),
    ]
}

/// Each read's tag, checking that it answers 304 (and no body) while it stands.
async fn tags(app: &TestApp, admin: &str, paths: &[String]) -> Vec<String> {
    let mut tags = Vec::new();
    for path in paths {
        let res = app.get(path).key(admin).v2().send().await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let tag = tag(&res, path);
        let again = app
            .get(path)
            .key(admin)
            .v2()
            .header("if-none-match", &format!("W/\"other\", {tag}"))
            .send()
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes.is_empty(), "{path}");
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{path}");
        tags.push(tag);
    }
    tags
}

#[tokio::test]
async fn every_read_and_list_page_is_tagged_and_answers_304_until_what_it_shows_changes() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (ann, _) = app.member(org, "ann@acme.test", Role::Member).await;
    let paths = reads(&app, org, &admin, ann).await;
    let before = tags(&app, &admin, &paths).await;

    // Reading changes nothing.
    assert_eq!(tags(&app, &admin, &paths).await, before);

    // Ann's role changes: what shows her, and the history, move; the rest stands.
    let res = app
        .patch(&format!("/api/memberships/{ann}/"))
        .key(&admin)
        .json(&json!({"role": 3}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let after = tags(&app, &admin, &paths).await;
    let moved: Vec<&str> = paths
        .iter()
        .zip(before.iter().zip(&after))
        .filter(|(_, (b, a))| b != a)
        .map(|(p, _)| p.as_str())
        .collect();
    let team = format!("/api/organizations/{org}/");
    for shows_ann in [
        "/api/organizations/".to_owned(),
        team.clone(),
        format!("{team}memberships/"),
        format!("/api/memberships/{ann}/"),
        format!("/api/audit/organizations/{org}/"),
    ] {
        assert!(
            moved.contains(&shows_ann.as_str()),
            "{shows_ann}: {moved:?}"
        );
    }
    for stands in [
        format!("{team}serviceaccounts/"),
        format!("{team}email-domains/"),
    ] {
        assert!(!moved.contains(&stands.as_str()), "{stands}: {moved:?}");
    }
}

#[tokio::test]
async fn someones_activity_moves_no_tag() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (ann, ann_key) = app.member(org, "ann@acme.test", Role::Member).await;
    let paths = reads(&app, org, &admin, ann).await;
    let before = tags(&app, &admin, &paths[..paths.len() - 1]).await;

    // Ann's first request is noted as her activity.
    app.get("/api/me/").key(&ann_key).send().await.made();
    let mut active = Value::Null;
    for _ in 0..100 {
        let res = app
            .get(&format!("/api/memberships/{ann}/"))
            .key(&admin)
            .send()
            .await;
        active = res.json()["last_active_at"].clone();
        if !active.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(active.is_string(), "activity is noted: {active}");
    let group_members = res_json(&app, &admin, &paths[6]).await;
    assert!(
        group_members[0]["last_active_at"].is_string(),
        "{group_members}"
    );
    assert_eq!(tags(&app, &admin, &paths[..paths.len() - 1]).await, before);
}

async fn res_json(app: &TestApp, key: &str, path: &str) -> Value {
    app.get(path).key(key).v2().send().await.made()
}

async fn change(app: &TestApp, key: &str, method: &str, path: &str, tag: &str) -> Response {
    let mut req = app
        .request(method.parse().unwrap(), path)
        .key(key)
        .header("if-match", tag);
    if method != "DELETE" {
        req = req.json(&json!({"role": 3, "name": "Renamed"}));
    }
    req.send().await
}

#[tokio::test]
async fn a_stale_if_match_on_a_team_or_a_membership_is_a_412_that_changes_nothing() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (ann, ann_key) = app.member(org, "ann@acme.test", Role::Member).await;
    let (bob, _) = app.member(org, "bob@acme.test", Role::Member).await;
    let team = format!("/api/organizations/{org}/");
    let ann_path = format!("/api/memberships/{ann}/");

    // The team: its tag moves with any change it shows.
    let t1 = tag(&app.get(&team).key(&admin).send().await, &team);
    let res = change(&app, &admin, "PATCH", &team, &t1).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    for method in ["PATCH", "PUT", "DELETE"] {
        let res = change(&app, &admin, method, &team, &t1).await;
        assert_eq!(res.status, StatusCode::PRECONDITION_FAILED, "{method}");
        assert!(!res.detail().is_empty());
    }
    let now = app.get(&team).key(&admin).send().await;
    assert_eq!(now.json()["name"], "Renamed");
    let t2 = tag(&now, &team);
    assert_ne!(t1, t2);

    // A membership's tag is its own: a change to Bob leaves Ann's standing.
    let m1 = tag(&app.get(&ann_path).key(&admin).send().await, &ann_path);
    let bob_path = format!("/api/memberships/{bob}/");
    let res = app
        .patch(&bob_path)
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = change(&app, &admin, "PATCH", &ann_path, &m1).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let m2 = tag(&res, &ann_path);
    assert_ne!(m1, m2);
    assert_eq!(
        tag(&app.get(&ann_path).key(&admin).send().await, &ann_path),
        m2
    );
    for method in ["PUT", "DELETE"] {
        let res = change(&app, &admin, method, &ann_path, &m1).await;
        assert_eq!(res.status, StatusCode::PRECONDITION_FAILED, "{method}");
    }
    let res = change(&app, &admin, "PUT", &ann_path, "W/\"not-a-tag\"").await;
    assert_eq!(res.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        app.get(&ann_path).key(&admin).send().await.json()["role"],
        3,
        "nothing changed"
    );

    // A good tag opens no door: Ann may not change herself, another team's admin finds
    // nothing, and neither learns whether the tag was right.
    let (_, stranger) = app.team("Other").await;
    for (key, status) in [
        (&ann_key, StatusCode::FORBIDDEN),
        (&stranger, StatusCode::NOT_FOUND),
    ] {
        for tag in [m2.as_str(), "W/\"stale\""] {
            let res = change(&app, key, "DELETE", &ann_path, tag).await;
            assert_eq!(res.status, status, "{tag}");
        }
        let res = change(&app, key, "DELETE", &team, &t2).await;
        assert_eq!(res.status, status);
    }

    let res = change(&app, &admin, "DELETE", &ann_path, &m2).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let res = change(&app, &admin, "DELETE", &team, &t2).await;
    assert_eq!(
        res.status,
        StatusCode::PRECONDITION_FAILED,
        "Ann's leaving moved it"
    );
    let t3 = tag(&app.get(&team).key(&admin).send().await, &team);
    let res = change(&app, &admin, "DELETE", &team, &t3).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn two_admins_changing_one_membership_from_one_read_leave_one_winner_and_one_412() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, boss) = app.member(org, "boss@acme.test", Role::Admin).await;
    let (ann, _) = app.member(org, "ann@acme.test", Role::Member).await;
    let path = format!("/api/memberships/{ann}/");
    let read = tag(&app.get(&path).key(&admin).send().await, &path);
    let body = |role: i64| json!({ "role": role });
    let (one, two) = tokio::join!(
        app.patch(&path)
            .key(&admin)
            .header("if-match", &read)
            .json(&body(3))
            .send(),
        app.patch(&path)
            .key(&boss)
            .header("if-match", &read)
            .json(&body(5))
            .send(),
    );
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if one.status == StatusCode::OK { 3 } else { 5 };
    assert_eq!(
        app.get(&path).key(&admin).send().await.json()["role"],
        winner
    );
}
