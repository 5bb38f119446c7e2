//! The PolicyCortex HTTP server: routes, authentication, rate limits, errors and the
//! OpenAPI document. This is the only crate that speaks HTTP.
//!
//! - [`routes`]: the route table and the handlers, one module per resource.
//! - [`auth`] and [`keys`]: bearer keys, their format and their scopes;
//!   [`auth_failures`]: the budget of failed authentications per client address.
//! - [`error`]: the problem+json answer of every failure.
//! - [`observe`]: request ids, the log line per request.
//! - [`engines`]: compiled policy sets per organization, kept fresh.
//! - [`query`]: strict query-string parsing.

// Library code never unwraps, expects or panics: a server must not fall over on input.
// Tests may, and integration tests are separate crates that this does not reach.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod auth_failures;
pub mod engines;
pub mod error;
pub mod idempotency;
pub mod keys;
pub mod observe;
pub mod openapi;
pub mod query;
pub mod rate_limit;
pub mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;

use error::ApiError;
use policycortex_store::{Scope, SharedStore, WriteContext};
use tokio::net::TcpListener;

pub use routes::router;
pub use state::{AppState, ServerConfig};

/// The id of the organization the first start creates.
pub const BOOTSTRAP_ORGANIZATION: &str = "org_default";

/// How the first admin key came to be, on a first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Keys existed already, or another server is making the first one; nothing was made.
    KeysExist,
    /// `POLICYCORTEX_BOOTSTRAP_KEY` became the first admin key.
    FromEnvironment,
    /// A key was generated; it must be shown to the operator once.
    Generated(String),
}

/// Why the first admin key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The bootstrap key does not have the accepted shape.
    #[error(
        "POLICYCORTEX_BOOTSTRAP_KEY must be 32 to 256 characters of A-Z, a-z, 0-9, `_` and `-`"
    )]
    MalformedKey,
    /// The store failed.
    #[error("could not create the first admin key: {0}")]
    Store(String),
}

/// On a store without any key: makes the `default` organization and its first key, with
/// the `admin` and `operator` scopes, from `bootstrap_key` or generated.
pub async fn bootstrap(
    store: &SharedStore,
    bootstrap_key: Option<&str>,
) -> Result<Bootstrap, BootstrapError> {
    let store_error =
        |error: policycortex_store::StoreError| BootstrapError::Store(error.to_string());
    if store.count_api_keys().await.map_err(store_error)? > 0 {
        return Ok(Bootstrap::KeysExist);
    }
    if bootstrap_key.is_some_and(|key| !keys::is_valid_bootstrap_key(key)) {
        return Err(BootstrapError::MalformedKey);
    }

    // A fixed id makes the first start safe when several servers start at once on one
    // database: only one creates the organization; the others find it taken and go on.
    let created = store
        .create_organization_with_id(BOOTSTRAP_ORGANIZATION, "default")
        .await;
    let organization = match created {
        Err(policycortex_store::StoreError::Conflict(_)) => return Ok(Bootstrap::KeysExist),
        other => other.map_err(store_error)?,
    };
    let ctx = WriteContext {
        organization_id: organization.id,
        actor: "bootstrap".into(),
        request_id: "bootstrap".into(),
    };
    let scopes = vec![Scope::Admin, Scope::Operator];
    let secret = bootstrap_key.map(str::to_owned);
    let created = routes::keys::issue_key(store, &ctx, "bootstrap".into(), scopes, None, secret)
        .await
        .map_err(|error| match error {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                BootstrapError::Store(detail)
            }
            other => BootstrapError::Store(other.to_string()),
        })?;
    Ok(match bootstrap_key {
        Some(_) => Bootstrap::FromEnvironment,
        None => Bootstrap::Generated(created.key),
    })
}

/// Serves `state` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish. Each request knows its client's address, for [`auth_failures`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}
