//! Strict parsing of query strings: an unknown parameter, a repeated one or a bad value is
//! a 400 that names it, never a silent default.

use std::collections::BTreeMap;

use policycortex_engine::{FieldError, Severity};
use policycortex_store::cursor::{decode_sequence, Cursor, CursorFilters};
use policycortex_store::{AuditQuery, PageRequest, PageStart, PolicyQuery, SortField, SortOrder};

use crate::error::{ApiError, ApiResult};

/// Rows in a page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;
/// Most rows in one page.
pub const MAX_LIMIT: u32 = 100;
/// Largest `offset`; deeper pages are walked with `cursor`.
pub const MAX_OFFSET: u64 = 100_000;

/// The parameters of one query string, each present once.
struct Params {
    values: BTreeMap<String, String>,
    errors: Vec<FieldError>,
}

impl Params {
    fn parse(raw: Option<&str>, allowed: &[&str]) -> Self {
        let mut params = Self {
            values: BTreeMap::new(),
            errors: Vec::new(),
        };
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                params.error(
                    &name,
                    "unknown_parameter",
                    format!("unknown query parameter `{name}`"),
                );
            } else if params
                .values
                .insert(name.to_string(), value.to_string())
                .is_some()
            {
                params.error(&name, "repeated_parameter", "must be given at most once");
            }
        }
        params
    }

    fn error(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// The value of `name`, parsed by `parse`, which explains what it expects.
    fn get<T>(&mut self, name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let value = self.values.get(name)?.clone();
        match parse(&value) {
            Ok(parsed) => Some(parsed),
            Err(expected) => {
                self.error(
                    name,
                    "invalid_value",
                    format!("must be {expected}, got `{value}`"),
                );
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> ApiResult<T> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::InvalidInput(self.errors))
        }
    }
}

fn limit(text: &str) -> Result<u32, String> {
    text.parse()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| format!("an integer from 1 to {MAX_LIMIT}"))
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("a non-empty text".into())
    } else {
        Ok(text.to_owned())
    }
}

/// Parses the query of `GET /v1/policies`.
pub fn policy_query(raw: Option<&str>) -> ApiResult<PolicyQuery> {
    let allowed = [
        "resource_type",
        "severity",
        "enabled",
        "tags",
        "limit",
        "offset",
        "cursor",
        "sort_by",
        "order",
    ];
    let mut params = Params::parse(raw, &allowed);

    let resource_type = params.get("resource_type", non_empty);
    let severity = params.get("severity", |text| {
        Severity::parse(text).ok_or_else(|| "one of LOW, MEDIUM, HIGH, CRITICAL".into())
    });
    let enabled = params.get("enabled", |text| match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("`true` or `false`".into()),
    });
    let tags = params.get("tags", |text| {
        let tags: Vec<String> = text.split(',').map(str::to_owned).collect();
        if tags.iter().any(String::is_empty) {
            Err("a comma-separated list of non-empty tags".into())
        } else {
            Ok(tags)
        }
    });
    let limit = params.get("limit", limit).unwrap_or(DEFAULT_LIMIT);
    let offset = params.get("offset", |text| {
        text.parse()
            .ok()
            .filter(|offset| *offset <= MAX_OFFSET)
            .ok_or_else(|| format!("an integer from 0 to {MAX_OFFSET}"))
    });
    let sort_by = params.get("sort_by", |text| match text {
        "created_at" => Ok(SortField::CreatedAt),
        "updated_at" => Ok(SortField::UpdatedAt),
        "name" => Ok(SortField::Name),
        "severity" => Ok(SortField::Severity),
        _ => Err("one of created_at, updated_at, name, severity".into()),
    });
    let order = params.get("order", |text| match text {
        "asc" => Ok(SortOrder::Asc),
        "desc" => Ok(SortOrder::Desc),
        _ => Err("`asc` or `desc`".into()),
    });
    let cursor = params.get("cursor", |text| {
        Cursor::decode(text).map_err(|_| "a `next_cursor` value from an earlier page".into())
    });

    let requested = CursorFilters::new(resource_type, severity, enabled, tags.unwrap_or_default());
    let mut filters = requested.clone();
    let (sort_by, order, start) = match cursor {
        Some(cursor) => {
            if let Some(field) = conflicting_filter(&requested, &cursor.filters) {
                params.error(
                    field,
                    "conflicting_parameters",
                    "differs from the filter of the walk `cursor` belongs to; drop it (the \
                     cursor keeps its filters) or start a new walk",
                );
            }
            filters = cursor.filters.clone();
            if offset.is_some() {
                params.error(
                    "offset",
                    "conflicting_parameters",
                    "cannot be combined with `cursor`",
                );
            }
            if sort_by.is_some_and(|sort_by| sort_by != cursor.sort_by)
                || order.is_some_and(|order| order != cursor.order)
            {
                params.error(
                    "cursor",
                    "conflicting_parameters",
                    "belongs to another `sort_by` or `order`; drop them or start a new walk",
                );
            }
            (cursor.sort_by, cursor.order, PageStart::After(cursor))
        }
        None => (
            sort_by.unwrap_or(SortField::CreatedAt),
            order.unwrap_or(SortOrder::Desc),
            PageStart::Offset(offset.unwrap_or(0)),
        ),
    };

    params.finish(PolicyQuery {
        resource_type: filters.resource_type,
        severity: filters.severity,
        enabled: filters.enabled,
        tags: filters.tags,
        sort_by,
        order,
        limit,
        start,
    })
}

/// The first filter sent with a cursor that differs from the cursor's own; filters not
/// sent are taken from the cursor.
fn conflicting_filter(requested: &CursorFilters, walk: &CursorFilters) -> Option<&'static str> {
    let sent_and_different = [
        (
            "resource_type",
            requested.resource_type.is_some() && requested.resource_type != walk.resource_type,
        ),
        (
            "severity",
            requested.severity.is_some() && requested.severity != walk.severity,
        ),
        (
            "enabled",
            requested.enabled.is_some() && requested.enabled != walk.enabled,
        ),
        (
            "tags",
            !requested.tags.is_empty() && requested.tags != walk.tags,
        ),
    ];
    sent_and_different
        .into_iter()
        .find_map(|(field, conflicts)| conflicts.then_some(field))
}

/// Parses `limit` and `cursor` of a sequence-ordered list (versions, audit events).
pub fn page_request(
    raw: Option<&str>,
    extra: &[&str],
) -> ApiResult<(PageRequest, BTreeMap<String, String>)> {
    let mut allowed = vec!["limit", "cursor"];
    allowed.extend_from_slice(extra);
    let mut params = Params::parse(raw, &allowed);
    let limit = params.get("limit", limit).unwrap_or(DEFAULT_LIMIT);
    let after = params.get("cursor", |text| {
        decode_sequence(text).map_err(|_| "a `next_cursor` value from an earlier page".into())
    });
    let rest = params
        .values
        .iter()
        .filter(|(name, _)| extra.contains(&name.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    params.finish((PageRequest { limit, after }, rest))
}

/// Parses the query of `GET /v1/audit-events`.
pub fn audit_query(raw: Option<&str>) -> ApiResult<AuditQuery> {
    let (page, filters) = page_request(raw, &["action", "target_id"])?;
    Ok(AuditQuery {
        action: filters.get("action").cloned(),
        target_id: filters.get("target_id").cloned(),
        page: Some(page),
    })
}

#[cfg(test)]
mod tests;
