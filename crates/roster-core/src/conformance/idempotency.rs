//! Conformance checks of kept `Idempotency-Key` answers: a person's kept answers stay within
//! the budget, counted with their headers and rows (so empty answers count too), per person,
//! and the budget frees up as answers pass their day.
use super::{now, user};
use crate::Store;
use crate::store::{KeptAnswer, KeyClaim};
use std::sync::Arc;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Claims `key` for `holder` at `at` and finishes it with `answer`; whether it was kept.
async fn keep(
    store: &Arc<dyn Store>,
    (holder, person): (&[u8], uuid::Uuid),
    key: &str,
    at: crate::Timestamp,
    answer: &KeptAnswer,
    budget: u64,
) -> bool {
    let claim = store
        .claim_idempotency_key(holder, person, key, b"fp", at, at.minus(DAY), at.minus(DAY))
        .await
        .unwrap();
    assert!(matches!(claim, KeyClaim::Claimed), "{key}");
    store
        .finish_idempotency_key(holder, key, Some(answer), budget)
        .await
        .unwrap()
}

pub async fn kept_answers_stay_within_the_budget(store: Arc<dyn Store>) {
    let (ann, bob) = (
        user(&store, "ann@budget.test").await,
        user(&store, "bob@budget.test").await,
    );
    let t0 = now();
    // An empty answer (a 204's) still counts: its headers and its row.
    let empty = KeptAnswer {
        status: 204,
        headers: "[]".into(),
        body: Vec::new(),
    };
    let budget = 10 * (256 + 2);
    for i in 0..10 {
        let kept = keep(
            &store,
            (b"ann-key", ann),
            &format!("k{i}"),
            t0,
            &empty,
            budget,
        )
        .await;
        assert!(kept, "answer {i} fits");
    }
    assert!(
        !keep(&store, (b"ann-key", ann), "k10", t0, &empty, budget).await,
        "the eleventh is past the budget"
    );
    // Another key of the same person shares it; another person has one of their own.
    assert!(!keep(&store, (b"ann-other", ann), "k0", t0, &empty, budget).await);
    assert!(keep(&store, (b"bob-key", bob), "k0", t0, &empty, budget).await);
    // A day and an hour on, the first answers are gone and count no more.
    let later = t0.plus(DAY + Duration::from_secs(3600));
    store
        .prune_idempotency_keys(later.minus(DAY), 1000)
        .await
        .unwrap();
    assert!(
        keep(&store, (b"ann-key", ann), "k11", later, &empty, budget).await,
        "the budget frees up as answers pass their day"
    );
}
