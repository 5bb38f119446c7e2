//! The SQL builders of SQLite lists: the filters of a policy list, its keyset cursor
//! condition, and its order and page bounds; the filters and page of an audit log.

use sqlx::{QueryBuilder, Sqlite};

use crate::cursor::SortKey;
use crate::model::*;

/// Appends the WHERE clause of a policy list: the organization and the filters.
pub(super) fn push_policy_filters(
    sql: &mut QueryBuilder<'_, Sqlite>,
    organization_id: &str,
    query: &PolicyQuery,
) {
    sql.push(" WHERE organization_id = ")
        .push_bind(organization_id.to_owned());
    if let Some(resource_type) = &query.resource_type {
        sql.push(" AND resource_type = ")
            .push_bind(resource_type.clone());
    }
    if let Some(severity) = query.severity {
        sql.push(" AND severity = ").push_bind(severity.rank());
    }
    if let Some(enabled) = query.enabled {
        sql.push(" AND enabled = ").push_bind(enabled);
    }
    for tag in &query.tags {
        sql.push(" AND EXISTS (SELECT 1 FROM json_each(policies.tags) WHERE value = ")
            .push_bind(tag.clone())
            .push(")");
    }
}

/// Appends the keyset condition that starts a page strictly after the cursor's row.
pub(super) fn push_after_cursor(sql: &mut QueryBuilder<'_, Sqlite>, query: &PolicyQuery) {
    let PageStart::After(cursor) = &query.start else {
        return;
    };
    let column = query.sort_by.as_str();
    let beyond = match query.order {
        SortOrder::Asc => ">",
        SortOrder::Desc => "<",
    };
    let bind_key = |sql: &mut QueryBuilder<'_, Sqlite>| match &cursor.key {
        SortKey::Int(value) => {
            sql.push_bind(*value);
        }
        SortKey::Text(value) => {
            sql.push_bind(value.clone());
        }
    };
    sql.push(format!(" AND ({column} {beyond} "));
    bind_key(sql);
    sql.push(format!(" OR ({column} = "));
    bind_key(sql);
    sql.push(format!(" AND id {beyond} "))
        .push_bind(cursor.id.clone())
        .push("))");
}

/// Appends the order of a policy list, with `id` breaking ties, and its page bounds: one
/// row beyond the limit, which says whether more follow, and the offset if any.
pub(super) fn push_order_and_bounds(select: &mut QueryBuilder<'_, Sqlite>, query: &PolicyQuery) {
    let direction = match query.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    select.push(format!(
        " ORDER BY {} {direction}, id {direction}",
        query.sort_by.as_str()
    ));
    select.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
    if let PageStart::Offset(offset) = query.start {
        select.push(" OFFSET ").push_bind(offset as i64);
    }
}

/// The query of one page of an organization's audit log: its filters, then the events
/// after the page's sequence number, one beyond the limit.
pub(super) fn audit_events_select(
    organization_id: &str,
    query: &AuditQuery,
    page: &PageRequest,
) -> QueryBuilder<'static, Sqlite> {
    let mut select = QueryBuilder::new("SELECT * FROM audit_events WHERE organization_id = ");
    select.push_bind(organization_id.to_owned());
    if let Some(action) = &query.action {
        select.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(target_id) = &query.target_id {
        select
            .push(" AND target_id = ")
            .push_bind(target_id.clone());
    }
    select
        .push(" AND sequence > ")
        .push_bind(page.after.unwrap_or(0));
    select
        .push(" ORDER BY sequence LIMIT ")
        .push_bind(i64::from(page.limit) + 1);
    select
}
