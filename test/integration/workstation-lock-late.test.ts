import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockAgent } from '../../src/cli/workstation-command.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { WorkstationClientConfig } from '../../src/config/workstation-config.js';
import { type Clock, systemClock } from '../../src/lib/clock.js';
import { type WorkstationCommand, workstationCommandTopic } from '../../src/protocol/workstation-commands.js';
import type { LockAgent, LockResult } from '../../src/workstation/lock-agent.js';
import { SEEN_FILE } from '../../src/workstation/seen-lock-commands.js';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const WORKSTATION = 'ws-late.ident';

/** The workstation's clock, `offsetMs` ahead of this machine's (the agent's clock moved on). */
const clockAhead = (offsetMs: number): Clock => ({
  now: () => Date.now() + offsetMs,
  setTimeout: systemClock.setTimeout,
});

describe('lock on leave, late: a lock the broker held while the workstation agent was stopped', () => {
  let system: TestSystem;
  let dir: string;
  let config: WorkstationClientConfig;
  let watcher: MqttClient;
  let agent: LockAgent | undefined;

  /** Starts an agent (the same MQTT client id, so the same persistent session) and its first result. */
  async function startAgent(clock: Clock = systemClock): Promise<{ first: Promise<LockResult> }> {
    let resolveFirst: (result: LockResult) => void = () => undefined;
    const first = new Promise<LockResult>((resolve) => {
      resolveFirst = resolve;
    });
    agent = lockAgent(config, {}, (result) => resolveFirst(result), clock);
    await agent.start();
    return { first };
  }

  async function stopAgent(): Promise<void> {
    await agent?.stop();
    agent = undefined;
  }

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    const token = await registerWorkstation(system, WORKSTATION);
    dir = mkdtempSync(join(tmpdir(), 'idg-lock-late-'));
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    config = parseConfigText(
      [
        'kind: workstation',
        `id: ${WORKSTATION}`,
        `url: ${system.dashboard.url}`,
        `token: { file: ${join(dir, 'token')} }`,
        `stateDir: ${join(dir, 'state')}`,
        'agent:',
        `  site: ${system.site}`,
        `  mqtt: { url: "${mqttUrl()}", clientId: idg-ws-late-${system.site} }`,
        `  centralPublicKey: "${system.centralPublicKey}"`,
        // A harmless lock: append a line to a file (no shell; the arguments are passed as they are).
        `  lockCommand: ["${process.execPath}", "-e", "require('fs').appendFileSync(process.argv[1], 'locked\\\\n')", "${join(dir, 'locked')}"]`,
      ].join('\n'),
      WorkstationClientConfig,
      { env: {} },
    );
    // Sees what central publishes to the workstation, as the broker holds it for the stopped agent.
    watcher = await connectAsync(mqttUrl());
    await watcher.subscribeAsync(workstationCommandTopic(system.site, WORKSTATION), { qos: 1 });
  });

  afterAll(async () => {
    await stopAgent();
    await watcher?.endAsync();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await system?.stop();
  });

  it('runs a lock that reached the agent after its expiry, reports it ok (late), and runs it no second time', async () => {
    // A first start makes the broker keep the agent's session (and its subscription) while it is stopped.
    await startAgent();
    await stopAgent();

    await badgeIn(system);
    const check = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WORKSTATION}/login-check`,
      headers: { authorization: `Bearer ${readFileSync(join(dir, 'token'), 'utf8')}` },
      payload: { user: system.agent.person },
    });
    expect(check.json()).toEqual({ allow: true });
    const published = new Promise<Buffer>((resolve) =>
      watcher.once('message', (_topic, payload) => resolve(payload)),
    );
    await badgeOut(system);
    const payload = await published;
    const command = JSON.parse(payload.toString('utf8')) as WorkstationCommand;
    expect(command.data).toEqual({ user: system.agent.person, reason: 'exit' });

    // The agent comes back with its clock five minutes past the command's expiry.
    const ahead = Date.parse(command.expiresAt) + 5 * 60_000 - Date.now();
    const late = await startAgent(clockAhead(ahead));
    expect(await late.first).toEqual({
      command: command.id,
      status: 'ok',
      reason: `late: issued ${command.issuedAt}, expired ${command.expiresAt}`,
      reported: true,
    });
    expect(readFileSync(join(dir, 'locked'), 'utf8')).toBe('locked\n');
    const audit = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-result' ORDER BY id`,
    );
    expect(audit.rows.map((r) => r.details)).toEqual([
      { command: command.id, status: 'ok', reason: expect.stringMatching(/^late: issued /) },
    ]);
    await stopAgent();
    expect(existsSync(join(dir, 'state', SEEN_FILE))).toBe(true);

    // The same command delivered again to a new agent: remembered on disk, so it is not run again.
    await watcher.publishAsync(workstationCommandTopic(system.site, WORKSTATION), payload, { qos: 1 });
    const again = await startAgent(clockAhead(ahead + 60_000));
    expect(await again.first).toEqual({
      command: command.id,
      status: 'rejected',
      reason: 'replayed',
      reported: true,
    });
    expect(readFileSync(join(dir, 'locked'), 'utf8')).toBe('locked\n');
  });
});
