//! Who may link and rewrite a person (issue 17, points 2, 3 and 8): a team's SCIM key links
//! someone Roster knows only when the team owns their email's domain, changes a person's email
//! or name only when it is their only team or owns their domain, and an address that is taken
//! reads the same whoever holds it.

use crate::support::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// Team A with a SCIM key, and Carol: the admin of team B, with a key.
struct World {
    app: TestApp,
    a: Uuid,
    a_admin: String,
    scim: String,
    b: Uuid,
    carol: String,
}

async fn world() -> World {
    let app = TestApp::new().await;
    let (a, a_admin) = app.team("A").await;
    let scim = app.service_account(a, &a_admin, 2).await;
    let (b, carol) = app.team("B").await; // admin@b.example.com
    World {
        app,
        a,
        a_admin,
        scim,
        b,
        carol,
    }
}

impl World {
    async fn scim(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> crate::support::Response {
        self.app.scim(&self.scim, method, path, body).await
    }

    /// What team B's admin sees of herself.
    async fn carol(&self) -> Value {
        self.app
            .get("/api/me/")
            .key(&self.carol)
            .send()
            .await
            .json()
    }

    /// Carol joins team A by accepting its invitation with her own key.
    async fn carol_joins_a(&self) -> String {
        let invitation = self
            .app
            .invite(self.a, &self.a_admin, "admin@b.example.com", 1)
            .await;
        let id = invitation["id"].as_str().unwrap();
        self.app
            .post(&format!("/api/invitations/{id}/accept/"))
            .key(&self.carol)
            .send()
            .await
            .made();
        let filter = "userName eq \"admin@b.example.com\"";
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let found = self.scim("GET", &format!("/Users?filter={q}"), None).await;
        found.json()["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn unavailable(res: &crate::support::Response) {
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.detail());
    assert_eq!(
        res.json(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409", "scimType": "uniqueness", "detail": "This email is not available."
        })
    );
}

#[tokio::test]
async fn scim_links_only_people_the_team_owns() {
    let w = world().await;
    let before = w.carol().await;
    let res = w
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "admin@b.example.com", "displayName": "Not Carol"})),
        )
        .await;
    unavailable(&res);
    assert_eq!(w.carol().await, before, "not renamed, not linked");
    let teams = w
        .app
        .get("/api/organizations/")
        .key(&w.carol)
        .send()
        .await
        .json();
    assert_eq!(teams.as_array().unwrap().len(), 1);
    // By emails instead of userName: the same.
    let res = w
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "carol-alias", "emails": [{"value": "ADMIN@b.example.com"}]})),
        )
        .await;
    unavailable(&res);
    // A team that owns the domain links the person.
    let (c, c_admin) = w.app.team("C").await;
    w.app.verify(c, "b.example.com").await;
    let c_scim = w.app.service_account(c, &c_admin, 2).await;
    let res = w
        .app
        .scim(
            &c_scim,
            "POST",
            "/Users",
            Some(json!({"userName": "admin@b.example.com"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    assert_eq!(res.json()["id"], w.carol().await["id"]);
}

#[tokio::test]
async fn a_shared_person_s_email_and_name_are_not_one_team_s_to_change() {
    let w = world().await;
    let id = w.carol_joins_a().await;
    let path = format!("/Users/{id}");
    let present = w.scim("GET", &path, None).await.json();
    for (change, body) in [
        (
            "email",
            json!({"userName": "admin@b.example.com",
                   "emails": [{"value": "attacker@evil.example", "primary": true}]}),
        ),
        (
            "name",
            json!({"userName": "admin@b.example.com", "displayName": "Mallory"}),
        ),
    ] {
        let res = w.scim("PUT", &path, Some(body)).await;
        assert_eq!(
            res.status,
            StatusCode::FORBIDDEN,
            "{change}: {}",
            res.detail()
        );
        assert_eq!(res.json()["scimType"], "mutability", "{change}");
    }
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails[type eq \"work\"].value",
                        "value": "attacker@evil.example"}]});
    let res = w.scim("PATCH", &path, Some(patch)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.detail());
    assert_eq!(w.carol().await["email"], "admin@b.example.com");
    // Sending the person as they are is no change (identity providers send the whole user).
    let res = w.scim("PUT", &path, Some(present.clone())).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    let same_in_caps = json!({"userName": "admin@b.example.com",
        "emails": [{"value": "Admin@B.example.com", "primary": true}]});
    let res = w.scim("PUT", &path, Some(same_in_caps)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    // A change that is this team's own business still works.
    let suspend = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(
        w.scim("PATCH", &path, Some(suspend)).await.status,
        StatusCode::OK
    );
    // Team B still finds her under her own address.
    assert_eq!(
        w.app
            .get(&format!(
                "/api/organizations/{}/memberships/?q=admin@b",
                w.b
            ))
            .key(&w.carol)
            .send()
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_team_rewrites_its_own_people() {
    let w = world().await;
    let created = w
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "dan@a.example", "displayName": "Dan"})),
        )
        .await
        .made();
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    let res = w
        .scim(
            "PUT",
            &path,
            Some(json!({"userName": "dan@a.example", "displayName": "Daniel",
                        "emails": [{"value": "daniel@a.example", "primary": true}]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    assert_eq!(res.json()["emails"][0]["value"], "daniel@a.example");
    // The owner of a person's domain rewrites them though they are in other teams too.
    let id = w.carol_joins_a().await;
    w.app.verify(w.a, "b.example.com").await;
    let res = w
        .scim(
            "PUT",
            &format!("/Users/{id}"),
            Some(json!({"userName": "admin@b.example.com", "displayName": "Carol B."})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    assert_eq!(w.carol().await["name"], "Carol B.");
}

#[tokio::test]
async fn a_taken_address_reads_the_same_whoever_holds_it() {
    let w = world().await;
    let (d, _) = w.app.team("D").await;
    w.app.verify(d, "d.example").await;
    let created = w
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "erin@a.example"})),
        )
        .await
        .made();
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    // Held by a person of another team; on a domain another team owns; Roster's own.
    for address in [
        "admin@b.example.com",
        "someone@d.example",
        "x@service-account.roster.invalid",
    ] {
        let body = json!({"userName": "erin@a.example",
                          "emails": [{"value": address, "primary": true}]});
        let res = w.scim("PUT", &path, Some(body)).await;
        unavailable(&res);
        let res = w
            .scim("POST", "/Users", Some(json!({"userName": address})))
            .await;
        unavailable(&res);
    }
    assert_eq!(w.carol().await["email"], "admin@b.example.com");
}

#[tokio::test]
async fn a_scim_user_needs_an_email() {
    let w = world().await;
    for body in [
        json!({"userName": "just a name"}),
        json!({"userName": "just a name", "emails": [{"value": "not an address"}]}),
    ] {
        let res = w.scim("POST", "/Users", Some(body.clone())).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.json()["scimType"], "invalidValue", "{body}");
    }
    let members = w
        .app
        .get(&format!("/api/organizations/{}/memberships/", w.a))
        .key(&w.a_admin)
        .send()
        .await
        .json();
    assert_eq!(
        members.as_array().unwrap().len(),
        2,
        "the admin and the SCIM key"
    );
    let res = w
        .scim(
            "POST",
            "/Users",
            Some(json!({"userName": "just a name", "emails": [{"value": "jan@a.example"}]})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
}

#[tokio::test]
async fn a_teams_copy_sent_back_keeps_what_another_team_changed() {
    let w = world().await;
    let dan = |name: &str, email: &str, active: bool| {
        json!({"userName": "dan@a.example", "displayName": name, "active": active,
               "emails": [{"value": email, "type": "work", "primary": true}]})
    };
    let created = w
        .scim("POST", "/Users", Some(dan("Dan", "dan@a.example", true)))
        .await
        .made();
    let path = format!("/Users/{}", created["id"].as_str().unwrap());
    // Team C owns Dan's domain: it links him and renames and re-addresses him.
    let (c, c_admin) = w.app.team("C").await;
    w.app.verify(c, "a.example").await;
    let c_scim = w.app.service_account(c, &c_admin, 2).await;
    let linked = w
        .app
        .scim(
            &c_scim,
            "POST",
            "/Users",
            Some(dan("Dan", "dan@a.example", true)),
        )
        .await
        .made();
    assert_eq!(linked["id"], created["id"]);
    let res = w
        .app
        .scim(
            &c_scim,
            "PUT",
            &path,
            Some(dan("Daniel", "daniel@a.example", true)),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    // Team A still finds him by the address its copy lists, his account's no longer.
    let filter = "emails.value eq \"dan@a.example\"";
    let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let found = w
        .scim("GET", &format!("/Users?filter={q}"), None)
        .await
        .json();
    assert_eq!(found["totalResults"], 1, "{found}");
    // Team A's identity provider sends its copy back, as every sync cycle does, to suspend
    // him: the suspension is A's business; his name and address stay C's change.
    let res = w
        .scim("PUT", &path, Some(dan("Dan", "dan@a.example", false)))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.detail());
    assert_eq!(res.json()["active"], false);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": true}]});
    assert_eq!(
        w.scim("PATCH", &path, Some(patch)).await.status,
        StatusCode::OK
    );
    let members = w
        .app
        .get(&format!("/api/organizations/{}/memberships/?q=daniel", w.a))
        .key(&w.a_admin)
        .send()
        .await
        .json();
    let user = &members[0]["user"];
    assert_eq!(
        (&user["name"], &user["email"]),
        (&json!("Daniel"), &json!("daniel@a.example"))
    );
    // A change of its copy is still a change, and still not A's to make.
    let res = w
        .scim("PUT", &path, Some(dan("Mallory", "dan@a.example", true)))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.detail());
}
