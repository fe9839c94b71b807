import type { Queryable } from '../storage/event-store.js';

/**
 * The shared audit log: who (`cli:<os user>`, `staff:<id>`, `system`) did what (`retention.policy.set`,
 * `retention.hold.add`, `person.erase` …) to what (`retention:access-events/customer:acme`,
 * `hold:12`), with details that carry settings and counts, never a customer's or agent's
 * personal data. Written in the same transaction as the change it records.
 */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}

export async function writeAudit(db: Queryable, entry: AuditEntry, at: Date): Promise<void> {
  await db.query('INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
    at,
    entry.actor,
    entry.action,
    entry.target,
    JSON.stringify(entry.details),
  ]);
}
