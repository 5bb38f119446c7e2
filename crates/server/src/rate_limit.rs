//! Token-bucket rate limits: one bucket per API key, announced on every answer with the
//! IETF `RateLimit-Policy` and `RateLimit` fields; the same limiter keeps the budgets of
//! failed authentications per client address ([`crate::auth_failures`]).
//!
//! A key may spend `burst` requests at once and regains `per_minute` requests a minute.
//! Buckets live in this process: with several servers, each enforces the limit on its own
//! share of the traffic (see docs/operations.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};

/// Most buckets one limiter keeps. Beyond it, full buckets (which are no different from
/// new ones) are forgotten; if all are in use, every bucket is: memory stays bounded, at
/// the price of a fresh budget for everyone.
const MAX_BUCKETS: usize = 100_000;

/// The limiter of one server.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    /// Buckets by what is limited: an API key id, or a client address.
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

/// The state of a key's bucket after one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Requests left right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again (allowed) or one request is (refused).
    pub reset_seconds: u64,
}

impl RateLimiter {
    /// A limiter that lets each key make `per_minute` requests a minute, `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            burst: burst.max(1),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from `key_id`'s bucket, if it has one left.
    pub fn check(&self, key_id: &str) -> Quota {
        self.check_at(key_id, Instant::now())
    }

    /// Whether `key_id` has a request left, without taking it.
    pub fn peek(&self, key_id: &str) -> Quota {
        self.take_at(key_id, Instant::now(), false)
    }

    fn check_at(&self, key_id: &str, now: Instant) -> Quota {
        self.take_at(key_id, now, true)
    }

    /// Refills `key_id`'s bucket up to `now`, then takes one request from it if `take` and
    /// one is left.
    fn take_at(&self, key_id: &str, now: Instant, take: bool) -> Quota {
        let rate_per_second = f64::from(self.per_minute) / 60.0;
        let capacity = f64::from(self.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !take && !buckets.contains_key(key_id) {
            return Quota {
                allowed: true,
                remaining: self.burst,
                reset_seconds: 0,
            };
        }
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key_id) {
            forget_full_buckets(&mut buckets, now, rate_per_second, capacity);
        }
        let bucket = buckets.entry(key_id.to_owned()).or_insert(Bucket {
            tokens: capacity,
            refreshed: now,
        });

        bucket.refill(now, rate_per_second, capacity);
        let allowed = bucket.tokens >= 1.0;
        if allowed && take {
            bucket.tokens -= 1.0;
        }
        let missing = if allowed {
            capacity - bucket.tokens
        } else {
            1.0 - bucket.tokens
        };
        Quota {
            allowed,
            remaining: bucket.tokens.floor() as u32,
            reset_seconds: Duration::from_secs_f64(missing / rate_per_second)
                .as_secs_f64()
                .ceil() as u64,
        }
    }

    /// Spends one request of `key_id` if one is left, as a failure to count; an empty
    /// bucket stays empty.
    pub fn spend(&self, key_id: &str) {
        self.take_at(key_id, Instant::now(), true);
    }

    /// Adds the `RateLimit-Policy` and `RateLimit` fields for `quota` to `headers`.
    pub fn announce(&self, quota: Quota, headers: &mut HeaderMap) {
        let policy = format!(
            "\"per-key\";q={};w=60;burst={}",
            self.per_minute, self.burst
        );
        let state = format!(
            "\"per-key\";r={};t={}",
            quota.remaining, quota.reset_seconds
        );
        if let (Ok(policy), Ok(state)) = (
            HeaderValue::from_str(&policy),
            HeaderValue::from_str(&state),
        ) {
            headers.insert("ratelimit-policy", policy);
            headers.insert("ratelimit", state);
        }
    }
}

impl Bucket {
    /// Adds the tokens earned since the last refill, up to `capacity`.
    fn refill(&mut self, now: Instant, rate_per_second: f64, capacity: f64) {
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate_per_second).min(capacity);
        self.refreshed = now;
    }
}

/// Drops the buckets that are full by `now`, or every bucket if none is.
fn forget_full_buckets(
    buckets: &mut HashMap<String, Bucket>,
    now: Instant,
    rate_per_second: f64,
    capacity: f64,
) {
    buckets.retain(|_, bucket| {
        bucket.refill(now, rate_per_second, capacity);
        bucket.tokens < capacity
    });
    if buckets.len() >= MAX_BUCKETS {
        buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_may_spend_its_burst_then_is_refused() {
        let limiter = RateLimiter::new(60, 3);
        let now = Instant::now();

        let answers: Vec<_> = (0..4)
            .map(|_| limiter.check_at("key_a", now).allowed)
            .collect();

        assert_eq!(answers, vec![true, true, true, false]);
        assert_eq!(limiter.check_at("key_a", now).reset_seconds, 1);
    }

    #[test]
    fn tokens_come_back_with_time_and_keys_are_apart() {
        let limiter = RateLimiter::new(60, 1);
        let now = Instant::now();
        assert!(limiter.check_at("key_a", now).allowed);
        assert!(!limiter.check_at("key_a", now).allowed);

        assert!(limiter.check_at("key_b", now).allowed);
        assert!(
            limiter
                .check_at("key_a", now + Duration::from_secs(1))
                .allowed
        );
    }
}
