//! `/v1/policies`: create, read, list, update and delete policies, and read their versions.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use policycortex_engine::validate::{
    check_spec, parse_create, parse_update_with, PolicyCreate, PolicyUpdate,
};
use policycortex_engine::{Policy, Severity};
use policycortex_store::{PageStart, PolicyVersion, Scope, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::engines::Change;
use crate::error::{ApiError, ApiResult, Problem};
use crate::idempotency;
use crate::query;
use crate::routes::json_body;
use crate::state::AppState;

/// How often an update without `If-Match` retries when another write got in between.
const UPDATE_ATTEMPTS: usize = 3;

/// A page of policies.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// The policies of this page.
    pub data: Vec<Policy>,
    /// Where this page stands.
    pub pagination: Pagination,
}

/// Where a page stands in the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// The page size asked for (default 20, at most 100).
    pub limit: u32,
    /// The offset of this page; `null` for a page fetched by cursor.
    pub offset: Option<u64>,
    /// How many policies match the filters in all.
    pub total: Option<u64>,
    /// Whether more policies follow this page.
    pub has_more: bool,
    /// Pass as `cursor` to fetch the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A page of policy versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// The versions, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<PolicyVersion>,
    /// Whether more versions follow, and the cursor to them.
    pub pagination: CursorPagination,
}

/// Where a cursor-paged list stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct CursorPagination {
    /// The page size asked for.
    pub limit: u32,
    /// Whether more rows follow this page.
    pub has_more: bool,
    /// Pass as `cursor` to fetch the next page.
    pub next_cursor: Option<String>,
}

/// The fields `GET /v1/policies` sorts by.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// When the policy was created (the default).
    CreatedAt,
    /// When the policy last changed.
    UpdatedAt,
    /// The name, by code point.
    Name,
    /// LOW to CRITICAL.
    Severity,
}

/// The direction of a sort.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest first (the default).
    Desc,
}

/// Answers with a policy and its `ETag`.
fn policy_answer(status: StatusCode, policy: &Policy) -> Response {
    let mut response = (status, Json(policy)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", policy.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The version an `If-Match` header demands; `None` without the header or for `*`.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|version| version.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                "If-Match",
                "invalid_value",
                "must be `*` or an ETag such as `\"3\"`",
            )
        })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no policy `{id}` in this organization"))
}

