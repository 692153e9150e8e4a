//! Group commit for SCIM user creates. An identity provider pushing a new department sends
//! many `POST /Users` at once; each on its own would be a transaction of its own, and on one
//! team they queue behind each other (SQLite has one writer, PostgreSQL locks the team's
//! members). So creates wait in one queue, and whatever has gathered while the previous
//! batch committed goes to the store as one set-based `provision_users`. Alone, a create is a
//! batch of one and waits for nothing; under load the batches grow with it.
//!
//! A create that was queued is carried out even if its client goes away meanwhile, like a
//! request whose transaction committed just before the connection dropped.

use roster_core::provisioning::{ProvisionedUser, UserWrite};
use roster_core::{Origin, Store, StoreError, StoreResult, Timestamp};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most creates one transaction takes.
const MOST: usize = 256;

struct Job {
    org: Uuid,
    write: UserWrite,
    now: Timestamp,
    origin: Origin,
    reply: oneshot::Sender<StoreResult<ProvisionedUser>>,
}

pub struct Creates {
    store: Arc<dyn Store>,
    /// Started on first use, so that it runs on the runtime that serves.
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Creates {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Creates {
            store,
            queue: OnceLock::new(),
        }
    }

    pub async fn create(
        &self,
        org: Uuid,
        write: UserWrite,
        now: Timestamp,
        origin: Origin,
    ) -> StoreResult<ProvisionedUser> {
        let queue = self.queue.get_or_init(|| {
            let (queue, jobs) = mpsc::channel(MOST * 4);
            tokio::spawn(run(self.store.clone(), jobs));
            queue
        });
        let (reply, answer) = oneshot::channel();
        let job = Job {
            org,
            write,
            now,
            origin,
            reply,
        };
        queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Other("the create queue stopped".into())
}

async fn run(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MOST);
    while queue.recv_many(&mut jobs, MOST).await > 0 {
        // One transaction per team; teams commit side by side. Each batch is a task of its
        // own, so a panic in one fails only its requests (their replies drop), not the queue.
        let mut teams: Vec<(Uuid, Vec<Job>)> = Vec::new();
        for job in jobs.drain(..) {
            match teams.iter_mut().find(|(org, _)| *org == job.org) {
                Some((_, batch)) => batch.push(job),
                None => teams.push((job.org, vec![job])),
            }
        }
        let commits: Vec<_> = teams
            .into_iter()
            .map(|(org, batch)| tokio::spawn(commit(store.clone(), org, batch)))
            .collect();
        for done in commits {
            if let Err(e) = done.await {
                tracing::error!(error = %e, "a batch of SCIM creates failed");
            }
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
