-- Admin → Users finds people by the start of their email or name, case-insensitively, and
-- pages by email, at any number of users: each search is an index range scan. A prefix is
-- a byte range only in the "C" collation (a linguistic collation may sort "a.b" after
-- "ab…"), so the search compares and these indexes are built in "C"; paging uses the
-- unique (workspace_id, email_normalized) index in the database's own collation.
CREATE INDEX users_email_search_idx ON users (workspace_id, email_normalized COLLATE "C");
CREATE INDEX users_first_name_search_idx ON users (workspace_id, (lower(first_name)) COLLATE "C");
CREATE INDEX users_last_name_search_idx ON users (workspace_id, (lower(last_name)) COLLATE "C");
