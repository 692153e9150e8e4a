//! Request rates per key: each key may make `rate` requests a second on this node, in bursts
//! of up to `burst`; past that it gets 429 with `Retry-After` (GCRA, from the `governor`
//! crate). A key is counted only once it is known good, so unknown keys take no memory here;
//! limits are per node (several nodes behind a balancer allow that many times the rate).
//!
//! A rate counts requests, not work: one key could keep the single SQLite writer and hundreds
//! of megabytes busy with a dozen 200,000-item replaces at once. So heavy requests (a member
//! payload of more than [`HEAVY_ITEMS`] items, a SCIM filter that is not one `eq`, a whole
//! list of more than [`HEAVY_ROWS`] rows) are also capped per key holder, and per team at twice
//! that (an admin cannot multiply the cap with service accounts): [`Heavy`].

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_core::keys::KeyHash;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Every this many checks, keys not seen for a while are dropped from the table.
const SWEEP_EVERY: u64 = 1 << 16;

pub struct RateLimits {
    limiter: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl RateLimits {
    /// `rate` requests a second per key (0: no limit), bursts of `burst` (at least `rate`).
    pub fn new(rate: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(rate).map(|rate| {
            let burst = NonZeroU32::new(burst.max(rate.get())).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        RateLimits {
            limiter,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request of `key`; `Err` is how long until it may make the next.
    pub fn check(&self, key: &KeyHash) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&key.0)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// A member payload with more items than this is heavy.
pub const HEAVY_ITEMS: usize = 1_000;
/// A member payload body larger than this is heavy before it is parsed.
pub const HEAVY_BODY_BYTES: usize = 256 * 1024;
/// A whole (version 1.0) list with more rows than this is heavy.
pub const HEAVY_ROWS: u64 = 10_000;

/// How many heavy requests each key holder (at most `max`) and each team (at most twice that)
/// has running on this node.
pub struct Heavy {
    max: usize,
    running: Mutex<HashMap<Uuid, usize>>,
}

impl Heavy {
    /// At most `max` heavy requests at once per key holder (0: no cap).
    pub fn new(max: usize) -> Self {
        Heavy {
            max,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        // Each update is one insert or remove, so a map seen after a panic is still whole.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more heavy request of `holder` (in `team`, when known) until the permit is
    /// dropped, or refuses it (429) when either has its fill running.
    pub fn begin(
        self: &Arc<Self>,
        holder: Uuid,
        team: Option<Uuid>,
    ) -> Result<HeavyPermit, TooMany> {
        if self.max == 0 {
            return Ok(HeavyPermit(None));
        }
        let mut running = self.running();
        let count = |running: &HashMap<Uuid, usize>, id| running.get(&id).copied().unwrap_or(0);
        if count(&running, holder) >= self.max {
            return Err(TooMany(self.max));
        }
        if let Some(team) = team
            && count(&running, team) >= 2 * self.max
        {
            return Err(TooMany(2 * self.max));
        }
        for id in std::iter::once(holder).chain(team) {
            *running.entry(id).or_insert(0) += 1;
        }
        Ok(HeavyPermit(Some((self.clone(), holder, team))))
    }
}

/// A heavy request in progress; dropping it (the response sent, or abandoned) ends it.
pub struct HeavyPermit(Option<(Arc<Heavy>, Uuid, Option<Uuid>)>);

impl Drop for HeavyPermit {
    fn drop(&mut self) {
        if let Some((heavy, holder, team)) = self.0.take() {
            let mut running = heavy.running();
            for id in std::iter::once(holder).chain(team) {
                if let Some(n) = running.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        running.remove(&id);
                    }
                }
            }
        }
    }
}

/// Where a request that may turn out heavy counts: its key holder's slots, and a slot it may
/// hold already (a replace of 200,000 members whose answer is then the whole list).
pub struct HeavyGate {
    heavy: Arc<Heavy>,
    holder: Uuid,
    team: Option<Uuid>,
    held: Option<HeavyPermit>,
    /// The request's change is made: its answer is never refused, with a slot or without.
    changed: bool,
}

impl HeavyGate {
    pub fn new(heavy: Arc<Heavy>, holder: Uuid, team: Option<Uuid>) -> Self {
        HeavyGate {
            heavy,
            holder,
            team,
            held: None,
            changed: false,
        }
    }

    /// The same gate once the request's change is committed: a 429 now would tell the client
    /// that nothing happened, so the answer is sent even when no slot is free.
    pub fn after_change(mut self) -> Self {
        self.changed = true;
        self
    }

    /// A slot, taken now if `heavy` (and not held already).
    pub fn admit(&mut self, heavy: bool) -> Result<(), TooMany> {
        if heavy && self.held.is_none() {
            match self.heavy.begin(self.holder, self.team) {
                Ok(permit) => self.held = Some(permit),
                Err(_) if self.changed => {}
                Err(too_many) => return Err(too_many),
            }
        }
        Ok(())
    }

    /// The slot a whole list of `rows` rows needs, kept for as long as it is streamed.
    pub fn admit_rows(mut self, rows: u64) -> Result<Option<HeavyPermit>, TooMany> {
        self.admit(rows > HEAVY_ROWS)?;
        Ok(self.held)
    }

    /// The slot held already, if any, to keep while the answer is streamed.
    pub fn keep(self) -> Option<HeavyPermit> {
        self.held
    }
}

/// A key holder already has this many heavy requests running.
#[derive(Debug)]
pub struct TooMany(pub usize);

impl TooMany {
    pub fn detail(&self) -> String {
        format!(
            "This key already has {} large requests in progress (big member payloads, broad \
             SCIM filters, whole lists of over {HEAVY_ROWS} rows): try again when one is done.",
            self.0
        )
    }
}

/// Whole seconds to announce in `Retry-After` (at least one).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let rounded_up = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    rounded_up.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limits = RateLimits::new(1, 3);
        let (a, b) = (KeyHash::of("a"), KeyHash::of("b"));
        for _ in 0..3 {
            assert!(limits.check(&a).is_ok());
        }
        let wait = limits.check(&a).expect_err("over the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check(&b).is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        let off = RateLimits::new(0, 0);
        for _ in 0..10_000 {
            assert!(off.check(&a).is_ok());
        }
    }

    #[test]
    fn each_holder_runs_its_own_few_heavy_requests() {
        let heavy = Arc::new(Heavy::new(2));
        let (a, b, c, team) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Some(Uuid::from_u128(9)),
        );
        let first = heavy.begin(a, team).expect("a free slot");
        let _second = heavy.begin(a, team).expect("a free slot");
        assert!(heavy.begin(a, None).is_err());
        let _third = heavy
            .begin(b, team)
            .expect("another holder is not affected");
        let _fourth = heavy.begin(b, team).expect("the team has four");
        assert!(heavy.begin(c, team).is_err(), "the team is full");
        assert!(heavy.begin(c, None).is_ok(), "elsewhere c is free");
        drop(first);
        assert!(heavy.begin(a, team).is_ok(), "a slot is free again");
        let off = Arc::new(Heavy::new(0));
        let held: Vec<_> = (0..100)
            .map(|_| off.begin(a, team).expect("no cap"))
            .collect();
        assert_eq!(held.len(), 100);
    }
}
