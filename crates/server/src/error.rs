//! The one place where failures become HTTP answers: every non-2xx answer is an RFC 9457
//! `application/problem+json` body with a stable `code` and the request id.
//!
//! Handlers return [`ApiError`]; its response carries a [`Problem`] in its extensions, and
//! the request middleware (see [`crate::observe`]) renders it with the request id. Answers
//! that other layers produce (an unknown route, a wrong method, a body over the limit) are
//! turned into problems there too, so a client never sees any other error shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use policycortex_engine::FieldError;
use policycortex_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a request can fail with. Each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or the query is invalid; the list names each field.
    #[error("the request is invalid")]
    InvalidInput(Vec<FieldError>),
    /// 401: no key, a malformed key, or a key that is unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the key is valid but lacks the scope.
    #[error("this API key lacks the `{0}` scope")]
    Forbidden(&'static str),
    /// 404: nothing with this id in the caller's organization.
    #[error("{0}")]
    NotFound(String),
    /// 409: the change conflicts with stored data, such as a taken name.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names another version than the stored one.
    #[error("the policy has version {actual}; `If-Match` expected {expected}")]
    PreconditionFailed {
        /// The version `If-Match` named.
        expected: i64,
        /// The stored version.
        actual: i64,
    },
    /// 415: the body is not JSON.
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// 422: an `Idempotency-Key` reused with a different request.
    #[error("this `Idempotency-Key` was used with a different request")]
    IdempotencyKeyReused,
    /// 429: the key's rate limit is spent; retry after the given seconds.
    #[error("rate limit exceeded; retry in {retry_after} seconds")]
    RateLimited {
        /// Seconds until a request will be accepted again.
        retry_after: u64,
    },
    /// 429: this client address has sent too many bad keys; retry after the given seconds.
    #[error("too many failed authentications from this address; retry in {retry_after} seconds")]
    TooManyFailedAuthentications {
        /// Seconds until an unknown key from this address will be looked up again.
        retry_after: u64,
    },
    /// 503: the database cannot be reached; retry later.
    #[error("the service is temporarily unavailable; retry later")]
    Unavailable(String),
    /// 500: a fault of the service; the details go to the log only.
    #[error("an internal error occurred; the request id identifies it in the service log")]
    Internal(String),
}

impl ApiError {
    /// An invalid-input error on one field.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::InvalidInput(vec![FieldError::new(field, code, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::TooManyFailedAuthentications { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::RateLimited { .. } | Self::TooManyFailedAuthentications { .. } => "rate_limited",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The problem body of this error, without the request id yet.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let errors = match self {
            Self::InvalidInput(errors) => errors.clone(),
            _ => Vec::new(),
        };
        let detail = match self {
            Self::InvalidInput(errors) => summarize(errors),
            other => other.to_string(),
        };
        let internal = match self {
            Self::Unavailable(detail) | Self::Internal(detail) => Some(detail.clone()),
            _ => None,
        };
        Problem {
            kind: format!("urn:policycortex:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            request_id: String::new(),
            errors,
            internal,
        }
    }
}

/// One sentence for the `detail` of an invalid-input answer.
fn summarize(errors: &[FieldError]) -> String {
    match errors {
        [only] => format!("`{}` {}", only.field, only.message),
        _ => format!("{} fields are invalid; see `errors`", errors.len()),
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("no such resource in this organization".into()),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::VersionMismatch { expected, actual } => {
                Self::PreconditionFailed { expected, actual }
            }
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

/// The RFC 9457 body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:policycortex:problem:` and the code.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// A stable snake_case code for programs, such as `invalid_input` or `not_found`.
    pub code: String,
    /// The request's id, also in the `X-Request-Id` header and the service log.
    pub request_id: String,
    /// For invalid input: each field that is wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Internal details of a 5xx, logged and never sent.
    #[serde(skip)]
    pub internal: Option<String>,
}

impl Problem {
    /// The problem for an answer some other layer produced with only a status.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no route matches this path"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this route does not accept this method",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "the body is larger than the size limit (1 MiB unless configured)",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            status if status.is_server_error() => ("internal_error", "an internal error occurred"),
            _ => ("bad_request", "the request could not be understood"),
        };
        Self {
            kind: format!("urn:policycortex:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.to_owned(),
            code: code.to_owned(),
            request_id: String::new(),
            errors: Vec::new(),
            internal: None,
        }
    }

    /// The answer carrying this problem as JSON.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = status.into_response();
        match &self {
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after }
            | Self::TooManyFailedAuthentications { retry_after } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response.extensions_mut().insert(self.problem());
        response
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
