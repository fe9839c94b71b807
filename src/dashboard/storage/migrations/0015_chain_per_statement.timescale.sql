-- The native path (0015_chain_per_statement.native.sql) chains events once per statement through
-- a transition table. Hypertables had no transition tables before TimescaleDB 2.18 (this project
-- supports 2.13 and later), so here events keep 0009's per-row trigger, which writes the same chain.
SELECT 1;
