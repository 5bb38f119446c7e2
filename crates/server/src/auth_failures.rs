//! Failed authentications by client address, so that guessing keys cannot load the store.
//!
//! Every request whose key is missing, malformed, unknown, revoked or expired spends one
//! request of its client address's budget (`--auth-failures-per-minute`, the same number
//! at once). An address that has spent it is answered 429 before its key is looked up,
//! unless the key is one that authenticated on this server recently: clients behind the
//! same proxy as a misbehaving one keep working with the keys they already use.
//!
//! Shortcomings: behind a proxy every client shares the proxy's address, so a key used for
//! the first time while that address is blocked waits for the budget to refill; budgets
//! live in each process; the list of recent keys is forgotten whole when it grows past
//! [`MAX_KNOWN_KEYS`].

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::rate_limit::RateLimiter;

/// Most hashes of recently authenticated keys kept.
pub const MAX_KNOWN_KEYS: usize = 10_000;

/// The failure budgets of one server.
#[derive(Debug)]
pub struct AuthFailures {
    /// `None` when the limit is off.
    budgets: Option<RateLimiter>,
    /// Hashes of keys that authenticated recently.
    known_keys: Mutex<HashSet<String>>,
}

impl AuthFailures {
    /// Budgets of `per_minute` failures a minute per address, as many at once; 0 turns
    /// the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            budgets: (per_minute > 0).then(|| RateLimiter::new(per_minute, per_minute)),
            known_keys: Mutex::default(),
        }
    }

    /// Seconds until `address` may try an unknown key again, if it has spent its budget
    /// and `key_hash` (when there is one) has not authenticated recently.
    pub fn blocked(&self, address: IpAddr, key_hash: Option<&str>) -> Option<u64> {
        let budgets = self.budgets.as_ref()?;
        if key_hash.is_some_and(|hash| self.known_keys().contains(hash)) {
            return None;
        }
        let quota = budgets.peek(&address.to_string());
        (!quota.allowed).then_some(quota.reset_seconds.max(1))
    }

    /// Counts a failed authentication from `address`.
    pub fn record_failure(&self, address: IpAddr) {
        if let Some(budgets) = &self.budgets {
            budgets.spend(&address.to_string());
        }
    }

    /// Remembers that the key with `key_hash` authenticated.
    pub fn record_success(&self, key_hash: &str) {
        if self.budgets.is_none() {
            return;
        }
        let mut known = self.known_keys();
        if known.contains(key_hash) {
            return;
        }
        if known.len() >= MAX_KNOWN_KEYS {
            known.clear();
        }
        known.insert(key_hash.to_owned());
    }

    fn known_keys(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.known_keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 8));

    #[test]
    fn an_address_is_blocked_once_it_has_spent_its_failures() {
        let failures = AuthFailures::new(2);
        assert_eq!(failures.blocked(ADDRESS, Some("h")), None);

        failures.record_failure(ADDRESS);
        failures.record_failure(ADDRESS);

        assert!(failures.blocked(ADDRESS, Some("h")).is_some_and(|s| s >= 1));
        assert!(failures.blocked(ADDRESS, None).is_some());
        assert_eq!(failures.blocked(OTHER, Some("h")), None);
    }

    #[test]
    fn a_recently_authenticated_key_passes_a_blocked_address() {
        let failures = AuthFailures::new(1);
        failures.record_success("good");
        failures.record_failure(ADDRESS);

        assert_eq!(failures.blocked(ADDRESS, Some("good")), None);
        assert!(failures.blocked(ADDRESS, Some("new")).is_some());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let failures = AuthFailures::new(0);
        for _ in 0..100 {
            failures.record_failure(ADDRESS);
        }

        assert_eq!(failures.blocked(ADDRESS, None), None);
    }
}
