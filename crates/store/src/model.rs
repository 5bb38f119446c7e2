//! The rows the store keeps besides policies, and the shapes of list queries and pages.

use chrono::{DateTime, Utc};
use policycortex_engine::Severity;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a store connects and how long it lets a statement run.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections in the pool.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing with "unavailable".
    pub acquire_timeout: Duration,
    /// Longest a single statement may run (PostgreSQL `statement_timeout`; SQLite's busy
    /// timeout).
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// A tenant: every policy, key and audit event belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// Such as `org_…`.
    pub id: String,
    /// A display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Organization {
    /// A new organization with `id` and `name`, created now.
    pub(crate) fn new(id: String, name: &str) -> Self {
        Self {
            id,
            name: name.to_owned(),
            created_at: crate::common::now(),
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Read policies.
    #[serde(rename = "policies:read")]
    PoliciesRead,
    /// Create, change and delete policies.
    #[serde(rename = "policies:write")]
    PoliciesWrite,
    /// Evaluate resources.
    #[serde(rename = "evaluations:run")]
    EvaluationsRun,
    /// Read the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Everything within the organization, including its keys.
    #[serde(rename = "admin")]
    Admin,
    /// Create organizations.
    #[serde(rename = "operator")]
    Operator,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Self::PoliciesRead,
        Self::PoliciesWrite,
        Self::EvaluationsRun,
        Self::AuditRead,
        Self::Admin,
        Self::Operator,
    ];

    /// The scope's name, such as `policies:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PoliciesRead => "policies:read",
            Self::PoliciesWrite => "policies:write",
            Self::EvaluationsRun => "evaluations:run",
            Self::AuditRead => "audit:read",
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }

    /// Parses a scope's name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

/// An API key as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Such as `key_…`.
    pub id: String,
    /// The organization the key acts for.
    pub organization_id: String,
    /// A label chosen by whoever made the key; also the principal named in `created_by`.
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub key_hash: String,
    /// The key's first characters, shown in lists to recognize it.
    pub prefix: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// After this the key no longer works.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// The principal recorded as `created_by` and in the audit trail.
    pub fn principal(&self) -> String {
        format!("{}:{}", self.id, self.name)
    }

    /// Whether the key may be used at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The organization the key acts for.
    pub organization_id: String,
    /// A label.
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub key_hash: String,
    /// The key's first characters.
    pub prefix: String,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewApiKey {
    /// The key as it is stored: a new `key_…` id, created now, not revoked.
    pub(crate) fn into_stored(self) -> ApiKey {
        ApiKey {
            id: crate::ids::new_id("key"),
            organization_id: self.organization_id,
            name: self.name,
            scopes: self.scopes,
            key_hash: self.key_hash,
            prefix: self.prefix,
            created_at: crate::common::now(),
            expires_at: self.expires_at,
            revoked_at: None,
        }
    }
}

/// The field a policy list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// Creation time (the default).
    CreatedAt,
    /// Time of the last change.
    UpdatedAt,
    /// Name, by code point.
    Name,
    /// Severity, LOW before CRITICAL.
    Severity,
}

impl SortField {
    /// The query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Name => "name",
            Self::Severity => "severity",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq)]
pub enum PageStart {
    /// Skip this many rows.
    Offset(u64),
    /// Continue after the row a cursor names.
    After(crate::cursor::Cursor),
}

/// The filters, order and window of `GET /v1/policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyQuery {
    /// Only policies of this resource type.
    pub resource_type: Option<String>,
    /// Only policies of this severity.
    pub severity: Option<Severity>,
    /// Only enabled, or only disabled, policies.
    pub enabled: Option<bool>,
    /// Only policies that carry every one of these tags.
    pub tags: Vec<String>,
    /// The sort field.
    pub sort_by: SortField,
    /// The sort direction.
    pub order: SortOrder,
    /// Most rows in the page.
    pub limit: u32,
    /// Where the page starts.
    pub start: PageStart,
}

/// A page request without filters: a limit and an optional cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// Most rows in the page.
    pub limit: u32,
    /// Continue after the row with this sequence number.
    pub after: Option<i64>,
}

/// One page of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// How many rows match the filters in all; `None` where counting is not offered.
    pub total: Option<u64>,
    /// Whether rows follow this page.
    pub has_more: bool,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// A stored version of a policy: its state after one change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyVersion {
    /// The policy's id.
    pub policy_id: String,
    /// The version number the change produced.
    pub version: i64,
    /// `policy.created`, `policy.updated` or `policy.deleted`.
    pub action: String,
    /// The policy as it was after the change (before it, for a delete).
    pub policy: serde_json::Value,
    /// Who made the change.
    pub actor: String,
    /// The request that made it.
    pub request_id: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Such as `evt_…`.
    pub id: String,
    /// Such as `policy.updated` or `api_key.created`.
    pub action: String,
    /// `policy` or `api_key`.
    pub target_type: String,
    /// The id of the row that changed.
    pub target_id: String,
    /// Who made the change.
    pub actor: String,
    /// The request that made it.
    pub request_id: String,
    /// What changed: for an update, the fields with their old and new values.
    pub changes: serde_json::Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Filters of `GET /v1/audit-events`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<String>,
    /// Only events about this row.
    pub target_id: Option<String>,
    /// Most rows and where to continue.
    pub page: Option<PageRequest>,
}

/// The first answer to a request sent with an `Idempotency-Key`, or its reservation while
/// that request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    /// SHA-256 of the request (method, path and body), to detect reuse with another body.
    pub request_hash: String,
    /// The status code answered; 0 while the first request is still running.
    pub status: u16,
    /// The body answered; empty while the first request is still running.
    pub body: String,
}

impl IdempotentAnswer {
    /// The reservation of a request with `request_hash` that is still running.
    pub fn pending(request_hash: &str) -> Self {
        Self {
            request_hash: request_hash.to_owned(),
            status: 0,
            body: String::new(),
        }
    }

    /// Whether the first request is still running.
    pub fn is_pending(&self) -> bool {
        self.status == 0
    }
}

/// What [`crate::Store::claim_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is this request's now: run it, then complete or release the key.
    Claimed,
    /// Another request holds the key (pending) or has answered it.
    Taken(IdempotentAnswer),
}

/// How long idempotency keys last, counted from their claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyLifetimes {
    /// How long a reservation may stay pending before another request may take it over:
    /// the server that made it has presumably died.
    pub pending: Duration,
    /// How long an answer is replayed; after that the key is free again and its row is
    /// deleted by the organization's next claim.
    pub answered: Duration,
}

impl Default for IdempotencyLifetimes {
    /// A minute pending; answers for 24 hours.
    fn default() -> Self {
        Self {
            pending: Duration::from_secs(60),
            answered: Duration::from_secs(24 * 60 * 60),
        }
    }
}
