//! The storage conformance suite: every behaviour the server relies on, written once against
//! the [`Store`] trait and run by each backend's tests on a fresh, empty store per check.
//!
//! A backend's tests run it with [`conformance_tests!`]: one test per check.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed expectation is a failed check

use crate::keys;
use crate::store::*;
use crate::{GroupMembership, Origin, Role, Store, StoreError, StoreResult, Timestamp, email};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

pub mod bulk;
pub mod idempotency;
pub mod lists;
pub mod people;
pub mod provisioning;
pub mod sessions;
pub mod webhooks;

/// One test per check, each on a store of its own from `$open` (an `async fn() ->
/// Option<Arc<dyn Store>>`; `None` skips, for a backend whose server is not configured), in a
/// module of the tests named `$module`, so that one failure does not hide the others:
///
/// ```ignore
/// roster_core::conformance_tests!(sqlite, open);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident, $open:ident) => {
        mod $module {
            use super::$open;
            $crate::conformance_tests!(@each $open;
            users_and_keys = users_and_keys,
            keys_are_rotated = keys_are_rotated,
            bootstrap_makes_one_operator = bootstrap_makes_one_operator,
            activity_is_recorded = activity_is_recorded,
            organizations = organizations,
            membership_order_filters_and_windows = membership_order_filters_and_windows,
            member_lists_show_current_group_names = member_lists_show_current_group_names,
            roles_and_the_last_admin = roles_and_the_last_admin,
            group_members_add_and_replace = group_members_add_and_replace,
            held_memberships_attach_on_join = held_memberships_attach_on_join,
            large_group_replaces = large_group_replaces,
            large_writes_move_the_team_version = bulk::large_writes_move_the_team_version,
            an_import_that_fails_midway_keeps_nothing = bulk::an_import_that_fails_midway_keeps_nothing,
            require_campaign = require_campaign,
            campaign_members_keep_data_exactly = campaign_members_keep_data_exactly,
            group_lists_name_each_members_campaigns = lists::group_lists_name_each_members_campaigns,
            accounts_are_revoked_with_their_user = accounts_are_revoked_with_their_user,
            accounts_stay_in_their_team = people::accounts_stay_in_their_team,
            invitations_are_accepted_once = invitations_are_accepted_once,
            import_is_all_or_nothing = import_is_all_or_nothing,
            concurrent_replaces_serialize = concurrent_replaces_serialize,
            provisioned_users = provisioning::users_are_provisioned,
            provisioned_users_in_batches = provisioning::users_are_provisioned_in_batches,
            provisioned_group_members_change_by_id = provisioning::group_members_change_by_id,
            webhook_claims = webhooks::claims_are_leases,
            console_sessions = sessions::sessions_end_at_their_limits,
            idempotency_budget = idempotency::kept_answers_stay_within_the_budget,
            );
        }
    };
    (@each $open:ident; $($name:ident = $($check:ident)::+),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $open().await {
                    $crate::conformance::$($check)::+(store).await;
                }
            }
        )+
    };
}

