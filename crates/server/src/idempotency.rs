//! `Idempotency-Key` on creates: a retried request with the same key and the same body
//! gets the first answer again and changes nothing; the same key with another body is a
//! 422. Keys belong to an organization and are kept with the answer in the store.

use std::future::Future;

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
    let request_hash = request_hash(operation, body);

    if let Some(answer) = state
        .store
        .find_idempotent(caller.organization_id(), &key)
        .await?
    {
        return replay(answer, &request_hash);
    }

    let response = handle().await?;
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
        .save_idempotent(caller.organization_id(), &key, &answer)
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

/// The stored answer, when the retry is the same request.
fn replay(answer: IdempotentAnswer, request_hash: &str) -> ApiResult<Response> {
    if answer.request_hash != request_hash {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(Body::from(answer.body));
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
