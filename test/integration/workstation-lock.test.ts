import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockAgent } from '../../src/cli/workstation-command.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { WorkstationClientConfig } from '../../src/config/workstation-config.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { signLockCommand, workstationCommandTopic } from '../../src/protocol/workstation-commands.js';
import type { LockAgent, LockResult } from '../../src/workstation/lock-agent.js';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

describe('lock on leave: a signed lock command over the real broker, run by the workstation agent', () => {
  let system: TestSystem;
  let dir: string;
  let agent: LockAgent;
  const results: LockResult[] = [];
  let waiters: Array<(r: LockResult) => void> = [];
  /** A central key the agent trusts besides centralPublicKey, as during a rotation of the central key. */
  const next = generateSigningKeyPair();
  const nextResult = () => new Promise<LockResult>((resolve) => waiters.push(resolve));
  /** The agent's results, to the test's list and to whoever waits for the next. */
  const told = (result: LockResult) => {
    results.push(result);
    const pending = waiters;
    waiters = [];
    for (const resolve of pending) resolve(result);
  };

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    const token = await registerWorkstation(system, 'ws-lock.ident');
    dir = mkdtempSync(join(tmpdir(), 'idg-lock-'));
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    const text = [
      'kind: workstation',
      'id: ws-lock.ident',
      `url: ${system.dashboard.url}`,
      `token: { file: ${join(dir, 'token')} }`,
      `stateDir: ${join(dir, 'state')}`,
      'agent:',
      `  site: ${system.site}`,
      `  mqtt: { url: "${mqttUrl()}", clientId: idg-ws-lock-${system.site} }`,
      `  centralPublicKey: "${system.centralPublicKey}"`,
      `  alsoTrustedCentralKeys: ["${exportPublicKey(next.publicKey)}"]`,
      // A harmless lock: append a line to a file (no shell; the arguments are passed as they are).
      `  lockCommand: ["${process.execPath}", "-e", "require('fs').appendFileSync(process.argv[1], 'locked\\\\n')", "${join(dir, 'locked')}"]`,
    ].join('\n');
    writeFileSync(join(dir, 'config.yaml'), text);
    const config = parseConfigText(text, WorkstationClientConfig, { env: {} });
    agent = lockAgent(config, {}, told);
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await system?.stop();
  });

  it('tells central that it runs, so a quiet agent can be noticed', async () => {
    await agent.beaten();
    const seen = await system.dashboard.pool.query<{ agent_seen_at: Date | null }>(
      `SELECT agent_seen_at FROM workstations WHERE id = 'ws-lock.ident'`,
    );
    expect(seen.rows[0]?.agent_seen_at).toBeInstanceOf(Date);
  });

  it('locks the workstation the agent logged into when they badge out, and central audits both sides', async () => {
    await badgeIn(system);
    const check = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/workstations/ws-lock.ident/login-check',
      headers: { authorization: `Bearer ${readFileSync(join(dir, 'token'), 'utf8')}` },
      payload: { user: system.agent.person },
    });
    expect(check.json()).toEqual({ allow: true });
    expect(existsSync(join(dir, 'locked'))).toBe(false);
    const result = nextResult();
    await badgeOut(system);
    expect(await result).toMatchObject({ status: 'ok', reported: true });
    expect(readFileSync(join(dir, 'locked'), 'utf8')).toBe('locked\n');
    const audit = await system.dashboard.pool.query<{ action: string; details: Record<string, unknown> }>(
      `SELECT action, details FROM audit_log WHERE action LIKE 'workstation.lock-%' ORDER BY id`,
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['workstation.lock-sent', 'workstation.lock-result']);
    expect(audit.rows[0]?.details).toMatchObject({ user: system.agent.person, reason: 'exit' });
    expect(audit.rows[1]?.details).toMatchObject({ status: 'ok', command: audit.rows[0]?.details.command });
  });

  it('locks the workstation when security staff evacuate the site: nobody is known to be inside any more', async () => {
    await badgeIn(system, 1);
    const check = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/workstations/ws-lock.ident/login-check',
      headers: { authorization: `Bearer ${readFileSync(join(dir, 'token'), 'utf8')}` },
      payload: { user: system.agent.person },
    });
    expect(check.json()).toEqual({ allow: true });
    const security = await system.staff('security');
    await security.reauth();
    const result = nextResult();
    const evacuate = (active: boolean) =>
      security.request('POST', `/api/v1/sites/${system.site}/evacuation`, { active, reason: 'fire drill' });
    expect((await evacuate(true)).statusCode).toBe(200);
    expect(await result).toMatchObject({ status: 'ok', reported: true });
    expect((await evacuate(false)).statusCode).toBe(200);
    const sent = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-sent' ORDER BY id DESC LIMIT 1`,
    );
    expect(sent.rows[0]?.details).toMatchObject({ user: system.agent.person, reason: 'evacuation' });
  });

  it('tells central when the workstation shuts down: what it owes is settled, and nothing is sent until it is back', async () => {
    // A second agent for the same workstation, stopped as at a shutdown.
    let stopping = false;
    const config = parseConfigText(readFileSync(join(dir, 'config.yaml'), 'utf8'), WorkstationClientConfig, {
      env: {},
    });
    const second = lockAgent(config, {}, undefined, undefined, async () => stopping);
    await agent.stop();
    await second.start();
    await second.beaten();
    const workstation = system.dashboard.presence.workstation('ws-lock.ident');
    if (!workstation) throw new Error('workstation not known');
    stopping = true;
    await second.stop();
    const row = await system.dashboard.pool.query<{ at: Date | null }>(
      `SELECT agent_shutdown_at AS at FROM workstations WHERE id = 'ws-lock.ident'`,
    );
    expect(row.rows[0]?.at).toBeInstanceOf(Date);
    // Shut down: a lock is not sent (the sessions ended), and that is audited.
    expect(await system.dashboard.locker.lock(workstation, system.agent.person, 'exit')).toBeUndefined();
    const skipped = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-not-needed'`,
    );
    expect(skipped.rows).toMatchObject([{ details: { user: system.agent.person, reason: 'exit' } }]);
    // Back: the first report ends the shutdown, and locks go out again.
    agent = lockAgent(config, {}, told);
    await agent.start();
    await agent.beaten();
    const back = await system.dashboard.pool.query<{ at: Date | null }>(
      `SELECT agent_shutdown_at AS at FROM workstations WHERE id = 'ws-lock.ident'`,
    );
    expect(back.rows[0]?.at).toBeNull();
  });

  it('rejects a lock command not signed by central, runs nothing, and reports the rejection', async () => {
    const forger = generateSigningKeyPair();
    const forged = signLockCommand(
      { site: system.site, workstation: 'ws-lock.ident' },
      { user: system.agent.person, reason: 'exit' },
      '01900000-0000-7000-8000-000000000001',
      Date.now(),
      60_000,
      forger.privateKey,
    );
    const result = nextResult();
    const client = await connectAsync(mqttUrl());
    await client.publishAsync(workstationCommandTopic(system.site, 'ws-lock.ident'), JSON.stringify(forged), {
      qos: 1,
    });
    await client.endAsync();
    expect(await result).toMatchObject({ status: 'rejected', reported: true });
    expect((await result).reason).toMatch(/^bad-signature/);
    expect(readFileSync(join(dir, 'locked'), 'utf8')).toBe('locked\nlocked\n');
  });

  it('runs a lock command signed by the central key it trusts besides centralPublicKey (a rotation)', async () => {
    const command = signLockCommand(
      { site: system.site, workstation: 'ws-lock.ident' },
      { user: system.agent.person, reason: 'exit' },
      '01900000-0000-7000-8000-000000000002',
      Date.now(),
      60_000,
      next.privateKey,
    );
    const result = nextResult();
    const client = await connectAsync(mqttUrl());
    await client.publishAsync(
      workstationCommandTopic(system.site, 'ws-lock.ident'),
      JSON.stringify(command),
      {
        qos: 1,
      },
    );
    await client.endAsync();
    expect(await result).toMatchObject({ command: command.id, status: 'ok' });
    expect(readFileSync(join(dir, 'locked'), 'utf8')).toBe('locked\nlocked\nlocked\n');
  });
});
