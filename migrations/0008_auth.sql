-- Users, API tokens, dashboard sessions, permissions and the login
-- rate limit (issue 13).
--
-- No secret is stored: a password as its PBKDF2 hash (lib/mt_auth.c:
-- "$pbkdf2-sha256$<iterations>$<salt>$<hash>"), a token or a session id
-- as the SHA-256 of its random value, which is shown once.  While the
-- users table is empty mltrackd is a one-person server (loopback only, no
-- login); once it has a row, every request must authenticate.
CREATE TABLE users (
    id            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text    NOT NULL UNIQUE,
    password_hash text    NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    created_at    bigint  NOT NULL,
    updated_at    bigint  NOT NULL
);

-- A token acts for its owner, narrowed by its scope when it has one (NULL:
-- all of the owner's rights).  Revoked tokens stay, for the audit trail's
-- names; a token is found by its hash only.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text   NOT NULL,
    token_hash   text   NOT NULL UNIQUE,
    prefix       text   NOT NULL,   -- the first characters, to recognise it in a list
    scope        text,
    created_at   bigint NOT NULL,
    expires_at   bigint,            -- NULL: never
    last_used_at bigint,
    revoked_at   bigint
);
-- One live token of a name per user (a revoked one frees its name).
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (user_id, name) WHERE revoked_at IS NULL;

-- The dashboard's sessions: the cookie carries the random id, the row its
-- hash, the CSRF token the pages send back on every change, and the
-- server-side expiry.
CREATE TABLE sessions (
    id_hash    text   PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    csrf_token text   NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    last_seen  bigint NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- MLflow's permission model: READ, EDIT, MANAGE or NO_PERMISSIONS for a
-- user on an experiment or a registered model (keyed by the model's id, so
-- a rename keeps its permissions).  No row: the server's default.
CREATE TABLE experiment_permissions (
    experiment_id bigint NOT NULL REFERENCES experiments ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    permission    text   NOT NULL CHECK (permission IN ('READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS')),
    PRIMARY KEY (experiment_id, user_id)
);
CREATE INDEX experiment_permissions_user ON experiment_permissions (user_id);

CREATE TABLE registered_model_permissions (
    model_id   bigint NOT NULL REFERENCES registered_models ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    permission text   NOT NULL CHECK (permission IN ('READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS')),
    PRIMARY KEY (model_id, user_id)
);
CREATE INDEX registered_model_permissions_user ON registered_model_permissions (user_id);

-- Failed logins per key ("ua:<user> <address>" and "a:<address>") in the
-- current window, shared by every mltrackd on the database.
CREATE TABLE auth_failures (
    key          text   PRIMARY KEY,
    failures     int    NOT NULL,
    window_start bigint NOT NULL
);
