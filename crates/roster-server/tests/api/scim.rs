//! SCIM 2.0 through HTTP: discovery, authentication, the request shapes Entra ID and Okta
//! send (from their documentation and the peers' bug reports), filters and paging, versions,
//! uniqueness under concurrent POSTs, and that SCIM and the team API see one set of data.

use crate::support::{Response, TestApp};
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::{Clock, Role};
use serde_json::{Value, json};
use std::sync::Arc;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROSTER: &str = "urn:ietf:params:scim:schemas:extension:roster:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

struct Scim {
    app: TestApp,
    org: uuid::Uuid,
    admin: String,
    token: String,
}

impl Scim {
    /// A team with an admin service account whose key is the SCIM token.
    async fn new() -> Scim {
        let app = TestApp::new().await;
        let (org, admin) = app.team("Provisioned").await;
        let token = service_account(&app, org, &admin, 2).await;
        Scim {
            app,
            org,
            admin,
            token,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let method = method.parse().expect("method");
        let mut req = self
            .app
            .request(method, &format!("/scim/v2{path}"))
            .header("authorization", &format!("Bearer {}", self.token));
        if let Some(body) = body {
            req = req.raw("application/scim+json", body.to_string());
        }
        req.send().await
    }

    async fn create_user(&self, body: Value) -> Value {
        let res = self.call("POST", "/Users", Some(body)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
        res.json()
    }

    /// The team API's view of the memberships.
    async fn members(&self) -> Vec<Value> {
        let res = self
            .app
            .get(&format!(
                "/api/organizations/{}/memberships/?page_size=100",
                self.org
            ))
            .key(&self.admin)
            .v2()
            .send()
            .await;
        assert_eq!(res.status, StatusCode::OK);
        res.json()
            .as_array()
            .expect("a page of memberships")
            .clone()
    }
}

async fn service_account(app: &TestApp, org: uuid::Uuid, admin: &str, role: i64) -> String {
    let res = app
        .post(&format!("/api/organizations/{org}/serviceaccounts/"))
        .key(admin)
        .json(&json!({"name": format!("idp-{role}"), "role": role}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
    res.json()["token"].as_str().expect("token").to_owned()
}

fn text(res: &Response) -> String {
    String::from_utf8_lossy(&res.bytes).into_owned()
}

fn scim_error(res: &Response, status: u16, scim_type: Option<&str>) {
    assert_eq!(res.status.as_u16(), status, "{}", text(res));
    assert_eq!(res.header("content-type"), Some("application/scim+json"));
    let body = res.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], status.to_string());
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], t, "{body}");
    }
}

fn patch(ops: Value) -> Option<Value> {
    Some(json!({"schemas": [PATCH_OP], "Operations": ops}))
}

#[tokio::test]
async fn discovery_is_public_and_read_only() {
    let t = Scim::new().await;
    let get = |path: &'static str| t.app.get(path).send();
    let res = get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/scim+json"));
    let config = res.json();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(config["filter"]["maxResults"], 1000);
    assert_eq!(config["etag"]["supported"], true);

    // The root and unknown paths answer in SCIM's shape too.
    for path in ["/scim/v2/", "/scim/v2", "/scim/v2/Nope", "/scim/v1/Users"] {
        scim_error(&get(path).await, 404, None);
    }

    let schemas = get("/scim/v2/Schemas").await.json();
    assert_eq!(schemas["totalResults"], 4);
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, GROUP, ENTERPRISE, ROSTER]);
    let user_schema = get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(user_schema.status, StatusCode::OK);
    // Only attributes Roster keeps are published.
    let user_schema = user_schema.json();
    let names: Vec<&str> = user_schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[..5],
        ["userName", "name", "displayName", "emails", "active"]
    );
    assert!(names.contains(&"locale") && !names.contains(&"password"));
    assert_eq!(
        get("/scim/v2/ResourceTypes").await.json()["totalResults"],
        2
    );
    assert_eq!(
        get("/scim/v2/ResourceTypes/Group").await.json()["endpoint"],
        "/Groups"
    );
    scim_error(&get("/scim/v2/Schemas/urn:nope:x").await, 404, None);

    for path in [
        "/scim/v2/Schemas",
        "/scim/v2/ServiceProviderConfig",
        "/scim/v2/ResourceTypes",
    ] {
        let res = t.app.post(path).json(&json!({})).send().await;
        scim_error(&res, 405, None);
    }
    // Several resource types at once are not searched.
    scim_error(
        &t.call("POST", "/.search", Some(json!({}))).await,
        501,
        None,
    );
    scim_error(&t.call("GET", "/Nope", None).await, 404, None);
}

