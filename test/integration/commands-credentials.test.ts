import { createPublicKey } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { CentralMessenger, type CentralMessengerOptions } from '../../src/dashboard/central-messenger.js';
import { PersonErasure } from '../../src/dashboard/retention/person-erasure.js';
import { GatewayRegistry } from '../../src/dashboard/storage/gateway-registry.js';
import type { SimulatedLockRelay } from '../../src/gateway/devices/simulated-devices.js';
import type { GatewayIdentity } from '../../src/gateway/gateway-identity.js';
import { FakeClock } from '../../src/lib/clock.js';
import { hasCode } from '../../src/lib/coded-error.js';
import { KeyRing } from '../../src/lib/key-ring.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { readGone, signCommand } from '../../src/protocol/commands.js';
import { openCredentialSet, sealCredentialSet } from '../../src/protocol/credential-set.js';
import {
  type EncryptionKeyPair,
  exportEncryptionKey,
  generateEncryptionKeyPair,
  importEncryptionKey,
} from '../../src/protocol/ecies.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { OwnMosquitto } from '../helpers/mosquitto.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * Commands and credential sync between a real dashboard and a real gateway over the test broker.
 */
describe('commands from the central side', () => {
  let system: TestSystem;
  let raw: MqttClient;
  const recorded: Envelope[] = [];
  const ids = new Uuidv7Generator();
  const forger = generateSigningKeyPair();

  beforeAll(async () => {
    system = await startTestSystem();
    system.gateway.bus.on('test', 'recorded', (e) => recorded.push(e));
    raw = await connectAsync(mqttUrl(), { clientId: `idg-raw-${system.site}` });
  });

  afterAll(async () => {
    await raw?.endAsync();
    await system?.stop();
  });

  const lock = () => system.gateway.doors.get('main')?.devices.lock as SimulatedLockRelay;
  const nextRecorded = (match: (e: Envelope) => boolean) =>
    new Promise<Envelope>((resolve) => {
      const off = system.gateway.bus.on('wait', 'recorded', (e) => {
        if (match(e)) {
          off();
          resolve(e);
        }
      });
    });
  const send = (body: Parameters<TestSystem['dashboard']['messenger']['sendCommand']>[2]) =>
    system.dashboard.messenger.sendCommand(system.site, 'gw-1', body);
  /** The central side's signing key, which the test dashboard holds. */
  const centralKey = () =>
    (system.dashboard as unknown as { options: { signingKey: import('node:crypto').KeyObject } }).options
      .signingKey;
  /** A command signed with `key` (default the central key) for `gateway`, valid for a minute from `at`. */
  const signed = (
    body: Parameters<typeof signCommand>[0],
    { key = centralKey(), gateway = 'gw-1', at = Date.now() } = {},
  ) => signCommand(body, { site: system.site, gateway }, ids.next(), at, 60_000, key);

  it('unlocks a door remotely and reports the result back', async () => {
    const relocked = nextRecorded((e) => e.kind === 'door.locked');
    const driven = lock().history.length;
    const result = await send({ kind: 'door.unlock', data: { door: 'main', durationMs: 1000 } });
    expect(result).toMatchObject({ kind: 'door.unlock', status: 'ok' });
    expect(recorded.find((e) => e.kind === 'door.unlocked')?.data).toMatchObject({
      cause: 'remote',
      durationMs: 1000,
    });
    // The relay, unlocked, then locked again once the second is over (which may be before the
    // result has come back by way of the broker and the database).
    await relocked;
    expect(lock().history.slice(driven)).toEqual(['unlocked', 'locked']);
    expect(lock().state).toBe('locked');
  });

  it('locks a room down and releases it', async () => {
    expect(await send({ kind: 'lockdown.set', data: { active: true, room: 'ident-1' } })).toMatchObject({
      status: 'ok',
    });
    const sim = (...action: string[]) =>
      runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
    expect(await sim('badge', system.agent.badge)).toEqual(['denied: lockdown']);
    expect(await send({ kind: 'lockdown.set', data: { active: false, room: 'ident-1' } })).toMatchObject({
      status: 'ok',
    });
    expect(await sim('badge', system.agent.badge)).toEqual(['awaiting code (20 s)']);
  });

  it('starts and ends an evacuation', async () => {
    await send({ kind: 'evacuation.set', data: { active: true } });
    expect(lock().state).toBe('unlocked');
    await send({ kind: 'evacuation.set', data: { active: false } });
    expect(lock().state).toBe('locked');
  });

  it('sends journaled events again on request, and answers gone, naming what its journal holds, for a range it never had', async () => {
    expect(await send({ kind: 'events.resend', data: { fromSeq: 1, toSeq: 3 } })).toMatchObject({
      status: 'ok',
      reason: '3 events sent again',
    });
    const beyond = Math.max(...recorded.map((e) => e.seq)) + 1000;
    const gone = await send({ kind: 'events.resend', data: { fromSeq: beyond, toSeq: beyond + 10 } });
    expect(gone).toMatchObject({ status: 'failed', reason: expect.stringMatching(/^gone: /) });
    const extent = readGone((gone as { reason: string }).reason);
    expect(extent?.oldestHeld).toBe(1);
    expect(extent?.highestIssued).toBeGreaterThanOrEqual(3);
    expect(extent?.highestIssued).toBeLessThan(beyond);
  });

  it('answers failed when the door does not exist', async () => {
    expect(await send({ kind: 'door.unlock', data: { door: 'back', durationMs: 3000 } })).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('unknown door "back"'),
    });
  });

  it('refuses a command signed with another key, raises an alarm and does nothing', async () => {
    const command = signed(
      { kind: 'door.unlock', data: { door: 'main', durationMs: 60_000 } },
      { key: forger.privateKey },
    );
    const answered = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    expect((await answered).data).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('bad-signature'),
    });
    expect(
      recorded.some(
        (e) =>
          e.kind === 'alarm.raised' && e.data.alarm === 'command-rejected' && e.data.severity === 'critical',
      ),
    ).toBe(true);
    expect(lock().state).toBe('locked');
  });

  it('refuses an unsigned command and answers under its id', async () => {
    const { sig: _, ...unsigned } = signed(
      { kind: 'door.unlock', data: { door: 'main', durationMs: 60_000 } },
      { key: forger.privateKey },
    );
    const answered = nextRecorded((e) => e.kind === 'command.result' && e.data.command === unsigned.id);
    const alarm = nextRecorded((e) => e.kind === 'alarm.raised' && e.data.alarm === 'command-rejected');
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(unsigned), { qos: 1 });
    expect((await answered).data).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('bad-command'),
    });
    expect((await alarm).data).toMatchObject({ detail: expect.stringContaining('sig') });
    expect(lock().state).toBe('locked');
  });

  it('refuses a command signed by central for another gateway (misaddressed)', async () => {
    const command = signed(
      { kind: 'door.unlock', data: { door: 'main', durationMs: 60_000 } },
      { gateway: 'gw-2' },
    );
    const answered = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    expect((await answered).data).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('wrong-gateway'),
    });
    expect(lock().state).toBe('locked');
  });

  it('refuses a replayed command', async () => {
    const command = signed({ kind: 'credentials.sync', data: {} });
    const first = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    expect((await first).data).toMatchObject({ status: 'ok' });
    const second = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    expect((await second).data).toMatchObject({ status: 'rejected', reason: 'replayed' });
  });

  it('refuses an expired command', async () => {
    const command = signed(
      { kind: 'door.unlock', data: { door: 'main', durationMs: 3000 } },
      { at: Date.now() - 10 * 60_000 },
    );
    const answered = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    expect((await answered).data).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('expired'),
    });
  });

  it('refuses a command delivered as a retained message (as after a resubscription)', async () => {
    const command = signed({ kind: 'credentials.sync', data: {} });
    const topic = topics.commands(system.site, 'gw-1');
    // Delivered live, a retained publish arrives without the retain flag and runs once.
    const ran = nextRecorded((e) => e.kind === 'command.result' && e.data.command === command.id);
    await raw.publishAsync(topic, JSON.stringify(command), { qos: 1, retain: true });
    expect((await ran).data).toMatchObject({ status: 'ok' });
    // A new subscription gets the retained copy, flagged retained: refused with an alarm.
    const alarm = nextRecorded(
      (e) =>
        e.kind === 'alarm.raised' &&
        e.data.alarm === 'command-rejected' &&
        (e.data.detail ?? '').includes('retained'),
    );
    const answered = nextRecorded(
      (e) => e.kind === 'command.result' && e.data.command === command.id && e.data.status === 'rejected',
    );
    (system.gateway as unknown as { link: { resubscribe(topic: string): void } }).link.resubscribe(topic);
    await alarm;
    expect((await answered).data).toMatchObject({ reason: expect.stringContaining('retained') });
    await raw.publishAsync(topic, '', { qos: 1, retain: true });
  });
});

