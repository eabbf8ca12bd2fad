-- PostgreSQL's 0005 makes the database announce changes to users and sessions to every
-- node. SQLite has one node, which forgets its cached sessions itself after each write
-- (and hears the command-line tool through `<database>-changes`): nothing to add. The
-- version exists so that both backends keep identical migration numbers.
SELECT 1;
