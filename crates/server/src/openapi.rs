//! The OpenAPI 3.1 document, generated from the handlers and types themselves so that it
//! cannot drift from what the server does; served at `/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

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
    components(schemas(routes::evaluations::BatchEvaluationRequest, routes::evaluations::BatchEvaluation)),
    modifiers(&BearerAuth),
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

/// Serve the OpenAPI document; it needs no key.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses(
    (status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json"),
))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
