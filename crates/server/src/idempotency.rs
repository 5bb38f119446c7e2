//! `Idempotency-Key` on creates: a retried request with the same key and the same body
//! gets the first answer again and changes nothing; the same key with another body is a
//! 422. Keys belong to an organization and are kept with the answer in the store.
//!
//! Requests with the same key run one after the other within a server ([`KeyLocks`]), so a
//! retry sent while the first request is still running waits for its answer. Across
//! servers the store has no reservation: when a create fails with a conflict (the first
//! request, on another server, made the same policy), the stored answer is looked for a
//! few more times before the conflict is answered.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use policycortex_store::IdempotentAnswer;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How often, and how far apart, a conflicting create looks for an answer that another
/// server is about to store.
const CONFLICT_RECHECKS: u32 = 5;
const CONFLICT_RECHECK_PAUSE: Duration = Duration::from_millis(100);

/// The lock of one organization's idempotency key.
type KeyLock = Arc<tokio::sync::Mutex<()>>;

/// One lock per organization and idempotency key in use, so that requests with the same
/// key run one at a time in this server.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<(String, String), KeyLock>>,
}

impl KeyLocks {
    fn lock_of(&self, organization_id: &str, key: &str) -> KeyLock {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        held.entry((organization_id.to_owned(), key.to_owned()))
            .or_default()
            .clone()
    }

    /// Forgets the lock of `key` once nobody else holds or waits for it.
    fn release(&self, organization_id: &str, key: &str, lock: KeyLock) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // One reference in the map, one here: nobody else is waiting.
        if Arc::strong_count(&lock) <= 2 {
            held.remove(&(organization_id.to_owned(), key.to_owned()));
        }
    }
}

/// Runs `handle` once per idempotency key: the first successful answer is stored and
/// replayed for every retry with the same key and request.
pub async fn run<F, Fut>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    operation: &str,
    body: &[u8],
    handle: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Response>>,
{
    let Some(key) = idempotency_key(headers)? else {
        return handle().await;
    };
    let organization_id = caller.organization_id();
    let lock = state.idempotency_locks.lock_of(organization_id, &key);
    let guard = lock.lock().await;
    let result = run_once(state, organization_id, &key, operation, body, handle).await;
    drop(guard);
    state.idempotency_locks.release(organization_id, &key, lock);
    result
}

async fn run_once<F, Fut>(
    state: &AppState,
    organization_id: &str,
    key: &str,
    operation: &str,
    body: &[u8],
    handle: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Response>>,
{
    let request_hash = request_hash(operation, body);

    if let Some(answer) = state.store.find_idempotent(organization_id, key).await? {
        return replay(answer, &request_hash, operation);
    }

    let response = match handle().await {
        Ok(response) => response,
        Err(ApiError::Conflict(detail)) => {
            // Another server may have just made this very thing for the same key.
            for _ in 0..CONFLICT_RECHECKS {
                tokio::time::sleep(CONFLICT_RECHECK_PAUSE).await;
                if let Some(answer) = state.store.find_idempotent(organization_id, key).await? {
                    return replay(answer, &request_hash, operation);
                }
            }
            return Err(ApiError::Conflict(detail));
        }
        Err(error) => return Err(error),
    };
    if !response.status().is_success() {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let answer = IdempotentAnswer {
        request_hash,
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    state
        .store
        .save_idempotent(organization_id, key, &answer)
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// The key a request sent, if any: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(ApiError::invalid(
            "Idempotency-Key",
            "invalid_value",
            "must be 1 to 255 visible ASCII characters",
        )),
    }
}

fn request_hash(operation: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The stored answer, when the retry is the same request. The store keeps only status and
/// body; the `ETag` and `Location` of a created policy are made again from the body.
fn replay(answer: IdempotentAnswer, request_hash: &str, operation: &str) -> ApiResult<Response> {
    if answer.request_hash != request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let created: Option<serde_json::Value> = serde_json::from_str(&answer.body).ok();
    let mut response = Response::new(Body::from(answer.body));
    if let Some(created) = created {
        if let Some(version) = created.get("version").and_then(serde_json::Value::as_i64) {
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
                response.headers_mut().insert(header::ETAG, etag);
            }
        }
        let id = created.get("id").and_then(serde_json::Value::as_str);
        if let (Some(id), Some(("POST", path))) = (id, operation.split_once(' ')) {
            if let Ok(location) = HeaderValue::from_str(&format!("{path}/{id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
        }
    }
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
