//! What every handler shares: the store, the engines, the limiter and the limits.

use std::sync::Arc;

use policycortex_engine::Limits;
use policycortex_store::{IdempotencyLifetimes, SharedStore};

use crate::auth_failures::AuthFailures;
use crate::engines::Engines;
use crate::rate_limit::RateLimiter;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Requests a key may make a minute.
    pub rate_limit_per_minute: u32,
    /// Requests a key may make at once.
    pub rate_limit_burst: u32,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Most resources in one batch evaluation.
    pub max_batch_resources: usize,
    /// Most policies one organization may hold.
    pub max_policies_per_organization: u64,
    /// Bounds on each policy.
    pub policy_limits: Limits,
    /// How long `Idempotency-Key` reservations and answers last.
    pub idempotency: IdempotencyLifetimes,
    /// Failed authentications a client address may make a minute (as many at once) before
    /// its unknown keys are refused unread; 0 turns the limit off.
    pub auth_failures_per_minute: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 600,
            rate_limit_burst: 100,
            max_body_bytes: 1024 * 1024,
            max_batch_resources: 1000,
            max_policies_per_organization: 10_000,
            policy_limits: Limits::default(),
            idempotency: IdempotencyLifetimes::default(),
            auth_failures_per_minute: 60,
        }
    }
}

/// The state behind every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Where everything is kept.
    pub store: SharedStore,
    /// Compiled policy sets, by organization; used by evaluations, updated by writes.
    pub engines: Arc<Engines>,
    /// Request budgets by API key; used by the auth middleware.
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications by client address; used by the auth middleware.
    pub auth_failures: Arc<AuthFailures>,
    /// The settings this server runs with.
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// State for a server over `store` with `config`.
    pub fn new(store: SharedStore, config: ServerConfig) -> Self {
        Self {
            store,
            engines: Arc::new(Engines::default()),
            limiter: Arc::new(RateLimiter::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
            )),
            auth_failures: Arc::new(AuthFailures::new(config.auth_failures_per_minute)),
            config: Arc::new(config),
        }
    }
}
