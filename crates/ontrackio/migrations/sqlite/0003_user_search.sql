-- Admin → Users finds people by the start of their email or name, case-insensitively, and
-- pages by email, at any number of users: each search is an index range scan. Emails use
-- the unique (workspace_id, email_normalized) index; names these. SQLite's lower() folds
-- ASCII letters only; the query folds the same way.
CREATE INDEX users_first_name_search_idx ON users (workspace_id, lower(first_name));
CREATE INDEX users_last_name_search_idx ON users (workspace_id, lower(last_name));
