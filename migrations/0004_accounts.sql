-- DJ accounts (issue 7): a login and a password hash per DJ id, and the
-- counters that slow password guessing down. API tokens are dj_tokens
-- (0001). Written and read only by package accounts.
--
-- These tables live in their own schema, accounts: they hold credentials
-- and are read by the gateways only, so a database role for the persister
-- (which writes public) can be kept away from them with one GRANT/REVOKE on
-- the schema.

-- +goose Up
CREATE SCHEMA accounts;

CREATE TABLE accounts.dj_accounts (
    dj_id         text PRIMARY KEY REFERENCES public.djs (id) ON DELETE CASCADE,
    login         text NOT NULL UNIQUE CHECK (login = lower(login)), -- case-folded by accounts.NormalizeLogin
    password_hash text NOT NULL,                  -- argon2id, PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per login ('login:<login>') and per client address ('ip:<addr>',
-- IPv6 per /64) with failed logins: gateways are replicas, so the count
-- lives here. Rows are forgotten a day after their last failure.
CREATE TABLE accounts.login_throttle (
    key             text PRIMARY KEY,
    failures        int NOT NULL DEFAULT 0,
    last_failure_at timestamptz NULL,
    blocked_until   timestamptz NULL             -- no attempt is looked at before then
);
CREATE INDEX login_throttle_last_failure_idx ON accounts.login_throttle (last_failure_at);

-- +goose Down
DROP TABLE accounts.login_throttle;
DROP TABLE accounts.dj_accounts;
DROP SCHEMA accounts;
