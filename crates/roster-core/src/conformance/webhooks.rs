//! Conformance checks of the webhook worker's storage: an endpoint starts after the history it
//! was created in, reads its team's events in order, and is held by one claim at a time,
//! which only its holder can move.
use super::{now, team};
use crate::Origin;
use crate::webhooks::{NewWebhook, Progress};
use crate::{Store, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(60);

pub async fn claims_are_leases(store: Arc<dyn Store>) {
    let org = team(&store).await;
    let hook = NewWebhook {
        url: "https://hooks.example.com/".into(),
        events: vec!["*".into()],
        active: true,
        description: String::new(),
        secret: crate::webhooks::issue_secret(),
    };
    let created = store
        .create_webhook(org, &hook, now(), &Origin::cli())
        .await
        .unwrap();
    assert_eq!(created.secret.as_deref(), Some(hook.secret.as_str()));
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(
        store
            .claim_webhooks(a, now(), LEASE, 8, false)
            .await
            .unwrap()
            .is_empty(),
        "nothing happened since it was made (its own creation included)"
    );
    for name in ["One", "Two"] {
        store
            .create_group(org, name, now(), &Origin::cli())
            .await
            .unwrap();
    }
    let claimed = store
        .claim_webhooks(a, now(), LEASE, 8, false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].secrets, vec![hook.secret.clone()]);
    assert!(
        store
            .claim_webhooks(b, now(), LEASE, 8, false)
            .await
            .unwrap()
            .is_empty(),
        "held by one node at a time"
    );
    let events = store
        .webhook_events(org, claimed[0].after, 10)
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.action_type.as_str()).collect();
    assert_eq!(kinds, ["group.created", "group.created"]);
    assert!(events[0].seq < events[1].seq);
    let moved = Progress::Moved {
        after: events[0].seq,
        part: 0,
    };
    assert!(
        !store
            .advance_webhook(b, created.id, &moved, None, now(), LEASE)
            .await
            .unwrap(),
        "only the holder moves it"
    );
    assert!(
        store
            .advance_webhook(a, created.id, &moved, None, now(), LEASE)
            .await
            .unwrap()
    );
    store.release_webhook(a, created.id).await.unwrap();
    let again = store
        .claim_webhooks(b, now(), LEASE, 8, false)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "let go, it is claimed again");
    assert_eq!(again[0].after, events[0].seq, "where it was moved to");
    // A claim that ran out is taken by another node.
    let later = Timestamp::from_micros(now().as_micros() + 120_000_000);
    assert_eq!(
        store
            .claim_webhooks(a, later, LEASE, 8, false)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.webhook_backlog().await.unwrap(), 1);
    // An admin's change ends the claim: its holder may not move the endpoint on with what it
    // read before, and the next claim reads the change.
    let change = crate::webhooks::WebhookChange {
        url: Some("https://other.example.com/".into()),
        ..Default::default()
    };
    store
        .update_webhook(org, created.id, &change, later, &Origin::cli())
        .await
        .unwrap();
    assert!(
        !store
            .advance_webhook(a, created.id, &moved, None, later, LEASE)
            .await
            .unwrap(),
        "a change ends the claim"
    );
    let reclaimed = store
        .claim_webhooks(b, later, LEASE, 8, false)
        .await
        .unwrap();
    assert_eq!(reclaimed[0].url, "https://other.example.com/");
    assert!(!reclaimed[0].slow);
    // A slow answer makes the endpoint one that is claimed only as slow, for a while.
    let slow = crate::webhooks::NewDelivery {
        webhook: created.id,
        message: Uuid::new_v4(),
        kind: "group.created".into(),
        source: crate::webhooks::Source::Event {
            seq: events[1].seq,
            part: 0,
        },
        attempt: 1,
        status_code: Some(200),
        latency_ms: 3000,
        error: None,
        delivered: true,
        manual: false,
        at: later,
    };
    // From a node whose claim ended, it says nothing of the endpoint now.
    assert!(
        !store
            .advance_webhook(a, created.id, &moved, Some(&slow), later, LEASE)
            .await
            .unwrap()
    );
    store.release_webhook(b, created.id).await.unwrap();
    let still = store
        .claim_webhooks(b, later, LEASE, 8, false)
        .await
        .unwrap();
    assert_eq!((still.len(), still[0].slow), (1, false));
    assert!(
        store
            .advance_webhook(b, created.id, &moved, Some(&slow), later, LEASE)
            .await
            .unwrap()
    );
    store.release_webhook(b, created.id).await.unwrap();
    let fast = store
        .claim_webhooks(a, later, LEASE, 8, false)
        .await
        .unwrap();
    assert!(fast.is_empty(), "not among the prompt ones");
    let slowly = store
        .claim_webhooks(a, later, LEASE, 8, true)
        .await
        .unwrap();
    assert_eq!((slowly.len(), slowly[0].slow), (1, true));
    store.release_webhook(a, created.id).await.unwrap();
    let after = Timestamp::from_micros(later.as_micros() + 601_000_000);
    let prompt = store
        .claim_webhooks(a, after, LEASE, 8, false)
        .await
        .unwrap();
    assert_eq!((prompt.len(), prompt[0].slow), (1, false), "ten minutes on");
}
