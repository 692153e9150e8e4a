//! Service accounts and deployment keys: keys shown as the contract says, fixed roles, their
//! place in the memberships list, and revocation that takes effect at once.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::json;

#[tokio::test]
async fn service_accounts_act_with_their_own_fixed_role_and_are_revoked_at_once() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/serviceaccounts/");
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Sync job", "role": 5}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let created = res.json();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(
        (created["role"].as_i64(), created["name"].as_str()),
        (Some(5), Some("Sync job"))
    );
    let one = format!("{path}{}/", created["id"].as_str().unwrap());
    let read = app.get(&one).key(&admin).send().await.json();
    assert!(read.get("token").is_none(), "the token is shown once");
    assert_eq!(
        app.get(&path)
            .key(&admin)
            .send()
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let default = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Reader"}))
        .send()
        .await
        .json();
    assert_eq!(default["role"], 4);

    // It acts as a manager: it may list members, not change roles.
    let members = format!("/api/organizations/{org}/memberships/");
    assert_eq!(
        app.get(&members).key(&token).send().await.status,
        StatusCode::OK
    );
    let listed = app
        .get(&format!("{members}?q=sync"))
        .key(&admin)
        .send()
        .await
        .json();
    assert_eq!(listed[0]["user"]["service_account"], true);
    let mid = listed[0]["id"].as_i64().unwrap();
    let res = app
        .patch(&format!("/api/memberships/{mid}/"))
        .key(&admin)
        .json(&json!({"role": 2}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "the role is fixed");
    let res = app
        .delete(&format!("/api/memberships/{mid}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "removed through its own endpoint only"
    );
    let hidden = app
        .get(&format!("{members}?user__service_account=true"))
        .key(&admin)
        .send()
        .await
        .json();
    assert_eq!(
        hidden.as_array().unwrap().len(),
        1,
        "only the admin is left"
    );

    assert_eq!(
        app.delete(&one).key(&admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    let res = app.get(&members).key(&token).send().await;
    assert_eq!(
        (res.status, res.detail()),
        (StatusCode::UNAUTHORIZED, "Invalid token.".to_owned())
    );
    assert_eq!(
        app.get(&one).key(&admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deployment_keys_show_their_token_and_may_only_read_me() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/deployment-keys/");
    let created = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Kiosk"}))
        .send()
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let one = format!("{path}{}/", created.json()["id"].as_str().unwrap());
    assert_eq!(
        app.get(&one).key(&admin).send().await.json()["token"],
        token.as_str()
    );
    assert_eq!(
        app.get(&path).key(&admin).send().await.json()[0]["token"],
        token.as_str()
    );
    let me = app.get("/api/me/").key(&token).send().await;
    assert_eq!(
        (me.status, me.json()["deployment_key_account"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    for p in [
        format!("/api/organizations/{org}/"),
        format!("/api/organizations/{org}/memberships/"),
        path.clone(),
    ] {
        assert_eq!(
            app.get(&p).key(&token).send().await.status,
            StatusCode::FORBIDDEN,
            "{p}"
        );
    }
    let listed = app
        .get(&format!(
            "/api/organizations/{org}/memberships/?user__deployment_key_account=true"
        ))
        .key(&admin)
        .send()
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        app.delete(&one).key(&admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/me/").key(&token).send().await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let (_, outsider) = app.team("Other").await;
    for kind in ["serviceaccounts", "deployment-keys"] {
        let path = format!("/api/organizations/{org}/{kind}/");
        assert_eq!(
            app.get(&path).key(&manager).send().await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.post(&path)
                .key(&manager)
                .json(&json!({"name": "x"}))
                .send()
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get(&path).key(&outsider).send().await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.post(&path)
                .key(&admin)
                .json(&json!({"name": ""}))
                .send()
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            app.get(&format!("{path}not-a-uuid/"))
                .key(&admin)
                .send()
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
    let res = app
        .post(&format!("/api/organizations/{org}/serviceaccounts/"))
        .key(&admin)
        .json(&json!({"name": "x", "role": 9}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // Deleting the team deletes its accounts: their keys stop working.
    let key = app
        .post(&format!("/api/organizations/{org}/serviceaccounts/"))
        .key(&admin)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("/api/organizations/{org}/"))
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/me/").key(&key).send().await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Rotation (a Roster extension): a service account's admin gets it a new token and the old
/// one stops at once; anyone may swap the key they call with for a new one.
#[tokio::test]
async fn keys_rotate_and_the_old_one_stops_at_once() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@acme.test", Role::Manager).await;
    let (_, stranger) = app.team("Other").await;
    let path = format!("/api/organizations/{org}/serviceaccounts/");
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"name": "Sync", "role": 2}))
        .send()
        .await;
    let (sid, old) = (
        res.json()["id"].as_str().unwrap().to_owned(),
        res.json()["token"].as_str().unwrap().to_owned(),
    );
    let rotate = format!("{path}{sid}/rotate/");
    assert_eq!(
        app.post(&rotate).key(&manager).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&rotate).key(&stranger).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&rotate).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/me/").key(&old).send().await.status,
        StatusCode::OK
    );
    let res = app.post(&rotate).key(&admin).send().await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["id"], sid.as_str());
    let new = res.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        app.get("/api/me/").key(&old).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/me/").key(&new).send().await.status,
        StatusCode::OK
    );
    assert!(
        app.get(&format!("{path}{sid}/"))
            .key(&admin)
            .send()
            .await
            .json()["token"]
            .is_null()
    );
    // The rotation is in the team's history and names the account, never a token; the
    // refused tries are not.
    let history = app
        .get(&format!("/api/audit/organizations/{org}/"))
        .key(&admin)
        .send()
        .await
        .json();
    let rotations: Vec<&serde_json::Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action_type"] == "service_account.rotated")
        .collect();
    assert_eq!(rotations.len(), 1, "{history}");
    assert_eq!(rotations[0]["action_object"]["id"], sid.as_str());
    assert_eq!(rotations[0]["data"], json!({"name": "Sync"}));
    assert!(!history.to_string().contains(&new) && !history.to_string().contains(&old));
    // A deployment key is not a service account.
    let res = app
        .post(&format!("/api/organizations/{org}/deployment-keys/"))
        .key(&admin)
        .json(&json!({"name": "Kiosk"}))
        .send()
        .await;
    let (kid, kiosk) = (
        res.json()["id"].as_str().unwrap().to_owned(),
        res.json()["token"].as_str().unwrap().to_owned(),
    );
    let res = app
        .post(&format!("{path}{kid}/rotate/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    // One's own key: the calling key is swapped, other keys go on.
    let (user, first) = app.user("ann@acme.test").await;
    let second = roster_core::keys::issue();
    app.store
        .add_key(user, &second.hash, roster_core::Timestamp::from_micros(1))
        .await
        .unwrap();
    let res = app.post("/api/me/key/").key(&first).send().await;
    assert_eq!(res.status, StatusCode::CREATED);
    let third = res.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/me/").key(&first).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    for key in [&second.secret, &third] {
        assert_eq!(
            app.get("/api/me/").key(key).send().await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.post("/api/me/key/").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/api/me/key/").key(&kiosk).send().await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_revoked_deployment_key_no_longer_shows_its_token() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (kid, token) = app.deployment_key(org, &admin).await;
    let hash = roster_core::keys::KeyHash::of(&token);
    app.store
        .revoke_keys(roster_core::store::KeyRef::Key(&hash))
        .await
        .expect("revoked");
    assert_eq!(
        app.get("/api/me/").key(&token).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    let read = app
        .get(&format!("/api/organizations/{org}/deployment-keys/{kid}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.detail());
    assert_eq!(read.json()["token"], "", "no dead key on show");
}
