//! Rows of organizations and API keys in SQLite, inside the caller's transaction.

use sqlx::{Sqlite, Transaction};

use super::history::insert_audit_event;
use crate::common::*;
use crate::model::*;
use crate::{StoreError, StoreResult, WriteContext};

/// Inserts `organization`, inside `tx`; a taken id is a conflict.
pub(super) async fn insert_organization(
    tx: &mut Transaction<'static, Sqlite>,
    organization: &Organization,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)")
        .bind(&organization.id)
        .bind(&organization.name)
        .bind(timestamp_text(organization.created_at))
        .execute(&mut **tx)
        .await
        .map_err(|error| match error {
            error if is_unique_violation(&error) => StoreError::Conflict(format!(
                "an organization `{}` exists already",
                organization.id
            )),
            error => map_error(error),
        })?;
    Ok(())
}

/// Inserts `key` and records `api_key.created`, inside `tx`.
pub(super) async fn insert_api_key(
    tx: &mut Transaction<'static, Sqlite>,
    ctx: &WriteContext,
    key: NewApiKey,
) -> StoreResult<ApiKey> {
    let stored = key.into_stored();
    let scope_names: Vec<&str> = stored.scopes.iter().map(|scope| scope.as_str()).collect();

    sqlx::query(
        "INSERT INTO api_keys (id, organization_id, name, scopes, key_hash, prefix, \
         created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&stored.id)
    .bind(&stored.organization_id)
    .bind(&stored.name)
    .bind(to_json_text(&scope_names)?)
    .bind(&stored.key_hash)
    .bind(&stored.prefix)
    .bind(timestamp_text(stored.created_at))
    .bind(stored.expires_at.map(timestamp_text))
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    let changes = serde_json::json!({ "name": stored.name, "scopes": scope_names });
    insert_audit_event(tx, ctx, "api_key.created", "api_key", &stored.id, changes).await?;
    Ok(stored)
}
