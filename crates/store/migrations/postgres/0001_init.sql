-- The first schema: organizations, keys, policies with their versions, the audit trail,
-- idempotent answers and the per-organization change counter. The same tables as the
-- SQLite migration, in PostgreSQL types.
-- Policy names and ids use the "C" collation, so that comparing and sorting them goes by
-- code point, as in SQLite, whatever the database's default collation.

CREATE TABLE organizations (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    created_at      timestamptz NOT NULL,
    -- Grows with every policy write of the organization.
    policy_revision bigint NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    organization_id text NOT NULL REFERENCES organizations (id),
    name            text NOT NULL,
    scopes          text[] NOT NULL, -- scope names
    key_hash        text NOT NULL UNIQUE,
    prefix          text NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_keys_by_organization ON api_keys (organization_id, created_at);

CREATE TABLE policies (
    id                    text COLLATE "C" PRIMARY KEY,
    organization_id       text NOT NULL REFERENCES organizations (id),
    name                  text COLLATE "C" NOT NULL,
    description           text,
    resource_type         text NOT NULL,
    severity              smallint NOT NULL, -- 1 LOW .. 4 CRITICAL
    enabled               boolean NOT NULL,
    rules                 jsonb NOT NULL, -- array of rules
    compliance_frameworks text[] NOT NULL,
    auto_remediation      boolean NOT NULL,
    remediation_action    text,
    tags                  text[] NOT NULL,
    version               bigint NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    created_by            text NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX policies_by_created ON policies (organization_id, created_at, id);
CREATE INDEX policies_by_updated ON policies (organization_id, updated_at, id);
CREATE INDEX policies_by_severity ON policies (organization_id, severity, id);

CREATE TABLE policy_versions (
    sequence        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id text NOT NULL,
    policy_id       text NOT NULL,
    version         bigint NOT NULL,
    action          text NOT NULL,
    policy          jsonb NOT NULL, -- the policy object
    actor           text NOT NULL,
    request_id      text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX policy_versions_by_policy ON policy_versions (organization_id, policy_id, sequence);

CREATE TABLE audit_events (
    sequence        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text NOT NULL UNIQUE,
    organization_id text NOT NULL,
    action          text NOT NULL,
    target_type     text NOT NULL,
    target_id       text NOT NULL,
    actor           text NOT NULL,
    request_id      text NOT NULL,
    changes         jsonb NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX audit_events_by_organization ON audit_events (organization_id, sequence);

CREATE TABLE idempotent_answers (
    organization_id text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status          integer NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, key)
);
