import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPrivateKeyPem, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, mqttUrl, uniqueSite } from '../helpers/services.js';

const DAY = 86_400_000;

/** `identgate retention …` and `identgate people erase` on a real database, and the dashboard's job. */
describe('retention from the command line and in the dashboard', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let configFile: string;
  const masterKey = randomBytes(32);

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool, silentLogger);
    await pool.query(`INSERT INTO customers (id, name) VALUES ('beta', 'Beta Bank')`);
    await pool.query(`INSERT INTO sites (id, customer_id, name) VALUES ('hamburg', 'beta', 'Hamburg')`);
    const dir = mkdtempSync(join(tmpdir(), 'idg-ret-'));
    configFile = join(dir, 'dashboard.yaml');
    // `people erase` opens the tombstones' key with the master key and signs with the central key.
    writeFileSync(join(dir, 'master.key'), `${masterKey.toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'signing.pem'), exportPrivateKeyPem(generateSigningKeyPair().privateKey), {
      mode: 0o600,
    });
    writeFileSync(
      configFile,
      `kind: dashboard\ndatabase:\n  url: ${database.url}\nmqtt:\n  url: ${mqttUrl()}\n` +
        `keys:\n  master: { file: ${join(dir, 'master.key')} }\n  signing: { file: ${join(dir, 'signing.pem')} }\n`,
    );
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  const cli = (...args: string[]) => runCli([...args, '--config', configFile]);
  const expired = async (site: string) => {
    const at = new Date(Date.now() - 61 * DAY);
    await pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [
      at.toISOString().slice(0, 10),
    ]);
    await pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, data, signature)
       VALUES (gen_random_uuid(), $1, 1, $2, 'gw-1', 1, 'door.locked', '{"door":"main"}', 'x')`,
      [at, site],
    );
  };

  it('sets a policy for a customer and audits it as the operating-system user', async () => {
    const result = await cli('retention', 'policy', 'set', 'access-events', '30', '--customer', 'beta');
    expect(result).toMatchObject({ code: 0, stdout: 'access-events is kept 30 days for customer beta\n' });
    const audit = await pool.query(`SELECT actor FROM audit_log WHERE action = 'retention.policy.set'`);
    expect(audit.rows).toEqual([{ actor: `cli:${userInfo().username}` }]);
  });

  it('prints what a dry run would delete and deletes nothing', async () => {
    await expired('hamburg');
    const result = await cli('retention', 'run', '--dry-run');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/retention dry run .*: nothing was changed/);
    expect(result.stdout).toMatch(/partition-drop\s+access-events\s+hamburg\s+customer:beta .* 1\n/);
    expect(result.stdout).toContain('1 rows would be deleted');
    expect((await pool.query('SELECT 1 FROM events')).rowCount).toBe(1);
  });

  it('places and releases a legal hold', async () => {
    const added = await cli(
      'retention',
      'hold',
      'add',
      '--site',
      'hamburg',
      '--from',
      '2026-01-01',
      '--to',
      '2026-02-01T00:00:00Z',
      '--reason',
      'case 17',
    );
    expect(added.stdout).toMatch(/^legal hold (\d+) placed on hamburg from 2026-01-01T00:00:00.000Z/);
    const id = /legal hold (\d+)/.exec(added.stdout)?.[1] ?? '';
    expect((await cli('retention', 'hold', 'release', id)).code).toBe(0);
    expect((await cli('retention', 'hold', 'list')).stdout).toContain('case 17');
    expect(await cli('retention', 'hold', 'release', id)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('[IDG_RETENTION_HOLD_UNKNOWN]'),
    });
  });

  it('erases a person', async () => {
    await pool.query(`INSERT INTO people (id, display_name) VALUES ('agent-cli', 'Cli Agent')`);
    const result = await cli('people', 'erase', 'agent-cli', '--reference', 'DSR-7');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('erased agent-cli: person record, 0 badges');
    expect((await pool.query(`SELECT 1 FROM people WHERE id = 'agent-cli'`)).rowCount).toBe(0);
    const audit = await pool.query(`SELECT details FROM audit_log WHERE action = 'person.erase'`);
    expect(audit.rows).toEqual([
      { details: expect.objectContaining({ erasedRowsSigned: expect.objectContaining({ rows: 0 }) }) },
    ]);
    const key = await pool.query('SELECT key, key_sealed FROM erasure_tombstone_key');
    expect(key.rows).toEqual([{ key: null, key_sealed: expect.stringMatching(/^v2\./) }]);
  });

  it("refuses to erase without the master key, which opens the tombstones' key", async () => {
    const bare = join(mkdtempSync(join(tmpdir(), 'idg-ret-')), 'dashboard.yaml');
    writeFileSync(bare, `kind: dashboard\ndatabase:\n  url: ${database.url}\nmqtt:\n  url: ${mqttUrl()}\n`);
    await pool.query(`INSERT INTO people (id, display_name) VALUES ('agent-stays', 'Stays')`);
    expect(await runCli(['people', 'erase', 'agent-stays', '--config', bare])).toMatchObject({
      code: 78,
      stderr: expect.stringContaining('keys.master is not set: identgate people erase needs it'),
    });
    expect((await pool.query(`SELECT 1 FROM people WHERE id = 'agent-stays'`)).rowCount).toBe(1);
  });

  it('explains its usage when called wrongly', async () => {
    expect(await cli('retention', 'policy', 'set', 'everything', '30')).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('identgate retention policy set <class> <days>'),
    });
    expect(await runCli(['retention', 'run'])).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('needs --config <dashboard.yaml>'),
    });
  });

  it('runs in the dashboard as soon as it starts, deleting what has expired', async () => {
    await expired('hamburg');
    const site = uniqueSite('ret');
    const dashboard = new Dashboard({
      config: {
        kind: 'dashboard',
        http: { host: '127.0.0.1', port: 0 },
        database: { url: database.url, poolSize: 4 },
        mqtt: { url: mqttUrl(), clientId: `idg-dash-${site}` },
        ingest: { sites: [site] },
        gateways: [],
        keys: {},
      },
      log: silentLogger,
      // The tombstones' key, sealed by `people erase` above, opens with it.
      masterKey,
    });
    await dashboard.start();
    try {
      const runs = async () => (await dashboard.retention.deletionLog()).filter((r) => !r.dryRun);
      const deadline = Date.now() + 30_000;
      while ((await runs()).length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(await runs()).toContainEqual(
        expect.objectContaining({ site: 'hamburg', method: 'partition-drop' }),
      );
      expect((await pool.query('SELECT 1 FROM events')).rowCount).toBe(0);
    } finally {
      await dashboard.stop();
    }
  });
});
