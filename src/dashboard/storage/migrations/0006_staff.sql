-- Personal staff accounts (no shared or default accounts): password (argon2id) and a mandatory
-- TOTP second factor, server-side sessions, login throttling, the one-time setup token.

CREATE TABLE staff_accounts (
  id                  uuid PRIMARY KEY,
  login               text NOT NULL UNIQUE CHECK (login = lower(login)),
  display_name        text NOT NULL,
  role                text NOT NULL CHECK (role IN ('admin', 'security', 'auditor')),
  password_hash       text NOT NULL,
  password_changed_at timestamptz NOT NULL DEFAULT now(),
  totp_secret_sealed  text,
  totp_pending_sealed text,
  totp_last_step      bigint NOT NULL DEFAULT 0,
  totp_enrolled_at    timestamptz,
  disabled_at         timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  created_by          text
);

-- A session is known by the SHA-256 of its cookie value only; the value itself is never stored.
CREATE TABLE staff_sessions (
  token_hash   bytea PRIMARY KEY,
  staff_id     uuid NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
  stage        text NOT NULL CHECK (stage IN ('totp', 'enrol', 'active')),
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  reauth_at    timestamptz,
  address      text,
  user_agent   text
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
CREATE INDEX staff_sessions_expires ON staff_sessions (expires_at);

-- Failed logins per throttling key (account, address, account+address); pruned after a day.
CREATE TABLE login_failures (
  key text NOT NULL,
  at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key ON login_failures (key, at);

CREATE TABLE setup_tokens (
  token_hash bytea PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
