import type { FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import Type from 'typebox';
import { lineOfText } from '../../lib/line-of-text.js';
import type { Logger } from '../../lib/logger.js';
import { ID_PATTERN } from '../../protocol/ids.js';
import type { CentralMessenger } from '../central-messenger.js';
import { PeopleEnrolment } from '../people/people-enrolment.js';
import type { PeopleDirectory } from '../storage/people-directory.js';
import type { PeopleStore } from '../storage/people-store.js';
import { staffActor } from './auth-plugin.js';
import { ErrorSchema } from './schemas.js';

/** The schemas and the steps the people and credential routes share. */
export const Errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  503: ErrorSchema,
};
export const Id = Type.String({ pattern: ID_PATTERN });
export const Badge = Type.String({ pattern: '^[A-Za-z0-9:_-]{1,64}$' });
export const Name = lineOfText(200);
/** A compliance date: a real day from 1900 to 2999 (PostgreSQL refuses a year 0000 the format allows). */
export const DAY_PATTERN = '^(19|2[0-9])[0-9]{2}-';
export const Day = Type.String({ format: 'date', maxLength: 10, pattern: DAY_PATTERN });
export const NullableDay = Type.Union([Day, Type.Null()]);
export const Time = Type.String({ format: 'date-time' });
export const NullableTime = Type.Union([Time, Type.Null()]);

export const PersonSummary = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  backgroundCheckOn: Type.Union([Type.String(), Type.Null()]),
  trainingOn: Type.Union([Type.String(), Type.Null()]),
  mayOpenRoom: Type.Boolean(),
  totpEnrolled: Type.Boolean(),
  activeBadges: Type.Integer(),
  sites: Type.Array(Type.String()),
  updatedAt: Time,
});
export const PersonDetail = Type.Object({
  ...PersonSummary.properties,
  badges: Type.Array(
    Type.Object({
      badge: Type.String(),
      status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
      validFrom: NullableTime,
      validUntil: NullableTime,
      createdAt: Time,
      revokedAt: NullableTime,
    }),
  ),
});
/**
 * Whether the change reached the gateways: `published` to that many gateways, `off` without the
 * central signing key, `failed` when the broker could not be reached (the hourly refresh and the
 * gateways' own requests catch up).
 */
export const Sync = Type.Object({
  status: Type.Union([Type.Literal('published'), Type.Literal('off'), Type.Literal('failed')]),
  gateways: Type.Integer(),
});
export const WithSync = Type.Object({ person: PersonDetail, sync: Sync });
export const PersonParams = Type.Object({ id: Id }, { additionalProperties: false });

export type SyncResult = { status: 'published' | 'off' | 'failed'; gateways: number };

export class PeopleAdmin {
  /** The changes themselves, with their rules and audit entries (shared with `identgate agent`). */
  readonly enrolment: PeopleEnrolment;

  constructor(
    private readonly deps: {
      pool: Pool;
      people: PeopleStore;
      directory: PeopleDirectory;
      messenger: () => CentralMessenger;
      log: Logger;
      /** After a credential change: workstation presence forgets revoked badges and erased people now. */
      credentialsChanged?: () => Promise<void>;
    },
  ) {
    this.enrolment = new PeopleEnrolment(deps);
  }

  actor(request: FastifyRequest): string {
    return staffActor(request);
  }

  existing(id: string) {
    return this.enrolment.existing(id);
  }

  /** Publishes the credential sets of these sites now (the CLI leaves that to the dashboards, through a notice). */
  async sync(sites: readonly string[]): Promise<SyncResult> {
    await this.deps
      .credentialsChanged?.()
      .catch((error: Error) =>
        this.deps.log.warn({ err: error }, 'presence could not be refreshed after a credential change'),
      );
    let gateways = 0;
    try {
      const sender = this.deps.messenger();
      if (!sender.canSign) return { status: 'off', gateways };
      for (const site of new Set(sites)) gateways += await sender.publishCredentials(site);
      return { status: 'published', gateways };
    } catch (error) {
      this.deps.log.error({ err: error, sites }, 'credential sets could not be published after a change');
      return { status: 'failed', gateways };
    }
  }
}
