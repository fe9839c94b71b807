-- Payloads that failed validation or verification: kept as evidence, never ingested.
CREATE TABLE quarantine (
  id          bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  topic       text NOT NULL,
  reason      text NOT NULL,
  detail      text NOT NULL,
  payload     bytea NOT NULL
);
CREATE INDEX quarantine_received_at ON quarantine (received_at);
