//! Conformance checks of the SCIM provisioning methods: lookups, linking, uniqueness,
//! versions, suspension and member changes by id.

use super::{by_email, group_change, now, team, user};
use crate::Origin;
use crate::provisioning::*;
use crate::store::*;
use crate::{Role, Store};
use std::sync::Arc;
use uuid::Uuid;

pub(super) fn write(user_name: &str, email: &str) -> UserWrite {
    UserWrite {
        user_name: user_name.to_owned(),
        email: email.to_owned(),
        name: Some("Dee Doe".into()),
        external_id: Some("ext-1".into()),
        active: true,
        role: None,
        attributes: r#"{"displayName":"Dee Doe"}"#.into(),
    }
}

async fn find(store: &Arc<dyn Store>, org: Uuid, key: UserKey) -> Vec<ProvisionedUser> {
    store
        .provisioned_users(org, Some(&key), None, 0, 10)
        .await
        .unwrap()
}

pub async fn users_are_provisioned(store: Arc<dyn Store>) {
    let org = team(&store).await;
    // People added otherwise are Users, by their email; the default role applies on create.
    assert_eq!(store.count_provisioned_users(org, None).await.unwrap(), 4);
    let known = user(&store, "dee@acme.test").await;
    // Someone Roster knows is linked only by a team that owns their email's domain.
    let refused = store
        .provision_user(
            org,
            &write("Dee.Doe@Acme.test", "dee@acme.test"),
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { field: "emails" })),
        "{refused:?}"
    );
    store
        .add_email_domain(org, "acme.test", now(), &Origin::cli())
        .await
        .unwrap();
    let dee = store
        .provision_user(
            org,
            &write("Dee.Doe@Acme.test", "dee@acme.test"),
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(dee.id, known, "an existing person is linked");
    assert_eq!(
        (dee.role, dee.active, dee.version),
        (Role::Restricted, true, 1)
    );
    assert_eq!(dee.user_name, "Dee.Doe@Acme.test");
    assert_eq!(
        dee.attributes.as_deref(),
        Some(r#"{"displayName":"Dee Doe"}"#)
    );
    // Lookups, case-insensitive where SCIM says so.
    for key in [
        UserKey::UserName("dee.doe@acme.test".into()),
        UserKey::ExternalId("ext-1".into()),
        UserKey::DisplayName("dee doe".into()),
        UserKey::Email("dee@acme.test".into()),
        UserKey::Id(known),
    ] {
        assert_eq!(find(&store, org, key.clone()).await.len(), 1, "{key:?}");
    }
    assert!(
        find(&store, org, UserKey::ExternalId("EXT-1".into()))
            .await
            .is_empty()
    );
    assert_eq!(
        find(&store, org, UserKey::UserName("ann@acme.test".into()))
            .await
            .len(),
        1
    );
    // userName is unique in the team in any case; so is the person.
    let taken = store
        .provision_user(
            org,
            &write("DEE.doe@acme.test", "other@acme.test"),
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict { field: "userName" })),
        "{taken:?}"
    );
    let again = store
        .provision_user(
            org,
            &write("someone-else", "dee@acme.test"),
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );

    // Replace: with a stale version nothing changes; suspension ends the person's role here.
    let mut change = write("dee@acme.test", "dee@acme.test");
    change.active = false;
    change.role = Some(Role::Manager);
    let stale = store
        .update_provisioned_user(
            org,
            known,
            Some(dee.version + 7),
            &change,
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::Conflict { field: "version" })
    ));
    let updated = store
        .update_provisioned_user(
            org,
            known,
            Some(dee.version),
            &change,
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!((updated.active, updated.role), (false, Role::Manager));
    assert!(updated.version > dee.version && updated.modified > dee.modified);
    assert_eq!(store.role_in(org, known).await.unwrap(), None, "suspended");
    change.active = true;
    change.role = None;
    let restored = store
        .update_provisioned_user(org, known, None, &change, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(
        restored.role,
        Role::Manager,
        "an absent role keeps the present one"
    );
    assert_eq!(
        store.role_in(org, known).await.unwrap(),
        Some(Role::Manager)
    );
    // A team API role change is a new version.
    let membership = store.memberships_of(known).await.unwrap();
    assert_eq!(membership.len(), 1);
    let list = store
        .list_memberships(
            org,
            &MembershipFilter {
                user_id: Some(known),
                ..MembershipFilter::default()
            },
            Window::Page {
                offset: 0,
                limit: 1,
            },
        )
        .await
        .unwrap();
    store
        .set_role(list[0].id, Role::Developer, &Origin::cli(), None)
        .await
        .unwrap();
    let after = find(&store, org, UserKey::Id(known)).await.remove(0);
    assert!(after.version > restored.version);

    // Removal takes the person out of the team; their account stays.
    store
        .deprovision_user(org, known, None, &Origin::cli())
        .await
        .unwrap();
    assert!(find(&store, org, UserKey::Id(known)).await.is_empty());
    assert_eq!(store.count_provisioned_users(org, None).await.unwrap(), 4);
    assert!(matches!(
        store
            .deprovision_user(org, known, None, &Origin::cli())
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn group_members_change_by_id(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let ids = |name: &str| {
        let store = store.clone();
        let key = UserKey::UserName(format!("{name}@acme.test"));
        async move { find(&store, org, key).await[0].id }
    };
    let (ann, bob, cy) = (ids("ann").await, ids("bob").await, ids("cy").await);
    let stranger = user(&store, "stranger@elsewhere.test").await;
    let group = store
        .provision_group(
            org,
            &GroupWrite {
                name: Some("Agents".into()),
                external_id: Some(Some("g-1".into())),
                members: vec![MemberChange::ReplaceAll(vec![ann, stranger, Uuid::nil()])],
            },
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let members = |group: Uuid| {
        let store = store.clone();
        async move {
            let mut m: Vec<Uuid> = store
                .provisioned_group_members(&[group])
                .await
                .unwrap()
                .into_iter()
                .map(|(_, u)| u)
                .collect();
            m.sort();
            m
        }
    };
    assert_eq!(
        members(group.id).await,
        [ann],
        "ids of nobody in the team are skipped"
    );
    let change = |members: Vec<MemberChange>, expect: Option<i64>| {
        let store = store.clone();
        async move {
            store
                .update_provisioned_group(
                    org,
                    group.id,
                    expect,
                    &GroupWrite {
                        members,
                        ..GroupWrite::default()
                    },
                    now(),
                    &Origin::cli(),
                )
                .await
        }
    };
    let v1 = change(vec![MemberChange::Add(vec![bob, cy, bob])], None)
        .await
        .unwrap();
    let mut all = vec![ann, bob, cy];
    all.sort();
    assert_eq!(members(group.id).await, all);
    assert!(v1.version > group.version);
    let v2 = change(
        vec![MemberChange::Remove(vec![ann, stranger])],
        Some(v1.version),
    )
    .await
    .unwrap();
    assert_eq!(members(group.id).await.len(), 2);
    assert!(matches!(
        change(vec![MemberChange::RemoveAll], Some(v1.version)).await,
        Err(StoreError::Conflict { field: "version" })
    ));
    assert_eq!(
        members(group.id).await.len(),
        2,
        "a stale change changes nothing"
    );
    change(
        vec![MemberChange::RemoveAll, MemberChange::Add(vec![cy])],
        Some(v2.version),
    )
    .await
    .unwrap();
    assert_eq!(members(group.id).await, [cy]);
    // Lookups; a name taken in the team is a conflict.
    for key in [
        GroupKey::DisplayName("AGENTS".into()),
        GroupKey::ExternalId("g-1".into()),
        GroupKey::Id(group.id),
        GroupKey::Member(cy),
    ] {
        assert_eq!(
            store
                .count_provisioned_groups(org, Some(&key))
                .await
                .unwrap(),
            1,
            "{key:?}"
        );
    }
    assert_eq!(
        store
            .count_provisioned_groups(org, Some(&GroupKey::Member(ann)))
            .await
            .unwrap(),
        0
    );
    let dup = store
        .provision_group(
            org,
            &GroupWrite {
                name: Some("Agents".into()),
                ..GroupWrite::default()
            },
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    // Removing a person from the team takes them out of the group, and is a new version.
    let before = store
        .provisioned_groups(org, Some(&GroupKey::Id(group.id)), None, 0, 1)
        .await
        .unwrap()
        .remove(0);
    store
        .deprovision_user(org, cy, None, &Origin::cli())
        .await
        .unwrap();
    assert!(members(group.id).await.is_empty());
    let after = store
        .provisioned_groups(org, Some(&GroupKey::Id(group.id)), None, 0, 1)
        .await
        .unwrap()
        .remove(0);
    assert!(after.version > before.version);
    store
        .deprovision_group(org, group.id, None, &Origin::cli())
        .await
        .unwrap();
    assert_eq!(store.count_provisioned_groups(org, None).await.unwrap(), 0);
}

/// A batch of creates answers each as if they ran one after another in order, in one
/// transaction: conflicts with the team and with earlier creates of the batch, linking of
/// known people, and memberships held by email attaching.
pub async fn users_are_provisioned_in_batches(store: Arc<dyn Store>) {
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
    group_change(
        &store,
        group,
        vec![by_email("fresh3@acme.test")],
        MembersChange::Add,
    )
    .await
    .unwrap();
    let known = user(&store, "dee@acme.test").await;
    let batch = [
        write("fresh-1", "fresh1@acme.test"),
        write("FRESH-1", "fresh2@acme.test"),
        write("fresh-2", "Fresh1@acme.test"),
        write("Ann@acme.test", "x@acme.test"),
        write("bobby", "bob@acme.test"),
        write("dee", "dee@acme.test"),
        write("fresh-2", "fresh3@acme.test"),
    ];
    let done = store
        .provision_users(org, &batch, now(), &vec![Origin::cli(); batch.len()])
        .await
        .unwrap();
    let outcome: Vec<Result<&str, &str>> = done
        .iter()
        .map(|r| match r {
            Ok(u) => Ok(u.user_name.as_str()),
            Err(StoreError::Conflict { field }) => Err(*field),
            Err(e) => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(
        outcome,
        [
            Ok("fresh-1"),
            Err("userName"),
            Err("emails"),
            Err("userName"),
            Err("emails"),
            Ok("dee"),
            Ok("fresh-2"),
        ]
    );
    let made: Vec<&ProvisionedUser> = done.iter().flatten().collect();
    assert_eq!(made[1].id, known, "a known person is linked");
    assert!(made.iter().all(|u| u.version == 1 && u.name == "Dee Doe"));
    assert!(
        made[0].seq < made[1].seq && made[1].seq < made[2].seq,
        "members are added in the batch's order"
    );
    assert_eq!(store.count_provisioned_users(org, None).await.unwrap(), 7);
    assert_eq!(
        store.provisioned_group_members(&[group]).await.unwrap(),
        [(group, made[2].id)],
        "the membership held by email attached"
    );
    // A batch where nothing is admitted writes nothing.
    let none = store
        .provision_users(org, &batch[..2], now(), &[Origin::cli(), Origin::cli()])
        .await
        .unwrap();
    assert!(none.iter().all(Result::is_err));
    assert_eq!(store.count_provisioned_users(org, None).await.unwrap(), 7);
}
