//! The invitation attacks (issue 17, points 1, 1b, 1c), each tried as the attacker would and
//! shown refused: a token never hands over a key for someone who has one; a token accepted by
//! whoever holds it (not the mailbox's owner) gives an unproven key that acts in its team
//! alone and dies when the domain's owner takes the email in; a pending invitation does not
//! outlive its inviter's right to make it.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::store::ImportRow;
use roster_core::{Clock, Role, SystemClock, email};
use serde_json::{Value, json};
use uuid::Uuid;

/// A team made by a restricted member of another team, through the API: anyone with a key.
async fn attackers_team(app: &TestApp) -> (Uuid, String) {
    let (victim_org, _) = app.team("Victim Corp").await;
    let (_, restricted) = app
        .member(victim_org, "mallory@victim.test", Role::Restricted)
        .await;
    let org = app
        .created(
            "/api/organizations/",
            &restricted,
            json!({"name": "Mallory's"}),
        )
        .await;
    (org.parse().unwrap(), restricted)
}

async fn status(app: &TestApp, key: &str, path: &str) -> StatusCode {
    app.get(path).key(key).send().await.status
}

#[tokio::test]
async fn a_token_never_hands_over_a_key_for_someone_who_has_one() {
    let app = TestApp::new().await;
    let (team_b, carol) = app.team("B").await; // admin@b.example.com, with a key
    let (org, mallory) = attackers_team(&app).await;
    let invitation = app.invite(org, &mallory, "admin@b.example.com", 2).await;
    let res = app.accept(&invitation).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.detail());
    assert!(res.json().get("token").is_none());
    // The victim's own key goes on; the invitation waits for them to answer it themselves.
    assert_eq!(
        status(&app, &carol, &format!("/api/organizations/{team_b}/")).await,
        StatusCode::OK
    );
    let mine = app
        .get("/api/invitations/me/")
        .key(&carol)
        .send()
        .await
        .json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], invitation["id"]);
    assert_eq!(
        mine[0]["organization"],
        json!({"id": org, "name": "Mallory's"})
    );
    assert_eq!(mine[0]["inviter"]["email"], "mallory@victim.test");
    assert_eq!(mine[0]["role"], 2);
}

#[tokio::test]
async fn accounts_operators_and_roster_s_own_addresses_are_not_invited() {
    let app = TestApp::new().await;
    let ops = app.operator().await; // ops@example.com
    let (org, admin) = app.team("Acme").await;
    let account = app.service_account(org, &admin, 4).await;
    let account_email = app.get("/api/me/").key(&account).send().await.json()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let (other_org, other_admin) = app.team("Other").await;
    let deployment = app
        .post(&format!("/api/organizations/{other_org}/deployment-keys/"))
        .key(&other_admin)
        .json(&json!({"name": "kiosk"}))
        .send()
        .await
        .made();
    let deployment_email = app
        .get("/api/me/")
        .key(deployment["token"].as_str().unwrap())
        .send()
        .await
        .json()["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = ops;
    for address in [
        account_email.as_str(),
        deployment_email.as_str(),
        "ops@example.com",
        "operator@roster.localhost",
        "nobody@service-account.roster.invalid",
    ] {
        let res = app
            .post(&format!("/api/organizations/{org}/invitations/"))
            .key(&admin)
            .json(&json!({"email": address, "role": 1}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{address}");
        assert!(
            res.json()["email"][0]
                .as_str()
                .unwrap()
                .contains("for people")
        );
    }
    assert_eq!(
        app.get(&format!("/api/organizations/{org}/invitations/"))
            .key(&admin)
            .send()
            .await
            .json(),
        json!([])
    );
}

#[tokio::test]
async fn an_invitee_with_a_key_answers_signed_in_and_no_one_else_can() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, carol) = app.user("carol@elsewhere.test").await;
    let (_, eve) = app.user("eve@elsewhere.test").await;
    let first = app.invite(org, &admin, "Carol@Elsewhere.test", 5).await;
    let second = app.invite(org, &admin, "carol@elsewhere.test", 1).await;
    assert_eq!(app.accept(&second).await.status, StatusCode::NOT_FOUND);
    for id in [&first["id"], &second["id"]] {
        let id = id.as_str().unwrap();
        for action in ["accept", "reject"] {
            let res = app
                .post(&format!("/api/invitations/{id}/{action}/"))
                .key(&eve)
                .send()
                .await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "eve {action}s");
        }
    }
    assert_eq!(
        app.get("/api/invitations/me/")
            .key(&eve)
            .send()
            .await
            .json(),
        json!([])
    );
    let id = second["id"].as_str().unwrap();
    let res = app
        .post(&format!("/api/invitations/{id}/accept/"))
        .key(&carol)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["role"], 1);
    assert_eq!(
        res.json()["organization"],
        json!({"id": org, "name": "Acme"})
    );
    assert_eq!(
        status(&app, &carol, &format!("/api/organizations/{org}/")).await,
        StatusCode::OK
    );
    let again = app
        .post(&format!("/api/invitations/{id}/accept/"))
        .key(&carol)
        .send()
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "used once");
    // Declining: the invitation is gone.
    let (other, other_admin) = app.team("Other").await;
    let third = app
        .invite(other, &other_admin, "carol@elsewhere.test", 1)
        .await;
    let res = app
        .post(&format!(
            "/api/invitations/{}/reject/",
            third["id"].as_str().unwrap()
        ))
        .key(&carol)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/invitations/me/")
            .key(&carol)
            .send()
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        status(&app, &carol, &format!("/api/organizations/{other}/")).await,
        StatusCode::NOT_FOUND
    );
}

