//! The route table and the helpers that every handler shares.

pub mod audit;
pub mod evaluations;
pub mod health;
pub mod keys;
pub mod policies;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap};
use axum::routing::{delete, get, post};
use axum::{middleware, Router};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{auth, observe, openapi};

/// Every route of the service, in one place.
pub fn router(state: AppState) -> Router {
    let authenticated = Router::new()
        .route("/v1/policies", get(policies::list).post(policies::create))
        .route(
            "/v1/policies/{id}",
            get(policies::get)
                .put(policies::update)
                .delete(policies::delete),
        )
        .route("/v1/policies/{id}/versions", get(policies::versions))
        .route("/v1/evaluations", post(evaluations::evaluate))
        .route("/v1/organizations", post(keys::create_organization))
        .route("/v1/api-keys", get(keys::list).post(keys::create))
        .route("/v1/api-keys/{id}", delete(keys::revoke))
        .route("/v1/audit-events", get(audit::list))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));

    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/openapi.json", get(openapi::document));

    authenticated
        .merge(open)
        .fallback(health::not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn(observe::observe))
        .with_state(state)
}

/// The body of a request that must be JSON: 415 for any other content type.
pub fn json_body<'a>(headers: &HeaderMap, body: &'a [u8]) -> ApiResult<&'a [u8]> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    let is_json = media_type.is_some_and(|media_type| {
        let media_type = media_type.to_ascii_lowercase();
        media_type == "application/json"
            || (media_type.starts_with("application/") && media_type.ends_with("+json"))
    });
    if is_json {
        Ok(body)
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}
