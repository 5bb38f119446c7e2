//! The OpenAPI 3.1 document, generated from the handlers and types themselves so that it
//! cannot drift from what the server does; served at `/v1/openapi.json`.
//!
//! Each handler's annotation lists the answers particular to it. The answers that every
//! request can get, because the middleware gives them (401 and 429 from authentication,
//! 413 and 415 for bodies, 500 and 503 from the store), are added here once, and every
//! error answer is declared as `application/problem+json`, which is what
//! [`crate::observe`] sends. `scripts/schemathesis` checks the document against a running
//! server.

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::routes;

/// The media type of every error answer.
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(title = "PolicyCortex API", description = "Policy-as-code for cloud governance: manage policies and evaluate resources against them."),
    paths(
        routes::policies::create,
        routes::policies::list,
        routes::policies::get,
        routes::policies::update,
        routes::policies::delete,
        routes::policies::versions,
        routes::evaluations::evaluate,
        routes::keys::create_organization,
        routes::keys::create,
        routes::keys::list,
        routes::keys::revoke,
        routes::audit::list,
        routes::health::healthz,
        routes::health::readyz,
        document,
    ),
    components(schemas(
        crate::error::Problem,
        policycortex_engine::Severity,
        routes::policies::SortBy,
        routes::policies::Order,
        routes::evaluations::EvaluationRequest,
        routes::evaluations::BatchEvaluationRequest,
        routes::evaluations::BatchEvaluation,
    )),
    modifiers(&BearerAuth, &CommonProblems),
)]
pub struct ApiDoc;

/// Declares the `Authorization: Bearer KEY` scheme the operations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Answers every authenticated operation can give, whatever its handler does.
const AUTHENTICATED: [(&str, &str); 4] = [
    (
        "401",
        "Missing, malformed, unknown, revoked or expired API key; with `WWW-Authenticate: Bearer`",
    ),
    ("429", "The key's rate limit is spent; with `Retry-After`"),
    (
        "500",
        "A fault of the service; the request id finds it in the log",
    ),
    ("503", "The store cannot be reached; retry later"),
];

/// Answers every operation that takes a body can give.
const WITH_BODY: [(&str, &str); 3] = [
    ("400", "Invalid input; `errors` names each field"),
    ("413", "The body is over the size limit (1 MiB by default)"),
    ("415", "The body is not declared as JSON"),
];

/// Adds the answers of [`AUTHENTICATED`] and [`WITH_BODY`] where they apply, and declares
/// every 4xx and 5xx answer as a [`crate::error::Problem`] in `application/problem+json`.
struct CommonProblems;

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_common_problems(operation);
            }
        }
    }
}

fn add_common_problems(operation: &mut Operation) {
    let authenticated = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let common = authenticated
        .then_some(AUTHENTICATED.as_slice())
        .into_iter()
        .chain(
            operation
                .request_body
                .is_some()
                .then_some(WITH_BODY.as_slice()),
        )
        .flatten();
    for (status, description) in common {
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(*description).build()));
    }

    for (status, response) in &mut operation.responses.responses {
        if let (true, RefOr::T(response)) = (is_error(status), response) {
            declare_problem(response);
        }
    }
}

fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

/// Makes `response`'s only content the problem schema in `application/problem+json`.
fn declare_problem(response: &mut Response) {
    response.content.clear();
    response.content.insert(
        PROBLEM_MEDIA_TYPE.to_owned(),
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
}

/// Serve the OpenAPI document; it needs no key.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses(
    (status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"),
))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
