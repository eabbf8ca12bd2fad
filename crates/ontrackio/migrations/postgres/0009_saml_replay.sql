-- SAML assertions already consumed (issue 17): a bearer assertion is single-use, on every
-- node, until it would have expired anyway (then its row may go: the assertion itself is
-- refused as expired). The primary key makes "first use wins" one atomic insert.
CREATE TABLE saml_seen_assertions (
    workspace_id TEXT NOT NULL REFERENCES workspaces (id),
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, assertion_id)
);
CREATE INDEX saml_seen_assertions_expiry ON saml_seen_assertions (expires_at);
