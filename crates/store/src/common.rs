//! Pieces both stores share: timestamps, error mapping, audit diffs and paging helpers.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use policycortex_engine::{Policy, PolicySpec};
use serde_json::{json, Map, Value};

use crate::cursor::{Cursor, CursorFilters, SortKey};
use crate::model::{Page, PolicyQuery, SortField};
use crate::StoreError;

/// The current time, cut to microseconds: the precision both databases keep, so that a
/// written timestamp reads back unchanged.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The fixed text form of a timestamp, whose text order is time order.
pub fn timestamp_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a timestamp written by [`timestamp_text`].
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| StoreError::Internal(format!("bad stored timestamp `{text}`: {error}")))
}

/// Sorts database failures into the store's errors: lost connections and exhausted pools
/// are "unavailable" (a 503 that recovers by itself), the rest internal.
pub fn map_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Database(ref database)
            if is_connection_failure(database.code().as_deref()) =>
        {
            StoreError::Unavailable(error.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

/// PostgreSQL codes of classes 08 (connection), 57P (operator intervention, such as a
/// server shutting down), 53 (insufficient resources), and 57014: a statement cancelled by
/// `statement_timeout`, which says the database is too busy to answer in time.
fn is_connection_failure(code: Option<&str>) -> bool {
    code.is_some_and(|code| {
        code.starts_with("08")
            || code.starts_with("57P")
            || code.starts_with("53")
            || code == "57014"
    })
}

/// The `updated_at` of a change made now to a row last changed at `previous`: now, or a
/// microsecond after `previous` when the clock has not moved past it, so that every change
/// moves `updated_at` forward.
pub fn next_update_time(previous: DateTime<Utc>) -> DateTime<Utc> {
    now().max(previous + chrono::Duration::microseconds(1))
}

/// Whether `error` is a violation of a unique constraint.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(database) if database.is_unique_violation())
}

/// The conflict answered when a policy name is taken.
pub fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a policy named `{name}` already exists in this organization"
    ))
}

/// The conflict answered when an organization holds its maximum of policies.
pub fn quota_reached(max_policies: u64) -> StoreError {
    StoreError::Conflict(format!(
        "this organization already holds the maximum of {max_policies} policies; delete one first"
    ))
}

/// JSON text of a value that always serializes.
pub fn to_json_text<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Internal(error.to_string()))
}

/// Reads JSON text stored by this crate.
pub fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|error| StoreError::Internal(format!("bad stored json: {error}")))
}

/// `before` with the fields of `spec`, one version later.
pub fn updated_policy(before: &Policy, spec: &PolicySpec) -> Policy {
    Policy {
        name: spec.name.clone(),
        description: spec.description.clone(),
        resource_type: spec.resource_type.clone(),
        severity: spec.severity,
        enabled: spec.enabled,
        rules: spec.rules.clone(),
        compliance_frameworks: spec.compliance_frameworks.clone(),
        auto_remediation: spec.auto_remediation,
        remediation_action: spec.remediation_action.clone(),
        tags: spec.tags.clone(),
        version: before.version + 1,
        updated_at: next_update_time(before.updated_at),
        ..before.clone()
    }
}

/// The fields an update changed, each with its value before and after.
pub fn policy_changes(before: &Policy, after: &Policy) -> Value {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) = (
        serde_json::to_value(before.spec_view()),
        serde_json::to_value(after.spec_view()),
    ) else {
        return Value::Null;
    };
    let changed: Map<String, Value> = new
        .into_iter()
        .filter(|(field, value)| old.get(field) != Some(value))
        .map(|(field, value)| {
            let from = old.get(&field).cloned().unwrap_or(Value::Null);
            (field, json!({ "from": from, "to": value }))
        })
        .collect();
    Value::Object(changed)
}

/// The sort key of `policy` under `sort_by`, as a cursor holds it.
pub fn sort_key(policy: &Policy, sort_by: SortField) -> SortKey {
    match sort_by {
        SortField::CreatedAt => SortKey::Text(timestamp_text(policy.created_at)),
        SortField::UpdatedAt => SortKey::Text(timestamp_text(policy.updated_at)),
        SortField::Name => SortKey::Text(policy.name.clone()),
        SortField::Severity => SortKey::Int(policy.severity.rank()),
    }
}

/// Turns the `limit + 1` rows a list fetched into a page: the extra row only says that
/// more follow.
pub fn into_page(mut rows: Vec<Policy>, query: &PolicyQuery, total: u64) -> Page<Policy> {
    let limit = query.limit as usize;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = match rows.last() {
        Some(last) if has_more => Some(
            Cursor {
                sort_by: query.sort_by,
                order: query.order,
                key: sort_key(last, query.sort_by),
                id: last.id.clone(),
                filters: CursorFilters::new(
                    query.resource_type.clone(),
                    query.severity,
                    query.enabled,
                    query.tags.clone(),
                ),
            }
            .encode(),
        ),
        _ => None,
    };
    Page {
        items: rows,
        total: Some(total),
        has_more,
        next_cursor,
    }
}

/// Turns `limit + 1` rows with their sequence numbers into a page whose cursor is the
/// last row's sequence number.
pub fn sequence_page<T>(mut rows: Vec<(i64, T)>, limit: u32) -> Page<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some((sequence, _)) if has_more => Some(crate::cursor::encode_sequence(*sequence)),
        _ => None,
    };
    Page {
        items: rows.into_iter().map(|(_, row)| row).collect(),
        total: None,
        has_more,
        next_cursor,
    }
}
