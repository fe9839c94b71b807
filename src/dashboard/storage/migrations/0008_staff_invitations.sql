-- One-time enrolment links for staff accounts an administrator creates: the new owner chooses
-- their own password through the link, so no password ever passes through the administrator.
-- Only the SHA-256 of the token is stored. A new link for the same account replaces the old one.
CREATE TABLE staff_invitations (
  staff_id   uuid PRIMARY KEY REFERENCES staff_accounts (id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  expires_at timestamptz NOT NULL
);
