import { randomBytes } from 'node:crypto';
import net from 'node:net';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ALARMS_CHANNEL, GATEWAYS_CHANNEL, STORED_CHANNEL } from '../../src/dashboard/cluster-channels.js';
import { ClusterEvents } from '../../src/dashboard/cluster-events.js';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import { IngestPipeline } from '../../src/dashboard/ingest/ingest-pipeline.js';
import { LiveHub } from '../../src/dashboard/live-hub.js';
import type { EventStore, StoredEvent } from '../../src/dashboard/storage/event-store.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboard } from '../helpers/ingest-dashboard.js';
import { createTestDatabase, mqttUrl, uniqueSite } from '../helpers/services.js';

/**
 * Several dashboard instances on one database, as when they share the ingest: what one stores,
 * the others' presence sees — a badge-out stored by one instance ends the presence on all — each
 * event once, also after the listening connection was lost.
 */
const ids = new Uuidv7Generator();
const keys = generateSigningKeyPair();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function instance(db: { url: string }, site: string, name: string): Promise<Dashboard> {
  const dashboard = await startIngestDashboard({
    databaseUrl: db.url,
    site,
    gateways: ['gw-1'],
    publicKey: keys.publicKey,
    name,
  });
  cleanups.push(() => dashboard.stop());
  return dashboard;
}

async function rig() {
  const site = uniqueSite('clu');
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const a = await instance(db, site, 'a');
  const b = await instance(db, site, 'b');
  await a.pool.query(`INSERT INTO sites (id, name) VALUES ($1, 'test site')`, [site]);
  await a.pool.query(`INSERT INTO rooms (site, id, name) VALUES ($1, 'ident-1', 'Ident 1')`, [site]);
  await a.pool.query(`INSERT INTO doors (site, id, room, name) VALUES ($1, 'main', 'ident-1', 'Main door')`, [
    site,
  ]);
  await a.presence.refresh();
  await b.presence.refresh();
  let seq = 0;
  /** Stores a granted badge of person p-1 at door main through `by`'s ingest. */
  const badge = async (by: Dashboard | IngestPipeline, direction: 'in' | 'out'): Promise<StoredEvent> => {
    const data = {
      door: 'main',
      direction,
      person: 'p-1',
      badge: '0004711',
      factors: ['badge', 'totp'],
      unlockMs: 5000,
    };
    const envelope = signedEvent(
      { site, gateway: 'gw-1', seq: ++seq, kind: 'access.granted', data },
      keys.privateKey,
    );
    const message = { topic: topics.events(site, 'gw-1'), payload: Buffer.from(JSON.stringify(envelope)) };
    const [outcome] =
      by instanceof IngestPipeline
        ? ((await by.process([message]))[0] ?? [])
        : await by.ingest.process(message.topic, message.payload);
    if (outcome?.status !== 'stored') throw new Error(`not stored: ${JSON.stringify(outcome)}`);
    return outcome.event;
  };
  return { db, site, a, b, badge };
}

/**
 * An ingest of a listener's own on `dashboard`'s stores, wired to it as a dashboard wires its
 * pipeline: what it stores is the listener's own (instance `listener`).
 */
function ownIngest(dashboard: Dashboard, hub: LiveHub, listener: ClusterEvents): IngestPipeline {
  return new IngestPipeline({
    pool: dashboard.pool,
    events: dashboard.events,
    sequences: dashboard.sequences,
    alarms: dashboard.alarms,
    quarantine: dashboard.quarantine,
    registry: dashboard.registry,
    facts: dashboard.facts,
    hub,
    instance: 'listener',
    cluster: listener,
    log: silentLogger,
  });
}

