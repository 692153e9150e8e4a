//! Conformance checks of large writes: an import and a group change of 10,000 rows or more
//! move the team's data version (which kept pages are keyed by) exactly as small ones do, and
//! every write after them still moves it. (SQLite writes that large without its per-row
//! triggers and bumps the version once; PostgreSQL's triggers run once per statement.)
use super::{by_email, group_change, now, team};
use crate::store::{ImportRow, MembersChange};
use crate::{Origin, Store, email};
use std::sync::Arc;

const ROWS: usize = 12_000;

pub async fn large_writes_move_the_team_version(store: Arc<dyn Store>) {
    let org = team(&store).await;
    store
        .add_email_domain(org, "acme.test", now(), &Origin::cli())
        .await
        .unwrap();
    let address = |i: usize| format!("p{i:05}@acme.test");
    let rows: Vec<ImportRow> = (0..ROWS)
        .map(|i| ImportRow {
            email: address(i),
            email_norm: email::normalize(&address(i)),
            name: None,
            role: None,
            groups: vec!["Floor".into()],
        })
        .collect();
    let before = store.team_version(org).await.unwrap();
    let dry = store
        .import_members(org, &mut rows.iter().cloned(), true, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(dry.members_added, ROWS as u64);
    assert_eq!(
        store.team_version(org).await.unwrap(),
        before,
        "a dry run moves nothing"
    );
    store
        .import_members(org, &mut rows.iter().cloned(), false, now(), &Origin::cli())
        .await
        .unwrap();
    let imported = store.team_version(org).await.unwrap();
    assert!(imported > before, "{imported} after {before}");
    let groups = store.group_refs(org, 10).await.unwrap();
    let group = groups.iter().find(|g| g.name == "Floor").unwrap().id;

    // A large replace: half stay, half go, and as many come, held by email.
    let items: Vec<_> = (ROWS / 2..ROWS + ROWS / 2)
        .map(|i| by_email(&address(i)))
        .collect();
    group_change(&store, group, items, MembersChange::Replace)
        .await
        .unwrap();
    let replaced = store.team_version(org).await.unwrap();
    assert!(replaced > imported, "{replaced} after {imported}");

    // The small writes after them still move it, row by row.
    group_change(
        &store,
        group,
        vec![by_email("someone@acme.test")],
        MembersChange::Add,
    )
    .await
    .unwrap();
    let added = store.team_version(org).await.unwrap();
    assert!(added > replaced, "{added} after {replaced}");
    let one = [ImportRow {
        email: "late@acme.test".into(),
        email_norm: "late@acme.test".into(),
        name: None,
        role: None,
        groups: Vec::new(),
    }];
    store
        .import_members(org, &mut one.iter().cloned(), false, now(), &Origin::cli())
        .await
        .unwrap();
    assert!(store.team_version(org).await.unwrap() > added);
}

/// Rows that fail to read after a first chunk has been handed over (a bad line deep in a
/// large file).
struct FailsAfter(Vec<ImportRow>);

impl crate::store::ImportRows for FailsAfter {
    fn next_rows(&mut self, _max: usize) -> Result<Vec<ImportRow>, String> {
        if self.0.is_empty() {
            return Err("line 9: the email is empty".into());
        }
        Ok(std::mem::take(&mut self.0))
    }
}

pub async fn an_import_that_fails_midway_keeps_nothing(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let version = store.team_version(org).await.unwrap();
    let everyone = crate::store::MembershipFilter::default();
    let members = store.count_memberships(org, &everyone).await.unwrap();
    let row = |address: &str| ImportRow {
        email: address.into(),
        email_norm: email::normalize(address),
        name: None,
        role: None,
        groups: vec!["Floor".into()],
    };
    let err = store
        .import_members(
            org,
            &mut FailsAfter(vec![row("new@acme.test"), row("other@acme.test")]),
            false,
            now(),
            &Origin::cli(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "line 9: the email is empty");
    assert_eq!(store.team_version(org).await.unwrap(), version);
    assert!(store.group_refs(org, 10).await.unwrap().is_empty());
    assert_eq!(
        store.count_memberships(org, &everyone).await.unwrap(),
        members
    );
}
