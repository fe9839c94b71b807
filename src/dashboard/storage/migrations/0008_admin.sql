-- Administration: enrolment links for new staff accounts, and badge readers in the directory.

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

-- The badge readers of each door as the directory records them (which reader on which side,
-- which model profile from hardware/), so that administrators see the whole installation in one
-- place. The gateway's own configuration still drives the devices.
CREATE TABLE readers (
  site      text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  id        text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  door      text NOT NULL,
  direction text NOT NULL CHECK (direction IN ('entry', 'exit')),
  model     text,
  name      text NOT NULL,
  PRIMARY KEY (site, id),
  FOREIGN KEY (site, door) REFERENCES doors (site, id)
);
