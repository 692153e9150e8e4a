//! Campaigns and campaign members: CRUD, exact `data`, replace semantics, the email rule, and
//! how campaigns, groups and team membership see each other.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Role;
use serde_json::{Value, json};
use uuid::Uuid;

struct Team {
    app: TestApp,
    org: Uuid,
    admin: String,
    campaign: String,
}

impl Team {
    async fn new() -> Team {
        let app = TestApp::new().await;
        let (org, admin) = app.team("Acme").await;
        for who in ["ann", "bob", "cy"] {
            app.member(org, &format!("{who}@acme.test"), Role::Member)
                .await;
        }
        let res = app
            .post(&format!("/api/organizations/{org}/campaigns/"))
            .key(&admin)
            .json(&json!({"name": "Spring"}))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
        let campaign = format!(
            "/api/organizations/{org}/campaigns/{}/",
            res.json()["id"].as_str().unwrap()
        );
        Team {
            app,
            org,
            admin,
            campaign,
        }
    }

    fn members(&self) -> String {
        format!("{}members/", self.campaign)
    }

    async fn list(&self) -> Vec<Value> {
        let res = self.app.get(&self.members()).key(&self.admin).send().await;
        assert_eq!(res.status, StatusCode::OK);
        res.json().as_array().unwrap().clone()
    }

    async fn raw(&self, method: &str, body: &str) -> crate::support::Response {
        let req = match method {
            "POST" => self.app.post(&self.members()),
            _ => self.app.put(&self.members()),
        };
        req.key(&self.admin)
            .raw("application/json", body.to_owned())
            .send()
            .await
    }
}