/** The alarm changes a dashboard's live streams get, and a wait for the n-th. */
function alarmsOn(dashboard: Dashboard) {
  const seen: AlarmView[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  dashboard.hub.subscribe({
    push: () => true,
    pushAlarms: (alarms) => {
      seen.push(...alarms);
      for (const waiter of waiters.splice(0)) {
        if (seen.length >= waiter.count) waiter.resolve();
        else waiters.push(waiter);
      }
      return true;
    },
    close: () => undefined,
  });
  const count = (n: number) =>
    seen.length >= n
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ count: n, resolve }));
  return { seen, count };
}

/** Whether that backend waits for an advisory lock. */
async function waitsForLock(url: string, pid: number): Promise<boolean> {
  const observer = new pg.Client({ connectionString: url });
  await observer.connect();
  try {
    const result = await observer.query<{ waiting: boolean }>(
      `SELECT wait_event_type = 'Lock' AND wait_event = 'advisory' AS waiting FROM pg_stat_activity WHERE pid = $1`,
      [pid],
    );
    return result.rows[0]?.waiting === true;
  } finally {
    await observer.end();
  }
}

/**
 * A TCP relay in front of PostgreSQL that can cut every connection through it, and hold new ones
 * unanswered until it lets them through: a reconnect caught in the middle of its handshake.
 */
async function relay(target: string) {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let holding = false;
  const held: Array<() => void> = [];
  const arrivals: Array<() => void> = [];
  const closes: Array<() => void> = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.pause();
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      for (const closed of closes.splice(0)) closed();
    });
    const through = () => {
      const upstream = net.connect(Number(port || 5432), hostname);
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
      socket.resume();
    };
    if (holding) held.push(through);
    else through();
    for (const arrived of arrivals.splice(0)) arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    open: () => sockets.size,
    /** Holds every connection made from now on until `release`. */
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const through of held.splice(0)) through();
    },
    /** Cuts every connection, as a network fault or a restarted server does. */
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    /** Resolves once a connection has come in. */
    arrival: () => new Promise<void>((resolve) => arrivals.push(resolve)),
    /** Resolves once no connection is open; rejects when one is still open after `ms`. */
    allClosed: (ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (sockets.size > 0) return closes.push(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => reject(new Error(`${sockets.size} connection(s) still open`)), ms);
        check();
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Every event a source delivers, and a wait for one of them. */
function watch(source: LiveHub) {
  const seen: StoredEvent[] = [];
  const waiters: Array<{ id: string; resolve: () => void }> = [];
  source.subscribe({
    push: (events) => {
      seen.push(...events);
      for (const waiter of waiters.splice(0)) {
        if (events.some((e) => e.id === waiter.id)) waiter.resolve();
        else waiters.push(waiter);
      }
      return true;
    },
    close: () => undefined,
  });
  const arrived = (id: string) =>
    seen.some((e) => e.id === id)
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          waiters.push({ id, resolve });
        });
  return { seen, arrived };
}