/// Two stores on one database (two processes on a SQLite file, two nodes on PostgreSQL):
/// each store's count of changes moves as soon as one of its own writes returns, and within
/// a couple of seconds of a write made through the other (see [`crate::changes`]).
pub async fn changes_are_seen(here: Arc<dyn Store>, elsewhere: Arc<dyn Store>) {
    let changes = here.changes();
    let watched = || async {
        for _ in 0..400 {
            if let Some(count) = changes.current() {
                return count;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the store never started watching for changes");
    };
    let before = watched().await;
    user(&here, "here@changes.test").await;
    assert_ne!(
        changes.current(),
        Some(before),
        "a write here moves the count at once"
    );
    let before = watched().await;
    let key = keys::issue();
    let someone = user(&elsewhere, "elsewhere@changes.test").await;
    elsewhere.add_key(someone, &key.hash, now()).await.unwrap();
    let seen = |count: fn(&crate::changes::Changes) -> Option<u64>, before: u64| {
        let changes = changes.clone();
        async move {
            for _ in 0..400 {
                if count(&changes).is_some_and(|c| c != before) {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            false
        }
    };
    assert!(
        seen(crate::changes::Changes::current, before).await,
        "a write made through another store was not seen within 2 s"
    );

    // Creates only add: the count of access changes stays, here and when seen from elsewhere
    // (once the echoes of the set-up writes have settled).
    let org = team(&here).await;
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(300));
    settle().await;
    let (data, access) = (changes.current(), changes.current_access());
    let joiner = provisioning::write("joiner", "joiner@changes.test");
    here.provision_users(org, &[joiner], now(), &[Origin::cli()])
        .await
        .unwrap()[0]
        .as_ref()
        .unwrap();
    assert_ne!(
        changes.current(),
        data,
        "a create moves the count of data changes"
    );
    settle().await;
    assert_eq!(
        changes.current_access(),
        access,
        "a create is not an access change"
    );

    // Revoking a key elsewhere is an access change, and is seen here.
    let access = changes.current_access().expect("watched");
    elsewhere
        .replace_key(someone, Some(&key.hash), &keys::issue().hash, now())
        .await
        .unwrap();
    assert!(
        seen(crate::changes::Changes::current_access, access).await,
        "a key revoked through another store was not seen within 2 s"
    );
}

fn now() -> Timestamp {
    Timestamp::from_micros(1_795_800_000_000_000)
}

fn person(address: &str) -> NewUser {
    NewUser {
        email: address.to_owned(),
        name: Some(format!("Name of {address}")),
        kind: AccountKind::Person,
    }
}

async fn user(store: &Arc<dyn Store>, address: &str) -> Uuid {
    store.ensure_user(person(address), now()).await.unwrap().id
}

/// A new team's fields: a name and an optional scope, the default role left to the store.
fn new_team(name: &str, scope: Option<&str>) -> NewOrganization {
    NewOrganization {
        name: name.into(),
        scope: scope.map(Into::into),
        default_role: None,
    }
}

/// A team "Acme" with admin@acme.test, and members ann, bob, cy @acme.test.
async fn team(store: &Arc<dyn Store>) -> Uuid {
    let admin = user(store, "admin@acme.test").await;
    let org = store
        .create_organization(new_team("Acme", None), admin, now(), &Origin::cli())
        .await
        .unwrap();
    for who in ["ann", "bob", "cy"] {
        let id = user(store, &format!("{who}@acme.test")).await;
        store
            .add_member(org.id, id, Some(Role::Member), now(), &Origin::cli())
            .await
            .unwrap();
    }
    org.id
}

/// A second team, "Other", with `admin` its admin: what a check's own team must not see.
async fn other_team(store: &Arc<dyn Store>, admin: Uuid) -> Uuid {
    store
        .create_organization(new_team("Other", None), admin, now(), &Origin::cli())
        .await
        .unwrap()
        .id
}

/// [`team`] with acme.test verified (its emails may be held) and an empty group `name`.
async fn team_with_group(store: &Arc<dyn Store>, name: &str) -> (Uuid, Uuid) {
    let org = team(store).await;
    store
        .add_email_domain(org, "acme.test", now(), &Origin::cli())
        .await
        .unwrap();
    let group = store
        .create_group(org, name, now(), &Origin::cli())
        .await
        .unwrap()
        .id;
    (org, group)
}

/// Makes `campaign` hold exactly `emails`.
async fn fill_campaign(store: &Arc<dyn Store>, campaign: Uuid, emails: &[String]) {
    let members: Vec<NewCampaignMember> = emails
        .iter()
        .map(|e| NewCampaignMember {
            email: email_ref(e),
            data: "{}",
        })
        .collect();
    store
        .change_campaign_members(
            campaign,
            &members,
            MembersChange::Replace,
            now(),
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
}

async fn new_campaign(store: &Arc<dyn Store>, org: Uuid, name: &str) -> Uuid {
    store
        .create_campaign(org, name, now(), &Origin::cli())
        .await
        .unwrap()
        .id
}

/// Changes `group`'s members from the command line, without a version to expect.
async fn group_change(
    store: &Arc<dyn Store>,
    group: Uuid,
    items: Vec<MemberRef>,
    how: MembersChange,
) -> StoreResult<Vec<GroupMembership>> {
    store
        .change_group_members(group, items, how, false, now(), &Origin::cli(), None)
        .await
}

fn by_email(address: &str) -> MemberRef {
    MemberRef::Email(email_ref(address))
}

fn email_ref(address: &str) -> EmailRef {
    let domain = address.rsplit_once('@').unwrap().1.to_lowercase();
    EmailRef::new(address, email::normalize(address), domain.into())
}

async fn group_emails(store: &Arc<dyn Store>, group: Uuid) -> Vec<String> {
    let window = Window::Page {
        offset: 0,
        limit: 1000,
    };
    store
        .list_group_memberships(group, window)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.email)
        .collect()
}

/// A rotation swaps keys at once: the old one (or all) stops, the new one works; a rotation
/// naming a key the user does not have changes nothing.
pub async fn keys_are_rotated(store: Arc<dyn Store>) {
    let ann = user(&store, "ann@rotate.test").await;
    let bob = user(&store, "bob@rotate.test").await;
    let [k1, k2, k3, k4, k5] = [(); 5].map(|_| keys::issue());
    store.add_key(ann, &k1.hash, now()).await.unwrap();
    store.add_key(ann, &k2.hash, now()).await.unwrap();
    let works = |key: &keys::IssuedKey| {
        let (store, hash) = (store.clone(), key.hash.clone());
        async move {
            store
                .authenticate(&hash, now())
                .await
                .unwrap()
                .map(|p| p.user.id)
        }
    };
    store
        .replace_key(ann, Some(&k1.hash), &k3.hash, now())
        .await
        .unwrap();
    assert_eq!(works(&k1).await, None);
    assert_eq!(works(&k2).await, Some(ann));
    assert_eq!(works(&k3).await, Some(ann));
    store.replace_key(ann, None, &k4.hash, now()).await.unwrap();
    assert_eq!((works(&k2).await, works(&k3).await), (None, None));
    assert_eq!(works(&k4).await, Some(ann));
    for (who, old) in [(ann, &k1), (bob, &k4)] {
        let refused = store
            .replace_key(who, Some(&old.hash), &k5.hash, now())
            .await;
        assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    }
    assert_eq!(works(&k5).await, None, "a refused rotation stores nothing");
    assert_eq!(works(&k4).await, Some(ann));
}

pub async fn users_and_keys(store: Arc<dyn Store>) {
    let first = store
        .ensure_user(person("Ann@Example.com"), now())
        .await
        .unwrap();
    assert_eq!(
        first.date_joined, None,
        "known only by email until a key is issued"
    );
    let again = store
        .ensure_user(
            NewUser {
                email: "ann@EXAMPLE.com".into(),
                name: None,
                kind: AccountKind::Person,
            },
            now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.id, again.email.as_str(), again.name.as_str()),
        (first.id, "Ann@Example.com", "Name of Ann@Example.com")
    );
    let key = keys::issue();
    store.add_key(first.id, &key.hash, now()).await.unwrap();
    let principal = store
        .authenticate(&key.hash, now())
        .await
        .unwrap()
        .expect("a known key");
    assert_eq!(
        (principal.user.id, principal.is_operator),
        (first.id, false)
    );
    assert_eq!(principal.user.date_joined, Some(now()));
    assert!(
        store
            .authenticate(&keys::issue().hash, now())
            .await
            .unwrap()
            .is_none()
    );
    store.set_operator(first.id, true).await.unwrap();
    assert!(
        store
            .authenticate(&key.hash, now())
            .await
            .unwrap()
            .unwrap()
            .is_operator
    );
    assert!(matches!(
        store.set_operator(Uuid::new_v4(), true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .add_key(Uuid::new_v4(), &keys::issue().hash, now())
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn activity_is_recorded(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let ann = user(&store, "ann@acme.test").await;
    let key = keys::issue();
    store.add_key(ann, &key.hash, now()).await.unwrap();
    let version = store.team_version(org).await.unwrap();
    let later = Timestamp::from_micros(now().as_micros() + 120_000_000);
    store.authenticate(&key.hash, later).await.unwrap().unwrap();
    // Recorded in the background: it lands shortly after.
    let only_ann = MembershipFilter {
        user_id: Some(ann),
        ..Default::default()
    };
    for _ in 0..100 {
        let m = store
            .list_memberships(
                org,
                &only_ann,
                Window::Page {
                    offset: 0,
                    limit: 1,
                },
            )
            .await
            .unwrap();
        if m[0].last_active_at == Some(later) {
            // Activity alone leaves the team's version (kept pages expire instead); what else
            // the lists show of a person moves it.
            assert_eq!(store.team_version(org).await.unwrap(), version);
            let renamed = NewUser {
                name: Some("Ann Other".into()),
                ..person("ann@acme.test")
            };
            store.ensure_user(renamed, now()).await.unwrap();
            assert!(store.team_version(org).await.unwrap() > version);
            return;
        }
        // A blocking pause keeps the suite free of any one async runtime; the backends' test
        // runtimes have other workers for the background write.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("last_active_at was not recorded");
}

pub async fn bootstrap_makes_one_operator(store: Arc<dyn Store>) {
    let key = keys::issue();
    assert!(
        store
            .bootstrap_operator("operator@roster.localhost", &key.hash, now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .bootstrap_operator("operator@roster.localhost", &keys::issue().hash, now())
            .await
            .unwrap()
    );
    assert!(
        store
            .authenticate(&key.hash, now())
            .await
            .unwrap()
            .unwrap()
            .is_operator
    );
}

pub async fn organizations(store: Arc<dyn Store>) {
    let ann = user(&store, "ann@acme.test").await;
    let bob = user(&store, "bob@acme.test").await;
    let zeta = store
        .create_organization(new_team("Zeta", Some("@zeta")), ann, now(), &Origin::cli())
        .await
        .unwrap();
    let alpha = store
        .create_organization(new_team("alpha", None), ann, now(), &Origin::cli())
        .await
        .unwrap();
    store
        .create_organization(new_team("Mid", None), bob, now(), &Origin::cli())
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_organization(new_team("Other", Some("@zeta")), bob, now(), &Origin::cli())
            .await,
        Err(StoreError::Conflict { field: "scope" })
    ));
    assert_eq!(zeta.default_role, Role::Restricted);
    assert_eq!(
        store.role_in(zeta.id, ann).await.unwrap(),
        Some(Role::Admin)
    );
    let page = Window::Page {
        offset: 0,
        limit: 10,
    };
    let names =
        |orgs: Vec<crate::Organization>| orgs.into_iter().map(|o| o.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .list_organizations(Visibility::MemberOf(ann), page.clone())
                .await
                .unwrap()
        ),
        ["Zeta", "alpha"]
    );
    assert_eq!(
        names(
            store
                .list_organizations(Visibility::All, page)
                .await
                .unwrap()
        ),
        ["Mid", "Zeta", "alpha"],
        "byte order"
    );
    assert_eq!(store.count_organizations(Visibility::All).await.unwrap(), 3);
    let after = Window::After {
        cursor: Some(NameCursor {
            name: "Mid".into(),
            id: Uuid::nil(),
        }),
        limit: 10,
    };
    assert_eq!(
        names(
            store
                .list_organizations(Visibility::All, after)
                .await
                .unwrap()
        ),
        ["Mid", "Zeta", "alpha"]
    );
    let patch = OrganizationPatch {
        name: None,
        scope: Some(None),
        default_role: Some(Role::Member),
    };
    let updated = store
        .update_organization(zeta.id, patch, &Origin::cli(), None)
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.scope, updated.default_role),
        ("Zeta", None, Role::Member)
    );
    store
        .delete_organization(alpha.id, &Origin::cli(), None)
        .await
        .unwrap();
    assert!(matches!(
        store.get_organization(alpha.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.role_in(alpha.id, ann).await.unwrap(), None);
    assert!(matches!(
        store
            .delete_organization(alpha.id, &Origin::cli(), None)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn membership_order_filters_and_windows(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let robot = store
        .ensure_user(
            NewUser {
                email: "robot@acme.test".into(),
                name: Some("Robot".into()),
                kind: AccountKind::ServiceAccount,
            },
            now(),
        )
        .await
        .unwrap();
    store
        .add_member(org, robot.id, None, now(), &Origin::cli())
        .await
        .unwrap();
    let all = MembershipFilter::default();
    let list = |filter: MembershipFilter, window: Window<MembershipCursor>| {
        let store = store.clone();
        async move {
            store
                .list_memberships(org, &filter, window)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.user.email)
                .collect::<Vec<_>>()
        }
    };
    let everyone = list(
        all.clone(),
        Window::Page {
            offset: 0,
            limit: 100,
        },
    )
    .await;
    assert_eq!(
        everyone,
        [
            "admin@acme.test",
            "ann@acme.test",
            "bob@acme.test",
            "cy@acme.test",
            "robot@acme.test"
        ]
    );
    assert_eq!(
        list(
            all.clone(),
            Window::Page {
                offset: 1,
                limit: 2
            }
        )
        .await,
        ["ann@acme.test", "bob@acme.test"]
    );
    let first = store
        .list_memberships(
            org,
            &all,
            Window::Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    let after = Window::After {
        cursor: Some(first[0].cursor()),
        limit: 2,
    };
    assert_eq!(
        list(all.clone(), after).await,
        ["bob@acme.test", "cy@acme.test"]
    );
    assert_eq!(store.count_memberships(org, &all).await.unwrap(), 5);
    let f = MembershipFilter {
        exclude_service_accounts: true,
        ..Default::default()
    };
    assert_eq!(store.count_memberships(org, &f).await.unwrap(), 4);
    assert!(robot.service_account);
    let f = MembershipFilter {
        roles: Some(vec![Role::Admin]),
        ..Default::default()
    };
    assert_eq!(
        list(
            f,
            Window::Page {
                offset: 0,
                limit: 9
            }
        )
        .await,
        ["admin@acme.test"]
    );
    let f = MembershipFilter {
        roles: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(store.count_memberships(org, &f).await.unwrap(), 0);
    let f = MembershipFilter {
        q: Some("name of b".into()),
        ..Default::default()
    };
    assert_eq!(
        list(
            f,
            Window::Page {
                offset: 0,
                limit: 9
            }
        )
        .await,
        ["bob@acme.test"]
    );
    let f = MembershipFilter {
        q: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(
        store.count_memberships(org, &f).await.unwrap(),
        0,
        "% is literal"
    );
    let f = MembershipFilter {
        groups: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(store.count_memberships(org, &f).await.unwrap(), 0);
}

/// A member's groups, in a list and alone, are this team's only, ordered by name, and follow
/// every rename, removal and new group at once (backends may keep names between reads).
pub async fn member_lists_show_current_group_names(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let ann = user(&store, "ann@acme.test").await;
    let other = other_team(&store, ann).await;
    let elsewhere = store
        .create_group(other, "Elsewhere", now(), &Origin::cli())
        .await
        .unwrap();
    let beta = store
        .create_group(org, "Beta", now(), &Origin::cli())
        .await
        .unwrap();
    let alpha = store
        .create_group(org, "Alpha", now(), &Origin::cli())
        .await
        .unwrap();
    let add_ann = |group: Uuid| {
        let store = store.clone();
        async move {
            let ann = [by_email("ann@acme.test")];
            let cli = Origin::cli();
            let change = store.change_group_members(
                group,
                ann.to_vec(),
                MembersChange::Add,
                false,
                now(),
                &cli,
                None,
            );
            change.await.unwrap();
        }
    };
    for group in [elsewhere.id, beta.id, alpha.id] {
        add_ann(group).await;
    }
    let ann_in = |store: Arc<dyn Store>| async move {
        let f = MembershipFilter {
            user_id: Some(ann),
            ..Default::default()
        };
        let window = Window::Page {
            offset: 0,
            limit: 10,
        };
        let listed = store.list_memberships(org, &f, window).await.unwrap();
        assert_eq!(listed.len(), 1);
        let alone = store.get_membership(listed[0].id).await.unwrap();
        assert_eq!(
            alone.groups, listed[0].groups,
            "a membership alone and in the list"
        );
        let names: Vec<String> = listed[0].groups.iter().map(|g| g.name.clone()).collect();
        names
    };
    assert_eq!(ann_in(store.clone()).await, ["Alpha", "Beta"]);
    store
        .rename_group(beta.id, "Aardvark", &Origin::cli(), None)
        .await
        .unwrap();
    assert_eq!(ann_in(store.clone()).await, ["Aardvark", "Alpha"]);
    store
        .delete_group(alpha.id, &Origin::cli(), None)
        .await
        .unwrap();
    assert_eq!(ann_in(store.clone()).await, ["Aardvark"]);
    let zed = store
        .create_group(org, "Zed", now(), &Origin::cli())
        .await
        .unwrap();
    add_ann(zed.id).await;
    assert_eq!(ann_in(store.clone()).await, ["Aardvark", "Zed"]);
    store
        .rename_group(elsewhere.id, "Zzz elsewhere", &Origin::cli(), None)
        .await
        .unwrap();
    assert_eq!(ann_in(store.clone()).await, ["Aardvark", "Zed"]);
}

pub async fn roles_and_the_last_admin(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let everyone = store
        .list_memberships(
            org,
            &MembershipFilter::default(),
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let (admin, ann) = (everyone[0].id, everyone[1].id);
    assert!(matches!(
        store
            .set_role(admin, Role::Member, &Origin::cli(), None)
            .await,
        Err(StoreError::Invalid {
            field: Some("role"),
            ..
        })
    ));
    assert!(matches!(
        store.remove_membership(admin, &Origin::cli(), None).await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(
        store
            .set_role(ann, Role::Admin, &Origin::cli(), None)
            .await
            .unwrap()
            .role,
        Role::Admin
    );
    assert_eq!(
        store
            .set_role(admin, Role::Manager, &Origin::cli(), None)
            .await
            .unwrap()
            .role,
        Role::Manager
    );
    store
        .remove_membership(everyone[2].id, &Origin::cli(), None)
        .await
        .unwrap();
    assert!(matches!(
        store.get_membership(everyone[2].id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_role(i64::MAX, Role::Member, &Origin::cli(), None)
            .await,
        Err(StoreError::NotFound)
    ));
    // A change read at a past data version of the team is refused, and changes nothing.
    let now = store.team_version(org).await.unwrap();
    assert_eq!(
        store.team_versions(&[org, Uuid::new_v4()]).await.unwrap(),
        [(org, now)]
    );
    let stale = Some(now - 1);
    assert!(matches!(
        store
            .set_role(ann, Role::Member, &Origin::cli(), stale)
            .await,
        Err(StoreError::Conflict { field: "version" })
    ));
    assert!(matches!(
        store.remove_membership(ann, &Origin::cli(), stale).await,
        Err(StoreError::Conflict { field: "version" })
    ));
    let patch = OrganizationPatch {
        name: Some("Renamed".into()),
        ..OrganizationPatch::default()
    };
    assert!(matches!(
        store
            .update_organization(org, patch.clone(), &Origin::cli(), stale)
            .await,
        Err(StoreError::Conflict { field: "version" })
    ));
    assert!(matches!(
        store.delete_organization(org, &Origin::cli(), stale).await,
        Err(StoreError::Conflict { field: "version" })
    ));
    assert_eq!(store.team_version(org).await.unwrap(), now);
    assert_eq!(store.get_membership(ann).await.unwrap().role, Role::Admin);
    let promoted = store
        .set_role(admin, Role::Admin, &Origin::cli(), Some(now))
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert!(store.team_version(org).await.unwrap() > now);
}

pub async fn group_members_add_and_replace(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let group = store
        .create_group(org, "Agents", now(), &Origin::cli())
        .await
        .unwrap()
        .id;
    assert!(matches!(
        store
            .create_group(org, "Agents", now(), &Origin::cli())
            .await,
        Err(StoreError::Conflict { field: "name" })
    ));
    let added = store
        .change_group_members(
            group,
            vec![by_email("ann@acme.test"), by_email("ANN@acme.test")],
            MembersChange::Add,
            false,
            now(),
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1, "duplicates collapse");
    let ann_id = added[0].id;
    group_change(
        &store,
        group,
        vec![by_email("bob@acme.test"), by_email("ann@acme.test")],
        MembersChange::Replace,
    )
    .await
    .unwrap();
    let after = store
        .list_group_memberships(
            group,
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["ann@acme.test", "bob@acme.test"]
    );
    assert_eq!(after[0].id, ann_id, "who stays keeps the membership");
    let bad = [
        by_email("cy@acme.test"),
        by_email("x@elsewhere.test"),
        MemberRef::UserId(Uuid::new_v4()),
    ];
    match store
        .change_group_members(
            group,
            bad.to_vec(),
            MembersChange::Replace,
            false,
            now(),
            &Origin::cli(),
            None,
        )
        .await
    {
        Err(StoreError::Rejected(r)) => assert_eq!(
            r.iter().map(|r| (r.position, r.field)).collect::<Vec<_>>(),
            [(1, "email"), (2, "user_id")]
        ),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        group_emails(&store, group).await,
        ["ann@acme.test", "bob@acme.test"],
        "a rejected change changes nothing"
    );
    assert_eq!(store.get_group(group).await.unwrap().num_members, 2);
    group_change(&store, group, vec![], MembersChange::Replace)
        .await
        .unwrap();
    assert_eq!(store.count_group_memberships(group).await.unwrap(), 0);
}

/// Payloads past a thousand items take another plan on some backends: the same results.
pub async fn large_group_replaces(store: Arc<dyn Store>) {
    let (_, group) = team_with_group(&store, "Floor").await;
    let bob = user(&store, "bob@acme.test").await;
    let held = |i: usize| format!("p{i:04}@acme.test");
    let mut first: Vec<MemberRef> = (0..1500).map(|i| by_email(&held(i))).collect();
    first.push(by_email("ann@acme.test"));
    first.push(by_email("P0007@ACME.test"));
    group_change(&store, group, first.clone(), MembersChange::Replace)
        .await
        .unwrap();
    let window = || Window::Page {
        offset: 0,
        limit: 2000,
    };
    let before = store.list_group_memberships(group, window()).await.unwrap();
    assert_eq!(before.len(), 1501, "the repeated email collapses");
    let ann = before.iter().find(|m| m.email == "ann@acme.test").unwrap();
    assert!(ann.user.is_some(), "a member's email takes their user");
    assert!(before.iter().filter(|m| m.user.is_none()).count() == 1500);
    let mut second: Vec<MemberRef> = (750..2000).map(|i| by_email(&held(i))).collect();
    second.push(MemberRef::UserId(bob));
    group_change(&store, group, second.clone(), MembersChange::Replace)
        .await
        .unwrap();
    let after = store.list_group_memberships(group, window()).await.unwrap();
    assert_eq!(after.len(), 1251);
    let kept = |email: &str| before.iter().find(|m| m.email == email).map(|m| m.id);
    let stayed = after
        .iter()
        .filter(|m| kept(&m.email) == Some(m.id))
        .count();
    assert_eq!(stayed, 750, "those who stay keep their membership");
    assert!(after.iter().all(|m| m.email != "ann@acme.test"));
    let bob_in = after.iter().find(|m| m.email == "bob@acme.test").unwrap();
    assert_eq!(bob_in.user.as_ref().map(|u| u.id), Some(bob));
}

pub async fn held_memberships_attach_on_join(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let group = store
        .create_group(org, "Agents", now(), &Origin::cli())
        .await
        .unwrap()
        .id;
    store
        .add_email_domain(org, "acme.test", now(), &Origin::cli())
        .await
        .unwrap();
    let admin = user(&store, "o@other.test").await;
    let other = other_team(&store, admin).await;
    assert!(matches!(
        store
            .add_email_domain(other, "acme.test", now(), &Origin::cli())
            .await,
        Err(StoreError::Conflict { field: "domain" })
    ));
    let held = store
        .change_group_members(
            group,
            vec![by_email("New@acme.test")],
            MembersChange::Add,
            false,
            now(),
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    assert!(held[0].user.is_none());
    let newcomer = user(&store, "new@ACME.test").await;
    store
        .add_member(org, newcomer, None, now(), &Origin::cli())
        .await
        .unwrap();
    let now_held = store
        .list_group_memberships(
            group,
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (now_held[0].id, now_held[0].user.as_ref().map(|u| u.id)),
        (held[0].id, Some(newcomer))
    );
    assert_eq!(
        store.role_in(org, newcomer).await.unwrap(),
        Some(Role::Restricted),
        "the team's default role"
    );
}

pub async fn require_campaign(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let group = store
        .create_group(org, "Agents", now(), &Origin::cli())
        .await
        .unwrap()
        .id;
    let campaign = new_campaign(&store, org, "Spring").await;
    fill_campaign(&store, campaign, &["ann@acme.test".to_owned()]).await;
    let payload = [
        by_email("ann@acme.test"),
        by_email("bob@acme.test"),
        by_email("x@nowhere.test"),
    ];
    store
        .change_group_members(
            group,
            payload.to_vec(),
            MembersChange::Replace,
            true,
            now(),
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(group_emails(&store, group).await, ["ann@acme.test"]);
    let listed = store
        .list_group_memberships(
            group,
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        listed[0]
            .campaigns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["Spring"]
    );
    store
        .delete_campaign(campaign, &Origin::cli(), None)
        .await
        .unwrap();
    let listed = store
        .list_group_memberships(
            group,
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(listed[0].campaigns.is_empty());
}

pub async fn campaign_members_keep_data_exactly(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let campaign = store
        .create_campaign(org, "Spring", now(), &Origin::cli())
        .await
        .unwrap();
    let data = r#"{"z": 1, "a": 123456789012345678901234567890, "pi": 3.14159265358979323846,  "s": "Köln"}"#;
    let member = |address: &str, data: &'static str| NewCampaignMember {
        email: email_ref(address),
        data,
    };
    let first = store
        .change_campaign_members(
            campaign.id,
            &[
                member("ann@acme.test", data),
                member("gone@acme.test", "{}"),
            ],
            MembersChange::Add,
            now(),
            &Origin::cli(),
            None,
        )
        .await;
    assert!(
        matches!(first, Err(StoreError::Rejected(_))),
        "gone@ is neither member nor of a verified domain"
    );
    let added = store
        .change_campaign_members(
            campaign.id,
            &[member("ann@acme.test", data)],
            MembersChange::Add,
            now(),
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(added[0].data.get(), data, "byte for byte");
    assert_eq!(
        added[0].account.as_ref().map(|u| u.email.as_str()),
        Some("ann@acme.test")
    );
    let later = Timestamp::from_micros(now().as_micros() + 1_000_000);
    store
        .change_campaign_members(
            campaign.id,
            &[member("ann@acme.test", data), member("bob@acme.test", "{}")],
            MembersChange::Replace,
            later,
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    let members = store
        .list_campaign_members(
            campaign.id,
            Window::Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (members[0].id, members[0].updated_at),
        (added[0].id, now()),
        "unchanged data keeps updated_at"
    );
    assert_eq!(store.count_campaign_members(campaign.id).await.unwrap(), 2);
    let renamed = store
        .update_campaign(
            campaign.id,
            Some("Summer"),
            Some(&[member("cy@acme.test", "{\"x\":1}")]),
            later,
            &Origin::cli(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Summer");
    let members = store
        .list_campaign_members(
            campaign.id,
            Window::After {
                cursor: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        members.iter().map(|m| m.email.as_str()).collect::<Vec<_>>(),
        ["cy@acme.test"]
    );
}

pub async fn accounts_are_revoked_with_their_user(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let key = keys::issue();
    let account = store
        .create_account(
            org,
            AccountKind::ServiceAccount,
            "Sync",
            Role::Manager,
            &key.hash,
            Some("ignored"),
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(
        (account.role, account.token),
        (Role::Manager, None),
        "a service account's key is not kept"
    );
    let principal = store.authenticate(&key.hash, now()).await.unwrap().unwrap();
    assert!(principal.user.service_account);
    let m = store
        .list_memberships(
            org,
            &MembershipFilter {
                user_id: Some(account.id),
                ..Default::default()
            },
            Window::Page {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .set_role(m[0].id, Role::Admin, &Origin::cli(), None)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.remove_membership(m[0].id, &Origin::cli(), None).await,
        Err(StoreError::Invalid { .. })
    ));
    let deploy = keys::issue();
    let dk = store
        .create_account(
            org,
            AccountKind::DeploymentKey,
            "Kiosk",
            Role::Restricted,
            &deploy.hash,
            Some(&deploy.secret),
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(dk.token.as_deref(), Some(deploy.secret.as_str()));
    assert_eq!(
        store
            .list_accounts(org, AccountKind::DeploymentKey, first_page())
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .delete_account(org, AccountKind::ServiceAccount, account.id, &Origin::cli())
        .await
        .unwrap();
    assert!(
        store
            .authenticate(&key.hash, now())
            .await
            .unwrap()
            .is_none(),
        "revoked at once"
    );
    assert!(matches!(
        store
            .get_account(org, AccountKind::ServiceAccount, account.id)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        matches!(
            store
                .delete_account(org, AccountKind::ServiceAccount, dk.id, &Origin::cli())
                .await,
            Err(StoreError::NotFound)
        ),
        "kinds do not mix"
    );
    store
        .delete_organization(org, &Origin::cli(), None)
        .await
        .unwrap();
    assert!(
        store
            .authenticate(&deploy.hash, now())
            .await
            .unwrap()
            .is_none(),
        "a team's accounts go with it"
    );
}

pub async fn invitations_are_accepted_once(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let inviter = user(&store, "admin@acme.test").await;
    let token = keys::issue();
    let later = Timestamp::from_micros(now().as_micros() + 3_600_000_000);
    let new = |address: &str, token: &keys::KeyHash| NewInvitation {
        email: address.into(),
        role: Role::Manager,
        inviter,
        by: Role::Admin,
        token: token.clone(),
        mailed: false,
        expires_at: later,
    };
    assert!(matches!(
        store
            .create_invitation(
                org,
                new("ANN@acme.test", &keys::issue().hash),
                now(),
                &Origin::cli()
            )
            .await,
        Err(StoreError::Conflict { field: "email" })
    ));
    let invitation = store
        .create_invitation(
            org,
            new("dee@acme.test", &token.hash),
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(invitation.inviter.map(|u| u.id), Some(inviter));
    assert_eq!(
        store
            .list_invitations(org, first_page())
            .await
            .unwrap()
            .len(),
        1
    );
    let key = keys::issue();
    let accepted = store
        .accept_invitation(&token.hash, Some("Dee"), &key.hash, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(
        (
            accepted.organization.id,
            accepted.role,
            accepted.user.name.as_str()
        ),
        (org, Role::Manager, "Dee")
    );
    assert!(
        store
            .authenticate(&key.hash, now())
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store
            .accept_invitation(
                &token.hash,
                None,
                &keys::issue().hash,
                now(),
                &Origin::cli()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let expired = keys::issue();
    store
        .create_invitation(
            org,
            new("eve@acme.test", &expired.hash),
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let too_late = Timestamp::from_micros(later.as_micros() + 1);
    assert!(matches!(
        store
            .accept_invitation(
                &expired.hash,
                None,
                &keys::issue().hash,
                too_late,
                &Origin::cli()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let pending = store.list_invitations(org, first_page()).await.unwrap();
    store
        .revoke_invitation(org, pending[0].id, Role::Admin, &Origin::cli())
        .await
        .unwrap();
    assert!(
        store
            .list_invitations(org, first_page())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn import_is_all_or_nothing(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let row = |address: &str, role: Option<Role>, groups: &[&str]| ImportRow {
        email: address.into(),
        email_norm: email::normalize(address),
        name: Some("Imported".into()),
        role,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    };
    let rows = [
        row("ann@acme.test", Some(Role::Manager), &["A"]),
        row("new@acme.test", None, &["A", "B"]),
    ];
    let dry = store
        .import_members(org, &mut rows.iter().cloned(), true, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(
        (
            dry.users_created,
            dry.members_added,
            dry.roles_changed,
            dry.groups_created,
            dry.group_memberships_added
        ),
        (1, 1, 1, 2, 3)
    );
    assert_eq!(
        store.count_groups(org).await.unwrap(),
        0,
        "a dry run keeps nothing"
    );
    assert_eq!(
        store
            .import_members(org, &mut rows.iter().cloned(), false, now(), &Origin::cli())
            .await
            .unwrap(),
        dry
    );
    assert_eq!(store.count_groups(org).await.unwrap(), 2);
    let again = store
        .import_members(org, &mut rows.iter().cloned(), false, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(
        (
            again.users_created,
            again.members_added,
            again.group_memberships_added
        ),
        (0, 0, 0)
    );
    let demote = [row("admin@acme.test", Some(Role::Member), &[])];
    assert!(matches!(
        store
            .import_members(
                org,
                &mut demote.iter().cloned(),
                false,
                now(),
                &Origin::cli()
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store
            .import_members(
                Uuid::new_v4(),
                &mut rows.iter().cloned(),
                false,
                now(),
                &Origin::cli()
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn concurrent_replaces_serialize(store: Arc<dyn Store>) {
    let (_, group) = team_with_group(&store, "Agents").await;
    let sets: Vec<Vec<String>> = (0..8)
        .map(|i| (0..50).map(|j| format!("s{i}-{j:02}@acme.test")).collect())
        .collect();
    let writes = sets.iter().map(|set| {
        let store = store.clone();
        let items: Vec<MemberRef> = set.iter().map(|e| by_email(e)).collect();
        async move { group_change(&store, group, items.clone(), MembersChange::Replace).await }
    });
    for outcome in futures_util::future::join_all(writes).await {
        outcome.unwrap();
    }
    let emails: BTreeSet<String> = group_emails(&store, group).await.into_iter().collect();
    assert_eq!(
        store.count_group_memberships(group).await.unwrap() as usize,
        emails.len(),
        "no duplicates"
    );
    assert!(
        sets.iter()
            .any(|set| set.iter().cloned().collect::<BTreeSet<_>>() == emails),
        "the group holds exactly one whole set"
    );
}

/// The first hundred of a list.
fn first_page<C>() -> crate::store::Window<C> {
    crate::store::Window::Page {
        offset: 0,
        limit: 100,
    }
}
