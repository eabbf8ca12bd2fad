-- The SAML card (issue 17), one row per workspace. The IdP's values are what its
-- metadata said when the card read it (upload, paste or fetch from `metadata_url`):
-- `certificates` holds its signing certificates as PEM, several during a rollover.
-- `saved_at` is set once a super-admin has saved the card; a row without it only
-- carries the health line. SAML has no environment fallback. The role mapping and the
-- allowed email domains are shared with OIDC (`microsoft_settings.role_mapping`,
-- `workspaces.allowed_email_domains`) and are not copied here.
CREATE TABLE saml_settings (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id),
    enabled BIGINT NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    idp_entity_id TEXT,
    sso_url TEXT,
    certificates TEXT,
    -- NULL: the metadata was uploaded or pasted.
    metadata_url TEXT,
    -- When the IdP values were last read from the metadata (upload or fetch).
    metadata_fetched_at BIGINT,
    -- NULL: the email is the NameID.
    email_attribute TEXT,
    -- NULL: groups are not read.
    group_attribute TEXT,
    allow_idp_initiated BIGINT NOT NULL DEFAULT 0 CHECK (allow_idp_initiated IN (0, 1)),
    last_success_at BIGINT,
    last_failure_at BIGINT,
    last_failure_summary TEXT,
    last_test_at BIGINT,
    last_test_ok BIGINT CHECK (last_test_ok IN (0, 1)),
    last_test_summary TEXT,
    -- Email of the super-admin who saved it (a label: the user may be deleted later).
    saved_at BIGINT,
    saved_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
