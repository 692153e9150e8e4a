//! Request rates per key: each key may make `rate` requests a second on this node, in bursts
//! of up to `burst`; past that it gets 429 with `Retry-After` (GCRA, from the `governor`
//! crate). A key is counted only once it is known good, so unknown keys take no memory here;
//! limits are per node (several nodes behind a balancer allow that many times the rate).

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use roster_core::keys::KeyHash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
}
