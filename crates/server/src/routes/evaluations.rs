//! `POST /v1/evaluations`: decide about one resource, or a batch, against the caller's
//! stored policies or against draft policies sent with the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use policycortex_engine::validate::{create_from_object, parse_object, PolicyCreate};
use policycortex_engine::{Evaluation, FieldError, Policy, PolicySet, Summary};
use policycortex_store::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::json_body;
use crate::state::AppState;

/// Most draft policies one request may carry.
pub const MAX_DRAFT_POLICIES: usize = 100;

/// The body of `POST /v1/evaluations`: one resource, or a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EvaluationBody {
    /// One resource.
    One(EvaluationRequest),
    /// Many resources.
    Batch(BatchEvaluationRequest),
}

/// The answer of `POST /v1/evaluations`: an [`Evaluation`] for one resource, a
/// [`BatchEvaluation`] for a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EvaluationAnswer {
    /// For one resource.
    One(Evaluation),
    /// For a batch.
    Batch(BatchEvaluation),
}

/// One resource to evaluate (the single form of the request).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationRequest {
    /// The resource's type, such as `AWS::S3::Bucket`.
    #[schema(min_length = 1)]
    pub resource_type: String,
    /// The resource document, normally an object; any JSON value is accepted.
    pub resource: Value,
    /// Up to 100 draft policies to evaluate instead of the stored ones.
    #[serde(default)]
    #[schema(nullable = false, max_items = 100)]
    pub policies: Option<Vec<PolicyCreate>>,
}

/// Many resources to evaluate (the batch form of the request).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchEvaluationRequest {
    /// 1 to 1,000 resources.
    #[schema(min_items = 1, max_items = 1000)]
    pub resources: Vec<BatchItem>,
    /// Up to 100 draft policies to evaluate instead of the stored ones.
    #[serde(default)]
    #[schema(nullable = false, max_items = 100)]
    pub policies: Option<Vec<PolicyCreate>>,
}

/// One resource of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// The caller's name for the resource, echoed in its result; its index when left out.
    #[serde(default)]
    #[schema(nullable = false)]
    pub id: Option<String>,
    /// The resource's type.
    #[schema(min_length = 1)]
    pub resource_type: String,
    /// The resource document, normally an object; any JSON value is accepted.
    pub resource: Value,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchEvaluation {
    /// One result per resource, in the order sent.
    pub results: Vec<BatchResult>,
    /// Counts over all results.
    pub summary: Summary,
}

/// The evaluation of one resource of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The id the resource was sent with.
    pub id: String,
    /// True when no applicable policy denies the resource.
    pub compliant: bool,
    /// One decision per applicable policy.
    pub decisions: Vec<policycortex_engine::Decision>,
}

/// What a request asks to evaluate.
enum Subject {
    One {
        resource_type: String,
        resource: Value,
    },
    Batch(Vec<(String, String, Value)>),
}

/// Evaluate one resource, or a batch, against the organization's enabled policies (or the
/// drafts sent in `policies`).
#[utoipa::path(post, path = "/v1/evaluations", operation_id = "evaluate", tag = "evaluations",
    request_body(content = EvaluationBody, description = "One resource (EvaluationRequest), or `{\"resources\": [...]}` (BatchEvaluationRequest) for a batch"),
    responses(
        (status = 200, description = "The decisions: an Evaluation for one resource, a BatchEvaluation for a batch", body = EvaluationAnswer),
        (status = 400, description = "Invalid input", body = Problem),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `evaluations:run`", body = Problem),
        (status = 413, description = "Body over 1 MiB", body = Problem),
        (status = 415, description = "Body not JSON", body = Problem),
        (status = 429, description = "Rate limited", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn evaluate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::EvaluationsRun)?;
    let mut object = parse_object(json_body(&headers, &body)?).map_err(ApiError::InvalidInput)?;
    let drafts = take_drafts(&mut object, &state, &caller)?;
    let subject = parse_subject(object, state.config.max_batch_resources)?;

    let set = match drafts {
        Some(set) => Arc::new(set),
        None => {
            let revision = caller.policy_revision;
            state
                .engines
                .current_at(&state.store, caller.organization_id(), revision)
                .await?
        }
    };

    match subject {
        Subject::One {
            resource_type,
            resource,
        } => Ok(Json(set.evaluate(&resource_type, &resource)).into_response()),
        Subject::Batch(items) => Ok(Json(evaluate_batch(set, items).await?).into_response()),
    }
}

/// Evaluates a batch on the blocking pool, spread over every core.
async fn evaluate_batch(
    set: Arc<PolicySet>,
    items: Vec<(String, String, Value)>,
) -> ApiResult<BatchEvaluation> {
    let evaluations = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &Value)> = items
            .iter()
            .map(|(_, kind, resource)| (kind.as_str(), resource))
            .collect();
        let evaluations = set.evaluate_batch(&pairs);
        items
            .into_iter()
            .map(|(id, _, _)| id)
            .zip(evaluations)
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|error| ApiError::Internal(format!("batch evaluation failed: {error}")))?;

    let summary = Summary::of(evaluations.iter().map(|(_, evaluation)| evaluation));
    let results = evaluations
        .into_iter()
        .map(|(id, evaluation)| BatchResult {
            id,
            compliant: evaluation.compliant,
            decisions: evaluation.decisions,
        })
        .collect();
    Ok(BatchEvaluation { results, summary })
}

