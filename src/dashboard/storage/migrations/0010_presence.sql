-- Workstation login gated on presence: each workstation authenticates its login checks with its
-- own credential, a random token of which only the SHA-256 hash is kept (the token has 256 bits
-- of entropy, so a slow hash adds nothing). Rotating the token replaces the hash.
ALTER TABLE workstations
  ADD COLUMN token_hash    bytea CHECK (token_hash IS NULL OR octet_length(token_hash) = 32),
  ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
