//! Group memberships: payload shapes, the email rule, held memberships, PUT semantics,
//! verified domains and concurrency.

use crate::support::TestApp;
use axum::http::StatusCode;
use roster_core::Origin;
use roster_core::store::{AccountKind, NewUser};
use roster_core::{Clock, Role, SystemClock};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use uuid::Uuid;

struct Team {
    app: TestApp,
    org: Uuid,
    admin: String,
    group: String,
}

impl Team {
    /// A team with members ann, bob and cy @acme.test and one group.
    async fn new() -> Team {
        let app = TestApp::new().await;
        let (org, admin) = app.team("Acme").await;
        for who in ["ann", "bob", "cy"] {
            app.member(org, &format!("{who}@acme.test"), Role::Member)
                .await;
        }
        let body = json!({"name": "Agents"});
        let group = app
            .created(&format!("/api/organizations/{org}/groups/"), &admin, body)
            .await;
        let group = format!("/api/groups/{group}/memberships/");
        Team {
            app,
            org,
            admin,
            group,
        }
    }

    async fn verify(&self, domain: &str) {
        let ops = self.app.operator().await;
        let res = self
            .app
            .post(&format!("/api/organizations/{}/email-domains/", self.org))
            .key(&ops)
            .json(&json!({"domain": domain}))
            .send()
            .await;
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&res.bytes)
        );
    }

    async fn members(&self) -> Vec<Value> {
        let res = self.app.get(&self.group).key(&self.admin).send().await;
        assert_eq!(res.status, StatusCode::OK);
        res.json().as_array().unwrap().clone()
    }

    async fn emails(&self) -> Vec<String> {
        self.members()
            .await
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn user_id(&self, email: &str) -> String {
        let res = self
            .app
            .get(&format!(
                "/api/organizations/{}/memberships/?q={email}",
                self.org
            ))
            .key(&self.admin)
            .send()
            .await;
        res.json()[0]["user"]["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn every_payload_shape_is_accepted() {
    let t = Team::new().await;
    let bob = t.user_id("bob@acme.test").await;
    let res = t
        .app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!([{"email": "Ann@Acme.test"}, {"user_id": bob}]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.json().as_array().unwrap().len(), 2);
    let res = t
        .app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!({"email": "cy@acme.test"}))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "a single object");
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!([]))
        .send()
        .await;
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["cy@acme.test", bob]))
        .send()
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "bare strings: an email and a UUID"
    );
    assert_eq!(t.emails().await, ["bob@acme.test", "cy@acme.test"]);
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!("ann@acme.test"))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK, "one bare string");
    assert_eq!(t.emails().await, ["ann@acme.test"]);
    // Whitespace around a list is still a list (items are read one by one from its text).
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .raw(
            "application/json",
            " \n [ {\"email\": \"bob@acme.test\"} , \"cy@acme.test\" ] \n".to_owned(),
        )
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json().as_array().map(Vec::len), Some(2));
    assert_eq!(t.emails().await, ["bob@acme.test", "cy@acme.test"]);
}

#[tokio::test]
async fn memberships_carry_the_documented_fields() {
    let t = Team::new().await;
    t.app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await;
    let m = &t.members().await[0];
    for field in [
        "id",
        "user",
        "email",
        "created_at",
        "campaigns",
        "last_active_at",
    ] {
        assert!(m.get(field).is_some(), "{field}");
    }
    assert_eq!(m["user"]["email"], "ann@acme.test");
    assert_eq!(m["campaigns"], json!([]));
    let paged = t.app.get(&t.group).key(&t.admin).v2().send().await;
    assert_eq!(paged.header("x-total-count"), Some("1"));
}

#[tokio::test]
async fn adding_someone_present_is_no_error_and_no_duplicate() {
    let t = Team::new().await;
    let first = t
        .app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await
        .json();
    let again = t
        .app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!(["ANN@acme.test", "ann@acme.test", "bob@acme.test"]))
        .send()
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    let again = again.json();
    assert_eq!(again.as_array().unwrap().len(), 2);
    assert_eq!(
        again[0]["id"], first[0]["id"],
        "the present membership is kept"
    );
    assert_eq!(t.emails().await, ["ann@acme.test", "bob@acme.test"]);
}

