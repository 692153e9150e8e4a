//! The delivery worker, one per node: it claims endpoints that have events waiting (a lease,
//! so nodes on one database share them and one message goes out once), and sends each its
//! messages in the order of its team's history, one at a time, moving the endpoint's position
//! only after the receiver took a message. The history is the outbox: an event exists only
//! once its change committed, and a position is stored, so a restart resumes where it was.

use super::{Attempt, Deliverer};
use crate::metrics::Metrics;
use roster_core::audit::AuditEvent;
use roster_core::webhooks::{self as rules, Claimed, NewDelivery, Progress, Source};
use roster_core::{Clock, Store, StoreResult};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a claim lasts without news from its node: three times the 10 s a send may take
/// (its DNS lookup included), and renewed after each; a node that dies mid-send leaves its
/// endpoints to the others (or to itself, restarted) at most this long after.
const LEASE: Duration = Duration::from_secs(30);
/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(200);
/// Endpoints one node serves at once.
const AT_ONCE: u32 = 8;
/// Of those, at most this many slow ones (`webhooks::SLOW`): the rest are kept for endpoints
/// that answer promptly, whatever the slow ones' number.
const SLOW_AT_ONCE: u32 = AT_ONCE - 2;
/// How long one claim sends before the endpoint is let go, so that others (of its team and of
/// every other) get their turn: the endpoint goes to the back of the queue. Its last try may
/// run 10 s past it, still well inside the lease.
const TURN: Duration = Duration::from_secs(10);
/// Events read at once: a member-list event may hold 100,000 people.
const EVENTS_AT_ONCE: u32 = 4;

/// The id of a task that ended, whether it returned or panicked.
fn ended(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(e) => e.id(),
    }
}

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub deliverer: Arc<Deliverer>,
    pub metrics: Arc<Metrics>,
}

/// Whether to go on sending to an endpoint after an event.
enum Went {
    On,
    /// The turn is over mid-event: let the endpoint go where it stands.
    TurnOver,
    /// A try failed (its retry is stored) or the claim was lost.
    Stop,
}

