//! Group commit for SCIM user creates. An identity provider pushing a new department sends
//! many `POST /Users` at once; each on its own would be a transaction of its own, and on one
//! team they queue behind each other (SQLite has one writer, PostgreSQL locks the team's
//! members). So a team's creates wait in the team's queue, and whatever has gathered while its
//! previous batch committed goes to the store as one set-based `provision_users`. Alone, a
//! create is a batch of one and waits for nothing; under load the batches grow with it.
//!
//! Each team has a queue and a worker of its own, started by its first create and gone once
//! its queue is empty: a team whose batch waits (on its lock, held by a large replace) holds
//! up only its own creates, never another team's.
//!
//! A create that was queued is carried out even if its client goes away meanwhile, like a
//! request whose transaction committed just before the connection dropped.

use roster_core::provisioning::{ProvisionedUser, UserWrite};
use roster_core::{Origin, Store, StoreError, StoreResult, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::error::SendError;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most creates one transaction takes.
const MOST: usize = 256;

struct Job {
    write: UserWrite,
    now: Timestamp,
    origin: Origin,
    reply: oneshot::Sender<StoreResult<ProvisionedUser>>,
}

/// The queue of each team that has creates waiting or running.
type Queues = Arc<Mutex<HashMap<Uuid, mpsc::Sender<Job>>>>;

pub struct Creates {
    store: Arc<dyn Store>,
    queues: Queues,
}

impl Creates {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Creates {
            store,
            queues: Queues::default(),
        }
    }

    pub async fn create(
        &self,
        org: Uuid,
        write: UserWrite,
        now: Timestamp,
        origin: Origin,
    ) -> StoreResult<ProvisionedUser> {
        let (reply, answer) = oneshot::channel();
        let mut job = Job {
            write,
            now,
            origin,
            reply,
        };
        loop {
            let queue = {
                let mut queues = lock(&self.queues);
                match queues.get(&org).filter(|q| !q.is_closed()) {
                    Some(queue) => queue.clone(),
                    None => {
                        // A new queue holds its first job before its worker starts, so the
                        // worker never finds it empty and leaves at once.
                        let (queue, jobs) = mpsc::channel(MOST * 4);
                        queue.try_send(job).map_err(|_| stopped())?;
                        queues.insert(org, queue.clone());
                        let (store, queues) = (self.store.clone(), self.queues.clone());
                        tokio::spawn(run(store, org, jobs, queues, queue));
                        break;
                    }
                }
            };
            match queue.send(job).await {
                Ok(()) => break,
                // Its worker found the queue empty and left meanwhile: start another.
                Err(SendError(back)) => job = back,
            }
        }
        answer.await.map_err(|_| stopped())?
    }
}

fn lock(queues: &Queues) -> MutexGuard<'_, HashMap<Uuid, mpsc::Sender<Job>>> {
    // Nothing panics while holding it; a poisoned map is still whole.
    queues.lock().unwrap_or_else(|e| e.into_inner())
}

fn stopped() -> StoreError {
    StoreError::Other("the create queue stopped".into())
}

/// Team `org`'s worker: commits what its queue holds, a batch at a time, and leaves once the
/// queue is empty (closing it first, so a create that comes later starts a new worker).
async fn run(
    store: Arc<dyn Store>,
    org: Uuid,
    mut jobs: mpsc::Receiver<Job>,
    queues: Queues,
    own: mpsc::Sender<Job>,
) {
    let mut batch = Vec::with_capacity(MOST);
    loop {
        if jobs.is_empty() {
            let mut queues = lock(&queues);
            if queues.get(&org).is_some_and(|q| q.same_channel(&own)) {
                queues.remove(&org);
            }
            // Jobs sent before this are still received below; later sends fail and start
            // another worker.
            jobs.close();
        }
        if jobs.recv_many(&mut batch, MOST).await == 0 {
            return;
        }
        // A task of its own, so that a panic fails only this batch's requests (their replies
        // drop), not the queue.
        let batch = std::mem::replace(&mut batch, Vec::with_capacity(MOST));
        if let Err(e) = tokio::spawn(commit(store.clone(), org, batch)).await {
            tracing::error!(error = %e, "a batch of SCIM creates failed");
        }
    }
}

async fn commit(store: Arc<dyn Store>, org: Uuid, batch: Vec<Job>) {
    let now = batch
        .iter()
        .map(|j| j.now)
        .max()
        .unwrap_or(Timestamp::from_micros(0));
    let mut writes = Vec::with_capacity(batch.len());
    let mut origins = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        writes.push(job.write);
        origins.push(job.origin);
        replies.push(job.reply);
    }
    match store.provision_users(org, &writes, now, &origins).await {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