describe('credential sync', () => {
  let system: TestSystem;
  let raw: MqttClient;

  beforeAll(async () => {
    system = await startTestSystem();
    raw = await connectAsync(mqttUrl(), { clientId: `idg-raw2-${system.site}` });
  });

  afterAll(async () => {
    await raw?.endAsync();
    await system?.stop();
  });

  const sim = (...action: string[]) => runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
  const updated = () =>
    new Promise<Envelope>((resolve) => {
      const off = system.gateway.bus.on('wait', 'recorded', (e) => {
        if (e.kind === 'credentials.updated') {
          off();
          resolve(e);
        }
      });
    });

  it('clears the stale-credentials alarm of a new gateway as soon as its first set is applied', async () => {
    // The test gateway starts without a credential set (alarm raised), then receives one.
    expect(system.gateway.runtime.alarms.isActive('credentials-stale')).toBe(false);
    const { rows } = await system.dashboard.pool.query(
      `SELECT cleared_at IS NOT NULL AS cleared FROM alarms WHERE site = $1 AND key = 'credentials-stale'`,
      [system.site],
    );
    expect(rows).toEqual([{ cleared: true }]);
  });

  it('delivered the enrolled agent: badge and code open the door', async () => {
    await sim('badge', system.agent.badge);
    expect(await sim('keypad', new TotpVerifier().generate(system.agent.secret, Date.now()))).toEqual([
      'granted: unlocked for 5 s',
    ]);
  });

  it('drops a person erased outside the dashboard at once, not at the hourly refresh', async () => {
    const people = system.dashboard.people;
    await people.upsertPerson({ id: 'erase-me', displayName: 'Erased Soon' });
    await people.setTotpSecret('erase-me', generateTotpSecret());
    await people.grantSite('erase-me', system.site);
    await people.addBadge('0009003', 'erase-me');
    const first = updated();
    await system.dashboard.messenger.publishCredentials(system.site);
    await first;
    expect(system.gateway.credentials.findByBadge('0009003')?.person).toBe('erase-me');
    // As `identgate people erase` does it: in a process of its own, beside the running dashboard.
    const next = updated();
    await new PersonErasure(system.dashboard.pool, system.clock, {
      signingKey: system.centralKey,
      masterKeys: new KeyRing(system.masterKey),
    }).erase('erase-me', {}, 'cli:test');
    await next;
    expect(system.gateway.credentials.findByBadge('0009003')).toBeUndefined();
  });

  it('keeps the credential set encrypted at rest on the gateway', async () => {
    const { readFileSync } = await import('node:fs');
    const sealed = readFileSync(`${system.gateway.stateDir}/credentials.sealed`, 'utf8');
    expect(sealed).not.toContain(system.agent.secret);
    expect(sealed).not.toContain(system.agent.badge);
  });

  /** The next credentials-rejected alarm the gateway records (whose detail has `detail` in it). */
  const rejected = (detail = '') =>
    new Promise<Envelope>((resolve) => {
      const off = system.gateway.bus.on('wait', 'recorded', (e) => {
        if (
          e.kind === 'alarm.raised' &&
          e.data.alarm === 'credentials-rejected' &&
          String(e.data.detail).includes(detail)
        ) {
          off();
          resolve(e);
        }
      });
    });
  const centralKey = () =>
    (system.dashboard as unknown as { options: { signingKey: import('node:crypto').KeyObject } }).options
      .signingKey;
  /** An empty credential set of `version` for `gateway`, signed with `key`, sealed for gw-1. */
  const emptySet = (gateway: string, version: number, key: import('node:crypto').KeyObject) =>
    sealCredentialSet(
      { v: 1, site: system.site, gateway, version, issuedAt: new Date().toISOString(), credentials: [] },
      key,
      importEncryptionKey(system.gateway.encryptionKey),
    );
  /** The set the broker keeps for a gateway, as one without a session (new, or expired) gets it. */
  const retainedSet = async (gateway: string, keys: EncryptionKeyPair) => {
    const fresh = await connectAsync(mqttUrl(), { clientId: `idg-fresh-${gateway}-${system.site}` });
    const retained = new Promise<Buffer>((resolve) =>
      fresh.on('message', (_topic, payload) => resolve(payload)),
    );
    await fresh.subscribeAsync(topics.credentials(system.site, gateway), { qos: 1 });
    const payload = await retained;
    await fresh.endAsync();
    const opened = openCredentialSet(payload, keys, createPublicKey(centralKey()), {
      site: system.site,
      gateway,
    });
    if (!opened.ok) throw new Error(opened.reason);
    return opened;
  };
  /** Another dashboard instance's messenger, on the same database and broker. */
  const otherMessenger = (name: string, more: Partial<CentralMessengerOptions> = {}) =>
    new CentralMessenger({
      url: mqttUrl(),
      clientId: `idg-${name}-${system.site}`,
      signingKey: centralKey(),
      registry: system.dashboard.registry,
      people: system.dashboard.people,
      pool: system.dashboard.pool,
      clock: system.clock,
      log: silentLogger,
      ...more,
    });

  it('revokes a badge at the gateway as soon as the central side publishes the change, and no older set brings it back', async () => {
    // The set in force, as the broker keeps it (retained): genuine, with the badge active.
    const old = await new Promise<Buffer>((resolve, reject) => {
      connectAsync(mqttUrl(), { clientId: `idg-old-${system.site}` }).then(async (client) => {
        client.on('message', (_topic, payload) => {
          client.endAsync().then(() => resolve(payload), reject);
        });
        await client.subscribeAsync(topics.credentials(system.site, 'gw-1'), { qos: 1 });
      }, reject);
    });
    const before = system.gateway.credentials.version;
    const applied = updated();
    await system.dashboard.people.revokeBadge(system.agent.badge, system.agent.person);
    await system.dashboard.messenger.publishCredentials(system.site);
    expect((await applied).data).toMatchObject({ credentials: 1 });
    const revokedIn = system.gateway.credentials.version;
    expect(revokedIn).toBeGreaterThan(before);
    expect(await sim('badge', system.agent.badge)).toEqual(['denied: badge revoked']);

    // Replayed, the older set is refused. A forged set after it marks when it has been read:
    // the gateway takes the topic's messages in order. The refusal asks for the current set,
    // which comes numbered above the one in use.
    const older = rejected(`older than version ${revokedIn} applied here`);
    const marker = rejected('signature does not verify');
    const republished = updated();
    await raw.publishAsync(topics.credentials(system.site, 'gw-1'), old, { qos: 1 });
    const forged = emptySet('gw-1', revokedIn + 1, generateSigningKeyPair().privateKey);
    await raw.publishAsync(topics.credentials(system.site, 'gw-1'), forged, { qos: 1 });
    await Promise.all([older, marker]);
    expect(system.gateway.credentials.findByBadge(system.agent.badge)?.status).toBe('revoked');
    expect(((await republished).data as { version: number }).version).toBeGreaterThan(revokedIn);
    expect(await sim('badge', system.agent.badge)).toEqual(['denied: badge revoked']);
  });

  it("numbers sets above the gateway's own again after the central database was restored from a backup", async () => {
    const inUse = system.gateway.credentials.version;
    // A restore: the numbering goes back to where the backup was.
    await system.dashboard.pool.query(`SELECT setval('credential_set_version', 1)`);
    const refused = rejected(`older than version ${inUse} applied here`);
    const applied = updated();
    await system.dashboard.messenger.publishCredentials(system.site);
    await refused;
    // The refusal's request names the version in use; the numbering moves above it.
    expect(((await applied).data as { version: number }).version).toBeGreaterThan(inUse);
    expect(system.gateway.credentials.version).toBeGreaterThan(inUse);
    const { rows } = await system.dashboard.pool.query<{ last: string }>(
      'SELECT last_value AS last FROM credential_set_version',
    );
    expect(Number(rows[0]?.last)).toBeGreaterThan(inUse);
  });

  it('does not move the numbering far beyond every set recorded for a request a gateway signed', async () => {
    // What a compromised gateway could ask for: numbers from which a later restore would not recover.
    const applied = updated();
    system.gateway.record({ kind: 'credentials.requested', data: { version: 2 ** 40 } });
    await applied;
    const { rows } = await system.dashboard.pool.query<{ last: string }>(
      'SELECT last_value AS last FROM credential_set_version',
    );
    expect(Number(rows[0]?.last)).toBeLessThan(10_000_000);
  });

  it('reads and numbers a site set while no other publisher does, so a set read before a revocation never gets the higher version', async () => {
    // Another publisher (an instance's hourly refresh) holds the site's turn, mid-way.
    const other = await system.dashboard.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT pg_advisory_xact_lock(hashtextextended('identgate-credentials:' || $1, 0))`, [
        system.site,
      ]);
      // A burst of requests (every gateway reconnecting) waits as one: one connection of the pool.
      const burst = [1, 2, 3, 4].map(() => system.dashboard.messenger.publishCredentials(system.site));
      const publishing = system.dashboard.messenger.publishCredentials(system.site);
      // The publish waits for its turn before it reads anything.
      // Sessions waiting for this site's lock (an advisory lock's key is split over classid and objid).
      const waitingForSite = async () =>
        (
          await system.dashboard.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()
                AND (l.classid::bigint << 32 | l.objid::bigint)
                  = hashtextextended('identgate-credentials:' || $1, 0) & x'ffffffffffffffff'::bigint`,
            [system.site],
          )
        ).rows[0]?.n ?? 0;
      while ((await waitingForSite()) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const theirs = Number(
        (await other.query<{ v: string }>(`SELECT nextval('credential_set_version') AS v`)).rows[0]?.v,
      );
      expect(await waitingForSite()).toBe(1);
      // Numbered after the other's turn: higher, and read after it.
      const applied = new Promise<void>((resolve) => {
        const off = system.gateway.bus.on('wait', 'recorded', (e) => {
          if (e.kind === 'credentials.updated' && (e.data as { version: number }).version > theirs) {
            off();
            resolve();
          }
        });
      });
      await other.query('COMMIT');
      await Promise.all([...burst, publishing]);
      await applied;
      expect(system.gateway.credentials.version).toBeGreaterThan(theirs);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
    }
  });

  it('leaves the newest set retained at the broker when another instance publishes meanwhile', async () => {
    // A second dashboard instance's messenger, on the same database and broker.
    const dashboard = system.dashboard as unknown as {
      options: { signingKey: import('node:crypto').KeyObject };
      registry: import('../../src/dashboard/storage/gateway-registry.js').GatewayRegistry;
      messenger: { client: MqttClient };
    };
    const other = otherMessenger('other');
    await other.start();
    const badge = '0009001';
    await system.dashboard.people.addBadge(badge, system.agent.person);
    // This instance's publish reaches the broker late (a slow link), after it read and numbered.
    const client = dashboard.messenger.client;
    const publish = client.publishAsync.bind(client);
    let release = () => {};
    let held = () => {};
    const atGate = new Promise<void>((resolve) => {
      held = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let first = true;
    client.publishAsync = (async (...args: Parameters<MqttClient['publishAsync']>) => {
      if (first && String(args[0]).includes('/credentials')) {
        first = false;
        held();
        await gate;
      }
      return publish(...args);
    }) as MqttClient['publishAsync'];
    try {
      const late = system.dashboard.messenger.publishCredentials(system.site); // read: badge active
      await atGate;
      await system.dashboard.people.revokeBadge(badge, system.agent.person);
      // Read after the revocation, and published after the late one: it waits for the site's
      // lock, which the late one holds until the broker has its set.
      let done = false;
      const revoked = other.publishCredentials(system.site).finally(() => {
        done = true;
      });
      // Until it waits for the lock (or, were there none, has published).
      const waiting = async () =>
        (
          await system.dashboard.pool.query(
            `SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
              WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()
                AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended('identgate-credentials:' || $1, 0)`,
            [system.site],
          )
        ).rowCount;
      while (!done && !(await waiting())) await new Promise((resolve) => setTimeout(resolve, 10));
      release();
      await late;
      await revoked;
    } finally {
      client.publishAsync = publish;
      await other.stop();
    }
    const keys = (system.gateway as unknown as { identity: GatewayIdentity }).identity.encryption;
    const opened = await retainedSet('gw-1', keys);
    // Revoked: no name, no secret of its holder leaves the central side.
    expect(opened.body.credentials.find((c) => c.badge === badge)).toEqual({
      badge,
      person: system.agent.person,
      status: 'revoked',
    });
    const recorded = await system.dashboard.pool.query<{ version: string }>(
      'SELECT version FROM credential_sets WHERE site = $1 AND gateway = $2',
      [system.site, 'gw-1'],
    );
    expect(opened.body.version).toBe(Number(recorded.rows[0]?.version));
  });

  it('records the sets the broker has when a later one times out, and publishes again when a late set arrives', async () => {
    const pool = system.dashboard.pool;
    // A second gateway of the site, whose set is published after gw-1's.
    const keys = generateEncryptionKeyPair();
    await system.dashboard.trustGateway(
      system.site,
      'gw-2',
      exportPublicKey(generateSigningKeyPair().publicKey),
      exportEncryptionKey(keys.publicKey),
    );
    const version = async (gateway: string) =>
      Number(
        (
          await pool.query<{ version: string }>(
            'SELECT version FROM credential_sets WHERE site = $1 AND gateway = $2',
            [system.site, gateway],
          )
        ).rows[0]?.version ?? 0,
      );
    const lines: string[] = [];
    // The publish timeout runs out when the test says, however long gw-1's publish took.
    const timeouts = new FakeClock();
    const other = otherMessenger('slow', {
      log: createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) }),
      clock: {
        now: () => system.clock.now(),
        setTimeout: (callback, ms) => timeouts.setTimeout(callback, ms),
      },
      publishTimeoutMs: 300,
    });
    await other.start();
    // gw-2's set reaches the broker only when the test lets it: long after the timeout.
    const client = (other as unknown as { client: MqttClient }).client;
    const publish = client.publishAsync.bind(client);
    let release = () => {};
    let held = () => {};
    const atGate = new Promise<void>((resolve) => {
      held = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let first = true;
    client.publishAsync = (async (...args: Parameters<MqttClient['publishAsync']>) => {
      if (first && args[0] === topics.credentials(system.site, 'gw-2')) {
        first = false;
        held();
        await gate;
      }
      return publish(...args);
    }) as MqttClient['publishAsync'];
    const badge = '0009002';
    try {
      await system.dashboard.people.addBadge(badge, system.agent.person);
      const before = await version('gw-1');
      const publishing = other.publishCredentials(system.site);
      await atGate;
      timeouts.advance(300);
      await expect(publishing).rejects.toSatisfy((error) => hasCode(error, 'IDG_MQTT_TIMEOUT'));
      // gw-1's set is at the broker: recorded, though gw-2's publish failed after it.
      expect(await version('gw-1')).toBeGreaterThan(before);
      expect(await version('gw-2')).toBe(0);

      // Revoked, and published by this instance: the newest set, retained.
      await system.dashboard.people.revokeBadge(badge, system.agent.person);
      expect(await system.dashboard.messenger.publishCredentials(system.site)).toBe(2);
      const newest = await version('gw-2');
      // Now the old set (badge active) reaches the broker; once it is acknowledged, the other
      // instance publishes the site's sets again.
      release();
      while ((await version('gw-2')) <= newest) await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      client.publishAsync = publish;
      await other.stop();
      system.dashboard.registry.forget(system.site, 'gw-2');
    }
    expect(lines.some((line) => line.includes('acknowledged a credential set late'))).toBe(true);
    const opened = await retainedSet('gw-2', keys);
    expect(opened.body.credentials.find((c) => c.badge === badge)?.status).toBe('revoked');
    expect(opened.body.version).toBe(await version('gw-2'));
  });

  it('ends a publish waiting for the broker when it stops, and releases the site before it returns', async () => {
    const broker = await FakeMqttBroker.start(); // answers CONNECT, never a PUBLISH
    const stopping = otherMessenger('stopping', {
      url: broker.url,
      publishTimeoutMs: 60_000,
      stopWaitMs: 100,
    });
    try {
      await stopping.start();
      const connection = await broker.connection(1);
      const publish = stopping.publishCredentials(system.site);
      const queued = stopping.publishCredentials(system.site);
      await connection.next((packet) => packet.cmd === 'publish');
      await stopping.stop();
      await expect(publish).rejects.toSatisfy((error) => hasCode(error, 'IDG_MESSENGER_STOPPED'));
      await expect(queued).rejects.toSatisfy((error) => hasCode(error, 'IDG_MESSENGER_STOPPED'));
      // The site's lock is free: this instance publishes at once.
      expect(await system.dashboard.messenger.publishCredentials(system.site)).toBe(1);
    } finally {
      await broker.close();
    }
  });

  it('publishes a burst of requests for a site as one publish after the one running', async () => {
    const versions = async () =>
      Number(
        (await system.dashboard.pool.query('SELECT last_value FROM credential_set_version')).rows[0]
          ?.last_value,
      );
    const before = await versions();
    const messenger = system.dashboard.messenger;
    const first = messenger.publishCredentials(system.site);
    await new Promise((resolve) => setImmediate(resolve)); // running now
    const burst = await Promise.all([
      first,
      ...Array.from({ length: 20 }, () => messenger.publishCredentials(system.site)),
      ...Array.from({ length: 20 }, () => messenger.publishCredentials(system.site, 'gw-1')),
    ]);
    expect(burst.every((count) => count === 1)).toBe(true);
    // The first runs; all the others join the one that waits for it.
    expect((await versions()) - before).toBe(2);
  });

  it('stops without waiting for ever for a set a frozen broker never acknowledges', async () => {
    const broker = await OwnMosquitto.start();
    const frozen = otherMessenger('frozen', { url: broker.url, publishTimeoutMs: 200, stopWaitMs: 200 });
    try {
      await frozen.start();
      broker.pause();
      await expect(frozen.publishCredentials(system.site)).rejects.toSatisfy((error) =>
        hasCode(error, 'IDG_MQTT_TIMEOUT'),
      );
      // The set waits in the client's store; before, a graceful end waited for it for ever.
      await frozen.stop();
    } finally {
      await broker.dispose();
    }
  });

  it('raises a critical alarm instead of publishing a set too large for a gateway, and clears it once a set fits', async () => {
    const pool = system.dashboard.pool;
    const alarm = async () =>
      (
        await pool.query(
          `SELECT alarm, severity, cleared_at IS NULL AS open FROM alarms
            WHERE site = $1 AND gateway = 'gw-1' AND key = 'credentials-too-large'`,
          [system.site],
        )
      ).rows;
    // 150,000 badges of one person: about 24 MB sealed, more than the 16 MiB a gateway takes.
    await pool.query(
      `INSERT INTO badges (badge, person_id) SELECT 'bulk-' || n, $1 FROM generate_series(1, 150000) n`,
      [system.agent.person],
    );
    try {
      expect(await system.dashboard.messenger.publishCredentials(system.site)).toBe(0);
      expect(await alarm()).toEqual([{ alarm: 'credentials-unpublished', severity: 'critical', open: true }]);
      // A state, not an incident: staff cannot resolve it while the set does not fit.
      const [open] = await system.dashboard.alarms.list({ state: 'open', site: system.site, limit: 50 });
      expect(open?.alarm).toBe('credentials-unpublished');
      const refused = await system.dashboard.alarms.resolve(
        open?.id as number,
        'staff:test',
        'too early',
        system.dashboard.pool,
      );
      expect(refused.ok).toBe(false);

      // An instance that still trusted a gateway retired meanwhile raises nothing for it: no
      // publish would ever clear it.
      const gatewayKeys = system.gateway as unknown as { publicKey: string; encryptionKey: string };
      const stale = new GatewayRegistry(pool);
      stale.remember(system.site, 'gw-retired', gatewayKeys.publicKey, gatewayKeys.encryptionKey);
      await pool.query(
        `INSERT INTO gateways (site, id, signing_key, encryption_key, retired_at, retired_reason)
         VALUES ($1, 'gw-retired', $2, $3, now(), 'test')`,
        [system.site, gatewayKeys.publicKey, gatewayKeys.encryptionKey],
      );
      const late = otherMessenger('late', { registry: stale, alarms: system.dashboard.alarms });
      await late.start();
      try {
        expect(await late.publishCredentials(system.site)).toBe(0);
      } finally {
        await late.stop();
      }
      const retiredAlarms = await pool.query(`SELECT 1 FROM alarms WHERE gateway = 'gw-retired'`);
      expect(retiredAlarms.rowCount).toBe(0);
    } finally {
      await pool.query(`DELETE FROM badges WHERE badge LIKE 'bulk-%'`);
    }
    const applied = updated();
    expect(await system.dashboard.messenger.publishCredentials(system.site)).toBe(1);
    await applied;
    expect(await alarm()).toEqual([{ alarm: 'credentials-unpublished', severity: 'critical', open: false }]);
  }, 60_000);

  it('refuses a genuine set addressed to another gateway and keeps the cache', async () => {
    const version = system.gateway.credentials.version;
    const alarm = rejected();
    const misaddressed = emptySet('gw-2', version + 1000, centralKey());
    await raw.publishAsync(topics.credentials(system.site, 'gw-1'), misaddressed, { qos: 1 });
    expect((await alarm).data).toMatchObject({ severity: 'critical' });
    expect(system.gateway.credentials.version).toBe(version);
  });

  it('refuses a set signed with another key and keeps the cache', async () => {
    const version = system.gateway.credentials.version;
    const alarm = rejected();
    const forged = emptySet('gw-1', version + 1000, generateSigningKeyPair().privateKey);
    await raw.publishAsync(topics.credentials(system.site, 'gw-1'), forged, { qos: 1 });
    expect((await alarm).data).toMatchObject({
      severity: 'critical',
      detail: expect.stringContaining('central key'),
    });
    expect(system.gateway.credentials.version).toBe(version);
  });

  it('stores TOTP secrets sealed in the database, never in plaintext', async () => {
    const rows = await system.dashboard.pool.query(`SELECT totp_secret_sealed FROM people`);
    expect(rows.rows[0]?.totp_secret_sealed).toMatch(/^v2\./);
    const dump = await system.dashboard.pool.query(`SELECT string_agg(p::text, ' ') AS all FROM people p`);
    expect(dump.rows[0]?.all).not.toContain(system.agent.secret);
  });
});