#[tokio::test]
async fn put_keeps_those_who_stay_adds_and_removes_the_rest() {
    let t = Team::new().await;
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", "bob@acme.test"]))
        .send()
        .await;
    let before = t.members().await;
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["bob@acme.test", "cy@acme.test", "CY@acme.test"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let after = res.json();
    assert_eq!(
        after.as_array().unwrap().len(),
        2,
        "the response is the group after the change; duplicates collapsed"
    );
    assert_eq!(after[0]["email"], "bob@acme.test");
    assert_eq!(
        (&after[0]["id"], &after[0]["created_at"]),
        (&before[1]["id"], &before[1]["created_at"]),
        "bob stays as he was"
    );
    assert_eq!(after[1]["email"], "cy@acme.test");
    assert_eq!(t.members().await, after.as_array().unwrap().clone());
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!([]))
        .send()
        .await;
    assert_eq!(
        (res.status, res.json()),
        (StatusCode::OK, json!([])),
        "[] empties the group"
    );
}

#[tokio::test]
async fn one_bad_email_among_a_thousand_changes_nothing_and_is_named() {
    let t = Team::new().await;
    t.verify("acme.test").await;
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await;
    let before = t.members().await;
    let mut payload: Vec<Value> = (0..1000)
        .map(|i| json!({"email": format!("p{i}@acme.test")}))
        .collect();
    payload.insert(500, json!({"email": "mallory@elsewhere.test"}));
    for method in ["PUT", "POST"] {
        let req = if method == "PUT" {
            t.app.put(&t.group)
        } else {
            t.app.post(&t.group)
        };
        let res = req
            .key(&t.admin)
            .json(&Value::Array(payload.clone()))
            .send()
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{method}");
        let errors = res.json();
        let errors = errors.as_array().expect("one entry per item");
        assert_eq!(errors.len(), 1001);
        assert!(
            errors[500]["email"][0]
                .as_str()
                .unwrap()
                .contains("mallory@elsewhere.test")
        );
        assert_eq!(
            errors.iter().filter(|e| e != &&json!({})).count(),
            1,
            "only the bad one is named"
        );
        assert_eq!(t.members().await, before, "{method} changed nothing");
    }
}