/// Removes `policies` from the request and compiles the drafts it holds.
fn take_drafts(
    object: &mut Map<String, Value>,
    state: &AppState,
    caller: &Caller,
) -> ApiResult<Option<PolicySet>> {
    let Some(drafts) = object.remove("policies") else {
        return Ok(None);
    };
    let Value::Array(drafts) = drafts else {
        return Err(ApiError::invalid(
            "policies",
            "invalid_type",
            "must be a list of policy objects",
        ));
    };
    if drafts.len() > MAX_DRAFT_POLICIES {
        return Err(ApiError::invalid(
            "policies",
            "too_many",
            format!("must hold at most {MAX_DRAFT_POLICIES} policies"),
        ));
    }

    let mut policies = Vec::new();
    let mut errors = Vec::new();
    for (index, draft) in drafts.into_iter().enumerate() {
        let Value::Object(draft) = draft else {
            errors.push(FieldError::new(
                format!("policies[{index}]"),
                "invalid_type",
                "must be a policy object",
            ));
            continue;
        };
        match create_from_object(draft, &state.config.policy_limits) {
            Ok(spec) => policies.push(Policy::from_spec(
                format!("draft_{index}"),
                spec,
                Utc::now(),
                caller.key.principal(),
            )),
            Err(draft_errors) => errors.extend(draft_errors.into_iter().map(|mut error| {
                error.field = format!("policies[{index}].{}", error.field);
                error
            })),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidInput(errors));
    }
    PolicySet::build(&policies)
        .map(Some)
        .map_err(|error| ApiError::Internal(error.to_string()))
}

/// Reads the single or the batch form, whichever the request uses.
fn parse_subject(mut object: Map<String, Value>, max_batch: usize) -> ApiResult<Subject> {
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|key| !["resource_type", "resource", "resources"].contains(&key.as_str()))
        .map(|key| {
            FieldError::new(
                key.as_str(),
                "unknown_field",
                format!("unknown field `{key}`"),
            )
        })
        .collect();

    let subject = match object.remove("resources") {
        Some(_) if object.contains_key("resource") || object.contains_key("resource_type") => {
            errors.push(FieldError::new(
                "resources",
                "conflicting_fields",
                "send either `resources` or `resource_type` with `resource`, not both",
            ));
            None
        }
        Some(resources) => batch(resources, max_batch, &mut errors).map(Subject::Batch),
        None => one(&mut object, "", &mut errors).map(|(resource_type, resource)| Subject::One {
            resource_type,
            resource,
        }),
    };

    match subject {
        Some(subject) if errors.is_empty() => Ok(subject),
        _ => Err(ApiError::InvalidInput(errors)),
    }
}

/// `resource_type` and `resource` of one item; `prefix` is its path in the request.
fn one(
    object: &mut Map<String, Value>,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, Value)> {
    let resource_type = match object.remove("resource_type") {
        Some(Value::String(kind)) if !kind.is_empty() => Some(kind),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{prefix}resource_type"),
                "invalid_type",
                "must be a non-empty string",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                format!("{prefix}resource_type"),
                "required",
                "is required",
            ));
            None
        }
    };
    let resource = object.remove("resource");
    if resource.is_none() {
        errors.push(FieldError::new(
            format!("{prefix}resource"),
            "required",
            "is required",
        ));
    }
    Some((resource_type?, resource?))
}

/// The items of the batch form.
fn batch(
    resources: Value,
    max_batch: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<(String, String, Value)>> {
    let Value::Array(resources) = resources else {
        errors.push(FieldError::new(
            "resources",
            "invalid_type",
            "must be a list",
        ));
        return None;
    };
    if resources.is_empty() || resources.len() > max_batch {
        errors.push(FieldError::new(
            "resources",
            "invalid_length",
            format!(
                "must hold 1 to {max_batch} resources, got {}",
                resources.len()
            ),
        ));
        return None;
    }

    let mut items = Vec::with_capacity(resources.len());
    for (index, item) in resources.into_iter().enumerate() {
        let prefix = format!("resources[{index}].");
        let Value::Object(mut item) = item else {
            errors.push(FieldError::new(
                format!("resources[{index}]"),
                "invalid_type",
                "must be an object",
            ));
            continue;
        };
        let id = match item.remove("id") {
            Some(Value::String(id)) => Some(id),
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{prefix}id"),
                    "invalid_type",
                    "must be a string",
                ));
                None
            }
            None => Some(index.to_string()),
        };
        for key in item
            .keys()
            .filter(|key| *key != "resource_type" && *key != "resource")
        {
            errors.push(FieldError::new(
                format!("{prefix}{key}"),
                "unknown_field",
                format!("unknown field `{key}`"),
            ));
        }
        if let (Some(id), Some((kind, resource))) = (id, one(&mut item, &prefix, errors)) {
            items.push((id, kind, resource));
        }
    }
    Some(items)
}
