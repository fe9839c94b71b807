-- The operator's directory: customers own sites; a site has rooms, doors, cameras and ident
-- workstations. Retention policies are scoped by customer and site through it. Ids are the ones
-- the gateways use in topics and events, hence the same conservative alphabet.
CREATE TABLE customers (
  id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
  id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  customer_id text REFERENCES customers (id),
  name        text NOT NULL,
  timezone    text NOT NULL DEFAULT 'UTC',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_customer ON sites (customer_id);

CREATE TABLE rooms (
  site text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  id   text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  name text NOT NULL,
  PRIMARY KEY (site, id)
);

CREATE TABLE doors (
  site text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  id   text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  room text,
  name text NOT NULL,
  PRIMARY KEY (site, id),
  FOREIGN KEY (site, room) REFERENCES rooms (site, id)
);

CREATE TABLE cameras (
  site text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  id   text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'),
  room text,
  name text NOT NULL,
  PRIMARY KEY (site, id),
  FOREIGN KEY (site, room) REFERENCES rooms (site, id)
);

-- An ident workstation stands in one room; its login is allowed only to someone inside that
-- room (the workstation-login feature adds its own columns later). Its id is a host name.
CREATE TABLE workstations (
  id   text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$'),
  site text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  room text NOT NULL,
  name text NOT NULL,
  FOREIGN KEY (site, room) REFERENCES rooms (site, id)
);
CREATE INDEX workstations_room ON workstations (site, room);

-- Who changed what, for every part of the central side (retention, holds, erasure, later staff
-- and configuration). `details` carries counts and settings, never a customer's or agent's
-- personal data. Created only if another part has not created it first.
CREATE TABLE IF NOT EXISTS audit_log (
  id      bigserial PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, at);
