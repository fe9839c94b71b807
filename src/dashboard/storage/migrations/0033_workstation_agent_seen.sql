-- The workstation's lock agent reports that it runs (a heartbeat); a workstation whose agent has
-- gone quiet cannot be locked on leave, which a `workstation-agent-offline` alarm says. Null: no
-- agent has ever reported (a workstation without one is not watched).
ALTER TABLE workstations ADD COLUMN agent_seen_at timestamptz;
