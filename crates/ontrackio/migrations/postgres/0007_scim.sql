-- SCIM 2.0 provisioning from Microsoft Entra ID (issue 15).
--
-- `scim_settings`: one row per workspace that has ever had a SCIM token. Only the SHA-256
-- of the bearer token is kept (hex, like sessions); NULL when revoked. `role_mapping`: the
-- card's `group = role` lines (a group's displayName or object id), NULL or empty when
-- group membership does not decide roles.
CREATE TABLE scim_settings (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id),
    token_hash TEXT,
    token_created_at BIGINT,
    token_created_by TEXT,
    token_last_used_at BIGINT,
    role_mapping TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT scim_settings_token_key UNIQUE (token_hash)
);

-- What SCIM knows of a user beyond the `users` row: Entra's `externalId` (the user's
-- object id), and whether SCIM deleted the resource (the user stays, disabled, for the
-- audit trail; SCIM then answers 404 for it until Entra creates it again).
CREATE TABLE scim_users (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    external_id TEXT,
    deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT scim_users_external_id_key UNIQUE (workspace_id, external_id)
);

-- Groups as Entra provisions them; their members are users of the same workspace.
CREATE TABLE scim_groups (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    display_name TEXT NOT NULL,
    display_name_normalized TEXT NOT NULL,
    external_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT scim_groups_name_key UNIQUE (workspace_id, display_name_normalized)
);

CREATE TABLE scim_group_members (
    group_id TEXT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user_idx ON scim_group_members (user_id);
