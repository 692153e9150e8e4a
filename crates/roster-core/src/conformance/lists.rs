//! Conformance checks of what a list shows beside its own rows: a group's list names, for each
//! member, the campaigns of the team holding that email, by name then id, however the members
//! and the campaigns spread over the emails (a backend may read them as one range of emails,
//! and must not lose, misplace or borrow one, whether that range holds few or far more than
//! the list).
use super::{
    by_email, fill_campaign, group_change, new_campaign, now, other_team, team_with_group, user,
};
use crate::store::{EmailCursor, MembersChange, Window};
use crate::{Origin, Role, Store};
use std::sync::Arc;
use uuid::Uuid;

pub async fn group_lists_name_each_members_campaigns(store: Arc<dyn Store>) {
    let (org, group) = team_with_group(&store, "Ends").await;
    // Held emails at both ends of the alphabet and one in the middle, and a team member.
    let people = [
        "aa@acme.test",
        "ann@acme.test",
        "mm@acme.test",
        "zz@acme.test",
    ];
    group_change(
        &store,
        group,
        people.iter().map(|p| by_email(p)).collect(),
        MembersChange::Replace,
    )
    .await
    .unwrap();
    let owned = |list: &[&str]| list.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>();
    // Made out of name order, so that an order by id or by creation would show; two share a
    // name, which their ids order.
    let beta = new_campaign(&store, org, "Beta").await;
    let alpha = new_campaign(&store, org, "Alpha").await;
    let crowd = new_campaign(&store, org, "Crowd").await;
    let alpha_again = new_campaign(&store, org, "Alpha").await;
    fill_campaign(&store, alpha, &owned(&["aa@acme.test", "zz@acme.test"])).await;
    fill_campaign(&store, alpha_again, &owned(&["zz@acme.test"])).await;
    fill_campaign(&store, beta, &owned(&["aa@acme.test", "ann@acme.test"])).await;
    // 600 emails between the group's first and last, none of them in the group.
    let mut many: Vec<String> = (0..600).map(|i| format!("c{i:03}@acme.test")).collect();
    many.push("zz@acme.test".into());
    fill_campaign(&store, crowd, &many).await;
    // Another team's campaign holding one of the group's people is not this team's.
    let other_admin = user(&store, "admin@other.test").await;
    let other = other_team(&store, other_admin).await;
    let ann = user(&store, "ann@acme.test").await;
    store
        .add_member(other, ann, Some(Role::Member), now(), &Origin::cli())
        .await
        .unwrap();
    let elsewhere = new_campaign(&store, other, "Aardvark").await;
    fill_campaign(&store, elsewhere, &owned(&["ann@acme.test"])).await;

    let (first, second) = if alpha < alpha_again {
        (alpha, alpha_again)
    } else {
        (alpha_again, alpha)
    };
    let expected = [
        ("aa@acme.test", vec![alpha, beta]),
        ("ann@acme.test", vec![beta]),
        ("mm@acme.test", vec![]),
        ("zz@acme.test", vec![first, second, crowd]),
    ];
    let after = |email: Option<&str>, limit| Window::After {
        cursor: email.map(|e| EmailCursor(e.into())),
        limit,
    };
    // Whole lists (their range holds the 600), and windows whose range holds only theirs.
    let windows = [
        (
            Window::Page {
                offset: 0,
                limit: 10,
            },
            0..4,
        ),
        (after(None, 10), 0..4),
        (after(None, 2), 0..2),
        (after(Some("ann@acme.test"), 1), 2..3),
        (after(Some("mm@acme.test"), 1), 3..4),
        (
            Window::Page {
                offset: 3,
                limit: 1,
            },
            3..4,
        ),
    ];
    for (window, rows) in windows {
        let listed = store
            .list_group_memberships(group, window.clone())
            .await
            .unwrap();
        let shown: Vec<(&str, Vec<Uuid>)> = listed
            .iter()
            .map(|m| (m.email.as_str(), m.campaigns.iter().map(|c| c.id).collect()))
            .collect();
        assert_eq!(shown, expected[rows].to_vec(), "{window:?}");
    }
}
