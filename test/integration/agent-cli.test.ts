import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAgentCommand } from '../../src/cli/agent-command.js';
import { UsageError } from '../../src/cli/cli-error.js';
import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/cli-config.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * `identgate agent` enrols agents from the central host with the People page's rules and audit
 * entries (PeopleEnrolment), as `cli:<os user>`. Its changes reach the gateways through the
 * running dashboard, told by a notice: an agent enrolled from the command line opens the door
 * with badge and code, and a badge revoked there is refused.
 */
describe('identgate agent list|add|update|badge|revoke-badge|grant|withdraw|totp', () => {
  let system: TestSystem;
  let db: pg.Client;
  let configFile: string;
  const cliUser = `cli:${userInfo().username}`;
  const agent = (args: string[], flags: Parameters<typeof runAgentCommand>[1] = {}) =>
    runAgentCommand(args, { config: configFile, ...flags });
  const sim = (...action: string[]) => runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
  const audited = async (id: string) =>
    (
      await db.query<{ actor: string; action: string; details: unknown }>(
        'SELECT actor, action, details FROM audit_log WHERE target = $1 ORDER BY id',
        [`person:${id}`],
      )
    ).rows;

  beforeAll(async () => {
    system = await startTestSystem();
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    configFile = dashboardConfigFile(system.databaseUrl, { masterKey: system.masterKey });
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  it('enrols an agent whom the gateway then lets in with badge and code', async () => {
    const added = await runCli([
      'agent',
      'add',
      'agent-kim',
      '--name',
      'Kim Agent',
      '--background-check',
      '2026-01-15',
      '--training',
      '2026-02-01',
      '--config',
      configFile,
    ]);
    expect({ code: added.code, stdout: added.stdout }).toEqual({
      code: 0,
      stdout: 'added agent-kim: badges, sites and the authenticator follow (agent badge, grant, totp)\n',
    });
    expect(await agent(['grant', 'agent-kim', system.site])).toEqual([
      `agent-kim may enter site ${system.site}`,
      `told the running dashboards to publish the credential sets of ${system.site} (a dashboard without the central signing key cannot; the gateways' hourly refresh catches up)`,
    ]);
    expect(await agent(['badge', 'agent-kim', '0007001'])).toHaveLength(2);
    const totp = await agent(['totp', 'agent-kim']);
    expect(totp[0]).toMatch(/^new authenticator secret for agent-kim .*shown once/);
    expect(totp[1]).toMatch(/▄|▀|█/); // the QR code, for the app to scan
    const secret = new URL(totp[2] as string).searchParams.get('secret') as string;
    expect(totp[2]).toMatch(/^otpauth:\/\/totp\/identgate:agent-kim\?secret=[A-Z2-7]{32}&/);

    // The running dashboard publishes the set once told; the gateway decides with it.
    await vi.waitFor(
      () => expect(system.gateway.credentials.findByBadge('0007001')?.totpSecret).toBe(secret),
      {
        timeout: 20_000,
        interval: 50,
      },
    );
    expect(await sim('badge', '0007001')).toEqual(['awaiting code (20 s)']);
    expect(await sim('keypad', new TotpVerifier().generate(secret, Date.now()))).toEqual([
      'granted: unlocked for 5 s',
    ]);

    const entries = await audited('agent-kim');
    expect(entries.map((e) => `${e.actor} ${e.action}`)).toEqual(
      ['person.created', 'person.site-granted', 'person.badge-added', 'person.totp-enrolled'].map(
        (action) => `${cliUser} ${action}`,
      ),
    );
    expect(JSON.stringify(entries)).not.toContain(secret);
    expect(JSON.stringify(entries)).not.toContain('Kim Agent');
    const listed = await agent(['list']);
    expect(listed).toContain(
      `agent-kim  "Kim Agent"  1 active badge  sites: ${system.site}  authenticator enrolled  background check 2026-01-15  training 2026-02-01`,
    );
  });

  it('revokes a badge, which the gateway refuses once it has the set', async () => {
    expect(await agent(['revoke-badge', 'agent-kim', '0007001'])).toEqual([
      'badge 0007001 of agent-kim revoked',
      `told the running dashboards to publish the credential sets of ${system.site} (a dashboard without the central signing key cannot; the gateways' hourly refresh catches up)`,
    ]);
    await vi.waitFor(
      () => expect(system.gateway.credentials.findByBadge('0007001')?.status).toBe('revoked'),
      {
        timeout: 20_000,
        interval: 50,
      },
    );
    expect(await sim('badge', '0007001')).toEqual(['denied: badge revoked']);
    expect(await agent(['update', 'agent-kim'], { training: 'none', mayOpenRoom: 'yes' })).toEqual([
      'updated agent-kim',
      `told the running dashboards to publish the credential sets of ${system.site} (a dashboard without the central signing key cannot; the gateways' hourly refresh catches up)`,
    ]);
    const { rows } = await db.query("SELECT training_on, may_open_room FROM people WHERE id = 'agent-kim'");
    expect(rows).toEqual([{ training_on: null, may_open_room: true }]);
  });

  it('refuses what the People page refuses, with its reason', async () => {
    await expect(agent(['add', 'agent-kim'], { name: 'Again' })).rejects.toMatchObject({
      code: 'IDG_ADMIN_CONFLICT',
      message: 'a person "agent-kim" exists already',
    });
    // Another agent's badge is not moved over.
    await expect(agent(['badge', 'agent-kim', system.agent.badge])).rejects.toMatchObject({
      code: 'IDG_ADMIN_CONFLICT',
    });
    // Given again, an active badge would lose its validity span: refused.
    await expect(agent(['badge', 'agent-kim', '0007002'])).resolves.toHaveLength(2);
    await expect(agent(['badge', 'agent-kim', '0007002'])).rejects.toMatchObject({
      code: 'IDG_ADMIN_CONFLICT',
      message: 'badge 0007002 of agent-kim is active already; nothing changed',
    });
    await expect(agent(['grant', 'agent-kim', 'no-such-site'])).rejects.toMatchObject({
      code: 'IDG_ADMIN_NOT_FOUND',
      message: 'no site "no-such-site"',
    });
    await expect(agent(['grant', 'nobody', system.site])).rejects.toMatchObject({
      code: 'IDG_ADMIN_NOT_FOUND',
    });
    // No secret without the key to seal it.
    const keyless = await runCli([
      'agent',
      'totp',
      'agent-kim',
      '--config',
      dashboardConfigFile(system.databaseUrl),
    ]);
    expect({ code: keyless.code, stderr: keyless.stderr }).toEqual({
      code: 78,
      stderr: expect.stringContaining(
        'keys.master is not set: identgate agent totp needs it to seal the secret',
      ),
    });
    expect(await audited('nobody')).toEqual([]);
    // A master key that is not the dashboards' would seal a secret they cannot open, and stop the
    // publishing of the agent's sites: refused before anything is sealed.
    const stranger = await runCli([
      'agent',
      'totp',
      'agent-kim',
      '--config',
      dashboardConfigFile(system.databaseUrl, { masterKey: randomBytes(32) }),
    ]);
    expect({ code: stranger.code, stderr: stranger.stderr }).toEqual({
      code: 78,
      stderr: expect.stringContaining(
        "keys.master's current key opens none of the values the database holds sealed: it is not the key the dashboards seal with",
      ),
    });
    // Nor the dashboards' key listed only as decrypt-only beside a stranger that would seal.
    const disguised = await runCli([
      'agent',
      'totp',
      'agent-kim',
      '--config',
      dashboardConfigFile(system.databaseUrl, { masterKey: randomBytes(32), decryptOnly: system.masterKey }),
    ]);
    expect(disguised).toMatchObject({
      code: 78,
      stderr: expect.stringContaining("keys.master's current key opens none"),
    });
    // Options the command does not read are refused, not ignored (a --dry-run would not stop it).
    const dry = await runCli([
      'agent',
      'revoke-badge',
      'agent-kim',
      '0007002',
      '--dry-run',
      '--config',
      configFile,
    ]);
    expect({ code: dry.code, stderr: dry.stderr }).toEqual({
      code: 64,
      stderr: 'identgate: identgate agent takes no --dry-run\n',
    });
    const erase = await runCli(['people', 'erase', 'agent-kim', '--dry-run', '--config', configFile]);
    expect({ code: erase.code, stderr: erase.stderr }).toEqual({
      code: 64,
      stderr: 'identgate: identgate people takes no --dry-run\n',
    });
    const { rows } = await db.query("SELECT status FROM badges WHERE badge = '0007002'");
    expect(rows).toEqual([{ status: 'active' }]);
  });

  it('gives a badge valid only for a span, which the gateway receives and the audit entry records', async () => {
    expect(
      await agent(['badge', 'agent-kim', '0007003'], {
        validFrom: '2026-12-01T08:00:00+01:00',
        validUntil: '2027-01-31T18:00:00Z',
      }),
    ).toEqual([
      'badge 0007003 given to agent-kim, valid from 2026-12-01T07:00:00.000Z until 2027-01-31T18:00:00.000Z',
      `told the running dashboards to publish the credential sets of ${system.site} (a dashboard without the central signing key cannot; the gateways' hourly refresh catches up)`,
    ]);
    const { rows } = await db.query(
      "SELECT valid_from, valid_until FROM badges WHERE badge = '0007003' AND person_id = 'agent-kim'",
    );
    expect(rows).toEqual([
      { valid_from: new Date('2026-12-01T07:00:00Z'), valid_until: new Date('2027-01-31T18:00:00Z') },
    ]);
    const entry = (await audited('agent-kim')).at(-1);
    expect(entry).toMatchObject({
      action: 'person.badge-added',
      details: {
        badge: '0007003',
        validFrom: '2026-12-01T07:00:00.000Z',
        validUntil: '2027-01-31T18:00:00.000Z',
      },
    });
    await vi.waitFor(
      () =>
        expect(system.gateway.credentials.findByBadge('0007003')).toMatchObject({
          validFrom: Date.parse('2026-12-01T07:00:00Z'),
          validUntil: Date.parse('2027-01-31T18:00:00Z'),
        }),
      { timeout: 20_000, interval: 50 },
    );
  });

  it('refuses bad calls before it opens the database', async () => {
    for (const [args, flags] of [
      [['add', 'agent-x'], {}],
      [['add', 'agent-x'], { name: 'two\nlines' }],
      [['add', 'agent-x'], { name: 'X', backgroundCheck: '2026-02-30' }],
      [['add', 'agent-x'], { name: 'X', backgroundCheck: '0000-01-01' }],
      [['add', 'agent-x'], { name: 'X', training: '3000-01-01' }],
      [['add', 'agent-x'], { name: 'X', training: 'none' }],
      [['add', 'agent-x'], { name: 'X', mayOpenRoom: 'maybe' }],
      [['update', 'agent-x'], {}],
      [['add', '../etc'], { name: 'X' }],
      [['badge', 'agent-x', 'bad badge'], {}],
      [['grant', 'agent-x', 'Site/1'], {}],
      [['badge', 'agent-x'], {}],
      [['badge', 'agent-x', 'B1'], { validFrom: '2026-12-01' }],
      [['badge', 'agent-x', 'B1'], { validFrom: '2026-12-01T08:00:00' }],
      [['badge', 'agent-x', 'B1'], { validUntil: '2026-02-30T08:00:00Z' }],
      [['badge', 'agent-x', 'B1'], { validUntil: '2026-12-01T24:00:00Z' }],
      [['badge', 'agent-x', 'B1'], { validUntil: '3000-01-01T00:00:00Z' }],
      [['badge', 'agent-x', 'B1'], { validFrom: '2027-01-01T00:00:00Z', validUntil: '2026-01-01T00:00:00Z' }],
      [['badge', 'agent-x', 'B1'], { validFrom: '2027-01-01T00:00:00Z', validUntil: '2027-01-01T00:00:00Z' }],
      [['revoke-badge', 'agent-x', 'B1'], { validUntil: '2027-01-01T00:00:00Z' }],
      [['add', 'agent-x'], { name: 'X', validFrom: '2027-01-01T00:00:00Z' }],
      [['totp', 'agent-x'], { name: 'X' }],
      [['list'], { training: '2026-01-01' }],
      [['toString'], {}],
      [['erase', 'agent-x'], {}],
    ] as const) {
      await expect(agent([...args], flags), JSON.stringify([args, flags])).rejects.toBeInstanceOf(UsageError);
    }
  });
});