/// Mallory's team invites an address nobody has yet and she accepts it herself: the key she
/// gets is unproven.
async fn pre_registered(app: &TestApp) -> (Uuid, String) {
    let (org, mallory) = attackers_team(app).await;
    let invitation = app.invite(org, &mallory, "vip@bigcorp.test", 2).await;
    let res = app.accept(&invitation).await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.json()["proven"], false);
    (org, res.json()["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_unproven_key_acts_in_its_own_team_alone() {
    let app = TestApp::new().await;
    let (org, squatted) = pre_registered(&app).await;
    assert_eq!(
        status(
            &app,
            &squatted,
            &format!("/api/organizations/{org}/memberships/")
        )
        .await,
        StatusCode::OK,
        "it works in its team"
    );
    // BigCorp had the person first, in a way that did not take the email in (no domain).
    let (bigcorp, _) = app.team("BigCorp").await;
    let person = app.get("/api/me/").key(&squatted).send().await.json()["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let membership = app
        .store
        .add_member(
            bigcorp,
            person,
            Some(Role::Admin),
            SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(membership.role, Role::Admin);
    assert_eq!(
        status(&app, &squatted, &format!("/api/organizations/{bigcorp}/")).await,
        StatusCode::NOT_FOUND,
        "not in BigCorp, where its holder is an admin"
    );
    let teams = app
        .get("/api/organizations/")
        .key(&squatted)
        .send()
        .await
        .json();
    assert_eq!(teams.as_array().unwrap().len(), 1);
    assert_eq!(teams[0]["id"], json!(org));
    let me = app.get("/api/me/").key(&squatted).send().await.json();
    assert_eq!(me["organization_memberships"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.post("/api/organizations/")
            .key(&squatted)
            .json(&json!({"name": "New"}))
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN,
        "it makes no teams"
    );
    assert_eq!(
        status(&app, &squatted, "/api/invitations/me/").await,
        StatusCode::FORBIDDEN,
        "it cannot vouch for the mailbox"
    );
    let (third, third_admin) = app.team("Third").await;
    let invited = app.invite(third, &third_admin, "vip@bigcorp.test", 2).await;
    let res = app
        .post(&format!(
            "/api/invitations/{}/accept/",
            invited["id"].as_str().unwrap()
        ))
        .key(&squatted)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "nor accept by id");
    // Rotating it keeps it where it was.
    let rotated = app.post("/api/me/key/").key(&squatted).send().await.json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        status(&app, &rotated, &format!("/api/organizations/{bigcorp}/")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&app, &rotated, &format!("/api/organizations/{org}/")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unproven_key_never_acts_as_an_operator() {
    let app = TestApp::new().await;
    let (_, squatted) = pre_registered(&app).await;
    let me = app.get("/api/me/").key(&squatted).send().await.json();
    let id = me["id"].as_str().unwrap().parse().unwrap();
    app.store.set_operator(id, true).await.unwrap();
    let me = app.get("/api/me/").key(&squatted).send().await.json();
    assert_eq!(me["is_operator"], false);
    let (other, _) = app.team("Other").await;
    assert_eq!(
        status(&app, &squatted, &format!("/api/organizations/{other}/")).await,
        StatusCode::NOT_FOUND
    );
}

/// The ways a team that owns a domain takes an email in.
#[derive(Clone, Copy, Debug)]
enum TakeIn {
    ScimCreate,
    HeldGroupMembership,
    Import,
    CommandLine,
    OwnInvitation,
}

async fn take_in(app: &TestApp, how: TakeIn, org: Uuid, admin: &str) {
    let address = "VIP@bigcorp.test";
    match how {
        TakeIn::ScimCreate => {
            let token = app.service_account(org, admin, 2).await;
            let body = json!({"userName": address, "displayName": "The VIP"});
            let res = app.scim(&token, "POST", "/Users", Some(body)).await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
        }
        TakeIn::HeldGroupMembership => {
            let group = app
                .created(
                    &format!("/api/organizations/{org}/groups/"),
                    admin,
                    json!({"name": "Board"}),
                )
                .await;
            app.put(&format!("/api/groups/{group}/memberships/"))
                .key(admin)
                .json(&json!([address]))
                .send()
                .await
                .made();
        }
        TakeIn::Import => {
            let row = ImportRow {
                email: address.into(),
                email_norm: email::normalize(address),
                name: None,
                role: None,
                groups: vec![],
            };
            app.store
                .import_members(
                    org,
                    &mut vec![row].into_iter(),
                    false,
                    SystemClock.now(),
                    &Origin::cli(),
                )
                .await
                .unwrap();
        }
        TakeIn::CommandLine => {
            let person = app
                .store
                .ensure_user(
                    roster_core::store::NewUser {
                        email: address.into(),
                        name: None,
                        kind: Default::default(),
                    },
                    SystemClock.now(),
                )
                .await
                .unwrap();
            app.store
                .add_member(org, person.id, None, SystemClock.now(), &Origin::cli())
                .await
                .unwrap();
        }
        TakeIn::OwnInvitation => {
            let invitation = app.invite(org, admin, address, 1).await;
            let res = app.accept(&invitation).await;
            assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
            // Someone Roster knew: a key for the owning team, not for the person's every team.
            assert_eq!(res.json()["proven"], false);
            let key = res.json()["token"].as_str().unwrap().to_owned();
            assert_eq!(
                status(app, &key, &format!("/api/organizations/{org}/")).await,
                StatusCode::OK
            );
        }
    }
}

#[tokio::test]
async fn the_domain_s_owner_taking_the_email_in_ends_every_unproven_key() {
    for how in [
        TakeIn::ScimCreate,
        TakeIn::HeldGroupMembership,
        TakeIn::Import,
        TakeIn::CommandLine,
        TakeIn::OwnInvitation,
    ] {
        let app = TestApp::new().await;
        let (_, squatted) = pre_registered(&app).await;
        let (bigcorp, admin) = app.team("BigCorp").await;
        // Before the domain is BigCorp's, its SCIM cannot link the person.
        let token = app.service_account(bigcorp, &admin, 2).await;
        let res = app
            .scim(
                &token,
                "POST",
                "/Users",
                Some(json!({"userName": "vip@bigcorp.test"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{how:?}");
        assert_eq!(res.json()["detail"], "This email is not available.");
        app.verify(bigcorp, "bigcorp.test").await;
        take_in(&app, how, bigcorp, &admin).await;
        assert_eq!(
            app.get("/api/me/").key(&squatted).send().await.status,
            StatusCode::UNAUTHORIZED,
            "{how:?}: the unproven key stopped working everywhere"
        );
    }
}

#[tokio::test]
async fn a_team_that_does_not_own_the_domain_takes_nothing_away() {
    let app = TestApp::new().await;
    let (_, squatted) = pre_registered(&app).await;
    let (other, admin) = app.team("Other").await;
    app.verify(other, "other.test").await;
    take_in(&app, TakeIn::CommandLine, other, &admin).await;
    assert_eq!(
        app.get("/api/me/").key(&squatted).send().await.status,
        StatusCode::OK
    );
}

/// The emails of the team's pending invitations, sorted.
async fn listed(app: &TestApp, path: &str, admin: &str) -> Vec<String> {
    let list = app.get(path).key(admin).send().await.json();
    let mut emails: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn pending_invitations_follow_their_inviter_s_rights() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (sock_mid, sock) = app.member(org, "sock@acme.test", Role::Admin).await;
    let (manager_mid, manager) = app.member(org, "manager@acme.test", Role::Manager).await;
    let path = format!("/api/organizations/{org}/invitations/");
    let to_admin = app.invite(org, &sock, "sock2@x.test", 2).await;
    let to_member = app.invite(org, &sock, "sock3@x.test", 1).await;
    let by_manager = app.invite(org, &manager, "m1@x.test", 1).await;

    // A manager can neither replace nor revoke an admin's admin-role invitation.
    let replaced = app
        .post(&path)
        .key(&manager)
        .json(&json!({"email": "sock2@x.test", "role": 4}))
        .send()
        .await;
    assert_eq!(replaced.status, StatusCode::FORBIDDEN);
    let id = to_admin["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("{path}{id}/"))
            .key(&manager)
            .send()
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        listed(&app, &path, &admin).await,
        ["m1@x.test", "sock2@x.test", "sock3@x.test"]
    );

    // Sock, demoted to manager, could no longer invite an admin: that invitation goes, and its
    // token with it; the member invitation stays.
    app.patch(&format!("/api/memberships/{sock_mid}/"))
        .key(&admin)
        .json(&json!({"role": 5}))
        .send()
        .await
        .made();
    assert_eq!(
        listed(&app, &path, &admin).await,
        ["m1@x.test", "sock3@x.test"]
    );
    assert_eq!(app.accept(&to_admin).await.status, StatusCode::NOT_FOUND);
    // Demoted to restricted: nothing of theirs is left. Removed: the same for the manager.
    app.patch(&format!("/api/memberships/{sock_mid}/"))
        .key(&admin)
        .json(&json!({"role": 4}))
        .send()
        .await
        .made();
    app.delete(&format!("/api/memberships/{manager_mid}/"))
        .key(&admin)
        .send()
        .await;
    assert_eq!(listed(&app, &path, &admin).await, Vec::<String>::new());
    for invitation in [&to_member, &by_manager] {
        assert_eq!(app.accept(invitation).await.status, StatusCode::NOT_FOUND);
    }
    // Sock, an admin no more, cannot make herself one again through an old invitation.
    assert_eq!(
        status(
            &app,
            &sock,
            &format!("/api/organizations/{org}/memberships/")
        )
        .await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn acceptance_checks_the_inviter_again() {
    let app = TestApp::new().await;
    let (org, _) = app.team("Acme").await;
    let (ops_id, ops) = app.user("ops@example.com").await;
    app.store.set_operator(ops_id, true).await.unwrap();
    let invitation = app.invite(org, &ops, "new@x.test", 2).await;
    // The operator, who is no member, stops being one: no trigger sees it, acceptance does.
    app.store.set_operator(ops_id, false).await.unwrap();
    assert_eq!(app.accept(&invitation).await.status, StatusCode::NOT_FOUND);
    let ops = app.operator().await;
    let listed: Value = app
        .get(&format!("/api/organizations/{org}/invitations/"))
        .key(&ops)
        .send()
        .await
        .json();
    assert_eq!(listed, json!([]), "and the invitation was revoked");
}

/// Mallory's own team (her only one) rewrites her email to `address` through its SCIM key.
async fn rewrites_own_email(app: &TestApp, address: &str) -> (Uuid, String) {
    let (own, mallory) = app.team("Mallory's").await;
    let scim = app.service_account(own, &mallory, 2).await;
    let me = app.get("/api/me/").key(&mallory).send().await.json();
    let body = json!({"userName": me["email"], "emails": [{"value": address, "primary": true}]});
    let path = format!("/Users/{}", me["id"].as_str().unwrap());
    let res = app.scim(&scim, "PUT", &path, Some(body)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    (own, mallory)
}

/// A team that rewrites its only member's email does not make the new address theirs: the
/// invitations sent to it are not theirs to see or accept (found in review of issue 17).
#[tokio::test]
async fn a_rewritten_email_answers_no_invitations() {
    let app = TestApp::new().await;
    let (_, mallory) = rewrites_own_email(&app, "bob@mail.test").await;
    let (z, z_admin) = app.team("Z").await;
    let invitation = app.invite(z, &z_admin, "bob@mail.test", 2).await;
    assert_eq!(
        status(&app, &mallory, "/api/invitations/me/").await,
        StatusCode::FORBIDDEN
    );
    let id = invitation["id"].as_str().unwrap();
    let res = app
        .post(&format!("/api/invitations/{id}/accept/"))
        .key(&mallory)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        status(&app, &mallory, &format!("/api/organizations/{z}/")).await,
        StatusCode::NOT_FOUND
    );
    // Her keys now act in her own team alone; the token, which Z's admin holds, joins
    // nobody Roster knows from another team (Z owns no domain of hers, and nothing was
    // mailed): nothing of hers goes anywhere she was not, and Z reads nothing of her.
    let res = app.accept(&invitation).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        status(&app, &mallory, &format!("/api/organizations/{z}/")).await,
        StatusCode::NOT_FOUND
    );
}

/// A token kept by a manager does not become a key for someone who meanwhile joined the team
/// with a role the manager could not grant (found in review of issue 17).
#[tokio::test]
async fn a_token_becomes_no_key_with_a_role_its_inviter_could_not_grant() {
    let app = TestApp::new().await;
    let (org, admin) = app.team("Acme").await;
    let (_, manager) = app.member(org, "manager@acme.test", Role::Manager).await;
    let by_manager = app.invite(org, &manager, "newhire@x.test", 4).await;
    let by_admin = app.invite(org, &admin, "other@x.test", 4).await;
    let scim = app.service_account(org, &admin, 2).await;
    for address in ["newhire@x.test", "other@x.test"] {
        let body = json!({"userName": address,
            "urn:ietf:params:scim:schemas:extension:roster:2.0:User": {"role": "admin"}});
        let res = app.scim(&scim, "POST", "/Users", Some(body)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    }
    assert_eq!(app.accept(&by_manager).await.status, StatusCode::NOT_FOUND);
    let res = app.accept(&by_admin).await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "an admin could have made them one"
    );
    assert_eq!(
        (res.json()["role"].as_i64(), res.json()["proven"].as_bool()),
        (Some(2), Some(false))
    );
}

/// A token does not make people on a domain another team owns: they are that team's to make
/// (found in review of issue 17).
#[tokio::test]
async fn a_token_makes_nobody_on_another_team_s_domain() {
    let app = TestApp::new().await;
    let (bigcorp, _) = app.team("BigCorp").await;
    app.verify(bigcorp, "bigcorp.test").await;
    let (org, mallory) = attackers_team(&app).await;
    let invitation = app.invite(org, &mallory, "vip@bigcorp.test", 1).await;
    assert_eq!(app.accept(&invitation).await.status, StatusCode::NOT_FOUND);
    let (_, someone) = app.user("someone@elsewhere.test").await;
    assert_eq!(
        status(&app, &someone, "/api/invitations/me/").await,
        StatusCode::OK,
        "a person with a proven key answers their own invitations"
    );
}

/// A key whose holder's address a team rewrote, unvouched, acts in that team alone, so the
/// address's later owner does not link it in (found in the second review of issue 17).
#[tokio::test]
async fn a_rewritten_email_carries_no_key_into_the_domain_s_later_owner() {
    let app = TestApp::new().await;
    let (own, mallory) = rewrites_own_email(&app, "vip@bigcorp.test").await;
    assert_eq!(
        status(&app, &mallory, &format!("/api/organizations/{own}/")).await,
        StatusCode::OK,
        "her key still acts in her team"
    );
    let (bigcorp, admin) = app.team("BigCorp").await;
    app.verify(bigcorp, "bigcorp.test").await;
    take_in(&app, TakeIn::ScimCreate, bigcorp, &admin).await;
    assert_eq!(
        app.get("/api/me/").key(&mallory).send().await.status,
        StatusCode::UNAUTHORIZED,
        "the owner's taking the email in ended it"
    );
}
