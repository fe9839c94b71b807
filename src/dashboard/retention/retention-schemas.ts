import Type, { type Static } from 'typebox';
import { DataClass, PolicyScope } from '../../controllers/retention/data-classes.js';
import { PolicyRule, RetentionDays } from '../../controllers/retention/policy-book.js';
import { lineOfText } from '../../lib/line-of-text.js';
import { ID_PATTERN } from '../../protocol/ids.js';

/**
 * What the retention service takes and gives; the HTTP layer uses the same schemas for its
 * bodies and responses. Times are ISO 8601 strings.
 */
const Id = Type.String({ pattern: ID_PATTERN });
const Time = Type.String({ format: 'date-time' });
const strict = { additionalProperties: false } as const;

export const PolicyInput = Type.Object(
  { dataClass: DataClass, scope: PolicyScope, scopeId: Type.Optional(Id), days: RetentionDays },
  strict,
);
export type PolicyInput = Static<typeof PolicyInput>;

export const PolicyRef = Type.Object(
  { dataClass: DataClass, scope: PolicyScope, scopeId: Type.Optional(Id) },
  strict,
);
export type PolicyRef = Static<typeof PolicyRef>;

export const StoredPolicy = Type.Object({
  ...PolicyRule.properties,
  updatedAt: Time,
  updatedBy: Type.String(),
});
export type StoredPolicy = Static<typeof StoredPolicy>;

export const PolicyOverview = Type.Object({
  defaultDays: RetentionDays,
  classes: Type.Array(
    Type.Object({
      dataClass: DataClass,
      description: Type.String(),
      scopes: Type.Array(PolicyScope),
      /** False for a class whose store is not part of this build yet: nothing of it is kept. */
      active: Type.Boolean(),
    }),
  ),
  policies: Type.Array(StoredPolicy),
});
export type PolicyOverview = Static<typeof PolicyOverview>;

export const NewLegalHold = Type.Object(
  {
    /** Absent: every site. */
    site: Type.Optional(Id),
    from: Time,
    to: Time,
    reason: lineOfText(500, { description: 'a case reference, not a name' }),
  },
  strict,
);
export type NewLegalHold = Static<typeof NewLegalHold>;

export const LegalHold = Type.Object({
  id: Type.Integer(),
  site: Type.Union([Id, Type.Null()]),
  from: Time,
  to: Time,
  reason: Type.String(),
  createdBy: Type.String(),
  createdAt: Time,
  releasedAt: Type.Union([Time, Type.Null()]),
  releasedBy: Type.Union([Type.String(), Type.Null()]),
});
export type LegalHold = Static<typeof LegalHold>;

export const DeletionMethod = Type.Union([
  Type.Literal('partition-drop'),
  Type.Literal('delete'),
  Type.Literal('erase'),
]);
export type DeletionMethod = Static<typeof DeletionMethod>;

/** One line of the deletion log: what went, never whose. */
export const DeletionEntry = Type.Object({
  dataClass: DataClass,
  /** The policy that decided (`site:<id>`, `customer:<id>`, `global`, `default`) or `erasure`. */
  scope: Type.String(),
  site: Type.Union([Id, Type.Null()]),
  from: Type.Union([Time, Type.Null()]),
  to: Type.Union([Time, Type.Null()]),
  count: Type.Integer({ minimum: 0 }),
  method: DeletionMethod,
  durationMs: Type.Integer({ minimum: 0 }),
});
export type DeletionEntry = Static<typeof DeletionEntry>;

export const DeletionLogRow = Type.Object({
  ...DeletionEntry.properties,
  runId: Type.String({ format: 'uuid' }),
  startedAt: Time,
  dryRun: Type.Boolean(),
});
export type DeletionLogRow = Static<typeof DeletionLogRow>;

/** Expired data that legal holds kept (counted in a dry run and a real run alike). */
export const HeldEntry = Type.Object({
  dataClass: DataClass,
  site: Type.Union([Id, Type.Null()]),
  holds: Type.Array(Type.Integer()),
  count: Type.Integer({ minimum: 0 }),
});
export type HeldEntry = Static<typeof HeldEntry>;

export const RetentionReport = Type.Object({
  runId: Type.String({ format: 'uuid' }),
  dryRun: Type.Boolean(),
  startedAt: Time,
  finishedAt: Time,
  partitionsCreated: Type.Integer({ minimum: 0 }),
  entries: Type.Array(DeletionEntry),
  held: Type.Array(HeldEntry),
  /** Steps that failed; the run went on with the rest and the next run retries them. */
  failures: Type.Array(Type.Object({ step: Type.String(), code: Type.String(), message: Type.String() })),
});
export type RetentionReport = Static<typeof RetentionReport>;
