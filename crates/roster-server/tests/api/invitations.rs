//! Invitations: who may invite, accepting once with the token, and what joining does.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::json;

#[tokio::test]
async fn inviting_and_accepting_joins_the_team_and_hands_over_a_key_once() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let ops = app.operator().await;
    app.post(&format!("/api/organizations/{org}/email-domains/"))
        .key(&ops)
        .json(&json!({"domain": "acme.test"}))
        .send()
        .await;
    let gid = app
        .created(
            &format!("/api/organizations/{org}/groups/"),
            &admin,
            json!({"name": "Agents"}),
        )
        .await;
    app.post(&format!("/api/groups/{gid}/memberships/"))
        .key(&admin)
        .json(&json!(["New.Hire@acme.test"]))
        .send()
        .await;

    let path = format!("/api/organizations/{org}/invitations/");
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"email": "new.hire@acme.test", "role": 5}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let invitation = res.json();
    let token = invitation["accept_token"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            invitation["role"].as_i64(),
            invitation["organization"]["id"].as_str(),
            invitation["organization"]["name"].as_str()
        ),
        (Some(5), Some(org.to_string().as_str()), Some("Acme"))
    );
    assert_eq!(invitation["inviter"]["email"], "admin@acme.example.com");
    let listed = app.get(&path).key(&admin).send().await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("accept_token").is_none(),
        "the token is shown once"
    );
    // PixieBrix's PendingInvitation shape in every answer: the team as {id, name}.
    assert_eq!(
        listed[0]["organization"],
        json!({"id": org.to_string(), "name": "Acme"})
    );
    let mut fields: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "email",
            "expires_at",
            "id",
            "inviter",
            "organization",
            "role"
        ]
    );

    let res = app
        .post("/api/invitations/accept/")
        .json(&json!({"accept_token": token, "name": "New Hire"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let accepted = res.json();
    let key = accepted["token"].as_str().unwrap().to_owned();
    assert_eq!(
        (accepted["role"].as_i64(), accepted["user"]["name"].as_str()),
        (Some(5), Some("New Hire"))
    );
    assert!(accepted["user"]["date_joined"].is_string());
    let me = app.get("/api/me/").key(&key).send().await.json();
    assert_eq!(me["organization_memberships"][0]["role"], 5);
    let gms = app
        .get(&format!("/api/groups/{gid}/memberships/"))
        .key(&admin)
        .send()
        .await
        .json();
    assert_eq!(
        gms[0]["user"]["email"], "new.hire@acme.test",
        "the held membership attached"
    );

    let replay = app
        .post("/api/invitations/accept/")
        .json(&json!({"accept_token": token}))
        .send()
        .await;
    assert_eq!(replay.status, StatusCode::NOT_FOUND, "a token works once");
    assert_eq!(app.get(&path).key(&admin).send().await.json(), json!([]));
    let res = app
        .post(&path)
        .key(&admin)
        .json(&json!({"email": "NEW.HIRE@acme.test"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "already a member");
}

#[tokio::test]
async fn revoked_unknown_and_malformed_tokens_are_refused() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let path = format!("/api/organizations/{org}/invitations/");
    let first = app
        .post(&path)
        .key(&admin)
        .json(&json!({"email": "a@x.test"}))
        .send()
        .await
        .json();
    let second = app
        .post(&path)
        .key(&admin)
        .json(&json!({"email": "A@x.test", "role": 1}))
        .send()
        .await
        .json();
    assert_eq!(
        app.get(&path)
            .key(&admin)
            .send()
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "re-inviting replaces"
    );
    assert_eq!(second["role"], 1);
    assert_eq!(first["role"], 4, "the team's default role");
    let old = app
        .post("/api/invitations/accept/")
        .json(&json!({"accept_token": first["accept_token"]}))
        .send()
        .await;
    assert_eq!(
        old.status,
        StatusCode::NOT_FOUND,
        "the replaced token no longer works"
    );
    let id = second["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("{path}{id}/"))
            .key(&admin)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let revoked = app
        .post("/api/invitations/accept/")
        .json(&json!({"accept_token": second["accept_token"]}))
        .send()
        .await;
    assert_eq!(revoked.status, StatusCode::NOT_FOUND);
    let unknown = app
        .post("/api/invitations/accept/")
        .json(&json!({"accept_token": "0".repeat(64)}))
        .send()
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::NOT_FOUND,
        "unknown, used and revoked tokens look alike"
    );
    for body in [
        json!({"accept_token": "short"}),
        json!({}),
        json!({"accept_token": 5}),
    ] {
        let res = app
            .post("/api/invitations/accept/")
            .json(&body)
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
    }
}

#[tokio::test]
async fn who_may_invite() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@example.com", Role::Manager).await;
    let (_, member) = app.member(org, "member@example.com", Role::Member).await;
    let (_, outsider) = app.team("Other").await;
    let path = format!("/api/organizations/{org}/invitations/");
    assert_eq!(
        app.post(&path)
            .key(&manager)
            .json(&json!({"email": "a@x.test", "role": 1}))
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(&path)
            .key(&manager)
            .json(&json!({"email": "b@x.test", "role": 2}))
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN,
        "managers do not invite admins"
    );
    assert_eq!(
        app.get(&path).key(&member).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&path).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&path)
            .key(&manager)
            .json(&json!({"email": "not an email"}))
            .send()
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