/**
 * Half way through a rotation of the central signing key: the gateway trusts its old key
 * (central.publicKey) and the new one (central.alsoTrustedKeys), and the dashboard has switched
 * to signing with the new one.
 */
describe('a rotation of the central signing key', () => {
  let system: TestSystem;
  let raw: MqttClient;
  const previous = generateSigningKeyPair();
  const next = generateSigningKeyPair();
  const ids = new Uuidv7Generator();

  beforeAll(async () => {
    // startTestSystem waits for the gateway to apply the dashboard's first credential set.
    system = await startTestSystem({
      central: next,
      gatewayConfig: {
        central: {
          publicKey: exportPublicKey(previous.publicKey),
          alsoTrustedKeys: [exportPublicKey(next.publicKey)],
        },
      },
    });
    raw = await connectAsync(mqttUrl(), { clientId: `idg-raw3-${system.site}` });
  });

  afterAll(async () => {
    await raw?.endAsync();
    await system?.stop();
  });

  const answer = (command: { id: string }) =>
    new Promise<Envelope>((resolve) => {
      const off = system.gateway.bus.on('wait', 'recorded', (e) => {
        if (e.kind === 'command.result' && e.data.command === command.id) {
          off();
          resolve(e);
        }
      });
    });
  const publishSigned = async (key: typeof previous.privateKey) => {
    const command = signCommand(
      { kind: 'credentials.sync', data: {} },
      { site: system.site, gateway: 'gw-1' },
      ids.next(),
      Date.now(),
      60_000,
      key,
    );
    const answered = answer(command);
    await raw.publishAsync(topics.commands(system.site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    return (await answered).data;
  };

  it('applies the credential set the dashboard signed with the new key: the agent badges in', async () => {
    expect(system.gateway.credentials.version).toBeGreaterThan(0);
    expect(
      await runSim({
        action: ['badge', system.agent.badge],
        door: 'main',
        socket: system.gateway.simSocketPath,
      }),
    ).toEqual(['awaiting code (20 s)']);
  });

  it('runs a command the dashboard signed with the new key', async () => {
    const result = await system.dashboard.messenger.sendCommand(system.site, 'gw-1', {
      kind: 'door.unlock',
      data: { door: 'main', durationMs: 1000 },
    });
    expect(result).toMatchObject({ kind: 'door.unlock', status: 'ok' });
  });

  it('still runs a command signed with the old key, and refuses one signed with a key it does not trust', async () => {
    expect(await publishSigned(previous.privateKey)).toMatchObject({ status: 'ok' });
    expect(await publishSigned(generateSigningKeyPair().privateKey)).toMatchObject({
      status: 'rejected',
      reason: expect.stringContaining('bad-signature'),
    });
  });
});
