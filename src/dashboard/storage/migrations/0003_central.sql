-- The central side's own records: gateways it trusts, the people and badges it syncs to them,
-- alarms, and the sequence bookkeeping that makes loss and replay visible.

-- Gateways and their keys (public halves only).
CREATE TABLE gateways (
  site           text NOT NULL,
  id             text NOT NULL,
  signing_key    text NOT NULL,
  encryption_key text,
  enrolled_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz,
  PRIMARY KEY (site, id)
);

-- People (personal data) and their badges. TOTP secrets are stored sealed (AES-256-GCM under
-- the central master key), never in plaintext.
CREATE TABLE people (
  id                  text PRIMARY KEY,
  display_name        text NOT NULL,
  background_check_on date,
  training_on         date,
  may_open_room       boolean NOT NULL DEFAULT false,
  schedule            jsonb,
  totp_secret_sealed  text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE badges (
  badge       text PRIMARY KEY,
  person_id   text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  valid_from  timestamptz,
  valid_until timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
CREATE INDEX badges_person ON badges (person_id);

-- Which sites a person may enter; their gateways receive the person's credentials.
CREATE TABLE access_grants (
  person_id  text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
  site       text NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person_id, site)
);

-- The last credential set published to each gateway. Versions only go up.
CREATE SEQUENCE credential_set_version;
CREATE TABLE credential_sets (
  site         text NOT NULL,
  gateway      text NOT NULL,
  version      bigint NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now(),
  credentials  integer NOT NULL,
  PRIMARY KEY (site, gateway)
);

-- Alarms raised by gateways (from their events) and by the central side itself.
CREATE TABLE alarms (
  id              bigserial PRIMARY KEY,
  source          text NOT NULL CHECK (source IN ('gateway', 'central')),
  site            text,
  gateway         text,
  alarm           text NOT NULL,
  key             text NOT NULL,
  severity        text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
  door            text,
  detail          text,
  occurrences     integer NOT NULL DEFAULT 1,
  state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'acknowledged', 'resolved')),
  raised_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at    timestamptz NOT NULL DEFAULT now(),
  cleared_at      timestamptz,
  acknowledged_at timestamptz,
  acknowledged_by text,
  ack_comment     text,
  event_id        uuid
);
-- At most one open alarm per condition; repeats count occurrences.
CREATE UNIQUE INDEX alarms_open_key ON alarms (source, coalesce(site, ''), coalesce(gateway, ''), key) WHERE cleared_at IS NULL;
CREATE INDEX alarms_state ON alarms (state, raised_at DESC);

-- Every sequence number each gateway used, with the event it belongs to: a replay with another
-- event is refused here, across any number of dashboard instances, and gaps can be found.
CREATE TABLE event_sequences (
  site     text NOT NULL,
  gateway  text NOT NULL,
  seq      bigint NOT NULL,
  event_id uuid NOT NULL,
  PRIMARY KEY (site, gateway, seq)
);

CREATE TABLE gateway_sequences (
  site                text NOT NULL,
  gateway             text NOT NULL,
  contiguous_through  bigint NOT NULL DEFAULT 0,
  highest             bigint NOT NULL DEFAULT 0,
  gap_since           timestamptz,
  resend_requested_at timestamptz,
  resend_requested_to bigint,
  PRIMARY KEY (site, gateway)
);
