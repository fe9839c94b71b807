import Type, { type Static } from 'typebox';
import { ID_PATTERN } from '../../protocol/ids.js';
import { DataClass, PolicyScope } from './data-classes.js';

export const DAY_MS = 86_400_000;

export const RetentionDays = Type.Integer({
  minimum: 1,
  maximum: 3650,
  description: 'days to keep the data, 1 to 3650',
});

/** One stored policy: keep `dataClass` for `days` everywhere, for one customer or for one site. */
export const PolicyRule = Type.Object(
  {
    dataClass: DataClass,
    scope: PolicyScope,
    /** The customer or site id; null for the global scope. */
    scopeId: Type.Union([Type.String({ pattern: ID_PATTERN }), Type.Null()]),
    days: RetentionDays,
  },
  { additionalProperties: false },
);
export type PolicyRule = Static<typeof PolicyRule>;

/** Where a site's retention came from: `site:<id>`, `customer:<id>`, `global` or `default`. */
export type PolicySource = string;

export interface ResolvedRetention {
  days: number;
  source: PolicySource;
  /** Data that occurred before this instant (epoch ms) has expired. */
  cutoff: number;
}

/**
 * Answers "how long is this class kept for this site" at one instant: the site's own policy,
 * else its customer's, else the global one, else the configured default. Data without a site
 * (central alarms, quarantine) gets the global answer.
 */
export class PolicyBook {
  private readonly byKey = new Map<string, PolicyRule>();

  constructor(
    rules: readonly PolicyRule[],
    private readonly defaultDays: number,
    private readonly customerOf: ReadonlyMap<string, string>,
    readonly now: number,
  ) {
    for (const rule of rules) this.byKey.set(key(rule.dataClass, rule.scope, rule.scopeId), rule);
  }

  resolve(dataClass: DataClass, site: string | null): ResolvedRetention {
    const customer = site === null ? undefined : this.customerOf.get(site);
    const rule =
      (site !== null ? this.byKey.get(key(dataClass, 'site', site)) : undefined) ??
      (customer !== undefined ? this.byKey.get(key(dataClass, 'customer', customer)) : undefined) ??
      this.byKey.get(key(dataClass, 'global', null));
    const days = rule?.days ?? this.defaultDays;
    const source = rule ? (rule.scope === 'global' ? 'global' : `${rule.scope}:${rule.scopeId}`) : 'default';
    return { days, source, cutoff: this.now - days * DAY_MS };
  }

  /**
   * The latest cutoff any site can have for these classes: nothing that occurred at or after it
   * has expired anywhere, so partitions starting there need not be looked at.
   */
  latestCutoff(classes: readonly DataClass[]): number {
    const days: number[] = [];
    for (const dataClass of classes) {
      if (!this.byKey.has(key(dataClass, 'global', null))) days.push(this.defaultDays);
    }
    for (const rule of this.byKey.values()) if (classes.includes(rule.dataClass)) days.push(rule.days);
    if (days.length === 0) return Number.NEGATIVE_INFINITY;
    return this.now - Math.min(...days) * DAY_MS;
  }
}

function key(dataClass: DataClass, scope: PolicyScope, scopeId: string | null): string {
  return `${dataClass}/${scope}/${scopeId ?? ''}`;
}
