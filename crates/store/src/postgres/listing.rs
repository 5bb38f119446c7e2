//! The SQL builders of PostgreSQL lists: the filters of a policy list, its keyset cursor
//! condition with the key typed for its column, and its order and page bounds; the
//! filters and page of an audit log.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use crate::common::*;
use crate::cursor::SortKey;
use crate::model::*;

/// Appends the WHERE clause of a policy list: the organization and the filters.
pub(super) fn push_policy_filters(
    sql: &mut QueryBuilder<'_, Postgres>,
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
    if !query.tags.is_empty() {
        sql.push(" AND tags @> ").push_bind(query.tags.clone());
    }
}

/// A cursor's sort key, typed for its column.
enum KeyValue {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

/// The cursor key as its column's type, or `None` when it does not fit the sort field
/// (no cursor this service issues is like that).
fn key_value(sort_by: SortField, key: &SortKey) -> Option<KeyValue> {
    match (sort_by, key) {
        (SortField::Severity, SortKey::Int(rank)) => Some(KeyValue::Int(*rank)),
        (SortField::Name, SortKey::Text(name)) => Some(KeyValue::Text(name.clone())),
        (SortField::CreatedAt | SortField::UpdatedAt, SortKey::Text(text)) => {
            parse_timestamp(text).ok().map(KeyValue::Time)
        }
        _ => None,
    }
}

/// Binds a cursor key as its column's type.
fn push_key(sql: &mut QueryBuilder<'_, Postgres>, key: &KeyValue) {
    match key {
        KeyValue::Int(rank) => sql.push_bind(*rank),
        KeyValue::Text(name) => sql.push_bind(name.clone()),
        KeyValue::Time(time) => sql.push_bind(*time),
    };
}

/// Appends the keyset condition that starts a page strictly after the cursor's row. A
/// cursor whose key does not fit its sort field matches no row.
pub(super) fn push_after_cursor(sql: &mut QueryBuilder<'_, Postgres>, query: &PolicyQuery) {
    let PageStart::After(cursor) = &query.start else {
        return;
    };
    let Some(key) = key_value(query.sort_by, &cursor.key) else {
        sql.push(" AND FALSE");
        return;
    };
    let column = query.sort_by.as_str();
    let beyond = match query.order {
        SortOrder::Asc => ">",
        SortOrder::Desc => "<",
    };

    sql.push(format!(" AND ({column} {beyond} "));
    push_key(sql, &key);
    sql.push(format!(" OR ({column} = "));
    push_key(sql, &key);
    sql.push(format!(" AND id {beyond} "))
        .push_bind(cursor.id.clone())
        .push("))");
}

/// Appends the order of a policy list, with `id` breaking ties, and its page bounds: one
/// row beyond the limit, which says whether more follow, and the offset if any.
pub(super) fn push_order_and_bounds(select: &mut QueryBuilder<'_, Postgres>, query: &PolicyQuery) {
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
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        select.push(" OFFSET ").push_bind(offset);
    }
}

/// The query of one page of an organization's audit log: its filters, then the events
/// after the page's sequence number, one beyond the limit.
pub(super) fn audit_events_select(
    organization_id: &str,
    query: &AuditQuery,
    page: &PageRequest,
) -> QueryBuilder<'static, Postgres> {
    let mut select = QueryBuilder::new(
        "SELECT sequence, id, action, target_type, target_id, actor, request_id, \
         changes::text AS changes, created_at FROM audit_events WHERE organization_id = ",
    );
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
