import type { Pool, PoolClient } from 'pg';
import { generateTotpSecret, otpauthUri } from '../../controllers/totp-secret.js';
import { auditedChange } from '../audit/audited-change.js';
import { AdminErrors } from '../http/admin-errors.js';
import type { PeopleDirectory } from '../storage/people-directory.js';
import type { PeopleStore } from '../storage/people-store.js';

/**
 * Enrolling agents: people, their compliance dates, badges, site grants and TOTP secret. The
 * rules live here once, for the administrators' API and for `identgate agent` on the central host:
 * each change is one transaction with its audit entry (`person.*`, the id as target, never a name,
 * date or secret), checked against the row as it is then. Each answers the sites whose gateways
 * must get the person's credentials again; publishing them is the caller's (the API at once, the
 * command through a notice to the running dashboards).
 */
export interface PersonFields {
  displayName?: string;
  backgroundCheckOn?: string | null;
  trainingOn?: string | null;
  mayOpenRoom?: boolean;
}

export interface Changed {
  /** The sites whose credential sets change with it. */
  sites: string[];
}

export class PeopleEnrolment {
  constructor(private readonly deps: { pool: Pool; people: PeopleStore; directory: PeopleDirectory }) {}

  async create(
    actor: string,
    person: {
      id: string;
      displayName: string;
      backgroundCheckOn?: string;
      trainingOn?: string;
      mayOpenRoom?: boolean;
    },
  ): Promise<Changed> {
    const { id, displayName, ...rest } = person;
    await this.change(actor, 'person.created', id, {}, async (db) => {
      if (!(await this.deps.people.createPerson({ id, displayName: displayName.trim(), ...rest }, db)))
        throw new AdminErrors.conflict(`a person "${id}" exists already`);
    });
    return { sites: [] };
  }

  /** Changes what `fields` names (a date set to null is cleared); a person erased meanwhile stays erased. */
  async update(actor: string, id: string, fields: PersonFields): Promise<Changed> {
    const before = await this.existing(id);
    const { displayName, ...rest } = fields;
    await this.change(actor, 'person.updated', id, { fields: Object.keys(fields).sort() }, async (db) => {
      const change = { ...rest, ...(displayName ? { displayName: displayName.trim() } : {}) };
      if (!(await this.deps.people.updatePerson(id, change, db)))
        throw new AdminErrors.notFound(`no person "${id}"`);
    });
    return { sites: before.sites };
  }

  /** A badge for the person (or one of theirs reactivated), never one of someone else's. */
  async addBadge(
    actor: string,
    id: string,
    badge: string,
    validity: { from?: Date; until?: Date } = {},
  ): Promise<Changed> {
    const person = await this.existing(id);
    const owner = await this.deps.directory.badgeOwner(badge);
    const taken = () =>
      new AdminErrors.conflict(`badge ${badge} belongs to someone else; revoke it there first`);
    if (owner !== undefined && owner !== id) throw taken();
    if (validity.from && validity.until && validity.until <= validity.from)
      throw new AdminErrors.invalid('validUntil must be after validFrom');
    const span = {
      ...(validity.from ? { validFrom: validity.from.toISOString() } : {}),
      ...(validity.until ? { validUntil: validity.until.toISOString() } : {}),
    };
    await this.change(actor, 'person.badge-added', id, { badge, ...span }, async (db) => {
      if (!(await this.deps.people.addBadge(badge, id, validity, db))) throw taken();
    });
    return { sites: person.sites };
  }

  async revokeBadge(actor: string, id: string, badge: string): Promise<Changed> {
    const person = await this.existing(id);
    const none = () => new AdminErrors.notFound(`${id} has no active badge ${badge}`);
    if (!person.badges.some((b) => b.badge === badge && b.status === 'active')) throw none();
    await this.change(actor, 'person.badge-revoked', id, { badge }, async (db) => {
      if (!(await this.deps.people.revokeBadge(badge, id, db))) throw none();
    });
    return { sites: person.sites };
  }

  async grantSite(actor: string, id: string, site: string): Promise<Changed> {
    await this.existing(id);
    if (!(await this.deps.directory.siteExists(site))) throw new AdminErrors.notFound(`no site "${site}"`);
    await this.change(actor, 'person.site-granted', id, { site }, (db) =>
      this.deps.people.grantSite(id, site, db),
    );
    return { sites: [site] };
  }

  async withdrawSite(actor: string, id: string, site: string): Promise<Changed> {
    await this.existing(id);
    await this.change(actor, 'person.site-withdrawn', id, { site }, async (db) => {
      if (!(await this.deps.directory.withdrawSite(id, site, db)))
        throw new AdminErrors.notFound(`${id} has no grant for site ${site}`);
    });
    return { sites: [site] };
  }

  /** A new TOTP secret (replacing any old one), stored sealed; answered once, to be shown once. */
  async enrolTotp(actor: string, id: string): Promise<Changed & { secret: string }> {
    const person = await this.existing(id);
    const secret = generateTotpSecret();
    await this.change(actor, 'person.totp-enrolled', id, { replaced: person.totpEnrolled }, (db) =>
      this.deps.people.setTotpSecret(id, secret, db),
    );
    return { secret, sites: person.sites };
  }

  async existing(id: string) {
    const person = await this.deps.directory.get(id);
    if (!person) throw new AdminErrors.notFound(`no person "${id}"`);
    return person;
  }

  private change(
    actor: string,
    action: string,
    id: string,
    details: Record<string, unknown>,
    work: (db: PoolClient) => Promise<void>,
  ): Promise<void> {
    return auditedChange(this.deps.pool, work, () => ({ actor, action, target: `person:${id}`, details }));
  }
}

/** What an authenticator app reads from the QR code: the agent's id as account, 6 digits, 30 s. */
export function agentOtpauthUri(issuer: string, personId: string, secret: string): string {
  return otpauthUri({ issuer, account: personId, secret, algorithm: 'sha1', digits: 6, periodSeconds: 30 });
}
