//! The side effects of PostgreSQL writes, inside the write's transaction: the bump of the
//! organization's policy revision, a policy's version row, and audit events.

use policycortex_engine::Policy;
use sqlx::{Postgres, Transaction};

use crate::common::*;
use crate::ids::new_id;
use crate::{StoreResult, WriteContext};

/// Bumps the organization's policy revision; as an update, it also locks the row the way
/// [`lock_organization`](super::locks::lock_organization) does. Policy writes call it first.
pub(super) async fn bump_policy_revision(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE organizations SET policy_revision = policy_revision + 1 WHERE id = $1")
        .bind(organization_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

/// Records a policy's state after `action` and the matching audit event: with the
/// revision bump, the side effects of every policy write.
pub(super) async fn record_policy_change(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &WriteContext,
    action: &str,
    policy: &Policy,
    changes: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO policy_versions (organization_id, policy_id, version, action, policy, \
         actor, request_id, created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
    )
    .bind(&ctx.organization_id)
    .bind(&policy.id)
    .bind(policy.version)
    .bind(action)
    .bind(to_json_text(policy)?)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;

    insert_audit_event(tx, ctx, action, "policy", &policy.id, changes).await
}

/// Records one audit event about `target_type` `target_id`.
pub(super) async fn insert_audit_event(
    tx: &mut Transaction<'static, Postgres>,
    ctx: &WriteContext,
    action: &str,
    target_type: &str,
    target_id: &str,
    changes: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, organization_id, action, target_type, target_id, actor, \
         request_id, changes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
    )
    .bind(new_id("evt"))
    .bind(&ctx.organization_id)
    .bind(action)
    .bind(target_type)
    .bind(target_id)
    .bind(&ctx.actor)
    .bind(&ctx.request_id)
    .bind(to_json_text(&changes)?)
    .bind(now())
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    Ok(())
}
