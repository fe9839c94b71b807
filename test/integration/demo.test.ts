import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { setUpFirstAdmin } from '../helpers/staff.js';

/**
 * `npm start` in miniature: the real `identgate demo` process with its embedded broker and
 * PostgreSQL, driven from a second process with `identgate sim`, as a person would.
 */
describe('identgate demo', () => {
  let demo: ChildProcess;
  let stateDir: string;
  let banner: string;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-demo-'));
    const config = readFileSync('config/demo.yaml', 'utf8')
      .replace(/^stateDir: .*$/m, `stateDir: ${stateDir}`)
      .replace(/port: \d+/g, 'port: 0');
    const file = join(stateDir, 'demo.yaml');
    writeFileSync(file, config);
    demo = spawnCli(['demo', '--config', file]);
    banner = await waitForOutput(demo, /Press Ctrl\+C to stop\./, 90_000);
  });

  afterAll(async () => {
    if (!demo || demo.exitCode !== null) return;
    const exited = new Promise((resolve) => demo.once('exit', resolve));
    demo.kill('SIGINT');
    await exited;
  });

  it('prints the dashboard address, the badge and the TOTP secret as an otpauth URI', () => {
    expect(banner).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(banner).toMatch(/Badge\s+0004711/);
    expect(banner).toMatch(/\[workstation ident-ws-1\] login of \S+: denied \(not-present\)/);
    expect(banner).toMatch(/First admin\s+http:\/\/127\.0\.0\.1:\d+\/#setup=[A-Za-z0-9_-]{22}/);
    expect(banner).toMatch(
      /otpauth:\/\/totp\/identgate%20demo:Demo%20Agent\?secret=[A-Z2-7]{32}&issuer=identgate\+demo&algorithm=SHA1&digits=6&period=30/,
    );
  });

  it('opens the door for the badge and the current code, and the event reaches the API', async () => {
    const secret = /TOTP secret\s+([A-Z2-7]+)/.exec(banner)?.[1] as string;
    const dashboard = /Dashboard\s+(http:\/\/\S+)/.exec(banner)?.[1] as string;
    const sim = (...args: string[]) => runCli(['sim', ...args, '--door', 'main', '--state-dir', stateDir]);

    // The demo's simulated workstation tries to log the agent in when their presence changes.
    const workstationAllowed = waitForOutput(demo, /\[workstation ident-ws-1\] login of \S+: allowed/);
    expect(await sim('badge', '0004711')).toMatchObject({ code: 0, stdout: 'awaiting code (20 s)\n' });
    const code = new TotpVerifier().generate(secret, Date.now());
    expect(await sim('keypad', code)).toMatchObject({ code: 0, stdout: 'granted: unlocked for 5 s\n' });

    const setupToken = /#setup=([A-Za-z0-9_-]+)/.exec(banner)?.[1] as string;
    const { cookie } = await setUpFirstAdmin(dashboard, setupToken);
    expect((await fetch(`${dashboard}/api/v1/live?after=0`)).status).toBe(401);
    const live = await fetch(`${dashboard}/api/v1/live?after=0`, { headers: { cookie } });
    const reader = live.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    let text = '';
    while (!text.includes('"kind":"access.granted"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    await reader.cancel();
    expect(text).toContain('"kind":"access.granted"');

    await workstationAllowed;
    const workstations = await fetch(`${dashboard}/api/v1/workstations`, { headers: { cookie } });
    expect(await workstations.json()).toMatchObject({
      workstations: [
        { id: 'ident-ws-1', lastCheck: { allow: true }, present: [{ since: expect.any(String) }] },
      ],
    });

    // Out through the exit reader: the workstation's real lock agent gets central's signed lock.
    const locked = waitForOutput(demo, /\[workstation ident-ws-1\] lock command: locked/);
    expect(await sim('badge', '0004711', '--exit')).toMatchObject({ code: 0 });
    await locked;
  });

  it('stops cleanly on Ctrl+C', async () => {
    const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
