//! Conformance checks of console sessions: a session is found by its secret's digest alone,
//! stands for its key, ends at its idle and absolute limits, on close, with its key, and is
//! pruned once idle.
use super::now;
use crate::Store;
use crate::keys;
use crate::store::{AccountKind, KeyRef, NewUser};
use std::sync::Arc;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

pub async fn sessions_end_at_their_limits(store: Arc<dyn Store>) {
    let t0 = now();
    let user = NewUser {
        email: "ses@example.com".into(),
        name: None,
        kind: AccountKind::Person,
    };
    let user = store.ensure_user(user, t0).await.unwrap();
    let key = keys::issue();
    store.add_key(user.id, &key.hash, t0).await.unwrap();
    let session = keys::issue();
    store
        .open_session(&session.hash, &key.hash, user.id, t0)
        .await
        .unwrap();
    let later = t0.plus(10 * MINUTE);
    // Read at the moment it was opened, so that no use is noted yet.
    let found = store
        .session(&session.hash, t0, t0.minus(MINUTE), t0.minus(MINUTE))
        .await
        .unwrap()
        .expect("an open session");
    assert!(
        found.key.ct_eq(&key.hash.0),
        "the session stands for its key"
    );
    assert_eq!(found.opened_at, t0);
    let other = keys::issue();
    let none = store.session(&other.hash, later, t0, t0).await.unwrap();
    assert!(none.is_none(), "another secret finds nothing");
    let idle = store
        .session(&session.hash, t0, t0.minus(MINUTE), t0.plus(MINUTE))
        .await
        .unwrap();
    assert!(idle.is_none(), "unused since before the idle limit");
    let old = store
        .session(&session.hash, t0, t0.plus(MINUTE), t0.minus(MINUTE))
        .await
        .unwrap();
    assert!(old.is_none(), "opened before the absolute limit");
    // A use ten minutes on is noted (in the background): the idle limit counts from it.
    store
        .session(&session.hash, later, t0.minus(MINUTE), t0.minus(MINUTE))
        .await
        .unwrap()
        .expect("still open");
    let mut noted = false;
    for _ in 0..200 {
        let seen = store
            .session(&session.hash, later, t0.minus(MINUTE), t0.plus(MINUTE))
            .await
            .unwrap();
        if seen.is_some_and(|s| s.seen_at == later) {
            noted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(noted, "the later use was not noted");
    // Closing ends it; so does revoking its key.
    store.close_session(&session.hash).await.unwrap();
    let closed = store
        .session(&session.hash, later, t0.minus(MINUTE), t0.minus(MINUTE))
        .await
        .unwrap();
    assert!(closed.is_none(), "a closed session");
    let second = keys::issue();
    store
        .open_session(&second.hash, &key.hash, user.id, t0)
        .await
        .unwrap();
    store.revoke_keys(KeyRef::Key(&key.hash)).await.unwrap();
    let revoked = store
        .session(&second.hash, later, t0.minus(MINUTE), t0.minus(MINUTE))
        .await
        .unwrap();
    assert!(revoked.is_none(), "a revoked key's session");
    // Pruning forgets the idle ones only.
    let fresh_key = keys::issue();
    store.add_key(user.id, &fresh_key.hash, t0).await.unwrap();
    let (stale, fresh) = (keys::issue(), keys::issue());
    store
        .open_session(&stale.hash, &fresh_key.hash, user.id, t0)
        .await
        .unwrap();
    store
        .open_session(&fresh.hash, &fresh_key.hash, user.id, later)
        .await
        .unwrap();
    assert_eq!(store.prune_sessions(t0.plus(MINUTE), 100).await.unwrap(), 1);
    let kept = store.session(&fresh.hash, later, t0, t0).await.unwrap();
    assert!(kept.is_some(), "pruning kept a live session");
}
