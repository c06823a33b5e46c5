//! A per-client rate limit: one token bucket per IP address (`[web]
//! rate_limit_per_s` tokens a second, up to `rate_limit_burst`). A request
//! takes one token; without one it is answered `429 Too Many Requests` with
//! `Retry-After`. The clock is passed in, so the arithmetic is tested with
//! made-up instants. The table holds at most [`MAX_CLIENTS`] buckets: when
//! full, buckets idle long enough to have refilled are dropped (they carry
//! no state), then the least recently used ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    max_clients: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `per_s` > 0 tokens a second, `burst` >= 1 at most.
    pub fn new(per_s: f64, burst: u32) -> RateLimiter {
        RateLimiter::with_capacity(per_s, burst, MAX_CLIENTS)
    }

    fn with_capacity(per_s: f64, burst: u32, max_clients: usize) -> RateLimiter {
        RateLimiter {
            per_s: per_s.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
            max_clients: max_clients.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `client` at `now`; `Err(wait)` says how long until one is free.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        if !buckets.contains_key(&client) && buckets.len() >= self.max_clients {
            self.evict(&mut buckets, now);
        }
        let b = buckets.entry(client).or_insert(Bucket { tokens: self.burst, last: now });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_s).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_s))
        }
    }

    /// Clients currently tracked.
    pub fn clients(&self) -> usize {
        self.buckets.lock().map_or(0, |b| b.len())
    }

    fn evict(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.per_s);
        buckets.retain(|_, b| now.saturating_duration_since(b.last) < refill);
        while buckets.len() >= self.max_clients {
            let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.last).map(|(ip, _)| *ip) else { break };
            buckets.remove(&oldest);
        }
    }
}

/// Whole seconds for `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let t0 = Instant::now();
        let l = RateLimiter::new(2.0, 5);
        for i in 0..5 {
            assert!(l.check(ip(1), t0).is_ok(), "request {i} of the burst");
        }
        let wait = l.check(ip(1), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(retry_after_secs(wait), 1);
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.check(ip(1), t1).is_ok());
        assert!(l.check(ip(1), t1).is_err());
        // Another client has its own bucket.
        assert!(l.check(ip(2), t1).is_ok());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(l.check(ip(1), t2).is_ok());
        }
        assert!(l.check(ip(1), t2).is_err());
    }

    #[test]
    fn refused_requests_do_not_cost_tokens() {
        let t0 = Instant::now();
        let l = RateLimiter::new(1.0, 1);
        assert!(l.check(ip(1), t0).is_ok());
        for ms in [100, 200, 300, 900] {
            assert!(l.check(ip(1), t0 + Duration::from_millis(ms)).is_err(), "{ms}");
        }
        assert!(l.check(ip(1), t0 + Duration::from_millis(1000)).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_busy_clients() {
        let t0 = Instant::now();
        let l = RateLimiter::with_capacity(1.0, 2, 3);
        // Client 1 is drained and active; 2 and 3 are idle.
        assert!(l.check(ip(1), t0).is_ok() && l.check(ip(1), t0).is_ok());
        assert!(l.check(ip(2), t0).is_ok() && l.check(ip(3), t0).is_ok());
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.check(ip(1), t1).is_err());
        // A fourth client evicts the least recently used, not the drained one.
        assert!(l.check(ip(4), t1).is_ok());
        assert_eq!(l.clients(), 3);
        assert!(l.check(ip(1), t1).is_err(), "eviction must not hand a drained client a fresh bucket");
        // After the refill time every idle bucket can go.
        let t2 = t1 + Duration::from_secs(10);
        assert!(l.check(ip(5), t2).is_ok());
        assert_eq!(l.clients(), 1);
    }
}
