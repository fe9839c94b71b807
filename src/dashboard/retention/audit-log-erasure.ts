import type { Queryable } from '../storage/event-store.js';

/**
 * An erasure's part in the audit log. Staff actions name agents in a few places: an
 * administrator's change to a person (`target: person:<id>`, a badge in `details.badge`), an
 * auditor's event search or export (`details.person`, `details.query.person`) and the workstation
 * entries (`details.user`). The entries stay — they are the evidence of what staff did — with
 * the person and their badges replaced by `erased`; each rewritten entry is listed in
 * erased_chain_rows with the content digest it has now, so that `audit verify` accepts exactly
 * that rewrite and reports any later change.
 */
export const ERASED = 'erased';

/** Detail keys whose value is a person id. */
const PERSON_KEYS = new Set(['person', 'user']);
const BADGE_KEY = 'badge';

export interface AuditContent {
  target: string | null;
  details: unknown;
}

/** What to rewrite in one entry: its target, and the paths (for `jsonb_set`) of detail values. */
export interface AuditRedaction {
  target: boolean;
  paths: string[][];
}

/**
 * What of the entry names the person or their badges, or undefined if nothing does. A badge
 * counts wherever the entry is about this person, elsewhere only if it is one of `badges` and the
 * entry is not about another person (a badge can have been someone else's before).
 */
export function redactAuditEntry(
  entry: AuditContent,
  personId: string,
  badges: ReadonlySet<string>,
): AuditRedaction | undefined {
  const own = entry.target === `person:${personId}`;
  const other = !own && (entry.target?.startsWith('person:') ?? false);
  const erases = (key: string | undefined, value: string) =>
    (key !== undefined && PERSON_KEYS.has(key) && value === personId) ||
    (key === BADGE_KEY && value !== ERASED && (own || (!other && badges.has(value))));
  const paths: string[][] = [];
  const walk = (value: unknown, path: string[], key?: string): void => {
    if (typeof value === 'string') {
      if (erases(key, value)) paths.push(path);
    } else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, [...path, String(i)], key);
    } else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k], k);
  };
  walk(entry.details, []);
  return own || paths.length > 0 ? { target: own, paths } : undefined;
}

/**
 * Finds the entries that name the person or one of their badges anywhere (a whole-table scan:
 * erasures are rare), rewrites what of them names an agent, and lists each rewritten entry with
 * its new digest (the function the chain trigger uses). Only those values change, so the rest of
 * the entry stays byte for byte as written — except its salt (migration 0034), which goes in the
 * statement that lists the digest: the chain keeps the digest of the entry as first written, and
 * without the salt nobody can put a guessed id back into the entry and find that digest again.
 * Returns how many entries it rewrote.
 */
export async function eraseFromAuditLog(db: Queryable, personId: string, badges: string[]): Promise<number> {
  const candidates = await db.query<{ id: string; target: string | null; details: unknown }>(
    `SELECT l.id::text, l.target, l.details FROM audit_log l
      WHERE l.target = 'person:' || $1
         OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS n(needle)
                     WHERE jsonb_path_exists(l.details, '$.** ? (@ == $needle)', jsonb_build_object('needle', n.needle)))`,
    [personId, [personId, ...badges]],
  );
  const own = new Set(badges);
  const ids: string[] = [];
  const byPath = new Map<string, { path: string[]; ids: string[] }>();
  for (const row of candidates.rows) {
    const redaction = redactAuditEntry(row, personId, own);
    if (!redaction) continue;
    ids.push(row.id);
    for (const path of redaction.paths) {
      const key = JSON.stringify(path);
      const group = byPath.get(key) ?? { path, ids: [] };
      group.ids.push(row.id);
      byPath.set(key, group);
    }
  }
  if (ids.length === 0) return 0;
  for (const { path, ids: at } of byPath.values()) {
    await db.query(
      `UPDATE audit_log SET details = jsonb_set(details, $1::text[], '"${ERASED}"') WHERE id = ANY($2::bigint[])`,
      [path, at],
    );
  }
  const result = await db.query<{ n: number }>(
    `WITH redacted AS (
       UPDATE audit_log l SET target = CASE WHEN l.target = 'person:' || $2 THEN 'person:${ERASED}' ELSE l.target END,
                              salt = NULL
        WHERE l.id = ANY($1::bigint[])
       RETURNING l.id, identgate_audit_digest(l) AS digest
     ), listed AS (
       INSERT INTO erased_chain_rows (site, no, redacted)
       SELECT c.site, c.no, r.digest FROM redacted r JOIN audit_chain c ON c.source = 'audit' AND c.ref = r.id::text
       ON CONFLICT (site, no) DO UPDATE SET redacted = EXCLUDED.redacted
     )
     SELECT count(*)::int AS n FROM redacted`,
    [ids, personId],
  );
  return result.rows[0]?.n ?? 0;
}
