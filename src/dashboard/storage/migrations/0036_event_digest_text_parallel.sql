-- An auditor's export renders every chained row's content text in the rows' own statement
-- (bundle-content.ts), and PostgreSQL runs a statement with parallel workers only when every
-- function it calls is marked safe for them. These are pure expressions of built-ins that are.
ALTER FUNCTION identgate_chain_micros(timestamptz) PARALLEL SAFE;
ALTER FUNCTION identgate_event_digest_text_of(uuid, timestamptz, smallint, text, text, bigint, text, text, text,
                                              jsonb, text) PARALLEL SAFE;
ALTER FUNCTION identgate_event_digest_text(events) PARALLEL SAFE;
