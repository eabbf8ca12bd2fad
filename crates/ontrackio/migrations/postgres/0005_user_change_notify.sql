-- Every node keeps the signed-in users of the sessions it has seen (auth/session_cache.rs)
-- and must forget one at once when their row or a session of theirs changes on any node,
-- or from the command line. The database announces it, so that no write path can forget
-- to: a NOTIFY on `ontrackio_users` with the user's id, sent at the writing transaction's
-- commit (never for one that rolls back), and heard by every node's change listener.
--
-- Not announced, because no cached answer depends on them being current: a new session
-- (no node has it yet), `last_seen_at` moving forward (a node's older copy only makes the
-- idle timeout strike sooner, which sends it to the database), and the last sign-in time
-- and address (shown on the dashboard; an older copy lasts at most the cache's 30 s) —
-- announcing those would wake every node on every sign-in.
CREATE FUNCTION ontrackio_announce_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('ontrackio_users', OLD.id);
    ELSE
        PERFORM pg_notify('ontrackio_users', OLD.user_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_announce_change
AFTER UPDATE ON users FOR EACH ROW
WHEN ((OLD.workspace_id, OLD.email, OLD.email_normalized, OLD.first_name, OLD.last_name,
       OLD.role, OLD.external, OLD.status, OLD.email_verified, OLD.password_hash,
       OLD.avatar_version)
      IS DISTINCT FROM
      (NEW.workspace_id, NEW.email, NEW.email_normalized, NEW.first_name, NEW.last_name,
       NEW.role, NEW.external, NEW.status, NEW.email_verified, NEW.password_hash,
       NEW.avatar_version))
EXECUTE FUNCTION ontrackio_announce_user_change();

CREATE TRIGGER users_announce_delete
AFTER DELETE ON users FOR EACH ROW
EXECUTE FUNCTION ontrackio_announce_user_change();

-- Sign-out, disabling, a new password, expiry (the sweep) and a dead session found on a
-- request all delete rows; PostgreSQL sends one notification per user per transaction.
CREATE TRIGGER sessions_announce_delete
AFTER DELETE ON sessions FOR EACH ROW
EXECUTE FUNCTION ontrackio_announce_user_change();

CREATE TRIGGER sessions_announce_change
AFTER UPDATE ON sessions FOR EACH ROW
WHEN ((OLD.user_id, OLD.workspace_id, OLD.expires_at)
      IS DISTINCT FROM (NEW.user_id, NEW.workspace_id, NEW.expires_at))
EXECUTE FUNCTION ontrackio_announce_user_change();
