-- The Google settings card, one row per workspace (the Microsoft card's twin, 0002).
-- `saved_at` is set once a super-admin has saved the card: from then on the card's toggle
-- decides whether Google sign-in is on (before that, GOOGLE_CLIENT_ID does). A row without
-- it only carries the health line, so env-configured workspaces also see their failures.
-- Allowed email domains are not here: they live on `workspaces`, shared by every provider.
CREATE TABLE google_settings (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id),
    enabled BIGINT NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    -- NULL: not set on the card, so GOOGLE_CLIENT_ID applies.
    client_id TEXT,
    -- AES-256-GCM under `secret_key_id`, bound to "<workspace_id>/google.client_secret".
    client_secret_sealed TEXT,
    secret_key_id TEXT,
    secret_saved_at BIGINT,
    -- Email of the super-admin who saved it (a label: the user may be deleted later).
    secret_saved_by TEXT,
    redirect_uri TEXT,
    last_success_at BIGINT,
    last_failure_at BIGINT,
    last_failure_summary TEXT,
    last_test_at BIGINT,
    last_test_ok BIGINT CHECK (last_test_ok IN (0, 1)),
    last_test_summary TEXT,
    saved_at BIGINT,
    saved_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