/// Create a policy.
#[utoipa::path(post, path = "/v1/policies", operation_id = "create_policy", tag = "policies", request_body = PolicyCreate,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1 to 255 visible ASCII characters; retries with the same key and body return the first answer")),
    responses(
        (status = 201, description = "The created policy", body = Policy, headers(("ETag" = String, description = "The policy's version"))),
        (status = 400, description = "Invalid input", body = Problem),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `policies:write`", body = Problem),
        (status = 409, description = "The name is taken, or too many policies", body = Problem),
        (status = 413, description = "Body over 1 MiB", body = Problem),
        (status = 415, description = "Body not JSON", body = Problem),
        (status = 422, description = "Idempotency key reused with another body", body = Problem),
        (status = 429, description = "Rate limited", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::PoliciesWrite)?;
    let body = json_body(&headers, &body)?;
    idempotency::run(
        &state,
        &caller,
        &headers,
        "POST /v1/policies",
        body,
        || async {
            let spec =
                parse_create(body, &state.config.policy_limits).map_err(ApiError::InvalidInput)?;

            let policy = state
                .store
                .create_policy_within(
                    &caller.write_context(),
                    &spec,
                    state.config.max_policies_per_organization,
                )
                .await?;
            state
                .engines
                .after_write(
                    &state.store,
                    caller.organization_id(),
                    Change::Written(&policy),
                )
                .await;

            let mut response = policy_answer(StatusCode::CREATED, &policy);
            if let Ok(location) = HeaderValue::from_str(&format!("/v1/policies/{}", policy.id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        },
    )
    .await
}

/// List policies, filtered, sorted and paged.
#[utoipa::path(get, path = "/v1/policies", operation_id = "list_policies", tag = "policies",
    params(
        ("resource_type" = Option<String>, Query, min_length = 1, description = "Only this resource type"),
        ("severity" = Option<Severity>, Query, description = "LOW, MEDIUM, HIGH or CRITICAL"),
        ("enabled" = Option<bool>, Query, description = "true or false"),
        ("tags" = Option<String>, Query, pattern = "^[^,]+(,[^,]+)*$", description = "Comma-separated; a policy must carry every one"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("offset" = Option<u64>, Query, minimum = 0, maximum = 100000, description = "Rows to skip, 0 to 100,000, default 0; not with cursor"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; it keeps the sort and filters of its walk, so they may be left out; any other value, or another sort or filter, is a 400"),
        ("sort_by" = Option<SortBy>, Query, description = "created_at (default), updated_at, name or severity"),
        ("order" = Option<Order>, Query, description = "asc or desc (default)"),
    ),
    responses(
        (status = 200, description = "A page of policies", body = PolicyList),
        (status = 400, description = "A bad query parameter", body = Problem),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `policies:read`", body = Problem),
        (status = 429, description = "Rate limited", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<PolicyList>> {
    caller.require(Scope::PoliciesRead)?;
    let query = query::policy_query(raw.as_deref())?;

    let page = state
        .store
        .list_policies(caller.organization_id(), &query)
        .await?;

    let offset = match query.start {
        PageStart::Offset(offset) => Some(offset),
        PageStart::After(_) => None,
    };
    Ok(Json(PolicyList {
        data: page.items,
        pagination: Pagination {
            limit: query.limit,
            offset,
            total: page.total,
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        },
    }))
}

/// Read one policy.
#[utoipa::path(get, path = "/v1/policies/{id}", operation_id = "get_policy", tag = "policies",
    params(("id" = String, Path, description = "The policy id, such as `pol_…`")),
    responses(
        (status = 200, description = "The policy", body = Policy, headers(("ETag" = String, description = "The policy's version"))),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `policies:read`", body = Problem),
        (status = 404, description = "No such policy in this organization", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Scope::PoliciesRead)?;
    let policy = state
        .store
        .get_policy(caller.organization_id(), &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(policy_answer(StatusCode::OK, &policy))
}

/// Change some fields of a policy; fields left out keep their values.
#[utoipa::path(put, path = "/v1/policies/{id}", operation_id = "update_policy", tag = "policies", request_body = PolicyUpdate,
    params(
        ("id" = String, Path, description = "The policy id"),
        ("If-Match" = Option<String>, Header, description = "Only if the policy still has this ETag"),
    ),
    responses(
        (status = 200, description = "The updated policy", body = Policy, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Invalid input", body = Problem),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `policies:write`", body = Problem),
        (status = 404, description = "No such policy in this organization", body = Problem),
        (status = 409, description = "The new name is taken", body = Problem),
        (status = 412, description = "`If-Match` does not match", body = Problem),
        (status = 415, description = "Body not JSON", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(Scope::PoliciesWrite)?;
    let body = json_body(&headers, &body)?;
    let expected = if_match(&headers)?;
    let patch =
        parse_update_with(body, &state.config.policy_limits).map_err(ApiError::InvalidInput)?;

    let mut attempt = 0;
    let policy = loop {
        attempt += 1;
        let current = state
            .store
            .get_policy(caller.organization_id(), &id)
            .await?
            .ok_or_else(|| not_found(&id))?;
        if let Some(expected) = expected.filter(|expected| *expected != current.version) {
            return Err(ApiError::PreconditionFailed {
                expected,
                actual: current.version,
            });
        }
        let spec = patch.clone().apply(current.spec());
        check_spec(&spec, &state.config.policy_limits).map_err(ApiError::InvalidInput)?;

        match state
            .store
            .update_policy(&caller.write_context(), &id, current.version, &spec)
            .await
        {
            Err(StoreError::VersionMismatch { .. })
                if expected.is_none() && attempt < UPDATE_ATTEMPTS =>
            {
                continue
            }
            Err(StoreError::NotFound) => return Err(not_found(&id)),
            result => break result?,
        }
    };

    state
        .engines
        .after_write(
            &state.store,
            caller.organization_id(),
            Change::Written(&policy),
        )
        .await;
    Ok(policy_answer(StatusCode::OK, &policy))
}

/// Delete a policy permanently; its versions and audit events stay readable.
#[utoipa::path(delete, path = "/v1/policies/{id}", operation_id = "delete_policy", tag = "policies",
    params(
        ("id" = String, Path, description = "The policy id"),
        ("If-Match" = Option<String>, Header, description = "Only if the policy still has this ETag"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "`If-Match` is neither `*` nor an ETag", body = Problem),
        (status = 401, description = "Missing or bad key", body = Problem),
        (status = 403, description = "The key lacks `policies:write`", body = Problem),
        (status = 404, description = "No such policy in this organization", body = Problem),
        (status = 412, description = "`If-Match` does not match", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    caller.require(Scope::PoliciesWrite)?;
    let expected = if_match(&headers)?;

    match state
        .store
        .delete_policy(&caller.write_context(), &id, expected)
        .await
    {
        Err(StoreError::NotFound) => return Err(not_found(&id)),
        result => result?,
    }

    state
        .engines
        .after_write(&state.store, caller.organization_id(), Change::Deleted(&id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The versions of a policy, oldest first; a deleted policy's too.
#[utoipa::path(get, path = "/v1/policies/{id}/versions", operation_id = "list_policy_versions", tag = "policies",
    params(
        ("id" = String, Path, description = "The policy id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; any other value is a 400"),
    ),
    responses(
        (status = 200, description = "A page of versions", body = VersionList),
        (status = 400, description = "A bad or unknown query parameter", body = Problem),
        (status = 403, description = "The key lacks `policies:read`", body = Problem),
        (status = 404, description = "No policy with this id ever existed in this organization", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<VersionList>> {
    caller.require(Scope::PoliciesRead)?;
    let (page_request, _) = query::page_request(raw.as_deref(), &[])?;

    let page = state
        .store
        .list_policy_versions(caller.organization_id(), &id, &page_request)
        .await?;
    if page.items.is_empty() && page_request.after.is_none() {
        return Err(not_found(&id));
    }

    Ok(Json(VersionList {
        data: page.items,
        pagination: CursorPagination {
            limit: page_request.limit,
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        },
    }))
}
