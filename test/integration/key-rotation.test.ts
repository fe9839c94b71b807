import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, runKeygen } from '../../src/cli/keygen-command.js';
import { runKeys } from '../../src/cli/keys-command.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import { rotateMasterKey } from '../../src/dashboard/storage/master-key-rotation.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { PeopleStore, SECRET_CONTEXT } from '../../src/dashboard/storage/people-store.js';
import { keyId, seal } from '../../src/lib/aead.js';
import { KeyRing } from '../../src/lib/key-ring.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * The master key seals TOTP secrets in PostgreSQL. Rotating it re-seals every value under the
 * new key in batches while a dashboard keeps serving, and afterwards nothing refers to the old key.
 */
const site = 'berlin';
const PEOPLE = 230;
let pool: pg.Pool;
let databaseUrl: string;
let drop: () => Promise<void>;
const secrets = new Map<string, string>();

async function enrol(store: PeopleStore, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${String(i).padStart(4, '0')}`;
    const secret = generateTotpSecret();
    secrets.set(id, secret);
    await store.upsertPerson({ id, displayName: `Agent ${i}` });
    await store.setTotpSecret(id, secret);
    await store.addBadge(`badge-${id}`, id);
    await store.grantSite(id, site);
  }
}

async function sealedValues(): Promise<string[]> {
  const rows = await pool.query<{ s: string }>(
    'SELECT totp_secret_sealed AS s FROM people WHERE totp_secret_sealed IS NOT NULL',
  );
  return rows.rows.map((r) => r.s);
}

/** Every table of the database as text, to look for a secret anywhere. */
async function everyRowAsText(): Promise<string> {
  const tables = await pool.query<{ name: string }>(
    `SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  const parts: string[] = [];
  for (const { name } of tables.rows) {
    const rows = await pool.query<{ t: string }>(`SELECT t::text AS t FROM ${name} t`);
    parts.push(...rows.rows.map((r) => r.t));
  }
  return parts.join('\n');
}

beforeAll(async () => {
  const database = await createTestDatabase();
  databaseUrl = database.url;
  drop = database.drop;
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  await migrate(pool, silentLogger);
});

afterAll(async () => {
  await pool?.end();
  await drop?.();
});

describe('rotating the master key', () => {
  const key1 = randomBytes(32);
  const key2 = randomBytes(32);

  it('re-seals every TOTP secret under the new key while a dashboard keeps reading them', async () => {
    await enrol(new PeopleStore(pool, key1), PEOPLE, 'agent');
    // A value from before key ids (v1) is rotated too.
    await pool.query('UPDATE people SET totp_secret_sealed = $2 WHERE id = $1', [
      'agent-0000',
      seal(key1, Buffer.from(secrets.get('agent-0000') as string), `${SECRET_CONTEXT}/agent-0000`),
    ]);
    expect(
      (await sealedValues()).every((s) => s.startsWith(`v2.${keyId(key1)}.`) || s.startsWith('v1.')),
    ).toBe(true);

    // Step 1: the running dashboard knows the next key (decrypt-only). Step 2: it makes it current.
    const running = new KeyRing(key1, [key2]);
    const dashboardStore = new PeopleStore(pool, running);
    running.replace(key2, [key1]);

    let reads = 0;
    const batches: number[] = [];
    const rotation = rotateMasterKey(pool, new KeyRing(key2, [key1]), {
      batchSize: 50,
      onBatch: (done) => batches.push(done),
    });
    let finished = false;
    rotation.finally(() => {
      finished = true;
    });
    // The dashboard keeps serving credential sets during the rotation.
    const serving = (async () => {
      do {
        const credentials = await dashboardStore.credentialsForSite(site);
        expect(credentials).toHaveLength(PEOPLE);
        reads += 1;
      } while (!finished);
    })();
    const report = await rotation;
    await serving;

    expect(report).toMatchObject({ resealed: PEOPLE, unreadable: [], byKey: { [keyId(key2)]: PEOPLE } });
    expect(batches).toEqual([50, 100, 150, 200, 230]);
    expect(reads).toBeGreaterThan(0);
  });

  it('leaves no ciphertext that refers to the old key, and everything opens with the new key alone', async () => {
    const values = await sealedValues();
    expect(values).toHaveLength(PEOPLE);
    for (const value of values) {
      expect(value.startsWith(`v2.${keyId(key2)}.`)).toBe(true);
      expect(value).not.toContain(keyId(key1));
    }
    const credentials = await new PeopleStore(pool, key2).credentialsForSite(site);
    expect(new Map(credentials.map((c) => [c.person, c.totpSecret]))).toEqual(secrets);
    await expect(new PeopleStore(pool, key1).credentialsForSite(site)).rejects.toMatchObject({
      code: 'IDG_CRYPTO_KEY_UNKNOWN',
    });
  });

  it('keeps every TOTP secret out of the database in plaintext', async () => {
    const everything = await everyRowAsText();
    expect(everything).toContain('agent-0001');
    for (const secret of secrets.values()) expect(everything).not.toContain(secret);
  });

  it('runs as `identgate keys rotate-master --new` against a dashboard configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const file = (name: string, content: string) => {
      writeFileSync(join(dir, name), content);
      chmodSync(join(dir, name), 0o600);
      return join(dir, name);
    };
    const key3 = randomBytes(32);
    file('master-2', key2.toString('base64'));
    file('master-3', key3.toString('base64'));
    // The central signing key, sealed under the master key, moves along with the database values.
    expect(
      runKeygen(['signing', join(dir, 'signing.sealed'), '--seal-with', join(dir, 'master-2')])[1],
    ).toMatch(/^central public key/);
    const sealedSigning = readFileSync(join(dir, 'signing.sealed'), 'utf8');
    expect(sealedSigning).toMatch(new RegExp(`^v2\\.${keyId(key2)}\\.`));
    expect(sealedSigning).not.toContain('PRIVATE KEY');
    expect(() => loadSigningKey(sealedSigning)).toThrow(
      /sealed under the master key, but keys.master is not set/,
    );
    const signing = loadSigningKey(sealedSigning, new KeyRing(key2));
    const config = file(
      'dashboard.yaml',
      `kind: dashboard\ndatabase:\n  url: ${databaseUrl}\nkeys:\n  master: { file: ${join(dir, 'master-2')} }\n  signing: { file: ${join(dir, 'signing.sealed')} }\n`,
    );
    const lines = await runKeys(['rotate-master', '--config', config, '--new', join(dir, 'master-3')], {});
    expect(lines[0]).toBe(`re-sealed ${PEOPLE} value(s) under key ${keyId(key3)}`);
    expect(lines).toContain(
      `keys.signing (${join(dir, 'signing.sealed')}) re-sealed under key ${keyId(key3)}`,
    );
    expect((await sealedValues()).every((s) => s.startsWith(`v2.${keyId(key3)}.`))).toBe(true);
    const moved = loadSigningKey(readFileSync(join(dir, 'signing.sealed'), 'utf8'), new KeyRing(key3));
    expect(moved.export({ format: 'der', type: 'pkcs8' })).toEqual(
      signing.export({ format: 'der', type: 'pkcs8' }),
    );
  });
});
