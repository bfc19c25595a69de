-- Every mltrackd keeps the tokens, users and permissions it looked up in a
-- cache (server/authcache.c), so that a request costs no round trip to
-- authenticate and authorize.  These triggers keep those caches exact:
-- each change is announced on the channel mltrack_auth when it commits,
-- and every server listening drops what it holds.
--
--   'i'                              tokens, users or permissions changed
--   'f <failures> <start> <key>'     a failed-login counter changed
--   'f 0 0 <key>'                    a failed-login counter was cleared
--   'F'                              every failed-login counter was cleared
--
-- A token's last use (last_used_at) is not announced: it changes every
-- minute of a token's use and decides nothing.
CREATE FUNCTION mltrack_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mltrack_auth', 'i');
    RETURN NULL;
END
$$;

CREATE FUNCTION mltrack_auth_failure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('mltrack_auth', 'f 0 0 ' || OLD.key);
    ELSE
        PERFORM pg_notify('mltrack_auth',
                          'f ' || NEW.failures || ' ' || NEW.window_start || ' ' || NEW.key);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_announce AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION mltrack_auth_changed();
CREATE TRIGGER api_tokens_announce
    AFTER UPDATE OF user_id, name, token_hash, scope, expires_at, revoked_at OR DELETE OR TRUNCATE
    ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION mltrack_auth_changed();
CREATE TRIGGER experiment_permissions_announce
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON experiment_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION mltrack_auth_changed();
CREATE TRIGGER registered_model_permissions_announce
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON registered_model_permissions
    FOR EACH STATEMENT EXECUTE FUNCTION mltrack_auth_changed();
CREATE FUNCTION mltrack_auth_failures_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mltrack_auth', 'F');
    RETURN NULL;
END
$$;

CREATE TRIGGER auth_failures_announce AFTER INSERT OR UPDATE OR DELETE ON auth_failures
    FOR EACH ROW EXECUTE FUNCTION mltrack_auth_failure();
CREATE TRIGGER auth_failures_truncated AFTER TRUNCATE ON auth_failures
    FOR EACH STATEMENT EXECUTE FUNCTION mltrack_auth_failures_cleared();
