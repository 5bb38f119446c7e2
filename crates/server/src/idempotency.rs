//! `Idempotency-Key` on creates: a retried request with the same key and the same body
//! gets the first answer again and changes nothing; the same key with another body is a
//! 422. Keys belong to an organization and are kept with the answer in the store.
//!
//! The store reserves a key before the request runs (`Store::claim_idempotent`), so of
//! several requests with one key, on one server or many, exactly one runs; the others wait
//! for its answer and replay it. A request that fails releases its key, so that a retry
//! runs anew, and so does a request whose client went away. A reservation left by a
//! server that died is taken over after a minute.

use std::future::Future;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use policycortex_store::{IdempotencyClaim, IdempotentAnswer, SharedStore};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long, and how often, a request waits for the answer of another request with the
/// same key that is still running.
const PENDING_WAIT: Duration = Duration::from_secs(10);
const PENDING_POLL: Duration = Duration::from_millis(50);

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
    let request_hash = request_hash(operation, body);

    if let Some(answer) = wait_for_claim(state, organization_id, &key, &request_hash).await? {
        return replay(answer, &request_hash, operation);
    }

    let mut claim = Claim::new(&state.store, organization_id, &key);
    let response = match handle().await {
        Ok(response) if response.status().is_success() => response,
        other => {
            claim.release().await?;
            return other;
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let answer = IdempotentAnswer {
        request_hash,
        status: parts.status.as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    claim.complete(&answer).await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// A key this request has claimed. Unless it is completed or released, dropping it (the
/// client went away and the request was cancelled) releases the key in the background, so
/// that the client's retry runs instead of waiting out the claim timeout.
struct Claim {
    store: SharedStore,
    organization_id: String,
    key: String,
    settled: bool,
}

impl Claim {
    fn new(store: &SharedStore, organization_id: &str, key: &str) -> Self {
        Self {
            store: store.clone(),
            organization_id: organization_id.to_owned(),
            key: key.to_owned(),
            settled: false,
        }
    }

    async fn complete(&mut self, answer: &IdempotentAnswer) -> ApiResult<()> {
        self.settled = true;
        self.store
            .complete_idempotent(&self.organization_id, &self.key, answer)
            .await?;
        Ok(())
    }

    async fn release(&mut self) -> ApiResult<()> {
        self.settled = true;
        self.store
            .release_idempotent(&self.organization_id, &self.key)
            .await?;
        Ok(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let organization_id = std::mem::take(&mut self.organization_id);
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            if let Err(error) = store.release_idempotent(&organization_id, &key).await {
                tracing::warn!(
                    %error,
                    organization.id = %organization_id,
                    "could not release the idempotency key of a cancelled request"
                );
            }
        });
    }
}

/// Claims `key` for this request: `None` when it is ours to run, or the first request's
/// answer once it has one. A key still pending after [`PENDING_WAIT`] is a 409.
async fn wait_for_claim(
    state: &AppState,
    organization_id: &str,
    key: &str,
    request_hash: &str,
) -> ApiResult<Option<IdempotentAnswer>> {
    let deadline = tokio::time::Instant::now() + PENDING_WAIT;
    loop {
        let claim = state
            .store
            .claim_idempotent(organization_id, key, request_hash, state.config.idempotency)
            .await?;
        match claim {
            IdempotencyClaim::Claimed => return Ok(None),
            IdempotencyClaim::Taken(answer) if answer.request_hash != request_hash => {
                return Err(ApiError::IdempotencyKeyReused)
            }
            IdempotencyClaim::Taken(answer) if !answer.is_pending() => return Ok(Some(answer)),
            IdempotencyClaim::Taken(_) if tokio::time::Instant::now() >= deadline => {
                return Err(ApiError::Conflict(
                    "a request with this `Idempotency-Key` is still running; retry later".into(),
                ))
            }
            IdempotencyClaim::Taken(_) => tokio::time::sleep(PENDING_POLL).await,
        }
    }
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

#[cfg(test)]
mod tests {
    //! The claim guard against a real SQLite store.

    use policycortex_store::{IdempotencyLifetimes, StoreOptions};

    use super::*;

    /// A store on a new SQLite file, and an organization in it.
    async fn scratch_store() -> (SharedStore, String, tempfile::TempDir) {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", directory.path().join("test.db").display());
        let store = policycortex_store::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        let organization = store.create_organization("test").await.unwrap().id;
        (store, organization, directory)
    }

    #[tokio::test]
    async fn a_claim_dropped_before_it_is_settled_gives_its_key_back() {
        let (store, organization, _directory) = scratch_store().await;
        let lifetimes = IdempotencyLifetimes::default();
        let first = store
            .claim_idempotent(&organization, "k", "h", lifetimes)
            .await
            .unwrap();
        assert_eq!(first, IdempotencyClaim::Claimed);

        // As when the client goes away and the request's future is dropped.
        drop(Claim::new(&store, &organization, "k"));

        for _ in 0..200 {
            if store
                .find_idempotent(&organization, "k")
                .await
                .unwrap()
                .is_none()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the dropped claim kept its key");
    }

    #[tokio::test]
    async fn a_completed_claim_keeps_its_answer_when_dropped() {
        let (store, organization, _directory) = scratch_store().await;
        store
            .claim_idempotent(&organization, "k", "h", IdempotencyLifetimes::default())
            .await
            .unwrap();
        let answer = IdempotentAnswer {
            request_hash: "h".into(),
            status: 201,
            body: "{}".into(),
        };

        let mut claim = Claim::new(&store, &organization, "k");
        claim.complete(&answer).await.unwrap();
        drop(claim);
        tokio::time::sleep(Duration::from_millis(100)).await;

        assert_eq!(
            store.find_idempotent(&organization, "k").await.unwrap(),
            Some(answer)
        );
    }
}
