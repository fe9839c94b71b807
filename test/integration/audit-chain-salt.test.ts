import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * What the audit chain's digests give away of an erased person to whoever holds the database
 * alone (a dump, a backup): nothing. The chain keeps the digest of each event as first written,
 * which covers the gateway's signature; an erasure that rewrites the event destroys it. Each test
 * plays the attacker with the project's own digest functions and a list of guessed ids, and
 * checks first that the same guess would have matched had the secret stayed.
 */
describe('the audit chain keeps nothing to test a guessed id against', () => {
  let rig: RetentionRig;
  let people: PeopleStore;
  const ada = 'agent-ada-salt';
  const badge = 'BADGE-ADA-SALT';
  /** What an attacker would try: e.g. the staff list, or agent-0000 … agent-9999. */
  const guesses = ['agent-zoe', 'agent-bob', ada, 'agent-max'];

  beforeAll(async () => {
    rig = await startRetentionRig();
    people = new PeopleStore(rig.pool, randomBytes(32));
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    for (const id of [ada, 'agent-bob']) {
      await people.upsertPerson({ id, displayName: `${id} name` });
      await people.grantSite(id, 'berlin');
    }
    await people.addBadge(badge, ada);
    await people.addBadge('BADGE-BOB-0001', 'agent-bob');
  });

  /** The guesses whose digest, with `secret` put back as the row's signature, is the chain's. */
  const companionGuesses = async (eventId: string, signature: string | null) =>
    (
      await rig.pool.query<{ guess: string }>(
        `SELECT g.guess FROM events e
           JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text
           CROSS JOIN unnest($2::text[]) AS g(guess)
          WHERE e.id = $1
            AND c.digest = identgate_event_digest(jsonb_populate_record(e, jsonb_build_object(
                  'data', jsonb_set(e.data, '{companion}', to_jsonb(g.guess)),
                  'signature', coalesce($3, e.signature))))`,
        [eventId, guesses, signature],
      )
    ).rows.map((r) => r.guess);

  it('leaves no way to tell that the erased person was the companion in another’s event', async () => {
    const signature = randomBytes(64).toString('base64url');
    const bobs = await rig.event('berlin', DAY, {
      person: 'agent-bob',
      badge: 'BADGE-BOB-0001',
      data: { companion: ada },
      signature,
    });
    await rig.service.erasePerson(ada, { reference: 'DSR-SALT-1' }, ADMIN);
    const row = await rig.pool.query('SELECT data, signature, chain_digest FROM events WHERE id = $1', [
      bobs.id,
    ]);
    expect(row.rows).toEqual([
      { data: expect.objectContaining({ companion: 'erased' }), signature: '', chain_digest: null },
    ]);
    // The gateway's signature was the secret: with it, the guess would be found.
    expect(await companionGuesses(bobs.id, signature)).toEqual([ada]);
    expect(await companionGuesses(bobs.id, null)).toEqual([]);
    expect(await rig.pool.query('SELECT 1 FROM events WHERE signature = $1', [signature])).toMatchObject({
      rowCount: 0,
    });
    expect(await verifyChains(rig.pool, {})).toMatchObject({
      ok: true,
      chains: [{}, { site: 'berlin', redacted: 1 }],
    });
  });
});
