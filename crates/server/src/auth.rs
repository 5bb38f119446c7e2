//! Who is calling: the bearer key of every `/v1` request, checked against the store, and
//! the rate limit of that key.
//!
//! The middleware [`authenticate`] puts a [`Caller`] in the request's extensions; handlers
//! check the scope they need with [`Caller::require`]. A key is looked up by its hash on
//! every request, so a revoked or expired key stops working at once, on every server.
//! Failed authentications spend their client address's budget ([`crate::auth_failures`]).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use policycortex_store::{ApiKey, Scope, WriteContext};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::observe::RequestId;
use crate::state::AppState;

/// The authenticated key behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key, as stored.
    pub key: ApiKey,
    /// The request's id, for the audit trail.
    pub request_id: String,
    /// The organization's policy revision when the request was authenticated; evaluations
    /// compare it with their compiled policies' revision.
    pub policy_revision: i64,
}

impl Caller {
    /// The caller's organization.
    pub fn organization_id(&self) -> &str {
        &self.key.organization_id
    }

    /// Fails with 403 unless the key holds `scope` (or `admin`, which holds every scope
    /// of the organization).
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        let held = self.key.scopes.contains(&scope)
            || (scope != Scope::Operator && self.key.scopes.contains(&Scope::Admin));
        if held {
            Ok(())
        } else {
            Err(ApiError::Forbidden(scope.as_str()))
        }
    }

    /// Who is writing, for the store's versions and audit trail.
    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            organization_id: self.key.organization_id.clone(),
            actor: self.key.principal(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Authenticates the request and spends one request of the key's rate limit.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let (key, policy_revision) =
        match find_key_counting_failures(&state, address, authorization).await {
            Ok(found) => found,
            Err(error) => return error.into_response(),
        };

    let quota = state.limiter.check(&key.id);
    let mut response = if quota.allowed {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        request.extensions_mut().insert(Caller {
            key,
            request_id,
            policy_revision,
        });
        next.run(request).await
    } else {
        ApiError::RateLimited {
            retry_after: quota.reset_seconds.max(1),
        }
        .into_response()
    };
    state.limiter.announce(quota, response.headers_mut());
    response
}

/// [`find_key`], within the failure budget of the client's `address` (when known): an
/// address that has spent it gets 429 before an unknown key is looked up, and every 401
/// spends from it.
async fn find_key_counting_failures(
    state: &AppState,
    address: Option<IpAddr>,
    authorization: Option<HeaderValue>,
) -> ApiResult<(ApiKey, i64)> {
    let hash = bearer_secret(authorization.as_ref()).map(keys::hash);
    if let Some(address) = address {
        let known = hash.as_ref().ok().map(String::as_str);
        if let Some(retry_after) = state.auth_failures.blocked(address, known) {
            return Err(ApiError::TooManyFailedAuthentications { retry_after });
        }
    }

    let found = match &hash {
        Ok(hash) => find_key(state, hash)
            .await
            .inspect(|_| state.auth_failures.record_success(hash)),
        Err(why) => Err(ApiError::Unauthorized(why)),
    };
    if let (Err(ApiError::Unauthorized(_)), Some(address)) = (&found, address) {
        state.auth_failures.record_failure(address);
    }
    found
}

/// The well-formed key of a `Bearer` `Authorization` header, or why there is none.
fn bearer_secret(authorization: Option<&HeaderValue>) -> Result<&str, &'static str> {
    let header = authorization.ok_or("send an API key as `Authorization: Bearer KEY`")?;
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    let secret = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .ok_or("the `Authorization` header must be `Bearer KEY`")?;
    if keys::is_well_formed(secret) {
        Ok(secret)
    } else {
        Err("the API key is malformed")
    }
}

/// The active key whose secret hashes to `hash`, with its organization's policy revision.
async fn find_key(state: &AppState, hash: &str) -> ApiResult<(ApiKey, i64)> {
    let found = state.store.find_api_key_with_revision(hash).await?;
    // The lookup already matched the hash; comparing again in constant time keeps the
    // final check free of timing differences whatever the database's comparison does.
    let found = found.filter(|(key, _)| bool::from(key.key_hash.as_bytes().ct_eq(hash.as_bytes())));
    match found {
        Some((key, revision)) if key.is_active(Utc::now()) => Ok((key, revision)),
        Some(_) => Err(ApiError::Unauthorized("the API key is revoked or expired")),
        None => Err(ApiError::Unauthorized("the API key is not valid")),
    }
}
