//! Storage for PolicyCortex: the [`Store`] trait and its SQLite and PostgreSQL
//! implementations. This is the only crate that speaks SQL.
//!
//! - [`model`]: organizations, API keys, audit events, list queries and pages.
//! - [`cursor`]: the opaque cursor of keyset paging.
//! - [`sqlite`]: the embedded store (WAL, `synchronous=FULL`).
//! - [`postgres`]: the shared store, for several servers over one PostgreSQL database.
//!
//! Every method that reads or writes organization data takes the organization's id and
//! scopes its SQL by it, so one organization can never see another's rows.

// Library code never unwraps, expects or panics: a server must not fall over on input.
// Tests may, and integration tests are separate crates that this does not reach.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod common;
pub mod cursor;
pub mod ids;
pub mod model;
pub mod postgres;
pub mod sqlite;
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use policycortex_engine::{Policy, PolicySpec};

pub use model::*;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist in the caller's organization.
    #[error("not found")]
    NotFound,
    /// A unique value is taken, such as a policy name within an organization.
    #[error("{0}")]
    Conflict(String),
    /// The row's version is not the one the caller expected.
    #[error("the policy has version {actual}, not the expected {expected}")]
    VersionMismatch {
        /// The version the caller expected.
        expected: i64,
        /// The version stored.
        actual: i64,
    },
    /// The database cannot be reached right now; retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the details are for the log, not for the client.
    #[error("storage error: {0}")]
    Internal(String),
}

/// A shorthand for results of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who is writing, on whose behalf, and in which request: recorded with every change.
#[derive(Debug, Clone)]
pub struct WriteContext {
    /// The organization the write belongs to.
    pub organization_id: String,
    /// The principal of the API key making the change.
    pub actor: String,
    /// The request id, kept in the audit trail.
    pub request_id: String,
}

/// Everything PolicyCortex keeps. Implementations must make every write atomic together
/// with its version row and audit event.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates an organization with a new random id.
    async fn create_organization(&self, name: &str) -> StoreResult<Organization> {
        self.create_organization_with_id(&ids::new_id("org"), name)
            .await
    }

    /// Creates an organization with the given id; a taken id is a
    /// [`StoreError::Conflict`].
    async fn create_organization_with_id(&self, id: &str, name: &str) -> StoreResult<Organization>;

    /// Creates an organization named `name` and its first key in one transaction, and
    /// records `organization.created` in the creator's organization (`ctx`): neither exists
    /// without the other, and the creator's trail shows which organization it made. The
    /// key's `organization_id` is replaced by the new organization's id.
    async fn create_organization_with_key(
        &self,
        ctx: &WriteContext,
        name: &str,
        key: NewApiKey,
    ) -> StoreResult<(Organization, ApiKey)>;

    /// Counts API keys across all organizations (zero on a first start).
    async fn count_api_keys(&self) -> StoreResult<i64>;

    /// Stores a new API key (its hash only) and records `api_key.created`.
    async fn create_api_key(&self, ctx: &WriteContext, key: NewApiKey) -> StoreResult<ApiKey>;

    /// Finds a key by the hash of its secret, whatever its organization or state.
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        Ok(self
            .find_api_key_with_revision(key_hash)
            .await?
            .map(|(key, _)| key))
    }

    /// Finds a key by the hash of its secret, with its organization's current policy
    /// revision, in one query: what a request needs to authenticate and to know whether
    /// its server's compiled policies are current.
    async fn find_api_key_with_revision(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(ApiKey, i64)>>;

    /// Lists the keys of an organization, newest first.
    async fn list_api_keys(&self, organization_id: &str) -> StoreResult<Vec<ApiKey>>;

    /// Revokes a key of the caller's organization and records `api_key.revoked`.
    async fn revoke_api_key(&self, ctx: &WriteContext, id: &str) -> StoreResult<()>;

    /// Creates a policy; a taken name is a [`StoreError::Conflict`].
    async fn create_policy(&self, ctx: &WriteContext, spec: &PolicySpec) -> StoreResult<Policy> {
        self.create_policy_within(ctx, spec, u64::MAX).await
    }

    /// Creates a policy unless the organization already holds `max_policies`; counting and
    /// inserting happen in one transaction, so concurrent creates cannot overshoot. A full
    /// organization or a taken name is a [`StoreError::Conflict`].
    async fn create_policy_within(
        &self,
        ctx: &WriteContext,
        spec: &PolicySpec,
        max_policies: u64,
    ) -> StoreResult<Policy>;

    /// Reads one policy of an organization.
    async fn get_policy(&self, organization_id: &str, id: &str) -> StoreResult<Option<Policy>>;

    /// Replaces the caller-chosen fields of a policy whose version is `expected_version`,
    /// bumping its version and `updated_at`.
    async fn update_policy(
        &self,
        ctx: &WriteContext,
        id: &str,
        expected_version: i64,
        spec: &PolicySpec,
    ) -> StoreResult<Policy>;

    /// Deletes a policy; with `expected_version`, only if it still has that version.
    async fn delete_policy(
        &self,
        ctx: &WriteContext,
        id: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<()>;

    /// One page of an organization's policies.
    async fn list_policies(
        &self,
        organization_id: &str,
        query: &PolicyQuery,
    ) -> StoreResult<Page<Policy>>;

    /// Every policy of an organization, for building its evaluation engine.
    async fn all_policies(&self, organization_id: &str) -> StoreResult<Vec<Policy>>;

    /// A number that grows with every policy write of the organization: a server compares
    /// it with the one its engine was built at to notice writes made by other servers.
    async fn policy_revision(&self, organization_id: &str) -> StoreResult<i64>;

    /// The stored versions of a policy, oldest first; a deleted policy's too.
    async fn list_policy_versions(
        &self,
        organization_id: &str,
        policy_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<PolicyVersion>>;

    /// One page of an organization's audit events, oldest first.
    async fn list_audit_events(
        &self,
        organization_id: &str,
        query: &AuditQuery,
    ) -> StoreResult<Page<AuditEvent>>;

    /// The answer stored for an idempotency key, if any.
    async fn find_idempotent(
        &self,
        organization_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotentAnswer>>;

    /// Reserves an idempotency key for a request about to run, with one insert, so that of
    /// several requests with one key on any number of servers exactly one runs. First it
    /// deletes the organization's keys that have outlived `lifetimes`: reservations left
    /// pending by a server that died, and answers past their retention.
    async fn claim_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        request_hash: &str,
        lifetimes: IdempotencyLifetimes,
    ) -> StoreResult<IdempotencyClaim>;

    /// Stores the answer of the request that claimed `key`.
    async fn complete_idempotent(
        &self,
        organization_id: &str,
        key: &str,
        answer: &IdempotentAnswer,
    ) -> StoreResult<()>;

    /// Gives up a claim whose request failed, so that a retry runs anew.
    async fn release_idempotent(&self, organization_id: &str, key: &str) -> StoreResult<()>;
}

/// A store shared by every request handler.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store a database URL names: `sqlite://PATH` or `postgres://…`, running
/// migrations first.
pub async fn open(database_url: &str, options: &StoreOptions) -> StoreResult<SharedStore> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresStore::open(database_url, options).await?,
        ))
    } else if let Some(path) = database_url.strip_prefix("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::open(path, options).await?))
    } else {
        Err(StoreError::Internal(format!(
            "unsupported database url `{database_url}`: use sqlite://PATH or postgres://USER@HOST/DB"
        )))
    }
}