#[tokio::test]
async fn only_an_admin_service_account_of_the_team_provisions_it() {
    let t = Scim::new().await;
    let res = t.app.get("/scim/v2/Users").send().await;
    scim_error(&res, 401, None);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    let bad = t
        .app
        .get("/scim/v2/Users")
        .header("authorization", &format!("Bearer {}", "0".repeat(64)))
        .send()
        .await;
    scim_error(&bad, 401, None);
    // A person, even an admin, and a service account without the admin role: 403.
    for key in [
        t.admin.clone(),
        service_account(&t.app, t.org, &t.admin, 4).await,
    ] {
        let res = t
            .app
            .get("/scim/v2/Users")
            .header("authorization", &format!("Bearer {key}"))
            .send()
            .await;
        scim_error(&res, 403, None);
    }
    // Another team's SCIM token sees only its own team.
    let (other, other_admin) = t.app.team("Other").await;
    let other_token = service_account(&t.app, other, &other_admin, 2).await;
    let created = t
        .create_user(json!({"schemas": [USER], "userName": "mine@example.com"}))
        .await;
    let res = t
        .app
        .get(&format!(
            "/scim/v2/Users/{}",
            created["id"].as_str().unwrap()
        ))
        .header("authorization", &format!("Bearer {other_token}"))
        .send()
        .await;
    scim_error(&res, 404, None);
    let list = t
        .app
        .get("/scim/v2/Users")
        .header("authorization", &format!("Bearer {other_token}"))
        .send()
        .await
        .json();
    // The other team holds its admin only; service accounts are not SCIM Users.
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["userName"], "admin@other.example.com");
}

