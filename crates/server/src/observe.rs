//! The outermost middleware: gives every request an id, renders every error answer as a
//! problem body, and writes the one log line per request.
//!
//! The request id is taken from `X-Request-Id` when the client sends a sane one (1 to 128
//! visible ASCII characters) and generated otherwise; it is echoed in the answer's
//! `X-Request-Id` and in every problem body. The log line names the matched route, never
//! the raw URL, so that nothing a client put in a query string reaches the log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use crate::error::Problem;

/// The header that carries the request id both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Runs around every request; see the module documentation.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request_id_of(&request);
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());

    let response = next.run(request).await;
    let mut response = render_problem(response, &request_id);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }

    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        http.method = %method,
        http.route = %route,
        http.status = status,
        duration_ms,
        request.id = %request_id,
        "request"
    );
    response
}

/// The client's request id when it is sane, a new one otherwise.
fn request_id_of(request: &Request) -> String {
    let sent = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok());
    match sent {
        Some(id) if is_sane_request_id(id) => id.to_owned(),
        _ => new_request_id(),
    }
}

fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_graphic())
}

fn new_request_id() -> String {
    let random: u128 = rand::thread_rng().gen();
    format!("req_{random:032x}")
}

/// Gives an error answer its problem body: the one a handler attached, or one made from
/// the status for answers from other layers. 5xx details are logged here, once.
fn render_problem(response: Response, request_id: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let mut problem = match parts.extensions.get::<Problem>() {
        Some(problem) => problem.clone(),
        None if is_problem(&parts.headers) => return Response::from_parts(parts, body),
        None => Problem::for_status(status),
    };
    problem.request_id = request_id.to_owned();
    if status.is_server_error() {
        let internal = problem.internal.as_deref().unwrap_or("no details");
        tracing::error!(request.id = %request_id, http.status = status.as_u16(), error = %internal, "request failed");
    }

    let mut rendered = problem.into_response_with(status);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// Whether another layer already wrote a problem body.
fn is_problem(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == b"application/problem+json")
}
