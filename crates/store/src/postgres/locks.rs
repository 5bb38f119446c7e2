//! The row locks PostgreSQL writes take first: the organization's row, which puts the
//! writes of one organization in a line, and the row of the policy being changed.

use policycortex_engine::Policy;
use sqlx::{Postgres, Transaction};

use super::rows::{policy_from_row, POLICY_COLUMNS};
use crate::common::*;
use crate::{StoreError, StoreResult};

/// Locks the organization's row for the rest of the transaction, so that the writes of
/// one organization take their sequence numbers and commit one at a time.
pub(super) async fn lock_organization(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(organization_id)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

/// Reads one policy inside a write transaction and locks its row until the end of it.
pub(super) async fn lock_policy(
    tx: &mut Transaction<'static, Postgres>,
    organization_id: &str,
    id: &str,
) -> StoreResult<Policy> {
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = $1 AND id = $2 \
         FOR UPDATE"
    );
    let row = sqlx::query(&sql)
        .bind(organization_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_error)?;
    row.as_ref()
        .map(policy_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}
