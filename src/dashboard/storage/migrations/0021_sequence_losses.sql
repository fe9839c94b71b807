-- Sequence numbers lost for good: the gap scanner asked the gateway to send them again and it
-- answered that it could not (its journal no longer holds them: dropped at its outbox's hard
-- bound, or never written). Recorded, with the gateway's answer, so that the scanner moves the
-- gateway's watermark past them and goes on to the next gap, and so that an auditor can see which
-- numbers never arrived and why. Should some of them arrive after all (a copy held elsewhere),
-- they are stored as usual, and the scanner counts them here (`arrived`, last seen `arrived_at`).
-- No personal data: site, gateway, numbers and the answer.
CREATE TABLE sequence_losses (
  site        text        NOT NULL,
  gateway     text        NOT NULL,
  from_seq    bigint      NOT NULL,
  to_seq      bigint      NOT NULL CHECK (to_seq >= from_seq),
  reason      text        NOT NULL,
  declared_at timestamptz NOT NULL DEFAULT now(),
  arrived     bigint      NOT NULL DEFAULT 0,
  arrived_at  timestamptz,
  PRIMARY KEY (site, gateway, from_seq)
);
