-- Accounts for people (issue 10): tokens stay for machines. Passwords are Argon2id hashes;
-- sessions, reset links are stored as SHA-256 hashes of random secrets, never the secrets.

-- A viewer token reads everything a viewer account reads (contacts included) and writes nothing.
ALTER TABLE tokens DROP CONSTRAINT tokens_kind_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_kind_check
    CHECK (kind IN ('admin', 'agency', 'viewer', 'probe', 'app'));

CREATE TABLE accounts (
    id              bigserial PRIMARY KEY,
    -- Letters, digits, '.', '_', '-': never '@', so a sign-in name is a username or an e-mail.
    username        text NOT NULL CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$'),
    email           text CHECK (email IS NULL OR (email LIKE '%_@_%' AND length(email) <= 254)),
    password_hash   text,  -- NULL: no password yet (the person sets it through a reset link)
    role            text NOT NULL CHECK (role IN ('admin', 'agency', 'viewer')),
    agency_id       text REFERENCES agencies (id) ON DELETE RESTRICT,
    totp_secret     text,    -- base32; NULL: no second factor
    totp_last_step  bigint,  -- the last time step whose code was accepted: a code works once
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz,
    last_signin_at  timestamptz,
    CHECK ((role = 'agency') = (agency_id IS NOT NULL))
);
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE account_sessions (
    id_hash       bytea PRIMARY KEY,  -- SHA-256 of the random id in the cookie
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- 'full': signed in; 'code': password right, the TOTP code is due; 'enrol': an admin without
    -- a second factor, who may do nothing but enrol one.
    stage         text NOT NULL CHECK (stage IN ('full', 'code', 'enrol')),
    totp_pending  text,  -- a secret being enrolled, until its first code confirms it
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL  -- absolute; idle expiry is last_seen_at + the config's
);
CREATE INDEX account_sessions_account ON account_sessions (account_id);
CREATE INDEX account_sessions_expires ON account_sessions (expires_at);

-- Failed sign-ins (and attempts under way), counted per account and per client address.
-- `account_key` is a SHA-256: of the account id when the name matched one, else of the name as
-- typed (which may be a mistyped password, so it is not kept in clear).
CREATE TABLE signin_failures (
    id           bigserial PRIMARY KEY,
    account_key  bytea NOT NULL,
    address      text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_failures_account ON signin_failures (account_key, at);
CREATE INDEX signin_failures_address ON signin_failures (address, at);

CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,  -- SHA-256 of the random token in the link
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    issued_by   bigint REFERENCES accounts (id) ON DELETE SET NULL,  -- NULL: the command line
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_account ON password_resets (account_id);