/// The shapes of Microsoft's documentation ("Develop and plan provisioning for a SCIM
/// endpoint") and its known quirks: capitalised ops, string booleans, enterprise attributes
/// by URN path, `emails[type eq "work"].value`.
#[tokio::test]
async fn entra_id_user_lifecycle() {
    let t = Scim::new().await;
    // Someone Roster already knows (with a key) is linked, not duplicated, by the team that
    // owns their email's domain.
    let (known, key) = t.app.user("Test_User_ab6490ee@testuser.com").await;
    t.app
        .store
        .add_email_domain(
            t.org,
            "testuser.com",
            roster_core::SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let created = t
        .create_user(json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-7e8b-4c8a-a4b7-7d3b5d6e9f11@testuser.com",
            "active": true,
            "addresses": [{"primary": true, "type": "work", "country": "US"}],
            "displayName": "Test User",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_ab6490ee@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"familyName": "familyName", "givenName": "givenName"},
            "title": "Engineer",
            ENTERPRISE: {"department": "Sales", "employeeNumber": "701984", "manager": {"value": "boss-1"}}
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        id,
        known.to_string(),
        "linked to the person with that email"
    );
    assert_eq!(
        created["userName"],
        "Test_User_ab6490ee-7e8b-4c8a-a4b7-7d3b5d6e9f11@testuser.com"
    );
    assert_eq!(
        created["name"],
        json!({"familyName": "familyName", "givenName": "givenName"})
    );
    assert_eq!(created[ENTERPRISE]["manager"]["value"], "boss-1");
    // The rest of the core schema is kept as sent (scim_attributes.rs).
    assert_eq!(created["title"], "Engineer");
    assert_eq!(
        created["addresses"],
        json!([{"primary": true, "type": "work", "country": "US"}])
    );
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(
        created["meta"]["location"],
        format!("http://roster.test/scim/v2/Users/{id}")
    );
    // Its role is the team's default (restricted), visible through the team API.
    let members = t.members().await;
    let m = members
        .iter()
        .find(|m| m["user"]["id"] == json!(id))
        .expect("a member");
    assert_eq!(m["role"], Role::Restricted.as_i64());
    assert_eq!(m["user"]["name"], "Test User");

    // Entra's lookups: userName in another case, and externalId.
    for filter in [
        "userName eq \"test_user_AB6490EE-7e8b-4c8a-a4b7-7d3b5d6e9f11@testuser.com\"",
        "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
    ] {
        let q = form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let res = t.call("GET", &format!("/Users?filter={q}"), None).await;
        assert_eq!(res.json()["totalResults"], 1, "{filter}");
        assert_eq!(res.json()["Resources"][0]["id"], json!(id));
    }
    let none = t
        .call("GET", "/Users?filter=userName+eq+%22non-existent%22", None)
        .await
        .json();
    assert_eq!(none["totalResults"], 0);
    assert_eq!(none["Resources"], json!([]));

    // The person's key works in the team until Entra suspends them ("False", capitalised op).
    let org_path = format!("/api/organizations/{}/", t.org);
    assert_eq!(
        t.app.get(&org_path).key(&key).send().await.status,
        StatusCode::OK
    );
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            patch(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Test_User_ab6490ee@testuser.com"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Marketing"},
                {"op": "Replace", "path": "displayName", "value": "Renamed User"},
                {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"}
            ])),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    let patched = res.json();
    assert_eq!(
        patched["phoneNumbers"],
        json!([{"type": "work", "value": "+1 555 0100"}]),
        "Entra's first work phone is made"
    );
    // Entra sets the manager as a bare id.
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            patch(json!([{"op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "value": "boss-2"}])),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert_eq!(res.json()[ENTERPRISE]["manager"]["value"], "boss-2");
    assert_eq!(patched["active"], false);
    assert_eq!(patched[ENTERPRISE]["department"], "Marketing");
    assert_eq!(patched[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(patched["displayName"], "Renamed User");
    assert_eq!(
        t.app.get(&org_path).key(&key).send().await.status,
        StatusCode::NOT_FOUND
    );
    // Entra's remove of an attribute, then "True" restores the person.
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            patch(json!([
                {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
                {"op": "Replace", "path": "active", "value": "True"}
            ])),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert!(res.json()[ENTERPRISE].get("manager").is_none());
    assert_eq!(
        t.app.get(&org_path).key(&key).send().await.status,
        StatusCode::OK
    );

    // A PATCH that fails half-way changes nothing.
    let before = t.call("GET", &format!("/Users/{id}"), None).await.json();
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{id}"),
            patch(json!([
                {"op": "replace", "path": "displayName", "value": "Never"},
                {"op": "replace", "path": format!("{ROSTER}:role"), "value": "boss"}
            ])),
        )
        .await;
    scim_error(&res, 400, Some("invalidValue"));
    assert_eq!(
        t.call("GET", &format!("/Users/{id}"), None).await.json(),
        before
    );

    // Delete removes the person from the team; their account stays.
    let res = t.call("DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    scim_error(
        &t.call("GET", &format!("/Users/{id}"), None).await,
        404,
        None,
    );
    assert!(
        t.members()
            .await
            .iter()
            .all(|m| m["user"]["id"] != json!(id))
    );
    scim_error(
        &t.call("DELETE", &format!("/Users/{id}"), None).await,
        404,
        None,
    );
}

/// Okta's documented requests ("SCIM 2.0 protocol reference"): lookup with paging, POST with
/// a password and attributes Roster does not keep, PUT of the whole user, path-less PATCH,
/// and its group PATCHes (path-less replace carrying `id`, add / remove of members).
#[tokio::test]
async fn okta_user_and_group_shapes() {
    let t = Scim::new().await;
    let res = t
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22isaac.brock%40example.com%22&startIndex=1&count=100",
            None,
        )
        .await;
    assert_eq!(res.json()["totalResults"], 0);
    let user = t
        .create_user(json!({
            "schemas": [USER],
            "userName": "isaac.brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true,
            ROSTER: {"role": "manager"}
        }))
        .await;
    let uid = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user[ROSTER]["role"], "manager");
    // A password is never stored or shown; Okta's locale is kept as sent.
    assert!(user.get("password").is_none());
    assert_eq!(user["locale"], "en-US");
    // PUT of the whole user: deactivation, as Okta sends it.
    let mut put = user.clone();
    put["active"] = json!(false);
    put["name"]["givenName"] = json!("Ike");
    let res = t.call("PUT", &format!("/Users/{uid}"), Some(put)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert_eq!(res.json()["active"], false);
    assert_eq!(res.json()["name"]["givenName"], "Ike");
    assert_eq!(res.json()[ROSTER]["role"], "manager");
    // Path-less replace.
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{uid}"),
            patch(
                json!([{"op": "replace", "value": {"active": true, "name.familyName": "Brocks"}}]),
            ),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert_eq!(res.json()["active"], true);
    assert_eq!(res.json()["name"]["familyName"], "Brocks");
    let member = t
        .members()
        .await
        .into_iter()
        .find(|m| m["user"]["id"] == json!(uid))
        .unwrap();
    assert_eq!(member["role"], Role::Manager.as_i64());

    let other = t
        .create_user(json!({"schemas": [USER], "userName": "other@example.com", "active": true}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = t
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
    let gid = res.json()["id"].as_str().unwrap().to_owned();
    let group_path = format!("/Groups/{gid}");
    // Okta renames with a path-less replace that carries the id.
    let res = t
        .call(
            "PATCH",
            &group_path,
            patch(json!([{"op": "replace", "value": {"id": gid, "displayName": "Renamed"}}])),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert_eq!(res.json()["displayName"], "Renamed");
    let res = t
        .call(
            "PATCH",
            &format!("{group_path}?excludedAttributes=members"),
            patch(json!([{"op": "add", "path": "members", "value": [
                {"value": uid, "display": "isaac.brock@example.com"},
                {"value": other}
            ]}])),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert!(
        res.json().get("members").is_none(),
        "excluded from the answer"
    );
    let members = |v: &Value| -> Vec<String> {
        let mut ids: Vec<String> = v["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["value"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    };
    let mut both = vec![uid.clone(), other.clone()];
    both.sort();
    assert_eq!(
        members(&t.call("GET", &group_path, None).await.json()),
        both
    );
    // The team API sees the group's members.
    let res = t
        .app
        .get(&format!("/api/groups/{gid}/memberships/"))
        .key(&t.admin)
        .v2()
        .send()
        .await;
    assert_eq!(res.json().as_array().unwrap().len(), 2);
    // Entra's remove with a value list; Okta's remove by filter; replace with [].
    let res = t
        .call(
            "PATCH",
            &group_path,
            patch(json!([{"op": "Remove", "path": "members", "value": [{"value": other}]}])),
        )
        .await;
    assert_eq!(members(&res.json()), std::slice::from_ref(&uid));
    let filtered = t
        .call(
            "GET",
            &format!(
                "/Groups?filter=members%5Bvalue%20eq%20%22{uid}%22%5D&excludedAttributes=members"
            ),
            None,
        )
        .await
        .json();
    assert_eq!(filtered["totalResults"], 1);
    assert!(filtered["Resources"][0].get("members").is_none());
    let res = t
        .call(
            "PATCH",
            &group_path,
            patch(json!([{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}])),
        )
        .await;
    assert!(members(&res.json()).is_empty());
    let res = t
        .call(
            "PATCH",
            &group_path,
            patch(
                json!([{"op": "add", "path": "members", "value": [{"value": other}]},
                         {"op": "replace", "path": "members", "value": [{"value": uid}]}]),
            ),
        )
        .await;
    assert_eq!(members(&res.json()), std::slice::from_ref(&uid));
    let res = t
        .call(
            "PATCH",
            &group_path,
            patch(json!([{"op": "replace", "path": "members", "value": []}])),
        )
        .await;
    assert!(members(&res.json()).is_empty());
    // Deleting a user takes them out of the team's groups too.
    t.call(
        "PATCH",
        &group_path,
        patch(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
    )
    .await;
    assert_eq!(
        t.call("DELETE", &format!("/Users/{uid}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(members(&t.call("GET", &group_path, None).await.json()).is_empty());
    assert_eq!(
        t.call("DELETE", &group_path, None).await.status,
        StatusCode::NO_CONTENT
    );
    scim_error(&t.call("GET", &group_path, None).await, 404, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_one_user_without_if_match_are_all_made() {
    let t = Arc::new(Scim::new().await);
    let user = t
        .create_user(json!({"schemas": [USER], "userName": "busy@example.com"}))
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (t, id) = (t.clone(), id.clone());
            tokio::spawn(async move {
                let ops = json!([{"op": "Replace", "path": "title", "value": format!("T{i}")},
                    {"op": "Add", "path": "phoneNumbers", "value": [{"value": format!("+{i}")}]}]);
                let res = t.call("PATCH", &format!("/Users/{id}"), patch(ops)).await;
                (res.status.as_u16(), text(&res))
            })
        })
        .collect();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let after = t.call("GET", &format!("/Users/{id}"), None).await.json();
    assert_eq!(
        after["phoneNumbers"].as_array().map(Vec::len),
        Some(24),
        "none was lost: {after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_of_one_user_name_give_one_201_and_409s() {
    let t = Arc::new(Scim::new().await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            // The same userName in different cases.
            let name = if i % 2 == 0 {
                "Race@Example.com"
            } else {
                "race@example.COM"
            };
            let res = t
                .call(
                    "POST",
                    "/Users",
                    Some(json!({"schemas": [USER], "userName": name})),
                )
                .await;
            (res.status.as_u16(), res.json())
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["scimType"], "uniqueness", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    let list = t
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22RACE%40example.com%22",
            None,
        )
        .await
        .json();
    assert_eq!(list["totalResults"], 1);
    // A second person whose userName is taken by someone else's: 409 too.
    let res = t
        .call(
            "POST",
            "/Users",
            Some(json!({"schemas": [USER], "userName": "RACE@example.com", "emails": [{"value": "x@example.com"}]})),
        )
        .await;
    scim_error(&res, 409, Some("uniqueness"));
    let res = t
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Dup"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let res = t
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Dup"})),
        )
        .await;
    scim_error(&res, 409, Some("uniqueness"));
}

/// Concurrent creates are committed in batches: each request still gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_each_get_their_own_answer() {
    let t = Arc::new(Scim::new().await);
    let before = t.call("GET", "/Users?count=0", None).await.json()["totalResults"]
        .as_u64()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            // Each name twice: once as sent, once upper-cased, with its own email.
            let name = format!("Agent-{:02}@Example.com", i % 30);
            let sent = if i < 30 { name } else { name.to_uppercase() };
            let email = format!("agent{i}@example.com");
            let body = json!({"schemas": [USER], "userName": sent, "emails": [{"value": email}]});
            let res = t.call("POST", "/Users", Some(body)).await;
            (sent, res.status.as_u16(), res.json())
        }));
    }
    let mut made = std::collections::HashMap::new();
    for task in tasks {
        let (sent, status, body) = task.await.unwrap();
        match status {
            201 => {
                assert_eq!(body["userName"], sent, "{body}");
                let key = sent.to_lowercase();
                assert!(made.insert(key, body["id"].clone()).is_none(), "{sent}");
            }
            409 => assert_eq!(body["scimType"], "uniqueness", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(made.len(), 30, "one of each name was created");
    for (name, id) in &made {
        let user = t
            .call("GET", &format!("/Users/{}", id.as_str().unwrap()), None)
            .await
            .json();
        assert_eq!(user["userName"].as_str().unwrap().to_lowercase(), *name);
    }
    let after = t.call("GET", "/Users?count=0", None).await.json()["totalResults"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + 30);
}

#[tokio::test]
async fn a_user_sent_back_unchanged_is_no_change() {
    let t = Scim::new().await;
    let user = t
        .create_user(
            json!({"schemas": [USER, ENTERPRISE], "userName": "same@example.com",
            "displayName": "Same", "title": "Agent",
            "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}}),
        )
        .await;
    let id = user["id"].as_str().unwrap().to_owned();
    let team_tag = || async {
        let res = t
            .app
            .get(&format!("/api/organizations/{}/memberships/", t.org))
            .key(&t.admin)
            .v2()
            .send()
            .await;
        res.header("etag").map(str::to_owned)
    };
    let (tag, version) = (team_tag().await, user["meta"]["version"].clone());
    let mut again = user.clone();
    again.as_object_mut().unwrap().remove("meta");
    let put = t.call("PUT", &format!("/Users/{id}"), Some(again)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", text(&put));
    let ops = json!([{"op": "Replace", "path": "title", "value": "Agent"},
        {"op": "Replace", "path": "active", "value": "True"}]);
    let same = t.call("PATCH", &format!("/Users/{id}"), patch(ops)).await;
    assert_eq!(same.status, StatusCode::OK, "{}", text(&same));
    assert_eq!(same.json()["meta"]["version"], version, "{}", text(&same));
    assert_eq!(team_tag().await, tag, "the team's pages are kept");
    let ops = json!([{"op": "Replace", "path": "title", "value": "Lead"}]);
    let changed = t.call("PATCH", &format!("/Users/{id}"), patch(ops)).await;
    assert_ne!(changed.json()["meta"]["version"], version);
    assert_ne!(team_tag().await, tag);
}

#[tokio::test]
async fn filters_paging_projection_and_versions() {
    let t = Scim::new().await;
    for i in 0..5 {
        t.create_user(json!({
            "schemas": [USER],
            "userName": format!("p{i}@example.com"),
            "displayName": format!("Person {i}"),
            "emails": [{"value": format!("p{i}@example.com"), "type": "work", "primary": true}],
        }))
        .await;
    }
    // The team's admin (added through the team API) is a User too: 6 in all.
    let all = t
        .call("GET", "/Users?startIndex=0&count=2", None)
        .await
        .json();
    assert_eq!(
        (
            all["totalResults"].as_u64(),
            all["startIndex"].as_u64(),
            all["itemsPerPage"].as_u64()
        ),
        (Some(6), Some(1), Some(2))
    );
    let page = t
        .call(
            "GET",
            "/Users?filter=userName%20sw%20%22P%22&startIndex=2&count=2",
            None,
        )
        .await
        .json();
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "p1@example.com");
    let totals = t.call("GET", "/Users?count=0", None).await.json();
    assert_eq!(
        (
            totals["totalResults"].as_u64(),
            totals["itemsPerPage"].as_u64()
        ),
        (Some(6), Some(0))
    );
    // Value paths, logic and negation; displayName is case-insensitive.
    let search = t
        .call(
            "POST",
            "/Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "emails[type eq \"work\" and value co \"p3@\"] or (displayName eq \"PERSON 4\" and not (active eq false))",
                "attributes": ["userName", "name.givenName"],
            })),
        )
        .await
        .json();
    assert_eq!(search["totalResults"], 2, "{search}");
    let r = &search["Resources"][0];
    assert_eq!(r["userName"], "p3@example.com");
    assert!(r.get("displayName").is_none() && r.get("emails").is_none() && r.get("id").is_some());
    let excluded = t
        .call("GET", "/Users?excludedAttributes=emails,meta&count=1", None)
        .await
        .json();
    assert!(excluded["Resources"][0].get("emails").is_none());
    for bad in [
        "userName%20xx%20%22a%22",
        "((((",
        "userName%20eq",
        "userName%20eq%20%22%5Cu0000%22",
    ] {
        scim_error(
            &t.call("GET", &format!("/Users?filter={bad}"), None).await,
            400,
            Some("invalidFilter"),
        );
    }

    // Versions: ETag on reads and writes; 304 and 412.
    let one = t
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22p0%40example.com%22",
            None,
        )
        .await
        .json();
    let id = one["Resources"][0]["id"].as_str().unwrap().to_owned();
    let res = t.call("GET", &format!("/Users/{id}"), None).await;
    let etag = res.header("etag").unwrap().to_owned();
    assert_eq!(res.json()["meta"]["version"], etag);
    let res = t
        .app
        .get(&format!("/scim/v2/Users/{id}"))
        .header("authorization", &format!("Bearer {}", t.token))
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_MODIFIED);
    let replace = |tag: &str| {
        t.app
            .request("PATCH".parse().unwrap(), &format!("/scim/v2/Users/{id}"))
            .header("authorization", &format!("Bearer {}", t.token))
            .header("if-match", tag)
            .raw(
                "application/scim+json",
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "New"}]})
                    .to_string(),
            )
            .send()
    };
    let res = replace(&etag).await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    assert_ne!(res.header("etag").unwrap(), etag);
    scim_error(&replace(&etag).await, 412, None);
    // A change through the team API is a new version too.
    let now = t.call("GET", &format!("/Users/{id}"), None).await;
    let membership = t
        .members()
        .await
        .into_iter()
        .find(|m| m["user"]["id"] == json!(id))
        .unwrap();
    let res = t
        .app
        .patch(&format!("/api/memberships/{}/", membership["id"]))
        .key(&t.admin)
        .json(&json!({"role": 1}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let after = t.call("GET", &format!("/Users/{id}"), None).await;
    assert_ne!(after.header("etag"), now.header("etag"));
}

#[tokio::test]
async fn bad_input_is_a_scim_400_and_changes_nothing() {
    let t = Scim::new().await;
    let before = t.call("GET", "/Users", None).await.json();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"schemas": [USER]}), "invalidValue"),
        (json!({"userName": ""}), "invalidValue"),
        (json!({"userName": 42}), "invalidValue"),
        (
            json!({"userName": "a@example.com", "active": "maybe"}),
            "invalidValue",
        ),
        (
            json!({"userName": "a@example.com", "emails": "a@example.com"}),
            "invalidValue",
        ),
        (
            json!({"userName": "a@example.com", ROSTER: {"role": 9}}),
            "invalidValue",
        ),
        (json!({"userName": "x".repeat(5000)}), "invalidValue"),
        (json!({"userName": "a\u{0}b@example.com"}), "invalidValue"),
    ];
    for (body, scim_type) in cases {
        let res = t.call("POST", "/Users", Some(body.clone())).await;
        scim_error(&res, 400, Some(scim_type));
    }
    let res = t
        .app
        .post("/scim/v2/Users")
        .header("authorization", &format!("Bearer {}", t.token))
        .raw("application/scim+json", "{\"userName\": ")
        .send()
        .await;
    scim_error(&res, 400, Some("invalidSyntax"));
    let res = t
        .app
        .post("/scim/v2/Users")
        .header("authorization", &format!("Bearer {}", t.token))
        .raw("text/plain", "{}")
        .send()
        .await;
    scim_error(&res, 415, None);
    let huge = format!("{{\"userName\": \"{}\"}}", "x".repeat(17 * 1024 * 1024));
    let res = t
        .app
        .post("/scim/v2/Users")
        .header("authorization", &format!("Bearer {}", t.token))
        .raw("application/scim+json", huge)
        .send()
        .await;
    scim_error(&res, 413, None);
    let res = t
        .call(
            "PATCH",
            &format!("/Users/{}", uuid::Uuid::new_v4()),
            patch(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    scim_error(&res, 404, None);
    let nested = format!("{}userName eq \"a\"{}", "(".repeat(100), ")".repeat(100));
    let res = t
        .call("POST", "/Users/.search", Some(json!({"filter": nested})))
        .await;
    scim_error(&res, 400, Some("invalidFilter"));
    for ops in [
        json!([{"op": "jump", "path": "active", "value": true}]),
        json!([{"op": "remove"}]),
        json!("not a list"),
    ] {
        let (admin_id, _) = (
            t.call("GET", "/Users", None).await.json()["Resources"][0]["id"].clone(),
            (),
        );
        let res = t
            .call(
                "PATCH",
                &format!("/Users/{}", admin_id.as_str().unwrap()),
                patch(ops),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", text(&res));
    }
    assert_eq!(t.call("GET", "/Users", None).await.json(), before);
}

/// The lookups Entra ID and Okta send, by GET and by `POST /.search` alike: a value path with
/// a sub-attribute, `emails.value`, `name.familyName` and `externalId` joined by `and`.
#[tokio::test]
async fn identity_providers_find_users_by_their_email_paths() {
    let t = Scim::new().await;
    let ann = t
        .create_user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@acme.test",
            "externalId": "x-ann",
            "name": {"givenName": "Ann", "familyName": "Smith"},
            "emails": [
                {"value": "ann.home@home.test", "type": "home"},
                {"value": "ann@acme.test", "type": "work", "primary": true}
            ],
        }))
        .await;
    t.create_user(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bob@acme.test",
        "externalId": "x-bob",
        "name": {"givenName": "Bob", "familyName": "Smith"},
        "emails": [{"value": "bob@acme.test", "type": "work"}],
    }))
    .await;
    let found = [
        (r#"emails[type eq "work"].value eq "ann@acme.test""#, 1),
        (r#"emails[type eq "work"].value eq "ANN@acme.test""#, 1),
        (r#"emails[type eq "home"].value eq "ann@acme.test""#, 0),
        (r#"emails.value eq "ann@acme.test""#, 1),
        // An address that is not the account's is found too.
        (r#"emails[type eq "home"].value eq "ann.home@home.test""#, 1),
        (r#"emails.value eq "Ann.Home@HOME.test""#, 1),
        (r#"emails[type eq "work"].value eq "ann.home@home.test""#, 0),
        (r#"name.familyName eq "Smith""#, 2),
        (r#"name.familyName eq "Smith" and externalId eq "x-ann""#, 1),
        (
            r#"externalId eq "x-bob" and emails[type eq "work"].value eq "ann@acme.test""#,
            0,
        ),
    ];
    for (filter, expected) in found {
        let q = form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let got = t.call("GET", &format!("/Users?filter={q}"), None).await;
        assert_eq!(got.status, StatusCode::OK, "{filter}: {}", text(&got));
        assert_eq!(got.json()["totalResults"], expected, "GET {filter}");
        let search = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": filter,
            "attributes": ["userName"],
            "count": 10,
        });
        let posted = t.call("POST", "/Users/.search", Some(search)).await;
        assert_eq!(posted.status, StatusCode::OK, "{filter}: {}", text(&posted));
        assert_eq!(
            posted.json()["totalResults"],
            expected,
            "POST .search {filter}"
        );
        if expected == 1 && filter.contains("ann") {
            let r = &posted.json()["Resources"][0];
            assert_eq!(r["id"], ann["id"]);
            assert!(
                r.get("emails").is_none(),
                "only the attributes asked for: {r}"
            );
        }
    }
    // The addresses found follow the user's: a PATCH that replaces them, then a PUT.
    let count = |filter: &'static str| {
        let q = form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>();
        let t = &t;
        async move {
            let got = t.call("GET", &format!("/Users?filter={q}"), None).await;
            got.json()["totalResults"].clone()
        }
    };
    let path = format!("/Users/{}", ann["id"].as_str().unwrap());
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails", "value": [
            {"value": "ann@acme.test", "type": "work", "primary": true},
            {"value": "a.smith@acme.test", "type": "work"}]}]});
    assert_eq!(
        t.call("PATCH", &path, Some(patch)).await.status,
        StatusCode::OK
    );
    assert_eq!(count(r#"emails.value eq "ann.home@home.test""#).await, 0);
    assert_eq!(count(r#"emails.value eq "a.smith@acme.test""#).await, 1);
    let put = json!({"userName": "ann@acme.test", "emails": [{"value": "ann@acme.test"}],
                     "name": {"givenName": "Ann", "familyName": "Smith"}});
    assert_eq!(t.call("PUT", &path, Some(put)).await.status, StatusCode::OK);
    assert_eq!(count(r#"emails.value eq "a.smith@acme.test""#).await, 0);
    assert_eq!(count(r#"emails.value eq "ann@acme.test""#).await, 1);
    // Paging over .search: the second of two Smiths.
    let page = json!({"filter": "name.familyName eq \"Smith\"", "startIndex": 2, "count": 1});
    let second = t.call("POST", "/Users/.search", Some(page)).await.json();
    assert_eq!(
        (
            second["totalResults"].clone(),
            second["itemsPerPage"].clone()
        ),
        (json!(2), json!(1))
    );
    // Groups by .search too.
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Leads"});
    assert_eq!(
        t.call("POST", "/Groups", Some(group)).await.status,
        StatusCode::CREATED
    );
    let groups = json!({"filter": "displayName eq \"leads\""});
    let found = t.call("POST", "/Groups/.search", Some(groups)).await.json();
    assert_eq!(found["totalResults"], 1, "{found}");
}

/// The users' creates of one team wait on that team alone: with team B's row held by another
/// transaction (a long replace, say), B's create waits and team C's goes through. PostgreSQL
/// only: SQLite has one writer for every team, so there a write of B holds up C's by design.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_teams_waiting_creates_do_not_hold_up_another_teams() {
    use sqlx::Connection;
    use std::time::{Duration, Instant};
    if crate::support::postgres_server("one_teams_waiting_creates").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = TestApp::fresh_url(&dir).await;
    let app = TestApp::on(&url, &Default::default()).await;
    let (busy, busy_admin) = app.team("Busy").await;
    let (calm, calm_admin) = app.team("Calm").await;
    let busy_idp = service_account(&app, busy, &busy_admin, 2).await;
    let calm_idp = service_account(&app, calm, &calm_admin, 2).await;
    let create = |token: &str, email: &str| {
        app.request(axum::http::Method::POST, "/scim/v2/Users")
            .header("authorization", &format!("Bearer {token}"))
            .raw(
                "application/scim+json",
                json!({"schemas": [USER], "userName": email}).to_string(),
            )
            .send()
    };

    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(busy)
        .execute(&mut other)
        .await
        .unwrap();
    let waiting = create(&busy_idp, "waits@busy.test");
    tokio::pin!(waiting);
    let calm_create = async {
        // B's create is queued and waiting on its team first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let res = create(&calm_idp, "goes@calm.test").await;
        (res, started.elapsed())
    };
    let (res, took) = tokio::select! {
        res = &mut waiting => panic!("B's create did not wait for its team: {}", text(&res)),
        done = tokio::time::timeout(Duration::from_secs(10), calm_create) => {
            done.expect("C's create waited for team B")
        }
    };
    assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
    assert!(took < Duration::from_secs(5), "{took:?}");

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let res = waiting.await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
    // Each team's next create starts its queue again.
    for (token, email) in [(&busy_idp, "next@busy.test"), (&calm_idp, "next@calm.test")] {
        assert_eq!(create(token, email).await.status, StatusCode::CREATED);
    }
}

/// What SCIM does not show, it does not change: a group replace (or a remove of all members)
/// leaves the group's service accounts and deployment keys in it, and a team's identity
/// provider cannot re-address or rename an operator, even one whose only team it is (a new
/// address would confine the operator's keys to the team and end their operator rights).
#[tokio::test]
async fn scim_leaves_accounts_in_groups_and_operators_as_they_are() {
    let t = Scim::new().await;
    let group = t
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "Ops"})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", text(&group));
    let gid = group.json()["id"].as_str().unwrap().to_owned();
    let person = t
        .create_user(json!({"schemas": [USER], "userName": "pat@provisioned.test"}))
        .await;
    let pid = person["id"].as_str().unwrap().to_owned();
    let (kid, _) = t.app.deployment_key(t.org, &t.admin).await;
    let add = t
        .app
        .post(&format!("/api/groups/{gid}/memberships/"))
        .key(&t.admin)
        .json(&json!([{"user_id": kid}]))
        .send()
        .await;
    assert!(add.status.is_success(), "{}", text(&add));
    let in_group = || async {
        let res = t
            .app
            .get(&format!("/api/groups/{gid}/memberships/"))
            .key(&t.admin)
            .send()
            .await;
        res.json()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["user"]["id"].as_str().map(str::to_owned))
            .collect::<Vec<String>>()
    };
    assert_eq!(in_group().await, std::slice::from_ref(&kid));
    let put = json!({"schemas": [GROUP], "displayName": "Ops", "members": [{"value": pid}]});
    let res = t.call("PUT", &format!("/Groups/{gid}"), Some(put)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    let mut members = in_group().await;
    members.sort();
    let mut expected = vec![kid.clone(), pid.clone()];
    expected.sort();
    assert_eq!(members, expected, "the replace leaves the deployment key");
    for ops in [
        json!([{"op": "remove", "path": "members", "value": []}]),
        json!([{"op": "remove", "path": "members"}]),
    ] {
        let res = t
            .call("PATCH", &format!("/Groups/{gid}"), patch(ops.clone()))
            .await;
        assert!(res.status.is_success(), "{ops}: {}", text(&res));
    }
    assert_eq!(
        in_group().await,
        std::slice::from_ref(&kid),
        "an empty list removes nobody; all removes SCIM's people"
    );
    // Named by id, the deployment key stays too; a null is no list at all.
    for ops in [
        json!([{"op": "remove", "path": format!("members[value eq \"{kid}\"]")}]),
        json!([{"op": "remove", "path": "members", "value": [{"value": kid}]}]),
        json!([{"op": "add", "path": "members", "value": [{"value": pid}]}]),
        json!([{"op": "replace", "path": "members", "value": null}]),
        json!([{"op": "replace", "value": {"members": null}}]),
    ] {
        let res = t
            .call("PATCH", &format!("/Groups/{gid}"), patch(ops.clone()))
            .await;
        assert!(res.status.is_success(), "{ops}: {}", text(&res));
    }
    let mut members = in_group().await;
    members.sort();
    assert_eq!(members, expected, "the key stays; nulls empty nothing");

    // An operator whose only team this is, as its member.
    let operator = t.app.operator().await;
    let me = t.app.get("/api/me/").key(&operator).send().await.json();
    let oid = me["id"].as_str().unwrap().to_owned();
    t.app
        .store
        .add_member(
            t.org,
            oid.parse().unwrap(),
            Some(Role::Developer),
            roster_core::SystemClock.now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let readdress = json!([{"op": "replace", "path": "emails", "value": [{"value": "ops@elsewhere.test", "primary": true}]}]);
    let res = t
        .call("PATCH", &format!("/Users/{oid}"), patch(readdress))
        .await;
    scim_error(&res, 403, Some("mutability"));
    // Still an operator everywhere: verifying a domain is an operator's.
    let res = t
        .app
        .post(&format!("/api/organizations/{}/email-domains/", t.org))
        .key(&operator)
        .json(&json!({"domain": "provisioned.test"}))
        .send()
        .await;
    assert!(res.status.is_success(), "{}", text(&res));
}

#[tokio::test]
async fn scim_links_an_operator_on_its_domain_but_never_renames_them() {
    let t = Scim::new().await;
    let (operator, key) = t.app.user("ops@provisioned.test").await;
    t.app.store.set_operator(operator, true).await.unwrap();
    let now = roster_core::SystemClock.now();
    t.app
        .store
        .add_email_domain(t.org, "provisioned.test", now, &Origin::cli())
        .await
        .unwrap();
    let before = t.app.get("/api/me/").key(&key).send().await.json()["name"].clone();
    let linked = t
        .create_user(
            json!({"schemas": [USER], "userName": "ops@provisioned.test",
            "displayName": "Pwned Name"}),
        )
        .await;
    assert_eq!(linked["id"], operator.to_string());
    let me = t.app.get("/api/me/").key(&key).send().await.json();
    assert_eq!(me["name"], before, "the operator keeps their name: {me}");
}

#[tokio::test]
async fn an_address_that_is_another_members_user_name_is_refused_where_people_join() {
    let t = Scim::new().await;
    t.create_user(
        json!({"schemas": [USER], "userName": "zoe@provisioned.test",
        "emails": [{"value": "yan@provisioned.test", "primary": true}]}),
    )
    .await;
    let (zoe, _) = t.app.user("zoe@provisioned.test").await;
    let joined = t
        .app
        .store
        .add_member(
            t.org,
            zoe,
            Some(Role::Member),
            roster_core::SystemClock.now(),
            &Origin::cli(),
        )
        .await;
    assert!(
        matches!(&joined, Err(roster_core::StoreError::Invalid { message, .. })
            if message.contains("userName")),
        "{joined:?}"
    );
    let invited = t
        .app
        .post(&format!("/api/organizations/{}/invitations/", t.org))
        .key(&t.admin)
        .json(&json!({"email": "zoe@provisioned.test"}))
        .send()
        .await;
    assert_eq!(
        invited.status,
        StatusCode::BAD_REQUEST,
        "{}",
        text(&invited)
    );
    assert!(text(&invited).contains("userName"), "{}", text(&invited));
    // An invitation sent before the clash: its token is the 404 of any token that cannot be
    // used.
    let early = t
        .app
        .post(&format!("/api/organizations/{}/invitations/", t.org))
        .key(&t.admin)
        .json(&json!({"email": "late@provisioned.test"}))
        .send()
        .await
        .made();
    t.create_user(
        json!({"schemas": [USER], "userName": "late@provisioned.test",
        "emails": [{"value": "lee@provisioned.test", "primary": true}]}),
    )
    .await;
    assert_eq!(t.app.accept(&early).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.members().await.len(),
        4,
        "nobody joined but the SCIM user"
    );
}

#[tokio::test]
async fn group_names_obey_one_rule_and_match_in_any_case() {
    let t = Scim::new().await;
    // A name the team API allows (256 characters, 512 bytes) is one SCIM can write.
    let long = "é".repeat(256);
    let made = t
        .app
        .post(&format!("/api/organizations/{}/groups/", t.org))
        .key(&t.admin)
        .json(&json!({"name": long}))
        .send()
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", text(&made));
    let gid = made.json()["id"].as_str().unwrap().to_owned();
    let ops = json!([{"op": "replace", "path": "externalId", "value": "x-1"}]);
    let res = t.call("PATCH", &format!("/Groups/{gid}"), patch(ops)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", text(&res));
    let res = t
        .call(
            "POST",
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "ÉQUIPE"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", text(&res));
    let filter =
        form_urlencoded::byte_serialize("displayName eq \"équipe\"".as_bytes()).collect::<String>();
    let found = t
        .call("GET", &format!("/Groups?filter={filter}"), None)
        .await
        .json();
    assert_eq!(found["totalResults"], 1, "{found}");
    assert_eq!(found["Resources"][0]["displayName"], "ÉQUIPE");
}
