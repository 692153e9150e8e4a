//! Conformance checks of what a list shows beside its own rows: a group's list names, for each
//! member, the campaigns of the team holding that email, by name, however the members and the
//! campaigns spread over the emails (a backend may read them as one range of emails, and must
//! not lose or misplace one when that range holds far more than the list).
use super::{by_email, email_ref, group_change, now, team};
use crate::store::{EmailCursor, MembersChange, NewCampaignMember, Window};
use crate::{Origin, Store};
use std::sync::Arc;

pub async fn group_lists_name_each_members_campaigns(store: Arc<dyn Store>) {
    let org = team(&store).await;
    store
        .add_email_domain(org, "acme.test", now(), &Origin::cli())
        .await
        .unwrap();
    let group = store
        .create_group(org, "Ends", now(), &Origin::cli())
        .await
        .unwrap()
        .id;
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
    let fill = |campaign, emails: Vec<String>| {
        let store = store.clone();
        async move {
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
    };
    let campaign = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .create_campaign(org, name, now(), &Origin::cli())
                .await
                .unwrap()
                .id
        }
    };
    // Made out of name order, so that an order by id or by creation would show.
    let (beta, alpha, crowd) = (
        campaign("Beta").await,
        campaign("Alpha").await,
        campaign("Crowd").await,
    );
    fill(alpha, vec!["aa@acme.test".into(), "zz@acme.test".into()]).await;
    fill(beta, vec!["aa@acme.test".into(), "ann@acme.test".into()]).await;
    // 600 emails between the group's first and last, none of them in the group.
    let mut many: Vec<String> = (0..600).map(|i| format!("c{i:03}@acme.test")).collect();
    many.push("zz@acme.test".into());
    fill(crowd, many).await;

    let expected = [
        ("aa@acme.test", vec!["Alpha", "Beta"]),
        ("ann@acme.test", vec!["Beta"]),
        ("mm@acme.test", vec![]),
        ("zz@acme.test", vec!["Alpha", "Crowd"]),
    ];
    let windows = [
        Window::Page {
            offset: 0,
            limit: 10,
        },
        Window::After {
            cursor: None,
            limit: 10,
        },
        Window::After {
            cursor: Some(EmailCursor("ann@acme.test".into())),
            limit: 1,
        },
    ];
    for window in windows {
        let listed = store
            .list_group_memberships(group, window.clone())
            .await
            .unwrap();
        let shown: Vec<(&str, Vec<&str>)> = listed
            .iter()
            .map(|m| {
                let names = m.campaigns.iter().map(|c| c.name.as_str()).collect();
                (m.email.as_str(), names)
            })
            .collect();
        let wanted: Vec<(&str, Vec<&str>)> = match &window {
            Window::After {
                cursor: Some(_), ..
            } => vec![(expected[2].0, expected[2].1.clone())],
            _ => expected.iter().map(|(e, c)| (*e, c.clone())).collect(),
        };
        assert_eq!(shown, wanted, "{window:?}");
    }
}
