import type { KeyRing } from '../../lib/key-ring.js';
import type { Envelope, Rejection } from '../../protocol/envelope.js';
import {
  ERASURE_SHARED,
  erasedAmong,
  idKey,
  type NamedId,
  type TombstoneKind,
  tombstoneDigest,
} from '../retention/erasure-tombstones.js';
import { readTombstoneKey } from '../retention/tombstone-key.js';
import type { Queryable } from '../storage/event-store.js';
import { type NumberUse, numberUseOf } from '../storage/sequence-store.js';
import { namingOnly } from './payload-checks.js';

/** The alarm key a gateway gives a badge's lock-out; it names the badge (alarm.raised and .cleared). */
const LOCKED_OUT_KEY = 'badge-locked-out:';

/** Where an event names a person or a badge. */
type NamingField = 'person' | 'companion' | 'badge' | 'key';

/** The person ids and badges an event names: `person`, `companion`, `badge`, a lock-out's key. */
export function namedIn(
  envelope: Envelope,
): Array<{ kind: TombstoneKind; value: string; field: NamingField }> {
  const data = envelope.data as Record<string, unknown>;
  const named: Array<{ kind: TombstoneKind; value: string; field: NamingField }> = [];
  for (const field of ['person', 'companion'] as const) {
    const value = data[field];
    if (typeof value === 'string') named.push({ kind: 'person', value, field });
  }
  if (typeof data.badge === 'string') named.push({ kind: 'badge', value: data.badge, field: 'badge' });
  if (typeof data.key === 'string' && data.key.startsWith(LOCKED_OUT_KEY))
    named.push({ kind: 'badge', value: data.key.slice(LOCKED_OUT_KEY.length), field: 'key' });
  return named;
}

export type ErasedRefusal = Rejection & { payload: Buffer; uses: NumberUse };

/**
 * The ingest's part of erasure: an event from before an erasure that names the erased person
 * or one of their badges (a tombstone, erasure-tombstones.ts) is not stored. Like a `past-time`
 * event it is quarantined with only what names it, and its number is claimed, so no gap is
 * reported and a resend is a duplicate; it raises no alarm, as a gateway that was offline during
 * an erasure sends such events in good faith. Someone else's event that names the person only
 * as its two-person-rule companion is stored, with the companion `erased` and no signature, as
 * the erasure left the ones stored before. What happened after the erasure is a new fact and is stored: a
 * leaver's old card tried at a door, and the lock-out it earns, are what security staff must see.
 *
 * Asked inside each ingest transaction, in one statement over the batch's distinct ids: every
 * dashboard instance sees every committed tombstone, with no cache to keep fresh.
 */
export class ErasedRefusals {
  /** The tombstones' key never changes once drawn (tombstone-key.ts): read once, kept. */
  private key: Buffer | undefined;

  /** `masterKeys` open the tombstones' key (sealed under them); without, it must be kept in plain. */
  constructor(private readonly masterKeys?: KeyRing) {}

  /** Takes the entries whose event names an erased person out of `accepted`, with their refusal. */
  async take<T extends { envelope: Envelope }>(
    db: Queryable,
    accepted: T[],
  ): Promise<Array<T & { rejection: ErasedRefusal }>> {
    const distinct = new Map<string, { kind: TombstoneKind; value: string }>();
    for (const { envelope } of accepted)
      for (const named of namedIn(envelope)) distinct.set(idKey(named), named);
    if (distinct.size === 0) return [];
    // Not while an erasure runs: its tombstones are read after it commits (a statement of its own).
    await db.query(ERASURE_SHARED);
    this.key ??= await readTombstoneKey(db, this.masterKeys);
    const key = this.key;
    // No key yet: no erasure has written a tombstone.
    if (!key) return [];
    const ids: NamedId[] = [...distinct.values()].map((named) => ({
      ...named,
      digest: tombstoneDigest(key, named.kind, named.value),
    }));
    const erased = await erasedAmong(db, ids);
    if (erased.size === 0) return [];
    const holds = await activeHolds(db);
    const taken: Array<T & { rejection: ErasedRefusal }> = [];
    for (let i = accepted.length - 1; i >= 0; i--) {
      const entry = accepted[i] as T;
      const time = Date.parse(entry.envelope.time);
      // What the erasure kept under a legal hold arrives as it was, as the erasure left it.
      if (
        holds.some(
          (h) => (h.site === null || h.site === entry.envelope.site) && h.from <= time && time < h.to,
        )
      )
        continue;
      // As the erasure takes them: a badge alone only where the event names no person (a badge
      // can have been someone else's; their events name them).
      const namesPerson = typeof (entry.envelope.data as Record<string, unknown>).person === 'string';
      const before = namedIn(entry.envelope).filter((named) => {
        const at = erased.get(idKey(named));
        if (at === undefined || time > at) return false;
        return !(namesPerson && (named.field === 'badge' || named.field === 'key'));
      });
      if (before.length === 0) continue;
      if (before.every((named) => named.field === 'companion')) {
        // Before the digests and the insert are built from it: stored as the erasure leaves others'
        // events, without the signature, which with the gateway's public key would confirm a guess.
        (entry.envelope.data as Record<string, unknown>).companion = 'erased';
        entry.envelope.sig = '';
        continue;
      }
      accepted.splice(i, 1);
      taken.unshift({ ...entry, rejection: refusal(entry.envelope) });
    }
    return taken;
  }
}

/** The legal holds in force (a few rows): the erasure keeps what they cover, and so does this. */
async function activeHolds(db: Queryable): Promise<Array<{ site: string | null; from: number; to: number }>> {
  const result = await db.query<{ site: string | null; held_from: Date; held_to: Date }>(
    'SELECT site, held_from, held_to FROM legal_holds WHERE released_at IS NULL',
  );
  return result.rows.map((h) => ({ site: h.site, from: h.held_from.getTime(), to: h.held_to.getTime() }));
}

function refusal(envelope: Envelope): ErasedRefusal {
  return {
    ok: false,
    reason: 'erased-person',
    detail: 'names a person erased on request, or one of their badges: only what names the event is kept',
    payload: namingOnly(envelope),
    uses: numberUseOf(envelope),
  };
}