describe('events stored by other dashboard instances', () => {
  it("reach the other instance's presence: a badge-out stored elsewhere ends the presence here", async () => {
    const { a, b, badge } = await rig();
    const onA = watch(a.hub);
    const onB = watch(b.hub);

    const entry = await badge(a, 'in');
    await onB.arrived(entry.id);
    expect(b.presence.tracker.whereIs('p-1')).toMatchObject({ room: 'ident-1' });

    // The way out is stored by the other instance: both must see the person gone.
    const exit = await badge(b, 'out');
    await onA.arrived(exit.id);
    await onB.arrived(exit.id);
    expect(a.presence.tracker.whereIs('p-1')).toBeUndefined();
    expect(b.presence.tracker.whereIs('p-1')).toBeUndefined();

    // Each event once on each instance, whichever stored it.
    for (const { seen } of [onA, onB]) expect(seen.map((e) => e.id)).toEqual([entry.id, exit.id]);
  });

  it('are published on every instance in ingest order, once, whichever instance stored them', async () => {
    const { a, b, badge } = await rig();
    const onA = watch(a.hub);
    const onB = watch(b.hub);
    // Both instances store at once, each several transactions under way.
    const stored = await Promise.all(Array.from({ length: 40 }, (_, i) => badge(i % 2 === 0 ? a : b, 'in')));
    for (const { arrived } of [onA, onB]) for (const event of stored) await arrived(event.id);
    const expected = stored.map((e) => e.ingestNo).sort((x, y) => x - y);
    for (const { seen } of [onA, onB]) expect(seen.map((e) => e.ingestNo)).toEqual(expected);
  });

  it('come in ingest order because no writer takes ingest numbers while another has some uncommitted', async () => {
    const { db, site } = await rig();
    const first = new pg.Client({ connectionString: db.url });
    const second = new pg.Client({ connectionString: db.url });
    await first.connect();
    await second.connect();
    cleanups.push(async () => {
      await first.end();
      await second.end();
    });
    const insert = (client: pg.Client, seq: number) =>
      client.query<{ ingest_no: string }>(
        `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, data, signature)
         VALUES ($1, now(), 1, $2, 'gw-1', $3, 'door.locked', '{"door":"main"}', 'x') RETURNING ingest_no`,
        [ids.next(), site, seq],
      );
    await first.query('BEGIN');
    const one = Number((await insert(first, 1001)).rows[0]?.ingest_no);
    const done = insert(second, 1002);
    // The second writer waits for the first one's commit before it takes a number.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const waiting = await waitsForLock(db.url, (second as unknown as { processID: number }).processID);
      if (waiting) break;
      if (Date.now() > deadline) throw new Error('the second writer never waited');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await first.query('COMMIT');
    const two = Number((await done).rows[0]?.ingest_no);
    expect(two).toBeGreaterThan(one);
  });

  it('carry alarm changes to the live streams of the other instances, once each', async () => {
    const { site, a, b } = await rig();
    const onA = alarmsOn(a);
    const onB = alarmsOn(b);
    const topic = topics.events(site, 'gw-1');
    const forger = generateSigningKeyPair();
    const forged = signedEvent(
      { site, gateway: 'gw-1', seq: 1, kind: 'door.locked', data: { door: 'main' } },
      forger.privateKey,
    );
    const [outcome] = await a.ingest.process(topic, Buffer.from(JSON.stringify(forged)));
    expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'bad-signature' } });
    await onB.count(1);
    expect(onB.seen[0]).toMatchObject({ alarm: 'event-quarantined', state: 'active' });
    // A second change on A: when B has it, B has not sent the first back (A would have it twice).
    await a.ingest.process(topic, Buffer.from('not json'));
    await onB.count(2);
    expect(onB.seen.map((x) => x.id)).toEqual(onA.seen.map((x) => x.id));
    expect(onA.seen).toHaveLength(2);
  });

  it('reads again what was stored while its listening connection was down, and refuses malformed notices', async () => {
    const { db, site, a, badge } = await rig();
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    // A listener of its own, signing in as a role that can be locked out: while it cannot log in,
    // it cannot hear anything, and what is stored meanwhile must come from its catch-up.
    const role = `idg_listen_${randomBytes(4).toString('hex')}`;
    // With a password: the embedded PostgreSQL the tests start without TEST_DATABASE_URL asks for one.
    const password = randomBytes(12).toString('hex');
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    // Roles belong to the whole server: dropped last, once the database is gone.
    cleanups.unshift(async () => {
      const root = new pg.Client({ connectionString: inject('databaseUrl') });
      await root.connect();
      await root.query(`DROP ROLE IF EXISTS ${role}`);
      await root.end();
    });
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    const lines: string[] = [];
    // What presence gets of this instance's own events while it does not hear the others.
    const ownAtCommit: StoredEvent[] = [];
    const hub = new LiveHub();
    const alarms: AlarmView[] = [];
    let alarmArrived = () => {};
    // What the hub's streams are told about hearing: paused at the loss, going on after the catch-up.
    const hearing: boolean[] = [];
    let hearingChanged = () => {};
    hub.subscribe({
      push: () => true,
      pushAlarms: (changes) => {
        alarms.push(...changes);
        alarmArrived();
        return true;
      },
      pushHearing: (now) => {
        hearing.push(now);
        hearingChanged();
        return true;
      },
      close: () => undefined,
    });
    const listener = new ClusterEvents({
      connectionString: url.toString(),
      instance: 'listener',
      local: hub,
      events: a.events,
      alarms: a.alarms,
      pool: a.pool,
      log: createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) }),
      reconnectMs: { first: 20, longest: 100 },
      // No margin: the catch-up must start right at what was published when the connection was
      // lost, and read this instance's own events of the outage as well as the others'.
      catchUpMargin: 0,
      ownWhileNotHearing: (events) => {
        ownAtCommit.push(...events);
      },
      // Asked at start, after each reconnect and on each notice whether a gateway was retired.
      gatewaysRetired: async () => {
        retiredChecks += 1;
        retiredChecked();
      },
    });
    let retiredChecks = 0;
    let retiredChecked = () => {};
    await listener.start();
    cleanups.push(() => listener.stop());
    expect(retiredChecks).toBe(1);
    const heard = watch(hub);
    const own = ownIngest(a, hub, listener);

    const first = await badge(a, 'in');
    await heard.arrived(first.id);
    expect(listener.hearing).toBe(true);

    await admin.query(`ALTER ROLE ${role} NOLOGIN`);
    // What follows is stored once the listener's backend has ended and the listener knows it.
    const deaf = new Promise<void>((resolve) => {
      hearingChanged = resolve;
    });
    await admin.query(`SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE usename = $1`, [
      role,
    ]);
    await deaf;
    const missed = await badge(a, 'out');
    const alarmHeard = new Promise<void>((resolve) => {
      alarmArrived = resolve;
    });
    await a.ingest.process(topics.events(site, 'gw-1'), Buffer.from('not json'));
    // An own transaction's events, committed while the connection is down, reach the hub only with
    // the catch-up: published now, they would come before the other instance's older `missed`,
    // and a live stream, which sends only what is newer than what it sent, would skip that.
    const mine = await badge(own, 'in');
    // Presence has it at once (a badge-out stored here must lock the workstation without waiting).
    expect(ownAtCommit.map((e) => e.id)).toEqual([mine.id]);
    // Still locked out when the commits were announced: their notices went to nobody here.
    const listening = await admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`,
      [role],
    );
    expect(listening.rows[0].n).toBe(0);
    expect(listener.hearing).toBe(false);
    expect(listener.lostSince).toBeInstanceOf(Date);
    expect(hearing).toEqual([false]);
    expect(hub.hearing).toBe(false);
    expect(heard.seen.map((e) => e.id)).toEqual([first.id]);
    await admin.query(`ALTER ROLE ${role} LOGIN`);
    await heard.arrived(mine.id);
    // Heard again only once the catch-up has read what went unheard.
    expect(listener.hearing).toBe(true);
    expect(retiredChecks).toBe(2);
    const noticed = new Promise<void>((resolve) => {
      retiredChecked = resolve;
    });
    await admin.query('SELECT pg_notify($1, $2)', [GATEWAYS_CHANNEL, `${site}/gw-9`]);
    await noticed;
    expect(retiredChecks).toBe(3);
    expect(listener.lostSince).toBeUndefined();
    expect(hearing).toEqual([false, true]);
    expect(hub.hearing).toBe(true);
    // An alarm changed meanwhile is published again too.
    await alarmHeard;
    expect(alarms.map((x) => x.alarm)).toContain('event-quarantined');
    expect(lines.some((line) => line.includes('reconnecting'))).toBe(true);

    // Notices a listener cannot use are refused with a line in the log, and it goes on.
    for (const notice of ['garbage', 'x:5:1', `x:1:${10 ** 12}`, '']) {
      await admin.query('SELECT pg_notify($1, $2)', [STORED_CHANNEL, notice]);
    }
    await admin.query('SELECT pg_notify($1, $2)', [ALARMS_CHANNEL, 'x:1,,2']);
    const after = await badge(a, 'in');
    await heard.arrived(after.id);
    expect(lines.filter((line) => line.includes('malformed')).length).toBe(5);
    // Everything once, in ingest order.
    expect(heard.seen.map((e) => e.id)).toEqual([first.id, missed.id, mine.id, after.id]);
  });

  it('publish nothing that was queued before a failed read until the catch-up, so nothing comes out of order', async () => {
    const { db, a, badge } = await rig();
    // The read of another instance's notice fails, once, when the test says so: as when the
    // database goes away in the middle of it.
    let failRead: (error: Error) => void = () => {};
    const failing = new Promise<never>((_, reject) => {
      failRead = reject;
    });
    let reads = 0;
    const events = Object.create(a.events) as EventStore;
    events.range = (low, high) => (++reads === 1 ? failing : a.events.range(low, high));
    let markerRefused: () => void = () => {};
    const refused = new Promise<void>((resolve) => {
      markerRefused = resolve;
    });
    const hub = new LiveHub();
    const listener = new ClusterEvents({
      connectionString: db.url,
      instance: 'listener',
      local: hub,
      events,
      alarms: a.alarms,
      pool: a.pool,
      log: createLogger({
        level: 'info',
        format: 'json',
        write: (line) => line.includes('malformed') && markerRefused(),
      }),
      reconnectMs: { first: 20, longest: 100 },
      catchUpMargin: 0,
    });
    await listener.start();
    cleanups.push(() => listener.stop());
    const heard = watch(hub);
    const own = ownIngest(a, hub, listener);

    const other = await badge(a, 'in'); // its notice's read hangs, then fails
    const mine = await badge(own, 'out'); // its notice is queued behind that read
    // Notices arrive in commit order: once this one is refused, the two before it are queued.
    await a.pool.query('SELECT pg_notify($1, $2)', [STORED_CHANNEL, 'marker']);
    await refused;
    failRead(new Error('connection lost in the middle of a read'));
    await heard.arrived(mine.id);
    await heard.arrived(other.id);
    expect(heard.seen.map((e) => e.id)).toEqual([other.id, mine.id]);
    expect(listener.hearing).toBe(true);
  });

  it('stop for good when stopped while reconnecting: the late connection is closed and nothing is published', async () => {
    const { db, a, badge } = await rig();
    const proxy = await relay(db.url);
    cleanups.push(() => proxy.close());
    const hub = new LiveHub();
    const hearing: boolean[] = [];
    hub.subscribe({
      push: () => true,
      pushHearing: (now) => {
        hearing.push(now);
        return true;
      },
      close: () => undefined,
    });
    const heard = watch(hub);
    const listener = new ClusterEvents({
      connectionString: proxy.url,
      instance: 'listener',
      local: hub,
      events: a.events,
      alarms: a.alarms,
      pool: a.pool,
      log: silentLogger,
      reconnectMs: { first: 20, longest: 100 },
      catchUpMargin: 0,
    });
    await listener.start();
    cleanups.push(() => listener.stop());
    expect(proxy.open()).toBe(1);

    // The connection is cut; the reconnect's connection comes in and waits in its handshake.
    proxy.hold();
    const reconnecting = proxy.arrival();
    proxy.cut();
    await reconnecting;
    // Stopped while the handshake hangs: the stop waits for it, and then closes the connection.
    const stopped = listener.stop();
    const missed = await badge(a, 'in');
    proxy.release();
    await stopped;
    await proxy.allClosed();
    expect(proxy.open()).toBe(0);
    // Nothing heard or published after the stop: no catch-up, no "hearing again".
    expect(listener.hearing).toBe(false);
    expect(hearing).toEqual([false]);
    expect(heard.seen.map((e) => e.id)).not.toContain(missed.id);
  });

  it("carry a command's result to the instance that sent the command, whichever instance stored it", async () => {
    const site = uniqueSite('cmd');
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const central = generateSigningKeyPair();
    const sender = await startIngestDashboard({
      databaseUrl: db.url,
      site,
      gateways: ['gw-1'],
      publicKey: keys.publicKey,
      name: 'sender',
      more: { signingKey: central.privateKey },
    });
    cleanups.push(() => sender.stop());
    const other = await instance(db, site, 'other');
    // The gateway: learns the command's id from the commands topic.
    const gateway = await mqtt.connectAsync(mqttUrl(), { clientId: `gw-${site}` });
    cleanups.push(() => gateway.endAsync());
    await gateway.subscribeAsync(topics.commands(site, 'gw-1'), { qos: 1 });
    let seq = 0;
    /** The sender sends a command; `storer` stores the gateway's `ok`; what the sender is told. */
    const roundTrip = async (storer: Dashboard) => {
      const received = new Promise<{ id: string }>((resolve) => {
        gateway.removeAllListeners('message');
        gateway.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString())));
      });
      const answer = sender.messenger.sendCommand(site, 'gw-1', { kind: 'credentials.sync', data: {} });
      const command = await received;
      const result = signedEvent(
        {
          site,
          gateway: 'gw-1',
          seq: ++seq,
          kind: 'command.result',
          data: { command: command.id, kind: 'credentials.sync', status: 'ok' },
        },
        keys.privateKey,
      );
      const [outcome] = await storer.ingest.process(
        topics.events(site, 'gw-1'),
        Buffer.from(JSON.stringify(result)),
      );
      expect(outcome?.status).toBe('stored');
      return { id: command.id, answer: await answer };
    };

    // Its result is stored by the other instance, as a shared subscription may hand it there.
    const first = await roundTrip(other);
    expect(first.answer).toMatchObject({ command: first.id, status: 'ok' });

    // While the sender does not hear the other instances, a result it stores itself still
    // reaches it at once.
    await sender.cluster.stop();
    const second = await roundTrip(sender);
    expect(second.answer).toMatchObject({ command: second.id, status: 'ok' });
  });

  it('are a precondition of workstation logins and of a healthy /healthz: without them both fail closed', async () => {
    const { site, a, b, badge } = await rig();
    await a.pool.query(`INSERT INTO people (id, display_name) VALUES ('p-1', 'Ada')`);
    const token = await a.workstations.register({ id: 'ws-1', site, room: 'ident-1' });
    await a.presence.refresh();
    const onA = watch(a.hub);
    // Stored by the other instance: only what A hears lets it answer.
    const entry = await badge(b, 'in');
    await onA.arrived(entry.id);
    const check = () =>
      a.http.inject({
        method: 'POST',
        url: '/api/v1/workstations/ws-1/login-check',
        headers: { authorization: `Bearer ${token}` },
        payload: { user: 'p-1' },
      });
    const health = () => a.http.inject({ method: 'GET', url: '/healthz' });
    expect((await check()).json()).toEqual({ allow: true });
    expect((await health()).statusCode).toBe(200);

    // A no longer hears the other instances: a badge-out stored there would not reach it.
    await a.cluster.stop();
    expect(a.cluster.hearing).toBe(false);
    const denied = await check();
    expect(denied.statusCode).toBe(200);
    expect(denied.json()).toEqual({ allow: false, reason: 'presence-unknown' });
    const unhealthy = await health();
    expect(unhealthy.statusCode).toBe(503);
    expect(unhealthy.json()).toEqual({ status: 'not hearing other instances' });
    // The denial is audited like any other answer.
    const audit = await a.pool.query<{ action: string; details: Record<string, unknown> }>(
      `SELECT action, details FROM audit_log WHERE action LIKE 'workstation.login-%' ORDER BY id`,
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'workstation.login-allowed',
      'workstation.login-denied',
    ]);
    expect(audit.rows[1]?.details).toMatchObject({ user: 'p-1', reason: 'presence-unknown' });
  });
});