#[tokio::test]
async fn the_email_rule_and_malformed_items() {
    let t = Team::new().await;
    let (_, outsider_key) = t.app.team("Other").await;
    let outsider = t.app.get("/api/me/").key(&outsider_key).send().await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!([
            "ann@acme.test",
            {"email": "stranger@acme.test"},
            {"user_id": outsider},
            {"user_id": "not-a-uuid"},
        ]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    let errors = res.json();
    assert_eq!(errors[0], json!({}));
    assert_eq!(
        errors[3],
        json!({"user_id": ["Must be a valid UUID."]}),
        "malformed items are named first"
    );
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", {"email": "stranger@acme.test"}, {"user_id": outsider}]))
        .send()
        .await;
    let errors = res.json();
    assert_eq!(errors[0], json!({}));
    assert!(
        errors[1]["email"][0]
            .as_str()
            .unwrap()
            .contains("domain is not verified")
    );
    assert_eq!(
        errors[2],
        json!({"user_id": ["No member of this organization has this id."]})
    );
    for bad in [
        json!([1]),
        json!([{"name": "x"}]),
        json!([{"email": null}]),
        json!(["not an email"]),
        json!([{"email": "a@b"}]),
        json!(42),
    ] {
        let res = t.app.post(&t.group).key(&t.admin).json(&bad).send().await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(t.members().await, Vec::<Value>::new());
}

#[tokio::test]
async fn verified_domain_emails_are_held_until_their_owner_joins() {
    let t = Team::new().await;
    t.verify("Acme.TEST").await;
    let res = t
        .app
        .post(&t.group)
        .key(&t.admin)
        .json(&json!(["New.Hire@acme.test"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let held = &res.json()[0];
    assert_eq!(
        (held["user"].is_null(), held["email"].as_str()),
        (true, Some("New.Hire@acme.test"))
    );
    // The person joins the team (however: here the path `roster member add` takes).
    let now = SystemClock.now();
    let user = t
        .app
        .store
        .ensure_user(
            NewUser {
                email: "new.hire@ACME.test".into(),
                name: None,
                kind: AccountKind::Person,
            },
            now,
        )
        .await
        .unwrap();
    t.app
        .store
        .add_member(t.org, user.id, None, now, &Origin::cli())
        .await
        .unwrap();
    let m = &t.members().await[0];
    assert_eq!(m["id"], held["id"], "the held membership itself attaches");
    assert_eq!(m["user"]["id"], user.id.to_string());
    let res = t
        .app
        .get(&format!(
            "/api/organizations/{}/memberships/?user__id={}",
            t.org, user.id
        ))
        .key(&t.admin)
        .send()
        .await;
    assert_eq!(res.json()[0]["groups"][0]["name"], "Agents");
}

#[tokio::test]
async fn require_campaign_skips_emails_outside_campaigns() {
    let t = Team::new().await;
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test"]))
        .send()
        .await;
    // No campaign has members yet, so every email is skipped, even one that breaks the rule.
    let res = t
        .app
        .put(&format!("{}?require_campaign=true", t.group))
        .key(&t.admin)
        .json(&json!(["bob@acme.test", "stranger@nowhere.test"]))
        .send()
        .await;
    assert_eq!((res.status, res.json()), (StatusCode::OK, json!([])));
    let res = t
        .app
        .put(&format!("{}?require_campaign=false", t.group))
        .key(&t.admin)
        .json(&json!(["bob@acme.test"]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(t.emails().await, ["bob@acme.test"]);
    let res = t
        .app
        .put(&format!("{}?require_campaign=maybe", t.group))
        .key(&t.admin)
        .json(&json!([]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(t.emails().await, ["bob@acme.test"]);
}

#[tokio::test]
async fn removing_memberships_groups_and_team_members() {
    let t = Team::new().await;
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", "bob@acme.test", "cy@acme.test"]))
        .send()
        .await;
    let members = t.members().await;
    let ann = members[0]["id"].as_str().unwrap();
    assert_eq!(
        t.app
            .delete(&format!("{}{ann}/", t.group))
            .key(&t.admin)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.app
            .delete(&format!("{}{ann}/", t.group))
            .key(&t.admin)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.app
            .delete(&format!("{}not-a-uuid/", t.group))
            .key(&t.admin)
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Removing bob from the team removes him from its groups.
    let bob = t
        .app
        .get(&format!("/api/organizations/{}/memberships/?q=bob", t.org))
        .key(&t.admin)
        .send()
        .await
        .json()[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        t.app
            .delete(&format!("/api/memberships/{bob}/"))
            .key(&t.admin)
            .send()
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(t.emails().await, ["cy@acme.test"]);
    let group = t.group.trim_end_matches("memberships/").to_owned();
    assert_eq!(
        t.app.get(&group).key(&t.admin).send().await.json()["num_members"],
        1
    );
    assert_eq!(
        t.app.delete(&group).key(&t.admin).send().await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.app.get(&t.group).key(&t.admin).send().await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_groups_filter_of_the_memberships_list() {
    let t = Team::new().await;
    let g2 = t
        .app
        .post(&format!("/api/organizations/{}/groups/", t.org))
        .key(&t.admin)
        .json(&json!({"name": "Leads"}))
        .send()
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let g1 = t.group.split('/').nth(3).unwrap().to_owned();
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(["ann@acme.test", "bob@acme.test"]))
        .send()
        .await;
    t.app
        .put(&format!("/api/groups/{g2}/memberships/"))
        .key(&t.admin)
        .json(&json!(["bob@acme.test", "cy@acme.test"]))
        .send()
        .await;
    let list = |q: String| {
        let t = &t;
        async move {
            let res = t
                .app
                .get(&format!("/api/organizations/{}/memberships/?{q}", t.org))
                .key(&t.admin)
                .send()
                .await;
            res.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["user"]["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(format!("groups={g1}")).await,
        ["ann@acme.test", "bob@acme.test"]
    );
    assert_eq!(
        list(format!("groups={g1},{g2}")).await,
        ["ann@acme.test", "bob@acme.test", "cy@acme.test"]
    );
    assert_eq!(list(format!("groups={g2}&q=bob")).await, ["bob@acme.test"]);
    let bob = t
        .app
        .get(&format!("/api/organizations/{}/memberships/?q=bob", t.org))
        .key(&t.admin)
        .send()
        .await
        .json();
    assert_eq!(
        bob[0]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Agents", "Leads"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_leave_a_serializable_state() {
    let t = Arc::new(Team::new().await);
    t.verify("acme.test").await;
    // Eight PUTs of distinct sets, four POSTs of other sets, four DELETEs of the initial members.
    let puts: Vec<BTreeSet<String>> = (0..8)
        .map(|i| {
            (0..40)
                .map(|j| format!("put{i}-{j:02}@acme.test"))
                .collect()
        })
        .collect();
    let posts: Vec<BTreeSet<String>> = (0..4)
        .map(|i| {
            (0..10)
                .map(|j| format!("post{i}-{j:02}@acme.test"))
                .collect()
        })
        .collect();
    t.app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!(
            (0..4)
                .map(|i| format!("initial{i}@acme.test"))
                .collect::<Vec<_>>()
        ))
        .send()
        .await;
    let initial: Vec<String> = t
        .members()
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (i, set) in puts.iter().enumerate() {
            let (t1, set) = (t.clone(), set.clone());
            tasks.push(tokio::spawn(async move {
                t1.app
                    .put(&t1.group)
                    .key(&t1.admin)
                    .json(&json!(set))
                    .send()
                    .await
                    .status
            }));
            if round == 0 && i < 4 {
                let t2 = t.clone();
                let set = posts[i].clone();
                tasks.push(tokio::spawn(async move {
                    t2.app
                        .post(&t2.group)
                        .key(&t2.admin)
                        .json(&json!(set))
                        .send()
                        .await
                        .status
                }));
                let t3 = t.clone();
                let mid = initial[i].clone();
                tasks.push(tokio::spawn(async move {
                    t3.app
                        .delete(&format!("{}{mid}/", t3.group))
                        .key(&t3.admin)
                        .send()
                        .await
                        .status
                }));
            }
        }
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(
            [
                StatusCode::OK,
                StatusCode::CREATED,
                StatusCode::NO_CONTENT,
                StatusCode::NOT_FOUND
            ]
            .contains(&status),
            "{status}"
        );
    }
    let members = t.members().await;
    let emails: Vec<String> = members
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    let ids: HashSet<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let distinct: BTreeSet<String> = emails.iter().cloned().collect();
    assert_eq!(
        (distinct.len(), ids.len()),
        (emails.len(), emails.len()),
        "no duplicate membership"
    );
    // Serializable: exactly one PUT's whole set, plus whole POST sets that came after it.
    let last_put: Vec<_> = puts.iter().filter(|set| set.is_subset(&distinct)).collect();
    assert_eq!(
        last_put.len(),
        1,
        "the state holds exactly one PUT's set: {emails:?}"
    );
    let mut rest: BTreeSet<String> = distinct.difference(last_put[0]).cloned().collect();
    for set in &posts {
        if set.is_subset(&rest) {
            rest = rest.difference(set).cloned().collect();
        } else {
            assert!(set.is_disjoint(&rest), "a POST applied in part");
        }
    }
    assert!(rest.is_empty(), "members from no whole request: {rest:?}");
    let count = t.app.get(&t.group).key(&t.admin).v2().send().await;
    assert_eq!(
        count.header("x-total-count"),
        Some(emails.len().to_string().as_str())
    );
}

#[tokio::test]
async fn a_null_user_id_falls_back_to_the_email() {
    let t = Team::new().await;
    let res = t
        .app
        .put(&t.group)
        .key(&t.admin)
        .json(&json!([{"email": "cy@acme.test", "user_id": null}]))
        .send()
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(t.emails().await, ["cy@acme.test"]);
}
