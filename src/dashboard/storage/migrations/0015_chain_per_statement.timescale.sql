-- The native path (0015_chain_per_statement.native.sql) chains events once per statement through
-- a transition table. TimescaleDB's hypertables do not support transition tables, so here events
-- keep 0009's per-row trigger, which writes the same chain.
SELECT 1;
