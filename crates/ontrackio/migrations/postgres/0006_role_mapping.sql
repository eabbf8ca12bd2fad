-- Roles from Entra app roles (issue 15): the Microsoft card's mapping of app-role values
-- (the ID token's `roles` claim) to workspace roles, one `value = role` per line; NULL or
-- empty: roles are not taken from the directory. `role_mapping_super_admin`: the
-- super-admin allowed mappings to super-admin; `role_mapping_strict`: refuse sign-in when
-- no value maps (else the default role).
ALTER TABLE microsoft_settings ADD COLUMN role_mapping TEXT;
ALTER TABLE microsoft_settings ADD COLUMN role_mapping_super_admin BIGINT NOT NULL DEFAULT 0
    CHECK (role_mapping_super_admin IN (0, 1));
ALTER TABLE microsoft_settings ADD COLUMN role_mapping_strict BIGINT NOT NULL DEFAULT 0
    CHECK (role_mapping_strict IN (0, 1));
