-- The foundation: workspaces, their users, sessions, the audit log and throttling.
-- Timestamps are Unix seconds (UTC); flags are 0/1 integers so that SQLite and
-- PostgreSQL read the same through sqlx's Any driver.

CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Comma-separated, normalised; shared by every sign-in provider. Empty: no restriction.
    allowed_email_domains TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT workspaces_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL CHECK (role IN ('employee', 'admin', 'super-admin')),
    external BIGINT NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    email_verified BIGINT NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    password_hash TEXT,
    -- Bumped on every avatar change; 0 means "no avatar, show initials". The image
    -- itself lives in `avatars` so user rows stay small on hot paths.
    avatar_version BIGINT NOT NULL DEFAULT 0,
    last_login_at BIGINT,
    last_login_ip TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT users_workspace_email_key UNIQUE (workspace_id, email_normalized)
);

CREATE TABLE avatars (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    png BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The durable account key for external identity providers: (provider, issuer tenant,
-- object id). Email is display data only (the nOAuth lesson).
CREATE TABLE user_identities (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    provider TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT user_identities_key UNIQUE (workspace_id, provider, tenant_id, object_id)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- Only the SHA-256 of the session token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- One-time links that let a new super-admin choose a password (never on a command line).
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Append-only: the code has no UPDATE or DELETE path for this table.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    at BIGINT NOT NULL,
    actor_id TEXT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    ip TEXT,
    user_agent TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX audit_events_workspace_at_idx ON audit_events (workspace_id, at DESC, id DESC);

-- Failed sign-in counters per IP and per account, kept in the database so that the
-- limits hold across every node.
CREATE TABLE throttle_buckets (
    bucket TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
