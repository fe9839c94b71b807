-- The workstation's lock agent reports that it runs (a heartbeat); a workstation whose agent has
-- gone quiet cannot be locked on leave, which a `workstation-agent-offline` alarm says. Null: no
-- agent has ever reported (a workstation without one is not watched). An agent stopped by the
-- workstation's shutdown says so (`agent_shutdown_at`): its sessions end with the shutdown, so its
-- owed locks are settled and, until the agent reports again, no lock is sent or owed.
ALTER TABLE workstations ADD COLUMN agent_seen_at timestamptz;
ALTER TABLE workstations ADD COLUMN agent_shutdown_at timestamptz;
