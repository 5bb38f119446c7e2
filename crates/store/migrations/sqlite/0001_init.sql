-- The first schema: organizations, keys, policies with their versions, the audit trail,
-- idempotent answers and the per-organization change counter.
-- Timestamps are TEXT in one fixed RFC 3339 form (microseconds, `Z`), so that text order
-- is time order.

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- Grows with every policy write of the organization.
    policy_revision INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL, -- JSON array of scope names
    key_hash        TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT
);
CREATE INDEX api_keys_by_organization ON api_keys (organization_id, created_at);

CREATE TABLE policies (
    id                    TEXT PRIMARY KEY,
    organization_id       TEXT NOT NULL REFERENCES organizations (id),
    name                  TEXT NOT NULL,
    description           TEXT,
    resource_type         TEXT NOT NULL,
    severity              INTEGER NOT NULL, -- 1 LOW .. 4 CRITICAL
    enabled               INTEGER NOT NULL,
    rules                 TEXT NOT NULL, -- JSON array of rules
    compliance_frameworks TEXT NOT NULL, -- JSON array of strings
    auto_remediation      INTEGER NOT NULL,
    remediation_action    TEXT,
    tags                  TEXT NOT NULL, -- JSON array of strings
    version               INTEGER NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    created_by            TEXT NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX policies_by_created ON policies (organization_id, created_at, id);
CREATE INDEX policies_by_updated ON policies (organization_id, updated_at, id);
CREATE INDEX policies_by_severity ON policies (organization_id, severity, id);

CREATE TABLE policy_versions (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id TEXT NOT NULL,
    policy_id       TEXT NOT NULL,
    version         INTEGER NOT NULL,
    action          TEXT NOT NULL,
    policy          TEXT NOT NULL, -- JSON of the policy object
    actor           TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX policy_versions_by_policy ON policy_versions (organization_id, policy_id, sequence);

CREATE TABLE audit_events (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    changes         TEXT NOT NULL, -- JSON
    created_at      TEXT NOT NULL
);
CREATE INDEX audit_events_by_organization ON audit_events (organization_id, sequence);

CREATE TABLE idempotent_answers (
    organization_id TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (organization_id, key)
);
