import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { ErasedRefusals } from '../../src/dashboard/ingest/erased-refusals.js';
import { tombstoneDigest } from '../../src/dashboard/retention/erasure-tombstones.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import {
  prepareTombstoneKey,
  readTombstoneKey,
  TOMBSTONE_KEY_CONTEXT,
} from '../../src/dashboard/retention/tombstone-key.js';
import { rotateMasterKey } from '../../src/dashboard/storage/master-key-rotation.js';
import { migrate, migrationsDir } from '../../src/dashboard/storage/migrator.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { keyId } from '../../src/lib/aead.js';
import { KeyRing } from '../../src/lib/key-ring.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { ADMIN, HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * The tombstones' key is sealed under the master key: whoever holds the database alone cannot
 * hash a guessed id and find it among the tombstones. A key kept in plain by an earlier version
 * is sealed in place at the first start with master keys, and a master-key rotation re-seals it.
 */
describe('the erasure tombstones key at rest', () => {
  let rig: RetentionRig;
  const master = randomBytes(32);
  const ada = 'agent-ada';
  const badge = 'BADGE-ADA-1';

  const erasing = (ring: KeyRing | undefined) =>
    new RetentionService({
      pool: rig.pool,
      clock: rig.clock,
      log: silentLogger,
      settings: retentionSettings({}),
      masterKeys: ring,
    });
  const keyRow = async () =>
    (
      await rig.pool.query<{ key: Buffer | null; key_sealed: string | null }>(
        'SELECT key, key_sealed FROM erasure_tombstone_key',
      )
    ).rows;
  const tombstones = async () =>
    (await rig.pool.query<{ digest: Buffer }>('SELECT digest FROM erasure_tombstones')).rows.map((r) =>
      r.digest.toString('hex'),
    );
  /** The event a gateway still had in its outbox: from before the erasure, naming Ada. */
  const late = (): Envelope =>
    ({
      v: 1,
      id: '0190f0c0-0000-7000-8000-000000000001',
      site: 'berlin',
      gateway: 'gw-1',
      seq: 1,
      time: new Date(NOW - HOUR).toISOString(),
      kind: 'access.granted',
      data: { door: 'main', person: ada, badge },
      sig: 'signature',
    }) as Envelope;
  const refused = async (ring: KeyRing | undefined) =>
    (await new ErasedRefusals(ring).take(rig.pool, [{ envelope: late() }])).map((t) => t.rejection.reason);

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE erasure_tombstones, erasure_tombstone_key');
    const people = new PeopleStore(rig.pool, master);
    await people.upsertPerson({ id: ada, displayName: 'Ada' });
    await people.addBadge(badge, ada);
  });

  it('leaves no key after the migrations where no tombstone needed one, and the first erasure draws one sealed only', async () => {
    // The rig's database was migrated from scratch: migration 28's key went with migration 29.
    expect(await keyRow()).toEqual([]);
    await erasing(new KeyRing(master)).erasePerson(ada, {}, ADMIN);
    expect(await keyRow()).toEqual([
      { key: null, key_sealed: expect.stringMatching(`^v2\\.${keyId(master)}\\.`) },
    ]);
    expect(await refused(new KeyRing(master))).toEqual(['erased-person']);
  });

  it('seals a key an earlier version kept in plain, in place, so that its tombstones still match', async () => {
    const plain = randomBytes(32);
    await rig.pool.query('INSERT INTO erasure_tombstone_key (key) VALUES ($1)', [plain]);
    await erasing(undefined).erasePerson(ada, {}, ADMIN);
    expect(await tombstones()).toContain(tombstoneDigest(plain, 'person', ada).toString('hex'));
    const file = async () =>
      (await rig.pool.query<{ f: string }>(`SELECT pg_relation_filenode('erasure_tombstone_key')::text AS f`))
        .rows[0]?.f;
    const before = await file();

    await prepareTombstoneKey(rig.pool, new KeyRing(master), silentLogger);

    const [row] = await keyRow();
    expect(row?.key).toBeNull();
    expect(row?.key_sealed).toMatch(/^v2\./);
    for (const form of ['hex', 'base64', 'base64url'] as const)
      expect(row?.key_sealed).not.toContain(plain.toString(form));
    // Rewritten: the file that held the plain row version is gone.
    expect(await file()).not.toBe(before);
    expect(await readTombstoneKey(rig.pool, new KeyRing(master))).toEqual(plain);
    expect(await refused(new KeyRing(master))).toEqual(['erased-person']);
    // Once sealed, a second start has nothing to do.
    await prepareTombstoneKey(rig.pool, new KeyRing(master), silentLogger);
    expect((await keyRow())[0]?.key_sealed).toBe(row?.key_sealed);
  });

  it('gives whoever holds only the database nothing to compute the tombstones with', async () => {
    await erasing(new KeyRing(master)).erasePerson(ada, {}, ADMIN);
    const held = await tombstones();
    const key = (await readTombstoneKey(rig.pool, new KeyRing(master))) as Buffer;
    // With the key, a guessed id is found; that is what the sealing keeps from them.
    expect(held).toContain(tombstoneDigest(key, 'person', ada).toString('hex'));

    const [row] = await keyRow();
    expect(row?.key).toBeNull();
    const stored = row?.key_sealed as string;
    // Every piece of the stored material, and the whole of it, fails as a key.
    const candidates = [
      Buffer.from(stored),
      ...stored.split('.').map((part) => Buffer.from(part, 'base64url')),
      ...stored.split('.').map((part) => Buffer.from(part)),
    ];
    for (const candidate of candidates) {
      expect(candidate.equals(key)).toBe(false);
      expect(held).not.toContain(tombstoneDigest(candidate, 'person', ada).toString('hex'));
    }
    const everything = await rig.pool.query<{ t: string }>(
      `SELECT string_agg(t::text, ' ') AS t FROM (SELECT * FROM erasure_tombstone_key) t`,
    );
    for (const form of ['hex', 'base64', 'base64url'] as const)
      expect(everything.rows[0]?.t).not.toContain(key.toString(form));
  });

  it('keeps the key usable across a master-key rotation, and the old key alone no longer opens it', async () => {
    await erasing(new KeyRing(master)).erasePerson(ada, {}, ADMIN);
    const key = await readTombstoneKey(rig.pool, new KeyRing(master));
    const next = randomBytes(32);

    const report = await rotateMasterKey(rig.pool, new KeyRing(next, [master]));

    expect(report.unreadable).toEqual([]);
    expect((await keyRow())[0]?.key_sealed?.startsWith(`v2.${keyId(next)}.`)).toBe(true);
    expect(await readTombstoneKey(rig.pool, new KeyRing(next))).toEqual(key);
    expect(await refused(new KeyRing(next))).toEqual(['erased-person']);
    await expect(readTombstoneKey(rig.pool, new KeyRing(master))).rejects.toMatchObject({
      code: 'IDG_CRYPTO_KEY_UNKNOWN',
    });
  });

  it('stops a start without master keys once the key is sealed, and says so where it is kept in plain', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) });
    await erasing(undefined).erasePerson(ada, {}, ADMIN);
    await prepareTombstoneKey(rig.pool, undefined, log);
    expect(lines.join('\n')).toContain("the erasure tombstones' key is kept in plain");

    await prepareTombstoneKey(rig.pool, new KeyRing(master), silentLogger);
    await expect(prepareTombstoneKey(rig.pool, undefined, silentLogger)).rejects.toMatchObject({
      code: 'IDG_NO_MASTER_KEY',
    });
    await expect(
      prepareTombstoneKey(rig.pool, new KeyRing(randomBytes(32)), silentLogger),
    ).rejects.toMatchObject({ code: 'IDG_TOMBSTONE_KEY_UNREADABLE' });
  });

  it('binds the sealed key to its purpose: it does not open as another sealed value', async () => {
    await erasing(new KeyRing(master)).erasePerson(ada, {}, ADMIN);
    const sealed = (await keyRow())[0]?.key_sealed as string;
    expect(() => new KeyRing(master).open(sealed, 'identgate/totp-secret/v1/agent-ada')).toThrow();
    expect(new KeyRing(master).open(sealed, TOMBSTONE_KEY_CONTEXT)).toHaveLength(32);
  });
});

/** A database migrated from scratch has no key after migration 29 (above); one with tombstones keeps its key. */
describe('the migration to a sealed tombstones key', () => {
  it('keeps the key that tombstones were hashed under, for the first start to seal', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    try {
      const upTo28 = mkdtempSync(join(tmpdir(), 'idg-migrations-'));
      for (const file of readdirSync(migrationsDir()).filter((f) => f < '0029'))
        copyFileSync(join(migrationsDir(), file), join(upTo28, file));
      await migrate(pool, silentLogger, upTo28);
      const plain = (await pool.query<{ key: Buffer }>('SELECT key FROM erasure_tombstone_key')).rows[0]?.key;
      await pool.query(`INSERT INTO erasure_tombstones (digest, erased_at) VALUES ($1, now())`, [
        tombstoneDigest(plain as Buffer, 'person', 'agent-old'),
      ]);
      await migrate(pool, silentLogger);
      expect((await pool.query('SELECT key FROM erasure_tombstone_key')).rows).toEqual([{ key: plain }]);
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
