/**
 * The event search as parameterised SQL: every filter becomes one condition with its value as a
 * parameter, and only the filters given appear, so that a time range reaches the planner as a
 * plain range on `occurred_at` (the partition key) and prunes the day partitions outside it.
 */
export interface EventFilter {
  /** Inclusive, ISO date-time. */
  from?: string;
  /** Exclusive, ISO date-time. */
  to?: string;
  site?: string;
  gateway?: string;
  door?: string;
  person?: string;
  /** An exact kind (`access.denied`) or, ending in a dot, a prefix (`access.`). */
  kind?: string;
  /** `data.reason`: why access was denied, why a gateway went offline. */
  reason?: string;
  /** An ingest number: only events stored before it (the next page). */
  before?: number;
}

export interface SqlCondition {
  where: string;
  values: unknown[];
}

export function eventSearchCondition(filter: EventFilter): SqlCondition {
  const values: unknown[] = [];
  const conditions: string[] = [];
  const add = (sql: (param: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(sql(`$${values.length}`));
  };
  if (filter.from !== undefined) add((p) => `occurred_at >= ${p}::timestamptz`, filter.from);
  if (filter.to !== undefined) add((p) => `occurred_at < ${p}::timestamptz`, filter.to);
  if (filter.site !== undefined) add((p) => `site = ${p}`, filter.site);
  if (filter.gateway !== undefined) add((p) => `gateway = ${p}`, filter.gateway);
  if (filter.door !== undefined) add((p) => `door = ${p}`, filter.door);
  if (filter.person !== undefined) add((p) => `person = ${p}`, filter.person);
  if (filter.kind !== undefined) {
    if (filter.kind.endsWith('.')) add((p) => `starts_with(kind, ${p})`, filter.kind);
    else add((p) => `kind = ${p}`, filter.kind);
  }
  if (filter.reason !== undefined) add((p) => `data ->> 'reason' = ${p}`, filter.reason);
  if (filter.before !== undefined) add((p) => `ingest_no < ${p}`, filter.before);
  return { where: conditions.length > 0 ? conditions.join(' AND ') : 'true', values };
}
