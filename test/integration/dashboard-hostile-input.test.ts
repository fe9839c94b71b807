import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SimulatedLockRelay } from '../../src/gateway/devices/simulated-devices.js';
import { refuseAuditOf } from '../helpers/refuse-inserts.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * Hostile input on the dashboard's HTTP surface, against the real dashboard, gateway and
 * PostgreSQL: a hostile request gets a clear 4xx with an IDG_ code and changes nothing; no door
 * action is sent without its audit entry; no answer tells an attacker what failed in the database;
 * no API answer stays in a browser's cache.
 */
describe('dashboard: hostile requests', () => {
  let system: TestSystem;
  let security: StaffClient;
  let auditor: StaffClient;
  let admin: StaffClient;
  let db: pg.Client;
  let relay: SimulatedLockRelay;
  /** The kinds of the commands the dashboard sent to gateways, in order. */
  const sent: string[] = [];

  beforeAll(async () => {
    system = await startTestSystem();
    security = await system.staff('security');
    auditor = await system.staff('auditor');
    admin = await system.staff('admin');
    // Once, for every door and site action below: each re-authentication moves the dashboard's
    // test clock on, and a gateway refuses commands signed too far in its future.
    await security.reauth();
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    relay = system.gateway.doors.get('main')?.devices.lock as SimulatedLockRelay;
    // Watched, not replaced: the commands still go through the broker to the gateway.
    const messenger = system.dashboard.messenger;
    const send = messenger.sendCommand.bind(messenger);
    messenger.sendCommand = (site, gateway, body, timeoutMs) => {
      sent.push(body.kind);
      return send(site, gateway, body, timeoutMs);
    };
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const auditRows = async (actionPrefix: string) =>
    (
      await db.query<{ action: string; details: Record<string, unknown> }>(
        'SELECT action, details FROM audit_log WHERE starts_with(action, $1) ORDER BY id',
        [actionPrefix],
      )
    ).rows;

  /** Makes every audit insert of an action matching `like` fail with `sqlstate`. */
  const failAuditOf = (like: string, sqlstate = 'P0001') => refuseAuditOf(db, like, sqlstate);

  const doorPath = () => `/api/v1/doors/${system.site}/gw-1/main/unlock`;
  const evacuationPath = () => `/api/v1/sites/${system.site}/evacuation`;

  describe('door and site actions', () => {
    it('refuses a reason with a NUL, a line break or a bidi override before anything is sent or audited', async () => {
      const driven = relay.history.length;
      const answers = [
        await security.request('POST', doorPath(), { seconds: 2, reason: 'visitor\u0000' }),
        await security.request('POST', doorPath(), { seconds: 2, reason: 'visitor\nat the door' }),
        await security.request('POST', doorPath(), { seconds: 2, reason: 'visitor\u0085at the door' }),
        await security.request('POST', doorPath(), { seconds: 2, reason: 'unlock \u202edenied' }),
        await security.request('POST', evacuationPath(), { active: true, reason: 'fire\u0000' }),
      ];
      expect(answers.map((a) => [a.statusCode, a.json().code])).toEqual([
        [400, 'IDG_HTTP_BAD_REQUEST'],
        [400, 'IDG_HTTP_BAD_REQUEST'],
        [400, 'IDG_HTTP_BAD_REQUEST'],
        [400, 'IDG_HTTP_BAD_REQUEST'],
        [400, 'IDG_HTTP_BAD_REQUEST'],
      ]);
      expect(sent).toEqual([]);
      expect(relay.history.slice(driven)).toEqual([]);
      expect(await auditRows('door.')).toEqual([]);
      expect(await auditRows('site.')).toEqual([]);
    });

    it('sends no unlock whose audit entry cannot be written, and says so', async () => {
      const restore = await failAuditOf('door.remote-unlock%');
      const driven = relay.history.length;
      const response = await security.request('POST', doorPath(), { seconds: 2, reason: 'visitor' });
      await restore();
      expect({ status: response.statusCode, code: response.json().code }).toEqual({
        status: 503,
        code: 'IDG_AUDIT_UNAVAILABLE',
      });
      expect(sent).toEqual([]);
      expect(relay.history.slice(driven)).toEqual([]);
    });

    it('starts no evacuation whose audit entry cannot be written', async () => {
      const restore = await failAuditOf('site.%');
      const response = await security.request('POST', evacuationPath(), {
        active: true,
        reason: 'fire drill',
      });
      await restore();
      expect({ status: response.statusCode, code: response.json().code }).toEqual({
        status: 503,
        code: 'IDG_AUDIT_UNAVAILABLE',
      });
      expect(sent).toEqual([]);
      expect(relay.state).toBe('locked');
    });

    it('audits an evacuation before it is sent and its result after, linked by the entry id', async () => {
      const response = await security.request('POST', evacuationPath(), {
        active: false,
        reason: 'all clear',
      });
      expect(response.statusCode).toBe(200);
      expect(sent).toEqual(['evacuation.set']);
      const [request, result] = await db
        .query<{ id: string; action: string; details: Record<string, unknown> }>(
          "SELECT id, action, details FROM audit_log WHERE starts_with(action, 'site.evacuation') ORDER BY id",
        )
        .then((r) => r.rows);
      expect(request).toMatchObject({
        action: 'site.evacuation',
        details: { active: false, reason: 'all clear' },
      });
      expect(result).toMatchObject({
        action: 'site.evacuation-result',
        details: { request: Number(request?.id), result: response.json().status },
      });
    });
  });

  describe('the audit log itself', () => {
    it('stores an entry whatever text it carries: a NUL or a lone surrogate becomes U+FFFD', async () => {
      await system.dashboard.audit.record({
        actor: 'test',
        action: 'test.storable',
        target: 'door:a\u0000b',
        details: {
          'key\u0000': 'nul\u0000',
          lone: 'x\uD800y',
          nested: [{ low: '\uDC00' }],
          pair: '\u{1F6AA}',
        },
      });
      const rows = await db.query("SELECT target, details FROM audit_log WHERE action = 'test.storable'");
      expect(rows.rows).toEqual([
        {
          target: 'door:a\uFFFDb',
          details: {
            'key\uFFFD': 'nul\uFFFD',
            lone: 'x\uFFFDy',
            nested: [{ low: '\uFFFD' }],
            pair: '\u{1F6AA}',
          },
        },
      ]);
    });
  });

  describe('numbers and text out of range', () => {
    const huge = '100000000000000000000';

    it('answers ids and page cursors beyond 2^53 - 1 with 400, never a database error', async () => {
      const answers = {
        alarms: await security.request('GET', `/api/v1/alarms?before=${huge}`),
        events: await security.request('GET', `/api/v1/events?before=${huge}`),
        audit: await admin.request('GET', `/api/v1/audit?before=${huge}`),
        acknowledge: await security.request('POST', `/api/v1/alarms/${huge}/acknowledge`, {
          comment: 'seen',
        }),
        largest: await security.request('GET', `/api/v1/alarms?before=${Number.MAX_SAFE_INTEGER + 1}`),
      };
      expect(
        Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, [a.statusCode, a.json().code]])),
      ).toEqual({
        alarms: [400, 'IDG_HTTP_BAD_REQUEST'],
        events: [400, 'IDG_HTTP_BAD_REQUEST'],
        audit: [400, 'IDG_HTTP_BAD_REQUEST'],
        acknowledge: [400, 'IDG_HTTP_BAD_REQUEST'],
        largest: [400, 'IDG_HTTP_BAD_REQUEST'],
      });
      const safe = await security.request('GET', `/api/v1/alarms?before=${Number.MAX_SAFE_INTEGER}`);
      expect(safe.statusCode).toBe(200);
    });

    it('answers a NUL in an alarm comment or a login name with 400', async () => {
      const comment = await security.request('POST', '/api/v1/alarms/1/acknowledge', {
        comment: 'seen\u0000',
      });
      const login = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: 'eve\u0000', password: 'whatever it is' },
        remoteAddress: '10.93.1.1',
      });
      expect([comment.statusCode, comment.json().code]).toEqual([400, 'IDG_HTTP_BAD_REQUEST']);
      expect([login.statusCode, login.json().code]).toEqual([400, 'IDG_HTTP_BAD_REQUEST']);
    });
  });

  it('answers 503 with Retry-After when the database cannot do it now (here: a statement cancelled while it waited for a lock)', async () => {
    const locker = new pg.Client({ connectionString: system.databaseUrl });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE person_photos IN ACCESS EXCLUSIVE MODE');
      const pending = security.request('GET', '/api/v1/photos');
      // The request's statement waits behind the lock; cancelling it is what a statement_timeout
      // or an operator does, and PostgreSQL answers 57014, a condition that passes.
      await vi.waitFor(
        async () => {
          const { rows } = await db.query<{ cancelled: boolean }>(
            `SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND query LIKE '%person_photos%' AND pid <> pg_backend_pid()`,
          );
          expect(rows).toEqual([{ cancelled: true }]);
        },
        { timeout: 20_000, interval: 20 },
      );
      const response = await pending;
      expect({
        status: response.statusCode,
        retry: response.headers['retry-after'],
        body: response.json(),
      }).toEqual({
        status: 503,
        retry: '5',
        body: {
          statusCode: 503,
          code: 'IDG_DATABASE_UNAVAILABLE',
          error: 'Service Unavailable',
          message:
            'the database could not complete the request now (unreachable or busy); try again shortly, but look first whether a change you asked for was made',
        },
      });
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect((await security.request('GET', '/api/v1/photos')).statusCode).toBe(200);
  });

  it("does not reveal a database's error code: an unexpected failure is IDG_HTTP_INTERNAL", async () => {
    // A table gone missing under the photo list: PostgreSQL answers 42P01, naming the table.
    await db.query('ALTER TABLE person_photos RENAME TO person_photos_hidden');
    const response = await security
      .request('GET', '/api/v1/photos')
      .finally(() => db.query('ALTER TABLE person_photos_hidden RENAME TO person_photos'));
    expect({ status: response.statusCode, body: response.json() }).toEqual({
      status: 500,
      body: {
        statusCode: 500,
        code: 'IDG_HTTP_INTERNAL',
        error: 'Internal Server Error',
        message: 'internal error',
      },
    });
  });

  it('names no database error code when an entry fails as jsonb would refuse it (22P05)', async () => {
    const restore = await failAuditOf('events.search', '22P05');
    const response = await auditor.request('GET', '/api/v1/events');
    await restore();
    expect({ status: response.statusCode, code: response.json().code }).toEqual({
      status: 503,
      code: 'IDG_AUDIT_UNAVAILABLE',
    });
    expect(response.body).not.toMatch(/22P05|jsonb|refused by the test/);
  });

  it('ignores X-Forwarded-For while no proxy is trusted (the default)', async () => {
    await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: security.login, password: 'not the password at all' },
      remoteAddress: '10.93.2.2',
      headers: { 'x-forwarded-for': '198.51.100.9' },
    });
    const rows = await db.query<{ details: { address: string } }>(
      "SELECT details FROM audit_log WHERE action = 'staff.login-failed' AND target = $1",
      [`staff:${security.login}`],
    );
    expect(rows.rows.map((r) => r.details.address)).toEqual(['10.93.2.2']);
  });

  it('marks every API answer as not to be stored, and leaves the page assets to their validators', async () => {
    const answers = {
      people: await admin.request('GET', '/api/v1/people'),
      events: await security.request('GET', '/api/v1/events'),
      session: await security.request('GET', '/api/v1/session'),
      refused: await security.request('GET', '/api/v1/people'),
      unknown: await security.request('GET', '/api/v1/no-such-route'),
      // The same route under a percent-encoded path, if the router decodes it.
      encoded: await admin.request('GET', '/%61pi/v1/people'),
      encodedSlash: await admin.request('GET', '/api%2Fv1/people'),
    };
    expect(
      Object.fromEntries(
        Object.entries(answers).map(([k, a]) => [k, [a.statusCode, a.headers['cache-control']]]),
      ),
    ).toEqual({
      people: [200, 'no-store'],
      events: [200, 'no-store'],
      session: [200, 'no-store'],
      refused: [403, 'no-store'],
      unknown: [404, 'no-store'],
      encoded: [answers.encoded.statusCode, 'no-store'],
      encodedSlash: [answers.encodedSlash.statusCode, 'no-store'],
    });
    const page = await system.dashboard.http.inject({ method: 'GET', url: '/' });
    expect(page.headers['cache-control']).toBe('no-cache');
  });
});
