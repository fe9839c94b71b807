-- A retired gateway is trusted no more: its events are refused, its gaps are not asked for, and
-- its id is not trusted again (a replacement gets a new id). The row stays, for the history its
-- events and losses refer to.
ALTER TABLE gateways ADD COLUMN retired_at timestamptz, ADD COLUMN retired_reason text;
