//! Rules with holes (issue 17, points 3b, 3c, 3d): the last-admin rule counts only active
//! people on every path that demotes, suspends or removes an admin; a `groups=` filter names
//! only the team's own groups; a suspended member no longer sees the team.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::{Clock, Role, SystemClock};
use serde_json::{Value, json};
use uuid::Uuid;

async fn my_membership(app: &TestApp, org: Uuid, key: &str) -> i64 {
    let me = app.get("/api/me/").key(key).send().await.json();
    let list = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?user__id={}",
            me["id"].as_str().unwrap()
        ))
        .key(key)
        .send()
        .await
        .json();
    list[0]["id"].as_i64().unwrap()
}

async fn scim_id(app: &TestApp, token: &str, user_name: &str) -> String {
    let filter = format!("userName eq \"{user_name}\"");
    let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let found = app
        .scim(token, "GET", &format!("/Users?filter={q}"), None)
        .await;
    found.json()["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_admin_service_account_is_not_an_admin_who_can_recover_the_team() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let account = app.service_account(org, &admin, 2).await;
    let mine = my_membership(&app, org, &admin).await;
    let res = app
        .patch(&format!("/api/memberships/{mine}/"))
        .key(&admin)
        .json(&json!({"role": 1}))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "the account does not count"
    );
    assert_eq!(
        app.delete(&format!("/api/memberships/{mine}/"))
            .key(&account)
            .send()
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Deleting the account leaves the person admin: nothing to check there.
    let sid = app.get("/api/me/").key(&account).send().await.json()["id"].clone();
    let sid = sid.as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/organizations/{org}/serviceaccounts/{sid}/"))
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/organizations/{org}/memberships/"))
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_suspended_admin_does_not_count_and_the_last_active_one_is_kept_on_every_path() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await; // admin@acme.example.com
    let token = app.service_account(org, &admin, 2).await;
    let (_, second) = app.member(org, "second@acme.test", Role::Admin).await;
    // SCIM suspends the second admin: the team's last active admin is the first.
    let second_id = scim_id(&app, &token, "second@acme.test").await;
    let suspend = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let res = app
        .scim(
            &token,
            "PATCH",
            &format!("/Users/{second_id}"),
            Some(suspend.clone()),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    assert_eq!(
        app.get(&format!("/api/organizations/{org}/"))
            .key(&second)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let first_id = scim_id(&app, &token, "admin@acme.example.com").await;
    let first = format!("/Users/{first_id}");
    // Through the team API, SCIM (suspend, demote, delete) and the command line: refused.
    let mine = my_membership(&app, org, &admin).await;
    let demote = app
        .patch(&format!("/api/memberships/{mine}/"))
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await;
    assert_eq!(demote.status, StatusCode::BAD_REQUEST);
    let res = app.scim(&token, "PATCH", &first, Some(suspend)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.detail());
    assert_eq!(res.json()["scimType"], "invalidValue");
    let demote_scim = json!({"userName": "admin@acme.example.com",
        "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"role": "member"}});
    let res = app.scim(&token, "PUT", &first, Some(demote_scim)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.detail());
    assert_eq!(
        app.scim(&token, "DELETE", &first, None).await.status,
        StatusCode::BAD_REQUEST
    );
    let me: Value = app.get("/api/me/").key(&admin).send().await.json();
    let person = me["id"].as_str().unwrap().parse().unwrap();
    let cli = app
        .store
        .add_member(
            org,
            person,
            Some(Role::Member),
            SystemClock.now(),
            &Origin::cli(),
        )
        .await;
    assert!(cli.is_err(), "the command line's member add too: {cli:?}");
    assert_eq!(
        app.get(&format!("/api/organizations/{org}/memberships/?role=2"))
            .key(&admin)
            .send()
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3,
        "two people and the account, all still admins"
    );
    // With a second active admin, each path works again.
    let (_, third) = app.member(org, "third@acme.test", Role::Admin).await;
    assert!(!third.is_empty());
    assert_eq!(
        app.patch(&format!("/api/memberships/{mine}/"))
            .key(&admin)
            .json(&json!({"role": 5}))
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_groups_filter_names_this_team_s_groups_only() {
    let app = TestApp::new().await;
    let (a, a_admin) = app.team("A").await;
    let (b, b_admin) = app.team("B").await;
    let (_, shared) = app.member(a, "shared@x.test", Role::Member).await;
    let person = app.get("/api/me/").key(&shared).send().await.json()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.store
        .add_member(
            b,
            person,
            Some(Role::Member),
            SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let b_group = app
        .created(
            &format!("/api/organizations/{b}/groups/"),
            &b_admin,
            json!({"name": "Night"}),
        )
        .await;
    app.put(&format!("/api/groups/{b_group}/memberships/"))
        .key(&b_admin)
        .json(&json!(["shared@x.test"]))
        .send()
        .await
        .made();
    let a_group = app
        .created(
            &format!("/api/organizations/{a}/groups/"),
            &a_admin,
            json!({"name": "Day"}),
        )
        .await;
    for query in [
        format!("groups={b_group}"),
        format!("groups={a_group},{b_group}"),
        format!("groups={}", Uuid::new_v4()),
    ] {
        for v2 in [false, true] {
            let mut req = app
                .get(&format!("/api/organizations/{a}/memberships/?{query}"))
                .key(&a_admin);
            if v2 {
                req = req.v2();
            }
            let res = req.send().await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{query}");
            let message = res.json()["groups"][0].as_str().unwrap().to_owned();
            assert!(
                message.starts_with("No group of this organization"),
                "{message}"
            );
        }
    }
    let own = app
        .get(&format!(
            "/api/organizations/{a}/memberships/?groups={a_group}"
        ))
        .key(&a_admin)
        .send()
        .await;
    assert_eq!((own.status, own.json()), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn a_suspended_member_no_longer_sees_the_team() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let token = app.service_account(org, &admin, 2).await;
    let (_, member) = app.member(org, "ann@acme.test", Role::Manager).await;
    let (other, other_admin) = app.team("Other").await;
    let invitation = app.invite(other, &other_admin, "ann@acme.test", 1).await;
    app.post(&format!(
        "/api/invitations/{}/accept/",
        invitation["id"].as_str().unwrap()
    ))
    .key(&member)
    .send()
    .await
    .made();
    let id = scim_id(&app, &token, "ann@acme.test").await;
    let suspend = json!({"userName": "ann@acme.test", "active": false});
    assert_eq!(
        app.scim(&token, "PUT", &format!("/Users/{id}"), Some(suspend))
            .await
            .status,
        StatusCode::OK
    );
    let teams = app
        .get("/api/organizations/")
        .key(&member)
        .send()
        .await
        .json();
    assert_eq!(teams.as_array().unwrap().len(), 1, "{teams}");
    assert_eq!(teams[0]["id"], json!(other));
    let v2 = app
        .get("/api/organizations/")
        .key(&member)
        .v2()
        .send()
        .await;
    assert_eq!(v2.header("x-total-count"), Some("1"));
    let me = app.get("/api/me/").key(&member).send().await.json();
    let memberships = me["organization_memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 1, "{me}");
    assert_eq!(memberships[0]["organization"], json!(other));
}