#[tokio::test]
async fn campaigns_crud_and_permissions() {
    let t = Team::new().await;
    let (_, member) = t
        .app
        .member(t.org, "member@example.com", Role::Member)
        .await;
    let (_, manager) = t
        .app
        .member(t.org, "manager@example.com", Role::Manager)
        .await;
    let (other, outsider) = t.app.team("Other").await;
    let list = format!("/api/organizations/{}/campaigns/", t.org);
    assert_eq!(
        t.app
            .post(&list)
            .key(&manager)
            .json(&json!({"name": "Autumn"}))
            .send()
            .await
            .status,
        StatusCode::CREATED
    );
    let names: Vec<_> = t
        .app
        .get(&list)
        .key(&manager)
        .send()
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Autumn", "Spring"]);
    let c = t.app.get(&t.campaign).key(&t.admin).send().await.json();
    for field in ["id", "name", "created_at", "updated_at"] {
        assert!(c.get(field).is_some(), "{field}");
    }
    assert_eq!(
        t.app.get(&list).key(&member).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.app.get(&t.campaign).key(&member).send().await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.app.get(&t.campaign).key(&outsider).send().await.status,
        StatusCode::NOT_FOUND
    );
    // The campaign through another team's path is not found either.
    let cid = t.campaign.split('/').nth(5).unwrap();
    let res = t
        .app
        .get(&format!("/api/organizations/{other}/campaigns/{cid}/"))
        .key(&outsider)
        .send()
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(257)}),
        json!({}),
    ] {
        assert_eq!(
            t.app
                .post(&list)
                .key(&t.admin)
                .json(&bad)
                .send()
                .await
                .status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let res = t
        .app
        .patch(&t.campaign)
        .key(&manager)
        .json(&json!({"name": "Summer"}))
        .send()
        .await;
    assert_eq!(
        (res.status, res.json()["name"].as_str()),
        (StatusCode::OK, Some("Summer"))
    );
    assert_eq!(
        t.app.delete(&t.campaign).key(&t.admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.app.get(&t.campaign).key(&t.admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn data_is_stored_and_returned_exactly() {
    let t = Team::new().await;
    let data = r#"{"Zeta": 1, "Location": "Köln", "big": 123456789012345678901234567890, "pi": 3.14159265358979323846264338327950288, "nested": {"b": [1, 2.50, {"a": null}], "a": true}}"#;
    let body =
        format!(r#"[{{"email": "Ann@acme.test", "data": {data}}}, {{"email": "bob@acme.test"}}]"#);
    let res = t.raw("POST", &body).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let text = String::from_utf8(res.bytes.clone()).unwrap();
    assert!(
        text.contains(data),
        "the POST response holds the data as sent: {text}"
    );
    let listed = t.app.get(&t.members()).key(&t.admin).send().await;
    let text = String::from_utf8(listed.bytes.clone()).unwrap();
    assert!(
        text.contains(data),
        "the list holds the data as sent: {text}"
    );
    let members = listed.json();
    assert_eq!(members[1]["data"], json!({}), "data defaults to {{}}");
    let m = &members[0];
    for field in [
        "id",
        "email",
        "data",
        "account",
        "groups",
        "created_at",
        "updated_at",
        "last_active_at",
    ] {
        assert!(m.get(field).is_some(), "{field}");
    }
    assert_eq!(m["account"]["email"], "ann@acme.test");
    let paged = t.app.get(&t.members()).key(&t.admin).v2().send().await;
    assert_eq!(paged.header("x-total-count"), Some("2"));
}

#[tokio::test]
async fn post_updates_data_and_put_replaces_the_list() {
    let t = Team::new().await;
    t.raw(
        "POST",
        r#"[{"email": "ann@acme.test", "data": {"v": 1}}, {"email": "bob@acme.test"}]"#,
    )
    .await;
    let before = t.list().await;
    let res = t
        .raw(
            "POST",
            r#"{"users": [{"email": "ANN@acme.test", "data": {"v": 2}}]}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let after = t.list().await;
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(
        after[0]["data"],
        json!({"v": 2}),
        "same email: data replaced"
    );
    assert_eq!(after[0]["created_at"], before[0]["created_at"]);
    let res = t
        .raw(
            "PUT",
            r#"[{"email": "bob@acme.test", "data": {"w": 1}}, {"email": "cy@acme.test"}]"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let emails: Vec<_> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["bob@acme.test", "cy@acme.test"]);
    assert_eq!(
        res.json()[0]["id"],
        before[1]["id"],
        "bob stays with his id"
    );
    assert_eq!(t.raw("PUT", "[]").await.json(), json!([]));
}

#[tokio::test]
async fn bad_payloads_are_named_and_change_nothing() {
    let t = Team::new().await;
    t.raw(
        "PUT",
        r#"[{"email": "ann@acme.test", "data": {"keep": true}}]"#,
    )
    .await;
    let before = t.list().await;
    let big = format!(
        r#"[{{"email": "bob@acme.test", "data": {{"x": "{}"}}}}]"#,
        "x".repeat(70_000)
    );
    let cases = [
        (
            r#"[{"email": "bob@acme.test"}, {"email": "BOB@acme.test"}]"#,
            1,
            "email",
        ),
        (
            r#"[{"email": "bob@acme.test"}, {"email": "stranger@elsewhere.test"}]"#,
            1,
            "email",
        ),
        (r#"[{"email": "bob@acme.test", "data": [1]}]"#, 0, "data"),
        (r#"[{"email": "bob@acme.test", "data": null}]"#, 0, "data"),
        (r#"[{"email": "bob@acme.test", "data": "text"}]"#, 0, "data"),
        (r#"[{"data": {}}]"#, 0, "email"),
        (r#"[{"email": 5}]"#, 0, "email"),
        (big.as_str(), 0, "data"),
    ];
    for (body, position, field) in cases {
        for method in ["POST", "PUT"] {
            let res = t.raw(method, body).await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{method} {}",
                &body[..body.len().min(80)]
            );
            assert!(
                res.json()[position][field].is_array(),
                "{method}: {}",
                res.json()
            );
        }
    }
    // Repeats (differing in case only, too) each name the first, wherever they stand.
    let res = t
        .raw(
            "PUT",
            r#"[{"email": "bob@acme.test"}, {"email": "ann@acme.test"},
                {"email": "BOB@acme.test"}, {"email": "bob@acme.test"}]"#,
        )
        .await;
    let errors = res.json();
    assert_eq!(errors[0], json!({}));
    assert_eq!(errors[1], json!({}));
    for repeat in [2, 3] {
        let message = errors[repeat]["email"][0].as_str().unwrap();
        assert!(
            message.contains("more than once") && message.ends_with("(first as item 1)."),
            "{message}"
        );
    }
    for body in ["{}", r#"{"users": 5}"#, "5", r#"["bob@acme.test"]"#] {
        assert_eq!(
            t.raw("PUT", body).await.status,
            StatusCode::BAD_REQUEST,
            "{body}"
        );
    }
    let res = t
        .raw(
            "PUT",
            r#"[{"email": "bob@acme.test", "data": {"x": "a\u0000b"}}]"#,
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::BAD_REQUEST,
        "a NUL is refused on every backend"
    );
    assert_eq!(res.json()[0]["data"][0], "Null characters are not allowed.");
    let res = t
        .raw(
            "PUT",
            r#"[{"email": "bob@acme.test", "data": {"k\u0000": 1}}]"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "in keys too");
    assert_eq!(t.list().await, before, "nothing changed");
    let literal = r#"[{"email": "ann@acme.test", "data": {"x": "\\u0000 is text"}}]"#;
    assert_eq!(
        t.raw("PUT", literal).await.status,
        StatusCode::OK,
        "an escaped backslash is no NUL"
    );
}

#[tokio::test]
async fn campaign_put_may_carry_users() {
    let t = Team::new().await;
    let res = t
        .app
        .put(&t.campaign)
        .key(&t.admin)
        .json(
            &json!({"name": "Spring 2027", "users": [{"email": "cy@acme.test", "data": {"a": 1}}]}),
        )
        .send()
        .await;
    assert_eq!(
        (res.status, res.json()["name"].as_str()),
        (StatusCode::OK, Some("Spring 2027"))
    );
    let list = t.list().await;
    assert_eq!(
        (list.len(), list[0]["email"].as_str()),
        (1, Some("cy@acme.test"))
    );
    let res = t
        .app
        .put(&t.campaign)
        .key(&t.admin)
        .json(&json!({"name": "Spring", "users": [{"email": "nobody@nowhere.test"}]}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.app.get(&t.campaign).key(&t.admin).send().await.json()["name"],
        "Spring 2027",
        "rename and replace are one transaction"
    );
    let res = t
        .app
        .put(&t.campaign)
        .key(&t.admin)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(t.list().await.len(), 1, "no users: members untouched");
}

#[tokio::test]
async fn campaigns_groups_and_team_membership_see_each_other() {
    let t = Team::new().await;
    let gid = t
        .app
        .post(&format!("/api/organizations/{}/groups/", t.org))
        .key(&t.admin)
        .json(&json!({"name": "Agents"}))
        .send()
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = format!("/api/groups/{gid}/memberships/");
    t.raw(
        "PUT",
        r#"[{"email": "ann@acme.test"}, {"email": "bob@acme.test"}]"#,
    )
    .await;
    t.app
        .put(&group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", "cy@acme.test"]))
        .send()
        .await;
    // Campaign members list their groups; group memberships list their campaigns.
    let members = t.list().await;
    assert_eq!(members[0]["groups"], json!([gid]));
    assert_eq!(members[1]["groups"], json!([]));
    let gms = t.app.get(&group).key(&t.admin).send().await.json();
    assert_eq!(gms[0]["campaigns"][0]["name"], "Spring");
    assert_eq!(gms[1]["campaigns"], json!([]));
    // require_campaign keeps only emails of campaign members.
    let res = t
        .app
        .put(&format!("{group}?require_campaign=true"))
        .key(&t.admin)
        .json(&json!([
            "ann@acme.test",
            "bob@acme.test",
            "cy@acme.test",
            "x@nowhere.test"
        ]))
        .send()
        .await;
    let emails: Vec<_> = res
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails, ["ann@acme.test", "bob@acme.test"]);
    // A removed team member loses the account but keeps the campaign membership.
    let bob = t
        .app
        .get(&format!("/api/organizations/{}/memberships/?q=bob", t.org))
        .key(&t.admin)
        .send()
        .await
        .json()[0]["id"]
        .as_i64()
        .unwrap();
    t.app
        .delete(&format!("/api/memberships/{bob}/"))
        .key(&t.admin)
        .send()
        .await;
    let members = t.list().await;
    assert_eq!(
        (
            members[1]["email"].as_str(),
            members[1]["account"].is_null()
        ),
        (Some("bob@acme.test"), true)
    );
    // A deleted campaign disappears from group memberships.
    t.app.delete(&t.campaign).key(&t.admin).send().await;
    let gms = t.app.get(&group).key(&t.admin).send().await.json();
    assert_eq!(gms[0]["campaigns"], json!([]));
}

#[tokio::test]
async fn group_members_list_each_of_their_campaigns_by_name() {
    let t = Team::new().await;
    let campaigns = format!("/api/organizations/{}/campaigns/", t.org);
    // Ann is in two campaigns, named so that their name order is not their (random) ids'
    // order: ordering by id instead of by name shows.
    let second = t
        .app
        .created(&campaigns, &t.admin, json!({"name": "Second"}))
        .await;
    let spring_id = t.campaign.trim_end_matches('/').rsplit('/').next().unwrap();
    let name = if second.as_str() > spring_id {
        "Autumn"
    } else {
        "Winter"
    };
    let res = t
        .app
        .patch(&format!("{campaigns}{second}/"))
        .key(&t.admin)
        .json(&json!({"name": name}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let (other, outsider) = t.app.team("Other").await;
    let abroad = t
        .app
        .created(
            &format!("/api/organizations/{other}/campaigns/"),
            &outsider,
            json!({"name": "Abroad"}),
        )
        .await;
    // Ann is in the other team too, and in its campaign, which her groups here never show.
    t.app.member(other, "ann@acme.test", Role::Member).await;
    let mut changes = vec![(
        t.members(),
        &t.admin,
        json!([{"email": "Ann@acme.test"}, {"email": "bob@acme.test"}]),
    )];
    changes.push((
        format!("{campaigns}{second}/members/"),
        &t.admin,
        json!([{"email": "ann@ACME.test"}]),
    ));
    changes.push((
        format!("/api/organizations/{other}/campaigns/{abroad}/members/"),
        &outsider,
        json!([{"email": "ann@acme.test"}]),
    ));
    for (path, key, body) in changes {
        let res = t.app.put(&path).key(key).json(&body).send().await;
        assert_eq!(res.status, StatusCode::OK);
    }
    let gid = t
        .app
        .created(
            &format!("/api/organizations/{}/groups/", t.org),
            &t.admin,
            json!({"name": "Agents"}),
        )
        .await;
    let group = format!("/api/groups/{gid}/memberships/");
    let res = t
        .app
        .put(&group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", "bob@acme.test", "cy@acme.test"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let brief = |path: String| {
        let app = &t.app;
        let key = t.admin.clone();
        async move {
            let c = app.get(&path).key(&key).send().await.json();
            json!({
                "id": c["id"],
                "name": c["name"],
                "created_at": c["created_at"],
                "updated_at": c["updated_at"],
            })
        }
    };
    let second = brief(format!("{campaigns}{second}/")).await;
    let spring = brief(t.campaign.clone()).await;
    let both = if name == "Autumn" {
        [&second, &spring]
    } else {
        [&spring, &second]
    };
    let expected = json!([both, [spring], []]);
    // The whole list (streamed in chunks), a page, and the answer to the change itself.
    let streamed = t.app.get(&group).key(&t.admin).send().await.json();
    let paged = t
        .app
        .get(&format!("{group}?page_size=2"))
        .key(&t.admin)
        .v2()
        .send()
        .await
        .json();
    let of = |list: &Value| -> Vec<Value> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| m["campaigns"].clone())
            .collect()
    };
    let expected = expected.as_array().unwrap();
    assert_eq!(&of(&streamed), expected);
    assert_eq!(&of(&res.json()), expected);
    assert_eq!(of(&paged), expected[..2]);
}

/// PixieBrix types a campaign-member body as one CampaignMember: one `{"email", "data"}`
/// object is one member, for POST and PUT alike, with the same rules and an object-shaped
/// error; the list forms stay as they were.
#[tokio::test]
async fn one_member_object_is_a_payload_of_one() {
    let t = Team::new().await;
    let res = t
        .raw(
            "POST",
            r#"{"email": "ann@acme.test", "data": {"Unit": "Sales"}}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.detail());
    let answered = res.json();
    assert_eq!(answered.as_array().unwrap().len(), 1, "{answered}");
    let res = t.raw("POST", r#"{"email": "bob@acme.test"}"#).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let emails: Vec<Value> = t.list().await.iter().map(|m| m["email"].clone()).collect();
    assert_eq!(emails, [json!("ann@acme.test"), json!("bob@acme.test")]);

    // PUT of one object replaces the whole list with that one member.
    let res = t
        .raw(
            "PUT",
            r#"{"email": "cy@acme.test", "data": {"Unit": "Ops"}}"#,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let list = t.list().await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["email"], "cy@acme.test");
    assert_eq!(list[0]["data"], json!({"Unit": "Ops"}));

    // A bad single member: the item's errors as one object, and nothing changed.
    let res = t
        .raw("PUT", r#"{"email": "stranger@elsewhere.test"}"#)
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.json()["email"].is_array(), "{}", res.json());
    let res = t.raw("POST", r#"{"data": {"Unit": "Ops"}}"#).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.json(), json!({"users": ["This field is required."]}));
    assert_eq!(t.list().await.len(), 1, "nothing changed");
}
