//! `GET /v1/audit-events`: the organization's audit trail, oldest first.

use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use policycortex_store::{AuditEvent, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::query;
use crate::routes::policies::CursorPagination;
use crate::state::AppState;

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// The events, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<AuditEvent>,
    /// Whether more events follow, and the cursor to them.
    pub pagination: CursorPagination,
}

/// List audit events (audit:read scope).
#[utoipa::path(get, path = "/v1/audit-events", operation_id = "list_audit_events", tag = "audit",
    params(
        ("action" = Option<String>, Query, description = "Only this action, such as `policy.updated`"),
        ("target_id" = Option<String>, Query, description = "Only events about this id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; any other value is a 400"),
    ),
    responses(
        (status = 200, description = "A page of events", body = AuditList),
        (status = 400, description = "A bad query parameter", body = Problem),
        (status = 403, description = "The key lacks `audit:read`", body = Problem),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<AuditList>> {
    caller.require(Scope::AuditRead)?;
    let query = query::audit_query(raw.as_deref())?;
    let limit = query
        .page
        .as_ref()
        .map(|page| page.limit)
        .unwrap_or(query::DEFAULT_LIMIT);

    let page = state
        .store
        .list_audit_events(caller.organization_id(), &query)
        .await?;

    Ok(Json(AuditList {
        data: page.items,
        pagination: CursorPagination {
            limit,
            has_more: page.has_more,
            next_cursor: page.next_cursor,
        },
    }))
}
