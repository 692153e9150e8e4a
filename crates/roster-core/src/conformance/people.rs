//! Conformance checks of adding a person by address (`add_person`, the command line's
//! `member add`): an account never joins another team as a person, and a refused change
//! leaves nobody made or renamed.
use super::{now, team};
use crate::store::{AccountKind, MembershipFilter, NewUser, Window};
use crate::{Origin, Role, Store, StoreError};
use std::sync::Arc;
use uuid::Uuid;

async fn members(store: &Arc<dyn Store>, org: Uuid) -> Vec<(String, String, Role)> {
    let window = Window::Page {
        offset: 0,
        limit: 100,
    };
    let list = store
        .list_memberships(org, &MembershipFilter::default(), window)
        .await
        .unwrap();
    list.into_iter()
        .map(|m| (m.user.email, m.user.name, m.role))
        .collect()
}

pub async fn accounts_stay_in_their_team(store: Arc<dyn Store>) {
    let home = team(&store).await;
    let account = store
        .create_account(
            home,
            AccountKind::ServiceAccount,
            "Sync",
            Role::Admin,
            &crate::keys::issue().hash,
            None,
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    let filter = MembershipFilter {
        user_id: Some(account.id),
        ..Default::default()
    };
    let window = Window::Page {
        offset: 0,
        limit: 1,
    };
    let listed = store.list_memberships(home, &filter, window).await.unwrap();
    let address = listed[0].user.email.clone();
    let admin = super::user(&store, "admin@other.test").await;
    let other = store
        .create_organization(super::new_team("Other", None), admin, now(), &Origin::cli())
        .await
        .unwrap()
        .id;
    let before = members(&store, other).await;
    let renamed = |email: &str| NewUser {
        email: email.to_owned(),
        name: Some("Renamed".into()),
        kind: AccountKind::Person,
    };
    for (org, role) in [
        (other, Some(Role::Admin)),
        (other, None),
        (home, Some(Role::Member)),
    ] {
        let refused = store
            .add_person(org, &renamed(&address), role, now(), &Origin::cli())
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(members(&store, other).await, before, "nobody joined");
    assert!(
        members(&store, home)
            .await
            .iter()
            .any(|(email, name, _)| *email == address && name == "Sync"),
        "the account keeps its name"
    );
    // A person's refused change (the last admin demoted) renames nobody either.
    let demoted = store
        .add_person(
            other,
            &renamed("admin@other.test"),
            Some(Role::Member),
            now(),
            &Origin::cli(),
        )
        .await;
    assert!(
        matches!(demoted, Err(StoreError::Invalid { .. })),
        "{demoted:?}"
    );
    assert_eq!(members(&store, other).await, before, "nothing changed");
    // And a new person is made, named and added in one change.
    let added = store
        .add_person(
            other,
            &renamed("new@other.test"),
            None,
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap();
    assert_eq!(added.user.name, "Renamed");
}