impl Worker {
    /// Delivers until the process ends. Up to [`AT_ONCE`] endpoints are served side by side,
    /// each slot refilled as soon as its endpoint is done: a slow receiver (up to 10 s a try)
    /// holds its own slot, not the others'.
    pub async fn run(self) {
        let worker = Arc::new(self);
        let node = Uuid::new_v4();
        let mut serving = tokio::task::JoinSet::new();
        // The tasks serving endpoints that were slow when claimed: a task that ends, however
        // it ends (a panic too), leaves the set.
        let mut slow: HashSet<tokio::task::Id> = HashSet::new();
        loop {
            while let Some(done) = serving.try_join_next_with_id() {
                slow.remove(&ended(done));
            }
            let busy = u32::try_from(serving.len()).unwrap_or(AT_ONCE);
            let room = AT_ONCE.saturating_sub(busy);
            if room > 0 {
                let slow_busy = u32::try_from(slow.len()).unwrap_or(SLOW_AT_ONCE);
                let claimed = worker.claim(node, room, slow_busy).await;
                if !claimed.is_empty() {
                    for hook in claimed {
                        let (worker, was_slow) = (worker.clone(), hook.slow);
                        let task = serving.spawn(async move { worker.serve(node, hook).await });
                        if was_slow {
                            slow.insert(task.id());
                        }
                    }
                    continue;
                }
            }
            tokio::select! {
                Some(done) = serving.join_next_with_id(), if !serving.is_empty() => {
                    slow.remove(&ended(done));
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Claims endpoints for `room` free slots, `slow_busy` of the taken ones serving slow
    /// endpoints: prompt ones first, slow ones into what is left of their share (at most
    /// [`SLOW_AT_ONCE`] at once); but when no slow one is being served, one slow one first,
    /// so that a steady stream of prompt work does not leave the slow ones waiting for good.
    /// A failed claim is logged (and paced) and keeps what an earlier step took.
    async fn claim(&self, node: Uuid, room: u32, slow_busy: u32) -> Vec<Claimed> {
        let now = self.clock.now();
        let share = SLOW_AT_ONCE.saturating_sub(slow_busy);
        let mut claimed: Vec<Claimed> = Vec::new();
        let mut slow_taken = 0;
        // (slow ones?, at most how many)
        for (slow, most) in [
            (true, u32::from(slow_busy == 0)),
            (false, room),
            (true, share),
        ] {
            let left = room.saturating_sub(u32::try_from(claimed.len()).unwrap_or(room));
            let mut limit = most.min(left);
            if slow {
                limit = limit.min(share.saturating_sub(slow_taken));
            }
            if limit == 0 {
                continue;
            }
            match self
                .store
                .claim_webhooks(node, now, LEASE, limit, slow)
                .await
            {
                Ok(more) => {
                    if slow {
                        slow_taken += u32::try_from(more.len()).unwrap_or(limit);
                    }
                    claimed.extend(more);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot claim endpoints");
                    if claimed.is_empty() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    break;
                }
            }
        }
        claimed
    }

    async fn serve(&self, node: Uuid, claimed: Claimed) {
        let id = claimed.id;
        if let Err(e) = self.deliver(node, claimed).await {
            tracing::warn!(webhook = %id, error = %e, "webhooks: delivery stopped");
        }
        if let Err(e) = self.store.release_webhook(node, id).await {
            tracing::warn!(webhook = %id, error = %e, "webhooks: cannot release an endpoint");
        }
    }

    /// Sends the endpoint its waiting messages in order, until it has none, one fails, its
    /// claim is lost, or its turn is over. A position moved past messages it does not take is
    /// stored once, when it is let go, not once per event passed.
    async fn deliver(&self, node: Uuid, mut hook: Claimed) -> StoreResult<()> {
        let turn_ends = std::time::Instant::now() + TURN;
        let mut unsaved = false;
        'turn: while std::time::Instant::now() < turn_ends {
            let events = (self.store)
                .webhook_events(hook.org, hook.after, EVENTS_AT_ONCE)
                .await?;
            if events.is_empty() {
                break;
            }
            for event in events {
                let went = self.deliver_event(node, &mut hook, &event, &mut unsaved, turn_ends);
                match went.await? {
                    Went::On => {}
                    Went::TurnOver => break 'turn,
                    Went::Stop => return Ok(()),
                }
            }
        }
        if unsaved {
            let moved = Progress::Moved {
                after: hook.after,
                part: hook.part,
            };
            let now = self.clock.now();
            (self.store)
                .advance_webhook(node, hook.id, &moved, None, now, LEASE)
                .await?;
        }
        Ok(())
    }

    /// Sends the messages of `event` that the endpoint has not had and takes.
    async fn deliver_event(
        &self,
        node: Uuid,
        hook: &mut Claimed,
        event: &AuditEvent,
        unsaved: &mut bool,
        turn_ends: std::time::Instant,
    ) -> StoreResult<Went> {
        let messages = rules::Messages::of(event);
        let parts = messages.len();
        for part in hook.part..u32::try_from(parts).unwrap_or(u32::MAX) {
            if std::time::Instant::now() >= turn_ends {
                return Ok(Went::TurnOver);
            }
            let Some(message) = messages.get(part) else {
                break;
            };
            let next = if part as usize + 1 == parts {
                (event.seq, 0)
            } else {
                (hook.after, part + 1)
            };
            if !rules::wants(&hook.events, &message.kind) {
                (hook.after, hook.part) = next;
                *unsaved = true;
                continue;
            }
            let id = rules::message_id(event.id, part);
            let body = rules::body(event, &message, parts);
            let attempt = (self.deliverer)
                .send(&hook.url, &hook.secrets, id, body)
                .await;
            self.metrics.webhook_delivered(&attempt);
            let now = self.clock.now();
            let tries = hook.attempts + 1;
            let delivery = NewDelivery {
                webhook: hook.id,
                message: id,
                kind: message.kind,
                source: Source::Event {
                    seq: event.seq,
                    part,
                },
                attempt: tries,
                status_code: attempt.status_code,
                latency_ms: attempt.latency_ms,
                error: attempt.error.clone(),
                delivered: attempt.delivered,
                manual: false,
                at: now,
            };
            let progress = self.after(&attempt, hook, next, tries, now);
            let held = (self.store)
                .advance_webhook(node, hook.id, &progress, Some(&delivery), now, LEASE)
                .await?;
            if !held || !attempt.delivered {
                return Ok(Went::Stop);
            }
            (hook.after, hook.part) = next;
            hook.attempts = 0;
            hook.failed_since = None;
            *unsaved = false;
            // A slow answer ends the turn: the endpoint goes back to be claimed as slow.
            if rules::is_slow(attempt.latency_ms) {
                return Ok(Went::TurnOver);
            }
        }
        // An event with no message for this endpoint (or none at all) is passed.
        if hook.after != event.seq {
            (hook.after, hook.part) = (event.seq, 0);
            *unsaved = true;
        }
        Ok(Went::On)
    }

    /// Where the endpoint goes after a try: on to `next`, or a retry, or failing.
    fn after(
        &self,
        attempt: &Attempt,
        hook: &Claimed,
        next: (i64, u32),
        tries: u32,
        now: roster_core::Timestamp,
    ) -> Progress {
        if attempt.delivered {
            return Progress::Moved {
                after: next.0,
                part: next.1,
            };
        }
        let settings = &self.deliverer.settings;
        let progress = rules::after_failure(
            now,
            hook.failed_since,
            tries,
            settings.retry_base,
            settings.retry_for,
            rand::random::<f64>(),
        );
        if matches!(progress, Progress::GiveUp) {
            tracing::warn!(webhook = %hook.id, "webhooks: an endpoint failed for the whole retry window and is marked failing");
        }
        progress
    }
}
